"""Retrieval quality on held-out questions: hit@1, hit@3, MRR."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.ports import IntentClassifier, Retriever

EVAL_DIR = Path(__file__).resolve().parent / "eval"


@dataclass(frozen=True)
class Question:
    text: str
    article: str


@dataclass(frozen=True)
class RetrievalReport:
    count: int
    hit1: float
    hit3: float
    mrr: float
    misses: list[tuple[str, str, list[str]]]

    def as_json(self) -> dict[str, float | int]:
        return {
            "count": self.count,
            "hit@1": round(self.hit1, 4),
            "hit@3": round(self.hit3, 4),
            "mrr": round(self.mrr, 4),
        }


def load_questions(path: Path) -> list[Question]:
    out = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from exc
                out.append(Question(str(row["text"]), str(row["article"])))
    return out


def heldout_examples() -> list[Question]:
    return [q for path in sorted(EVAL_DIR.glob("*.jsonl")) for q in load_questions(path)]


def evaluate(
    retriever: Retriever,
    questions: Sequence[Question],
    *,
    classifier: IntentClassifier | None = None,
) -> RetrievalReport:
    """As the bot searches: with the classifier's intent probabilities as the prior, when given."""
    hit1 = hit3 = 0
    reciprocal = 0.0
    misses = []
    for q in questions:
        scores = {s.intent: s.confidence for s in classifier.parse(q.text).ranking} if classifier else None
        slugs = [h.slug for h in retriever.search(q.text, intent_scores=scores, limit=10)]
        if slugs[:1] == [q.article]:
            hit1 += 1
        else:
            misses.append((q.text, q.article, slugs[:3]))
        if q.article in slugs[:3]:
            hit3 += 1
        if q.article in slugs:
            reciprocal += 1 / (slugs.index(q.article) + 1)
    n = max(len(questions), 1)
    return RetrievalReport(len(questions), hit1 / n, hit3 / n, reciprocal / n, misses)
