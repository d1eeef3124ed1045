"""Knowledge-base article files: schema, loading and statute-citation checks.

One YAML file per article under ``knowledge_base/content/<intent>/<slug>.yml``.
The files are the source of truth a lawyer reviews; the database holds the live,
editable copy (see ``knowledge_base.service``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core import yaml_text
from core.intents import ARTICLE_INTENTS

CONTENT_DIR = Path(__file__).resolve().parent / "content"


MAX_ANSWER_CHARS = 300
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# The 2012 text in ../shared was renumbered by the revision in force since 2026-01-01.
LAWS_WITHOUT_RELIABLE_NUMBERS = frozenset({"治安管理处罚法"})


class Citation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    law: str = Field(min_length=2)
    article: int = Field(ge=1)
    sub: int = Field(default=0, ge=0)  # 之一/之二 inserted articles

    def label(self) -> str:
        extra = f"之{_chinese_number(self.sub)}" if self.sub else ""
        return f"《{self.law}》第{_chinese_number(self.article)}条{extra}"


class Article(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: str
    intent: Literal[ARTICLE_INTENTS]  # type: ignore[valid-type]
    title: str = Field(min_length=4, max_length=60)
    questions: list[str] = Field(min_length=3, max_length=8)
    answer: str = Field(min_length=20)
    citations: list[Citation] = Field(min_length=1)
    reviewed_by: str = Field(min_length=2)
    reviewed_at: dt.date
    status: Literal["draft", "published"] = "draft"
    tags: list[str] = Field(default_factory=list)

    @field_validator("slug")
    @classmethod
    def _slug_shape(cls, value: str) -> str:
        if not SLUG_RE.match(value):
            raise ValueError("slug must be lower-case latin letters, digits and hyphens")
        return value

    @field_validator("answer")
    @classmethod
    def _answer_length(cls, value: str) -> str:
        value = value.strip()
        if answer_length(value) > MAX_ANSWER_CHARS:
            raise ValueError(f"answer is {answer_length(value)} characters; at most {MAX_ANSWER_CHARS}")
        return value

    @field_validator("questions")
    @classmethod
    def _distinct_questions(cls, value: list[str]) -> list[str]:
        cleaned = [q.strip() for q in value if q.strip()]
        if len(set(cleaned)) != len(cleaned):
            raise ValueError("sample questions must be distinct")
        return cleaned

    def to_yaml(self) -> str:
        data = self.model_dump(mode="json", exclude_defaults=False)
        for c in data["citations"]:
            if not c.get("sub"):
                c.pop("sub", None)
        if not data["tags"]:
            data.pop("tags")
        return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1000)


def answer_length(text: str) -> int:
    """Characters a reader sees: whitespace does not count against the limit."""
    return len(re.sub(r"\s+", "", text))


@dataclass(frozen=True)
class LoadError:
    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


def parse_article(text: str, *, path: str = "<text>") -> tuple[Article | None, list[LoadError]]:
    try:
        data = yaml_text.load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        return None, [LoadError(path, line, f"YAML syntax: {getattr(exc, 'problem', exc)}")]
    if not isinstance(data, dict):
        return None, [LoadError(path, 1, "expected a mapping of article fields")]
    try:
        return Article.model_validate(data), []
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            line = _line_of_key(text, str(err["loc"][0])) if err["loc"] else None
            errors.append(LoadError(path, line, f"{field}: {err['msg']}"))
        return None, errors


def load_directory(directory: Path = CONTENT_DIR) -> tuple[list[Article], list[LoadError]]:
    articles: list[Article] = []
    errors: list[LoadError] = []
    seen: dict[str, str] = {}
    for path in sorted(directory.rglob("*.yml")):
        rel = str(path.relative_to(directory))
        article, errs = parse_article(path.read_text(encoding="utf-8"), path=rel)
        errors.extend(errs)
        if article is None:
            continue
        if article.slug in seen:
            errors.append(LoadError(rel, None, f"slug {article.slug} already used by {seen[article.slug]}"))
            continue
        if path.stem != article.slug:
            errors.append(LoadError(rel, None, f"file name must be {article.slug}.yml"))
        seen[article.slug] = rel
        articles.append(article)
    return articles, errors


@dataclass(frozen=True)
class StatuteIndex:
    """The articles of ../shared/data/laws/articles.jsonl, keyed by (law, number, sub)."""

    texts: dict[tuple[str, int, int], str]

    @classmethod
    def from_jsonl(cls, path: Path) -> StatuteIndex:
        texts: dict[tuple[str, int, int], str] = {}
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                texts[(row["law"], int(row["number"]), int(row.get("sub") or 0))] = row["text"]
        return cls(texts)

    def laws(self) -> set[str]:
        return {law for law, _, _ in self.texts}

    def text(self, citation: Citation) -> str | None:
        return self.texts.get((citation.law, citation.article, citation.sub))


def citation_errors(articles: Iterable[Article], index: StatuteIndex) -> Iterator[str]:
    laws = index.laws()
    for article in articles:
        for c in article.citations:
            if c.law in LAWS_WITHOUT_RELIABLE_NUMBERS:
                yield f"{article.slug}: {c.law} article numbers changed in 2026; cite another law"
            elif c.law not in laws:
                yield f"{article.slug}: unknown law {c.law!r}"
            elif index.text(c) is None:
                yield f"{article.slug}: {c.label()} does not exist"


def _line_of_key(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith(f"{key}:"):
            return number
    return None


_DIGITS = "零一二三四五六七八九"


def _chinese_number(n: int) -> str:
    """1..9999 in the form statutes use (第一千二百六十条, 第十条, 第一百零五条)."""
    if n < 10:
        return _DIGITS[n]
    parts = []
    units = [(1000, "千"), (100, "百"), (10, "十")]
    rest = n
    zero_pending = False
    for value, unit in units:
        digit, rest = divmod(rest, value)
        if digit:
            if zero_pending:
                parts.append("零")
                zero_pending = False
            if not (value == 10 and digit == 1 and not parts):
                parts.append(_DIGITS[digit])
            parts.append(unit)
        elif parts:
            zero_pending = True
    if rest:
        if zero_pending:
            parts.append("零")
        parts.append(_DIGITS[rest])
    return "".join(parts)
