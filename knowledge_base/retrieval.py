"""Finding the article that answers a question.

Three signals, each in [0, 1], blended with fixed weights:
- lexical coverage: BM25 over one document per article (title twice, sample questions, tags,
  answer; jieba words + character n-grams), divided by the best score any document could get for
  that query, i.e. "how much of the question this article covers";
- paraphrase: a linear SVM trained on the articles' own titles, sample questions and tags (one
  class per article; decision values turned into probabilities by a softmax), which generalises
  from "老板不给工钱" to "干了活拿不到钱" (a multinomial logistic regression scored the same but
  took 30 s to fit on 160 articles; the SVM takes about 1 s);
- the classifier's intent probabilities, as a prior.
The blend is divided by the sum of the weights, so scores stay in [0, 1] and the answer/suggest
thresholds in Settings keep their meaning as the content grows. Measured with
``python -m knowledge_base evaluate`` on the held-out questions (README has the figures).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from core.db import read_only
from core.ports import Hit
from nlu.fastpath import Linear, ScikitLinear, compile_linear
from nlu.features import FEATURES_VERSION, tokens
from nlu.model_cache import load_or_build
from nlu.offload import call_in_child

K1 = 1.2
B = 0.75
COVERAGE_WEIGHT = 1.0
PARAPHRASE_WEIGHT = 0.7
INTENT_WEIGHT = 0.1
SOFTMAX_SHARPNESS = 5.0
RELOAD_CHECK_SECONDS = 1.0
#: Part of the paraphrase cache's key: change it when the model or its features change.
PARAPHRASE_VERSION = f"svc-3-{FEATURES_VERSION}"


@dataclass(frozen=True)
class IndexedArticle:
    slug: str
    title: str
    intent: str
    questions: tuple[str, ...]
    answer: str
    tags: tuple[str, ...] = ()

    def document(self) -> str:
        return "\n".join((self.title, self.title, *self.questions, " ".join(self.tags), self.answer))


class ArticleIndex:
    """An immutable BM25 index over a set of articles; build a new one when they change.

    ``paraphrase``: the paraphrase model for exactly these articles, when a cache has it."""

    def __init__(self, articles: Sequence[IndexedArticle], *, paraphrase: Paraphrase | None = None) -> None:
        self.articles = list(articles)
        # each article's intent as an index into the distinct intents: the priors of a search are
        # then looked up once per intent, not once per article
        names, self.intent_of = np.unique([a.intent for a in self.articles], return_inverse=True)
        self.intent_names = [str(name) for name in names]
        self.vocabulary: dict[str, int] = {}
        if not self.articles:
            return
        counts = term_counts([tokens(a.document()) for a in self.articles], self.vocabulary)
        n_docs, n_terms = counts.shape
        df = np.bincount(counts.indices, minlength=n_terms)
        self.idf = np.log(1 + (n_docs - df + 0.5) / (df + 0.5))
        rows = counts.rows()
        lengths = np.bincount(rows, weights=counts.data, minlength=n_docs)
        norm = K1 * (1 - B + B * lengths / lengths.mean())
        # BM25 term weight per (document, term): idf·tf·(k1+1)/(tf+k1·norm), kept term by term
        tf = counts.data
        weights = self.idf[counts.indices] * tf * (K1 + 1) / (tf + norm[rows])
        self.weights = SparseRows.transposed(counts, weights)
        self.paraphrase = paraphrase or fit_paraphrase(self.articles)

    def __len__(self) -> int:
        return len(self.articles)

    def scores(self, text: str) -> np.ndarray:
        """Coverage of the query by each article, in [0, 1]."""
        analyzed = set(tokens(text))
        vocab = self.vocabulary
        ids = np.array([vocab[t] for t in analyzed if t in vocab], dtype=np.int64)
        if ids.size == 0:
            return np.zeros(len(self.articles))
        # unknown query terms count towards the ceiling: a question about something we never
        # wrote about must not look fully covered
        unknown = len(analyzed) - ids.size
        ceiling = (self.idf[ids].sum() + unknown * self.idf.max()) * (K1 + 1)
        return np.clip(self._summed_rows(ids) / ceiling, 0.0, 1.0)

    def _summed_rows(self, ids: np.ndarray) -> np.ndarray:
        """The sum of the weights' rows ``ids`` (scipy's ``weights[ids].sum(axis=0)``, the same sums
        in the same order, in half the time: scipy builds a new sparse matrix for the rows; 100 →
        50 µs a message with the 160 articles)."""
        weights = self.weights
        starts = weights.indptr[ids]
        lengths = weights.indptr[ids + 1] - starts
        # positions of the chosen rows' entries in data/indices, row after row
        shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        entries = shift + np.arange(lengths.sum())
        return np.bincount(weights.indices[entries], weights=weights.data[entries], minlength=weights.shape[1])

    def search(
        self,
        text: str,
        *,
        intent: str | None = None,
        intent_scores: Mapping[str, float] | None = None,
        limit: int = 3,
    ) -> list[Hit]:
        if not self.articles or not text.strip():
            return []
        coverage = self.scores(text)
        prior = dict(intent_scores or {})
        if intent is not None and intent not in prior:
            prior[intent] = 1.0
        bonus = np.array([prior.get(name, 0.0) for name in self.intent_names], dtype=np.float64)[self.intent_of]
        paraphrase = self.paraphrase(text)
        # an article sharing no word with the question is never an answer, whatever the priors say
        scores = (
            (coverage > 0)
            * (COVERAGE_WEIGHT * coverage + PARAPHRASE_WEIGHT * paraphrase + INTENT_WEIGHT * bonus)
            / (COVERAGE_WEIGHT + PARAPHRASE_WEIGHT + INTENT_WEIGHT)
        )
        top = np.argsort(-scores, kind="stable")[:limit]
        return [
            Hit(
                slug=self.articles[i].slug,
                title=self.articles[i].title,
                score=float(scores[i]),
                intent=self.articles[i].intent,
            )
            for i in top
            if scores[i] > 0
        ]


@dataclass(frozen=True)
class SparseRows:
    """A sparse matrix as the three arrays of the CSR layout (scipy's ``csr_matrix`` takes them as
    they are). Not scipy itself: importing scipy.sparse costs a serving process 22 MB, and a search
    needs only the arrays."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    shape: tuple[int, int]

    def rows(self) -> np.ndarray:
        """The row of each stored entry."""
        return np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))

    @classmethod
    def transposed(cls, matrix: SparseRows, data: np.ndarray) -> SparseRows:
        """``matrix``'s layout with ``data`` as its values, transposed: the entries of each column
        become a row, in the order of their rows (as scipy's ``.T.tocsr()`` orders them)."""
        rows = matrix.rows()
        order = np.lexsort((rows, matrix.indices))
        indptr = np.concatenate(([0], np.cumsum(np.bincount(matrix.indices, minlength=matrix.shape[1]))))
        return cls(indptr, rows[order], data[order], (matrix.shape[1], matrix.shape[0]))


