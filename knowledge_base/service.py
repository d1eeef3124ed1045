"""The live knowledge base in the database: read, import/export, edit with revisions."""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.direct import Direct
from core.models import KbArticle, KbRevision
from knowledge_base.articles import (
    CONTENT_DIR,
    Article,
    Citation,
    LoadError,
    load_directory,
)

FIELDS = ("intent", "title", "questions", "answer", "citations", "tags", "reviewed_by", "reviewed_at", "status")


def citation_label(citation: dict[str, Any] | Citation) -> str:
    c = citation if isinstance(citation, Citation) else Citation.model_validate(citation)
    return c.label()


def citations_text(citations: Iterable[dict[str, Any] | Citation]) -> str:
    """《民法典》第一千零七十九条、第一千零八十七条；《反家庭暴力法》第二十三条 — each law named once."""
    grouped: dict[str, list[str]] = {}
    for raw in citations:
        c = raw if isinstance(raw, Citation) else Citation.model_validate(raw)
        grouped.setdefault(c.law, []).append(c.label().split("》", 1)[1])
    return "；".join(f"《{law}》" + "、".join(articles) for law, articles in grouped.items())


@dataclass(frozen=True)
class ShownArticle:
    """What the bot shows of a published article: its columns, not an ORM object, read by a
    statement compiled once (core/direct.py) — most messages read one."""

    slug: str
    intent: str
    title: str
    answer: str
    citations: list[dict[str, Any]]
    tags: list[str]


_PUBLISHED = Direct(
    select(
        KbArticle.slug, KbArticle.intent, KbArticle.title, KbArticle.answer, KbArticle.citations, KbArticle.tags
    ).where(KbArticle.slug == bindparam("slug"), KbArticle.status == "published")
)


def get_published(session: Session, slug: str) -> ShownArticle | None:
    """The published article's slug, intent, title, answer, citations and tags."""
    found = _PUBLISHED.rows_in(session, {"slug": slug})
    return ShownArticle(**found[0]) if found else None


def get(session: Session, slug: str) -> KbArticle | None:
    return session.scalar(select(KbArticle).where(KbArticle.slug == slug))


def published(session: Session) -> Sequence[KbArticle]:
    return session.scalars(select(KbArticle).where(KbArticle.status == "published").order_by(KbArticle.id)).all()


def stamp(session: Session) -> tuple[int, int, dt.datetime | None]:
    """Changes whenever an article is added, edited or deleted (retrieval reloads on change)."""
    count, version_sum, latest = session.execute(
        select(func.count(KbArticle.id), func.coalesce(func.sum(KbArticle.version), 0), func.max(KbArticle.updated_at))
    ).one()
    return int(count), int(version_sum), latest


def to_article(row: KbArticle) -> Article:
    return Article.model_validate({"slug": row.slug, **{f: getattr(row, f) for f in FIELDS}})


def snapshot(article: Article) -> dict[str, Any]:
    return article.model_dump(mode="json")


@dataclass
class SaveResult:
    row: KbArticle
    created: bool
    changed: bool


def save(session: Session, article: Article, *, author: str, now: dt.datetime | None = None) -> SaveResult:
    """Create or update an article; every change is a new revision. Saving identical content is a no-op."""
    now = now or utcnow()
    row = get(session, article.slug)
    data = snapshot(article)
    if row is not None and snapshot(to_article(row)) == data:
        return SaveResult(row, created=False, changed=False)
    created = row is None
    if row is None:
        row = KbArticle(slug=article.slug, version=0)
        session.add(row)
    for name in FIELDS:
        value = getattr(article, name)
        if name == "citations":
            value = [c.model_dump(exclude_defaults=True) for c in article.citations]
        setattr(row, name, value)
    row.version = (row.version or 0) + 1
    row.updated_at = now
    session.flush()
    session.add(KbRevision(article_id=row.id, version=row.version, author=author, at=now, snapshot=data))
    return SaveResult(row, created=created, changed=True)


def revisions(session: Session, article_id: int) -> Sequence[KbRevision]:
    return session.scalars(
        select(KbRevision).where(KbRevision.article_id == article_id).order_by(KbRevision.version.desc())
    ).all()


def revision_diff(old: dict[str, Any] | None, new: dict[str, Any]) -> str:
    def lines(snap: dict[str, Any] | None) -> list[str]:
        return Article.model_validate(snap).to_yaml().splitlines() if snap else []

    return "\n".join(difflib.unified_diff(lines(old), lines(new), "之前", "之后", lineterm=""))


def revert(session: Session, article_id: int, version: int, *, author: str) -> SaveResult:
    rev = session.scalar(select(KbRevision).where(KbRevision.article_id == article_id, KbRevision.version == version))
    if rev is None:
        raise LookupError(f"no revision {version} of article {article_id}")
    return save(session, Article.model_validate(rev.snapshot), author=author)


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)


def import_articles(session: Session, articles: Iterable[Article], *, author: str) -> ImportReport:
    report = ImportReport()
    for article in articles:
        result = save(session, article, author=author)
        target = report.created if result.created else report.updated if result.changed else report.unchanged
        target.append(article.slug)
    return report


def import_directory(session: Session, directory: Path = CONTENT_DIR, *, author: str) -> ImportReport:
    """All or nothing: a directory with any invalid file imports nothing."""
    articles, errors = load_directory(directory)
    if errors:
        return ImportReport(errors=errors)
    return import_articles(session, articles, author=author)


def export_directory(session: Session, directory: Path) -> int:
    rows = session.scalars(select(KbArticle).order_by(KbArticle.slug)).all()
    for row in rows:
        path = directory / row.intent / f"{row.slug}.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = to_article(row).to_yaml()
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    return len(rows)
