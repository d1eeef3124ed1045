"""Dedicated PostgreSQL databases for the benchmarks (never the tests' ``test`` database), and
whether a server answers (the tests ask that too).

The server is the one the tests use (``VILLAGELAW_BENCH_PG`` names another); each benchmark gets
its own database, ``villagelaw_bench_<name>``, created on first use.
"""

from __future__ import annotations

import os

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

SERVER = os.environ.get("VILLAGELAW_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def available(url: str = SERVER) -> bool:
    """Whether a PostgreSQL server answers at ``url`` within 3 s (the tests ask it too)."""
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


def database(name: str, *, fresh: bool = False) -> str:
    """URL of ``villagelaw_bench_<name>``, created if missing (dropped first when ``fresh``)."""
    db = f"villagelaw_bench_{name}"
    admin = create_engine(SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": db})
        if exists and fresh:
            conn.execute(text(f'DROP DATABASE "{db}" WITH (FORCE)'))
            exists = False
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{db}"'))
    admin.dispose()
    return make_url(SERVER).set(database=db).render_as_string(hide_password=False)


def reset_sequences(conn, tables: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    """After rows were inserted with explicit ids: the next id of each table follows its largest."""
    for table in tables:
        conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
