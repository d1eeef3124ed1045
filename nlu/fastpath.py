"""Scoring one short text with numpy alone, from a model scikit-learn fitted.

Two reasons. Speed: for a single message, ``TfidfVectorizer.transform`` and ``decision_function``
spend far more time validating input and building sparse matrices than computing (about 1 ms of
the 1.5 ms the classifier and retrieval need per message). Memory: importing scikit-learn pulls in
scipy.stats and costs a serving process about 80 MB, more than the models themselves. So a fitted
model is *compiled* once, where it is trained, into the arrays below (vocabulary, idf,
coefficients); the serving process loads those and never imports scikit-learn.

``compile_linear`` checks the compiled model against scikit-learn's own numbers before it is used
and keeps scikit-learn's model when the two ever disagree (a future scikit-learn changing its
formulas), so compiling can never change an answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

Row = tuple[np.ndarray, np.ndarray]  # column indices, values


@dataclass
class TfidfRow:
    """``vectorizer.transform([text])`` for one text, as (indices, values), columns shifted by ``offset``."""

    analyzer: Callable[[str], Sequence[str]]
    vocabulary: dict[str, int]
    idf: np.ndarray
    sublinear: bool
    norm: str | None
    offset: int = 0

    @classmethod
    def of(cls, vectorizer: Any, *, offset: int = 0) -> TfidfRow:
        """From a fitted TfidfVectorizer whose ``analyzer`` is one of our (picklable) functions."""
        return cls(
            analyzer=vectorizer.analyzer,
            vocabulary=dict(vectorizer.vocabulary_),
            idf=np.asarray(vectorizer.idf_, dtype=np.float64),
            sublinear=bool(vectorizer.sublinear_tf),
            norm=vectorizer.norm,
            offset=offset,
        )

    @property
    def width(self) -> int:
        return len(self.vocabulary)

    def __call__(self, text: str) -> Row:
        # the columns of the text's tokens, counted in C; the unknown ones are counted as None
        counts = Counter(map(self.vocabulary.get, self.analyzer(text)))
        counts.pop(None, None)
        if not counts:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        indices = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        if self.sublinear:
            tf = np.log(tf) + 1.0
        values = tf * self.idf[indices]
        if self.norm == "l2":
            values /= np.sqrt(np.dot(values, values))
        return indices + self.offset, values


class Scorer(Protocol):
    classes: np.ndarray

    def decision(self, text: str) -> np.ndarray: ...


@dataclass
class Linear:
    """Decision values of a linear model (LogisticRegression, LinearSVC, naive Bayes) for rows
    made by ``TfidfRow``s side by side."""

    rows: list[TfidfRow]
    coef: np.ndarray  # features × classes
    intercept: np.ndarray
    classes: np.ndarray

    def decision(self, text: str) -> np.ndarray:
        return self.decision_of(self.row(text))

    def row(self, text: str) -> Row:
        """The text's feature row: column indices and their values."""
        indices, values = zip(*(r(text) for r in self.rows), strict=True)
        return np.concatenate(indices), np.concatenate(values)

    def decision_of(self, row: Row) -> np.ndarray:
        """Decision values for a row made by this model's ``row`` (or an identical model's)."""
        idx, values = row
        if idx.size == 0:
            return self.intercept.copy()
        return values @ self.coef[idx] + self.intercept


@dataclass
class ScikitLinear:
    """The fallback: the fitted model itself, for when the compiled one would not agree with it."""

    model: Any
    vectorizers: list[Any]
    decide: Callable[[Any], Any]

    @property
    def classes(self) -> np.ndarray:
        return np.asarray(self.model.classes_)

    def decision(self, text: str) -> np.ndarray:
        return np.asarray(self.decide(features(self.vectorizers, [text])))[0]


def compile_linear(
    model: Any,
    vectorizers: Sequence[Any],
    *,
    check_texts: Sequence[str],
    coef: np.ndarray | None = None,
    intercept: np.ndarray | None = None,
    decide: Callable[[Any], Any] | None = None,
) -> Linear | ScikitLinear:
    """The compiled form of ``model`` over ``vectorizers``' features side by side, or the model itself
    when the compiled scores differ from ``decide`` (its decision_function by default) on any
    check text. ``coef``/``intercept`` default to the model's own (naive Bayes passes its log
    probabilities)."""
    decide = decide or model.decision_function
    rows, offset = [], 0
    for vectorizer in vectorizers:
        rows.append(TfidfRow.of(vectorizer, offset=offset))
        offset += rows[-1].width
    weights = np.asarray(model.coef_ if coef is None else coef, dtype=np.float64)
    compiled = Linear(
        rows,
        np.ascontiguousarray(weights.T),
        np.asarray(model.intercept_ if intercept is None else intercept, dtype=np.float64),
        np.asarray(model.classes_),
    )
    multiclass = compiled.coef.shape[1] == len(compiled.classes) > 2
    supported = all(v.use_idf and v.norm in ("l2", None) and v.binary is False for v in vectorizers)
    if multiclass and supported and _agrees(compiled, vectorizers, decide, check_texts):
        return compiled
    return ScikitLinear(model, list(vectorizers), decide)


def _agrees(compiled: Linear, vectorizers: Sequence[Any], decide: Callable[[Any], Any], texts: Sequence[str]) -> bool:
    for text in texts:
        expected = np.asarray(decide(features(vectorizers, [text])))[0]
        if not np.allclose(compiled.decision(text), expected, rtol=1e-9, atol=1e-9):
            return False
    return True


def features(vectorizers: Sequence[Any], texts: Sequence[str]) -> Any:
    """The fitted vectorizers' features side by side, exactly as scikit-learn builds them."""
    from scipy import sparse

    return sparse.hstack([v.transform(texts) for v in vectorizers], format="csr")


def softmax(values: np.ndarray) -> np.ndarray:
    shifted = np.exp(values - values.max())
    return shifted / shifted.sum()
