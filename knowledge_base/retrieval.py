"""Finding the article that answers a question.

Each article is indexed as several "views" (its title, each sample question, and the whole
text). A query is compared with every view by TF-IDF cosine over jieba words + character
n-grams; an article scores its best question/title view blended with its whole-text view,
plus a small bonus when its intent matches the classifier's. Cosine keeps scores in [0, 1],
so the answer/suggest thresholds in Settings mean the same thing as the content grows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sqlalchemy.orm import Session, sessionmaker

from core.db import read_only
from core.ports import Hit
from nlu.features import tokens

QUESTION_WEIGHT = 0.7
DOC_WEIGHT = 0.3
INTENT_BONUS = 0.08
RELOAD_CHECK_SECONDS = 1.0


@dataclass(frozen=True)
class IndexedArticle:
    slug: str
    title: str
    intent: str
    questions: tuple[str, ...]
    answer: str


class ArticleIndex:
    """An immutable index over a set of articles; build a new one when they change."""

    def __init__(self, articles: Sequence[IndexedArticle]) -> None:
        self.articles = list(articles)
        self.intents = np.array([a.intent for a in self.articles])
        view_texts: list[str] = []
        owners: list[int] = []
        for i, a in enumerate(self.articles):
            for view in (a.title, *a.questions):
                view_texts.append(view)
                owners.append(i)
        self.view_owner = np.array(owners, dtype=np.int64)
        self.vectorizer = TfidfVectorizer(analyzer=tokens, sublinear_tf=True, norm="l2", min_df=1)
        docs = [" ".join((a.title, *a.questions, a.answer)) for a in self.articles]
        if self.articles:
            self.vectorizer.fit(view_texts + docs)
            self.view_matrix = self.vectorizer.transform(view_texts).T.tocsr()
            self.doc_matrix = self.vectorizer.transform(docs).T.tocsr()

    def __len__(self) -> int:
        return len(self.articles)

    def search(self, text: str, *, intent: str | None = None, limit: int = 3) -> list[Hit]:
        if not self.articles or not text.strip():
            return []
        query = self.vectorizer.transform([text])
        view_scores = (query @ self.view_matrix).toarray().ravel()
        best_view = np.zeros(len(self.articles))
        np.maximum.at(best_view, self.view_owner, view_scores)
        doc_scores = (query @ self.doc_matrix).toarray().ravel()
        scores = QUESTION_WEIGHT * best_view + DOC_WEIGHT * doc_scores
        if intent is not None:
            scores = scores + INTENT_BONUS * (self.intents == intent) * (scores > 0)
        scores = np.minimum(scores, 1.0)
        top = np.argsort(-scores)[:limit]
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


class KnowledgeRetriever:
    """The Retriever port over the live database: rebuilds its index when an article changes,
    in this process or another, so an edit in the console is live for the bot at once."""

    def __init__(self, session_factory: sessionmaker[Session], *, clock: Callable[[], float] = time.monotonic):
        self.session_factory = read_only(session_factory)
        self.clock = clock
        self._index = ArticleIndex([])
        self._stamp: object = None
        self._checked_at = float("-inf")
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        self._checked_at = float("-inf")

    def index(self) -> ArticleIndex:
        now = self.clock()
        if now - self._checked_at < RELOAD_CHECK_SECONDS:
            return self._index
        with self._lock:
            if self.clock() - self._checked_at < RELOAD_CHECK_SECONDS:
                return self._index
            from knowledge_base import service

            with self.session_factory() as session:
                stamp = service.stamp(session)
                if stamp != self._stamp:
                    rows = service.published(session)
                    self._index = ArticleIndex(
                        [IndexedArticle(r.slug, r.title, r.intent, tuple(r.questions or ()), r.answer) for r in rows]
                    )
                    self._stamp = stamp
            self._checked_at = self.clock()
        return self._index

    def search(self, text: str, *, intent: str | None = None, limit: int = 3) -> list[Hit]:
        return self.index().search(text, intent=intent, limit=limit)
