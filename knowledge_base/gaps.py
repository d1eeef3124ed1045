"""知识库缺口 — the learning loop: what villagers asked that the knowledge base could not answer.

``cluster`` groups such questions by similarity so that an editor sees "37 people asked about
X" rather than 37 loose lines: TF-IDF over the same tokens retrieval uses (nlu.features.tokens:
words and character n-grams), cosine distance, average-linkage agglomerative clustering with a
distance threshold. Identical questions are merged first and the order of everything is fixed,
so the same questions always give the same clusters.

``draft_from_answer`` turns a lawyer's answer on a closed ticket into a *draft* article for an
editor to review: it is never published by this module (status is always ``draft``), names no
reviewer, masks phone and ID numbers, and cites ``待补充法律依据`` when the answer names no statute,
so the console's citation check makes the editor fill it in before it can be saved again.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from knowledge_base.articles import ARTICLE_INTENTS, MAX_ANSWER_CHARS, Article, answer_length
from nlu.features import tokens
from nlu.normalize import normalize

#: Cosine similarity (average over a cluster) at which two questions count as the same need.
#: Measured on the knowledge base's own sample questions grouped by article (README, 知识库缺口).
SIMILARITY = 0.12
MAX_DISTINCT = 600
PLACEHOLDER_LAW = "待补充法律依据"
DRAFT_TAG = "待审核"
_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")
_ID_NUMBER = re.compile(r"(?<![0-9Xx])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9Xx])")
_CITATION = re.compile(
    r"《(?:中华人民共和国)?([^》]{2,24})》\s*第\s*([0-9零〇一二两三四五六七八九十百千]+)\s*条(?:\s*之\s*([一二三四五六七八九十]+))?"
)
_CLAUSE = re.compile(r"[，。？！；,.?!;\n]+")
_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


@dataclass(frozen=True)
class GapItem:
    """One question: from a ticket (went to a lawyer) or a message the knowledge base missed."""

    text: str
    source: str  # ticket / low_score
    intent: str | None = None
    ref: str | None = None  # ticket code or message id


@dataclass
class Cluster:
    questions: list[tuple[str, int]]  # distinct question, times asked — most asked first
    count: int
    tickets: int
    low_score: int
    intent: str | None
    refs: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return shorten(self.questions[0][0], 30)

    def sample_questions(self, limit: int = 8) -> list[str]:
        return [shorten(q, 120) for q, _ in self.questions[:limit]]


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _analyzer(text: str) -> list[str]:
    # Single characters (我, 的, 了) say little about what was asked; words and bigrams do.
    return [t for t in tokens(text, ngram=(2, 2)) if not (t.startswith("w:") and len(t) == 3)]


def cluster(
    items: Sequence[GapItem], *, similarity: float = SIMILARITY, max_distinct: int = MAX_DISTINCT
) -> list[Cluster]:
    """Clusters, the largest first. Only the ``max_distinct`` most frequent distinct questions are
    clustered (the rest are rare by construction); counts still include every occurrence."""
    groups: dict[str, list[GapItem]] = {}
    for item in items:
        key = normalize(item.text).strip()
        if key:
            groups.setdefault(key, []).append(item)
    keys = sorted(groups, key=lambda k: (-len(groups[k]), k))[:max_distinct]
    if not keys:
        return []
    labels = _labels(keys, [_intent_of(groups[k]) for k in keys], similarity)
    members: dict[int, list[str]] = {}
    for key, label in zip(keys, labels, strict=True):
        members.setdefault(label, []).append(key)
    clusters = [_cluster_of([groups[k] for k in ks]) for ks in members.values()]
    clusters.sort(key=lambda c: (-c.count, c.questions[0][0]))
    return clusters


def _intent_of(items: Sequence[GapItem]) -> str | None:
    intents = Counter(i.intent for i in items if i.intent in ARTICLE_INTENTS)
    return min(intents, key=lambda k: (-intents[k], k)) if intents else None


def _labels(keys: list[str], intents: list[str | None], similarity: float) -> list[int]:
    if len(keys) == 1:
        return [0]
    # scipy rather than scikit-learn: the console runs in the serving process, where importing
    # scikit-learn would cost about 80 MB for as long as it runs
    import numpy as np
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    vectors = _tfidf([_analyzer(k) for k in keys])
    distance = 1.0 - (vectors @ vectors.T).toarray()
    distance[distance < 0] = 0.0
    # Questions the classifier put under different topics are never one need (an unknown topic
    # may join any): this doubles the agreement with the articles' own grouping.
    topic = np.array([i or "" for i in intents], dtype=object)
    known = topic != ""
    distance[(topic[:, None] != topic[None, :]) & known[:, None] & known[None, :]] = 1.0
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(distance, checks=False), method="average")
    return [int(label) for label in fcluster(tree, t=1.0 - similarity, criterion="distance")]


def _tfidf(documents: list[list[str]]) -> Any:
    """Sparse rows of sublinear TF-IDF, L2-normalised, with smoothed idf (scikit-learn's defaults)."""
    import numpy as np
    from scipy import sparse

    from knowledge_base.retrieval import term_counts

    counts = term_counts(documents, {})
    n = len(documents)
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    idf = np.log((1 + n) / (1 + df)) + 1
    values = (np.log(counts.data) + 1) * idf[counts.indices]
    rows = counts.rows()
    norms = np.sqrt(np.bincount(rows, weights=values**2, minlength=n))
    values /= np.where(norms == 0, 1.0, norms)[rows]
    return sparse.csr_matrix((values, counts.indices, counts.indptr), shape=counts.shape)


def _cluster_of(groups: list[list[GapItem]]) -> Cluster:
    groups = sorted(groups, key=lambda g: (-len(g), g[0].text))
    occurrences = [item for group in groups for item in group]
    intent = _intent_of(occurrences)
    return Cluster(
        questions=[(group[0].text.strip(), len(group)) for group in groups],
        count=len(occurrences),
        tickets=sum(1 for i in occurrences if i.source == "ticket"),
        low_score=sum(1 for i in occurrences if i.source != "ticket"),
        intent=intent,
        refs=[i.ref for i in occurrences if i.ref][:50],
    )


# ---------------------------------------------------------------------- a lawyer's answer as a draft


def mask_personal(text: str) -> str:
    """Phone and ID numbers must not end up in an article every villager reads."""
    return _ID_NUMBER.sub(r"\1********\2", _PHONE.sub(r"\1****\2", text))


def _chinese_int(value: str) -> int:
    if value.isdigit():
        return int(value)
    total, number = 0, 0
    for ch in value:
        if ch in _DIGITS:
            number = _DIGITS[ch]
        else:
            unit = {"十": 10, "百": 100, "千": 1000}[ch]
            total += (number or 1) * unit
            number = 0
    return total + number


def citations_in(text: str) -> list[dict[str, int | str]]:
    """Statute references written out in an answer: 《民法典》第一千零七十九条 → 民法典 1079."""
    found: list[dict[str, int | str]] = []
    for law, article, sub in _CITATION.findall(text):
        citation: dict[str, int | str] = {"law": law.strip(), "article": _chinese_int(article)}
        if sub:
            citation["sub"] = _chinese_int(sub)
        if citation["article"] and citation not in found:
            found.append(citation)
    return found


def _fit_answer(text: str) -> tuple[str, bool]:
    text = text.strip()
    if answer_length(text) <= MAX_ANSWER_CHARS:
        return text, False
    kept, seen = [], 0
    for ch in text:
        seen += 0 if ch.isspace() else 1
        if seen > MAX_ANSWER_CHARS - 2:
            break
        kept.append(ch)
    return "".join(kept).rstrip() + "……", True


@dataclass(frozen=True)
class Draft:
    article: Article
    truncated: bool
    cited: bool  # the answer named a statute (else the placeholder is cited)


def draft_from_answer(
    *,
    slug: str,
    questions: Sequence[str],
    answers: Sequence[str],
    intent: str | None,
    source: str,
    today: dt.date,
) -> Draft:
    """A reviewable draft from a closed ticket: its question (plus similar questions, when the
    caller found some) and the lawyer's answer. Raises ValueError when there is no answer."""
    answer = mask_personal("\n".join(a.strip() for a in answers if a and a.strip()))
    if not answer:
        raise ValueError("这张工单没有律师答复")
    samples = _questions(questions)
    fitted, truncated = _fit_answer(answer)
    if answer_length(fitted) < 20:
        fitted = f"{fitted}\n（草稿：请补充完整的答复。）"
    cited = citations_in(answer)
    article = Article.model_validate(
        {
            "slug": slug,
            "intent": intent if intent in ARTICLE_INTENTS else "other_legal",
            "title": _title(samples[0]),
            "questions": samples,
            "answer": fitted,
            "citations": cited or [{"law": PLACEHOLDER_LAW, "article": 1}],
            "tags": [DRAFT_TAG, source],
            "reviewed_by": DRAFT_TAG,
            "reviewed_at": today.isoformat(),
            "status": "draft",
        }
    )
    return Draft(article, truncated=truncated, cited=bool(cited))


def _title(question: str) -> str:
    first = next((c.strip() for c in _CLAUSE.split(question) if len(c.strip()) >= 4), question.strip())
    title = shorten(first, 30)
    return title if len(title) >= 4 else f"咨询：{title}"


def _questions(questions: Sequence[str]) -> list[str]:
    """3–8 distinct sample questions (the article schema's bounds): the questions as asked, then
    their clauses, so that even a single ticket yields a valid draft the editor then improves."""
    out: list[str] = []
    for q in questions:
        q = shorten(mask_personal(q), 120)
        if q and q not in out:
            out.append(q)
    for q in list(out):
        for clause in _CLAUSE.split(q):
            clause = clause.strip()
            if len(clause) >= 4 and clause not in out and len(out) < 8:
                out.append(clause)
    if not out:
        raise ValueError("这张工单没有问题内容")
    base = out[0]
    for variant in (f"{_title(base)}怎么办", f"{_title(base)}，法律上怎么规定"):
        if len(out) < 3 and variant not in out:
            out.append(variant)
    return out[:8]