def term_counts(documents: Sequence[Sequence[str]], vocabulary: dict[str, int]) -> SparseRows:
    """Documents (as their tokens) × terms counts, filling ``vocabulary`` (term → column)."""
    indptr, indices, values = [0], list[int](), list[int]()
    for document in documents:
        counts = Counter(vocabulary.setdefault(t, len(vocabulary)) for t in document)
        indices.extend(counts.keys())
        values.extend(counts.values())
        indptr.append(len(indices))
    return SparseRows(
        np.asarray(indptr, dtype=np.int64),
        np.asarray(indices, dtype=np.int64),
        np.asarray(values, dtype=np.float64),
        (len(documents), len(vocabulary)),
    )


def paraphrase_views(articles: Sequence[IndexedArticle]) -> tuple[list[str], list[int]]:
    """What the paraphrase model learns from: each article's title, sample questions and tags."""
    texts: list[str] = []
    owners: list[int] = []
    for i, a in enumerate(articles):
        for view in (a.title, *a.questions, " ".join(a.tags)):
            texts.append(view)
            owners.append(i)
    return texts, owners


@dataclass
class Paraphrase:
    """P(article | text) from a linear SVM over the articles' views, compiled to numpy arrays."""

    linear: Linear | ScikitLinear | None  # None: fewer than two articles, nothing to tell apart
    size: int

    def __call__(self, text: str) -> np.ndarray:
        if self.linear is None:
            return np.ones(self.size)
        decision = self.linear.decision(text)
        weights = np.exp((decision - decision.max()) * SOFTMAX_SHARPNESS)
        out = np.zeros(self.size)
        out[self.linear.classes] = weights / weights.sum()
        return out


