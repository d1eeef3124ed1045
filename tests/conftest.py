"""Fixtures: every database test runs on SQLite and on PostgreSQL (127.0.0.1:5432/test).

PostgreSQL tests skip when the server is unreachable, unless VILLAGELAW_REQUIRE_POSTGRES=1
(as in CI), where an unreachable server fails the run instead.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from admin.container import Container, build
from bench.pg import available as pg_available
from core.config import Settings
from core.db import make_engine
from core.migrate import upgrade
from core.models import Base
from tests.fakes import FrozenClock, KeywordClassifier

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
PG_URL = os.environ.get("VILLAGELAW_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("VILLAGELAW_REQUIRE_POSTGRES") == "1"
NLU_CACHE = ROOT / "var" / "nlu-test"
# Tests fit models in-process (a child process costs seconds per fit); test_fastpath covers the child.
os.environ.setdefault("FIT_MODELS_IN_CHILD", "false")
T0 = dt.datetime(2026, 12, 1, 2, 0, 0)  # 10:00 in Asia/Shanghai, a Tuesday


def require_postgres() -> None:
    """Skip without the test server (fail instead where it is required, as in CI)."""
    if not pg_available(PG_URL):
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL required but unreachable at {PG_URL}")
        pytest.skip("PostgreSQL not reachable")


@contextmanager
def new_pg_schema(prefix: str) -> Iterator[str]:
    """An empty schema of its own on the test server, as a database URL; dropped afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    require_postgres()
    with new_pg_schema("vl_test") as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


def _truncate(engine: Engine) -> None:
    names = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("pg_schema_url")
    engine = make_engine(url)
    _truncate(engine)
    engine.dispose()
    yield url


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(
        env="test",
        database_url=db_url,
        run_background_workers=False,
        nlu_model_dir=NLU_CACHE,
        secret_key="test-secret-key-for-sessions-only",
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def container(settings: Settings, clock: FrozenClock) -> Iterator[Container]:
    c = build(settings, classifier=KeywordClassifier())
    c.router.clock = clock
    yield c
    c.engine.dispose()


@pytest.fixture
def seeded(container: Container, clock: FrozenClock) -> Container:
    from admin.seed import seed_demo
    from core.db import transaction

    with transaction(container.session_factory) as session:
        seed_demo(session, settings=container.settings, now=clock())
    return container


@pytest.fixture(scope="session")
def real_classifier():  # type: ignore[no-untyped-def]
    from nlu.factory import build_classifier

    return build_classifier(Settings(env="test", nlu_model_dir=NLU_CACHE, _env_file=None))  # type: ignore[call-arg]
