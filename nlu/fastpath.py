"""Scoring one short text without scikit-learn's per-call overhead.

For a single message, ``TfidfVectorizer.transform`` and ``decision_function`` spend far more
time validating input and building sparse matrices than computing: about 1 ms of the 1.5 ms the
classifier and retrieval need per message. These functions compute the same numbers from the
fitted attributes (vocabulary, idf, coefficients) with a few numpy operations. ``Linear`` checks
itself against scikit-learn when built and falls back to it if the two ever disagree (a future
scikit-learn changing its formulas), so the fast path can never change an answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

Row = tuple[np.ndarray, np.ndarray]  # column indices, values


class TfidfRow:
    """``vectorizer.transform([text])`` for one text, as (indices, values), columns shifted by ``offset``."""

    def __init__(self, vectorizer: TfidfVectorizer, *, offset: int = 0) -> None:
        self.vectorizer = vectorizer
        self.analyzer: Callable[[str], list[str]] = vectorizer.build_analyzer()
        self.vocabulary: dict[str, int] = vectorizer.vocabulary_
        self.idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        self.sublinear = bool(vectorizer.sublinear_tf)
        self.norm = vectorizer.norm
        self.offset = offset
        self.width = len(self.vocabulary)
        self.supported = vectorizer.use_idf and self.norm in ("l2", None) and vectorizer.binary is False

    def __call__(self, text: str) -> Row:
        vocabulary = self.vocabulary
        counts = Counter(vocabulary[t] for t in self.analyzer(text) if t in vocabulary)
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


class Linear:
    """Decision values of a fitted linear model (LogisticRegression, LinearSVC) for rows made by
    ``TfidfRow``s side by side, checked against the model's own ``decision_function``."""

    def __init__(self, model: Any, rows: Sequence[TfidfRow], *, check_texts: Sequence[str] = ()) -> None:
        self.model = model
        self.rows = list(rows)
        # A transposed view, not a copy: retrieval's model has 160 classes × 25,000 features (30 MB).
        self.coef = np.asarray(model.coef_, dtype=np.float64).T  # features × classes
        self.intercept = np.asarray(model.intercept_, dtype=np.float64)
        multiclass = self.coef.shape[1] == len(model.classes_) and len(model.classes_) > 2
        self.fast = multiclass and all(r.supported for r in self.rows) and self._agrees(check_texts)

    def decision(self, text: str) -> np.ndarray:
        if not self.fast:
            return np.asarray(self.model.decision_function(self._reference(text)))[0]
        indices, values = zip(*(r(text) for r in self.rows), strict=True)
        idx = np.concatenate(indices)
        if idx.size == 0:
            return self.intercept.copy()
        return np.concatenate(values) @ self.coef[idx] + self.intercept

    def _reference(self, text: str) -> sparse.csr_matrix:
        """The feature row exactly as scikit-learn builds it."""
        return sparse.hstack([r.vectorizer.transform([text]) for r in self.rows], format="csr")

    def _agrees(self, texts: Sequence[str]) -> bool:
        self.fast = True
        try:
            for text in texts:
                expected = np.asarray(self.model.decision_function(self._reference(text)))[0]
                if not np.allclose(self.decision(text), expected, rtol=1e-9, atol=1e-9):
                    return False
            return True
        finally:
            self.fast = False


def softmax(values: np.ndarray) -> np.ndarray:
    shifted = np.exp(values - values.max())
    return shifted / shifted.sum()