def fit_paraphrase(articles: Sequence[IndexedArticle]) -> Paraphrase:
    if len(articles) < 2:
        return Paraphrase(None, len(articles))
    # scikit-learn only where a model is fitted: importing it costs a process about 80 MB
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    texts, owners = paraphrase_views(articles)
    vectorizer = TfidfVectorizer(analyzer=tokens, sublinear_tf=True)
    # a fixed seed for liblinear's shuffling: the same articles give every process the same model
    model = LinearSVC(C=0.5, random_state=0).fit(vectorizer.fit_transform(texts), owners)
    linear = compile_linear(model, [vectorizer], check_texts=texts[:5])
    if isinstance(linear, Linear):
        # articles × vocabulary is the largest array a serving process holds (30 MB at 160
        # articles); single precision halves it and moves scores by about 1e-7, far below any
        # threshold or meaningful difference between two articles
        linear.coef = linear.coef.astype(np.float32)
    return Paraphrase(linear, len(articles))


class ParaphraseCache:
    """Fitted paraphrase models on disk, keyed by what they learnt from, so that a process starting
    with an unchanged knowledge base loads arrays instead of fitting (and importing scikit-learn)."""

    def __init__(self, directory: Path, *, in_child: bool = False) -> None:
        self.directory = directory
        self.in_child = in_child  # fit in a child process: this one never imports scikit-learn

    def get(self, articles: Sequence[IndexedArticle]) -> Paraphrase:
        texts, owners = paraphrase_views(articles)
        key = hashlib.sha256(json.dumps([PARAPHRASE_VERSION, texts, owners], ensure_ascii=False).encode()).hexdigest()

        def build() -> Paraphrase:
            return call_in_child(fit_paraphrase, articles) if self.in_child else fit_paraphrase(articles)

        return load_or_build(
            self.directory,
            "paraphrase",
            key[:24],
            build,
            valid=lambda m: isinstance(m, Paraphrase) and m.size == len(articles),
        )


class KnowledgeRetriever:
    """The Retriever port over the live database: rebuilds its index when an article changes,
    in this process or another, so an edit in the console is live for the bot at once."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        cache_dir: Path | None = None,
        fit_in_child: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.session_factory = read_only(session_factory)
        self.cache = ParaphraseCache(cache_dir, in_child=fit_in_child) if cache_dir is not None else None
        self.clock = clock
        self._index = ArticleIndex([])
        self._stamp: object = None
        self._checked_at = float("-inf")
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        self._checked_at = float("-inf")

    def index(self) -> ArticleIndex:
        if self.clock() - self._checked_at < RELOAD_CHECK_SECONDS:
            return self._index
        with self._lock:
            if self.clock() - self._checked_at < RELOAD_CHECK_SECONDS:
                return self._index
            from knowledge_base import service

            with self.session_factory() as session:
                stamp = service.stamp(session)
                if stamp != self._stamp:
                    articles = [indexed(r) for r in service.published(session)]
                    paraphrase = self.cache.get(articles) if self.cache else None
                    self._index = ArticleIndex(articles, paraphrase=paraphrase)
                    self._stamp = stamp
                    _release_free_memory()
            self._checked_at = self.clock()
        return self._index

    def search(
        self,
        text: str,
        *,
        intent: str | None = None,
        intent_scores: Mapping[str, float] | None = None,
        limit: int = 3,
    ) -> list[Hit]:
        return self.index().search(text, intent=intent, intent_scores=intent_scores, limit=limit)


def _release_free_memory() -> None:
    """Fitting the models above allocates and frees tens of MB; glibc keeps freed memory in the
    process unless asked to hand it back, and the serving process has a memory budget."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def indexed(article) -> IndexedArticle:  # type: ignore[no-untyped-def]
    """From a KbArticle row or an articles.Article model."""
    return IndexedArticle(
        article.slug,
        article.title,
        article.intent,
        tuple(article.questions or ()),
        article.answer,
        tuple(article.tags or ()),
    )
