"""core.db's session variants: what each one sends to the database."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core import cache_entries
from core.db import one_statement, read_only, transaction
from core.models import CacheEntry


def _postgres_only(container) -> None:  # type: ignore[no-untyped-def]
    if container.engine.dialect.name != "postgresql":
        pytest.skip("autocommit sessions are a PostgreSQL matter")


def _in_transaction(session) -> bool:  # type: ignore[no-untyped-def]
    from psycopg.pq import TransactionStatus

    status = session.connection().connection.driver_connection.info.transaction_status
    return bool(status != TransactionStatus.IDLE)


def test_reads_apart_from_the_work_hold_no_transaction_open(container):  # type: ignore[no-untyped-def]
    """No BEGIN and ROLLBACK around them: two round trips fewer, and no snapshot kept."""
    _postgres_only(container)
    with read_only(container.session_factory)() as session:
        session.execute(select(CacheEntry.key)).all()
        assert not _in_transaction(session)
    with container.session_factory() as session:  # an ordinary session, for contrast
        session.execute(select(CacheEntry.key)).all()
        assert _in_transaction(session)


def test_each_kind_of_session_is_made_once_for_a_factory(container):  # type: ignore[no-untyped-def]
    factory = container.session_factory
    assert read_only(factory) is read_only(factory)  # WeChat asks for them with every message
    assert one_statement(factory) is one_statement(factory)
    assert read_only(factory) is not factory


def test_one_statement_work_is_committed_by_its_statement(container):  # type: ignore[no-untyped-def]
    _postgres_only(container)
    with transaction(one_statement(container.session_factory)) as session:
        cache_entries.put(session, "k", "v1", expires_at=None)
        assert not _in_transaction(session)
        with container.session_factory() as other:  # before this session's commit
            assert other.scalar(select(CacheEntry.value).where(CacheEntry.key == "k")) == "v1"


def test_an_entry_is_put_over_the_last_and_taken_once(container):  # type: ignore[no-untyped-def]
    with transaction(container.session_factory) as session:
        cache_entries.put(session, "k", "v1", expires_at=None)
    with transaction(container.session_factory) as session:
        cache_entries.put(session, "k", "v2", expires_at=None)
    with transaction(container.session_factory) as session:
        taken = cache_entries.take(session, "k")
        assert taken is not None and (taken.value, taken.expires_at) == ("v2", None)
        assert cache_entries.take(session, "k") is None


def test_the_senders_query_is_compiled_once_not_at_every_message(container):  # type: ignore[no-untyped-def]
    """A plain ``in_`` of fixed values is an expanding parameter, rendered again at each execution."""
    from handlers.router import _SENDER

    compiled = _SENDER.compile(dialect=container.engine.dialect)
    assert "POSTCOMPILE" not in compiled.string
    assert not compiled.literal_execute_params and not compiled.post_compile_params


def test_among_matches_the_values_it_names(container):  # type: ignore[no-untyped-def]
    from core.db import among

    with transaction(container.session_factory) as session:
        for key in ("a", "b", "c"):
            cache_entries.put(session, key, key, expires_at=None)
    with container.session_factory() as session:
        found = session.scalars(
            select(CacheEntry.key).where(among(CacheEntry.key, ("a", "c"))).order_by(CacheEntry.key)
        )
        assert list(found) == ["a", "c"]


def test_a_result_describes_itself_as_psycopg_would_even_read_late(container):  # type: ignore[no-untyped-def]
    """The description is built when read: from the result it belongs to, not whatever the cursor
    ran since."""
    _postgres_only(container)
    import psycopg

    from core.pgcursor import LazyDescriptionCursor

    with container.engine.connect() as connection:
        driver = connection.connection.driver_connection
        assert isinstance(driver.cursor(), LazyDescriptionCursor)
        query = "SELECT 1 AS one, 'x'::text AS letter, now() AS at"
        cursor = driver.cursor()
        cursor.execute(query)
        lazy = cursor.description
        cursor.execute("SELECT 2 AS other")
        plain = psycopg.Cursor(driver)
        plain.execute(query)
        assert lazy is not None and plain.description is not None
        assert len(lazy) == 3
        assert [tuple(c) for c in lazy] == [tuple(c) for c in plain.description]
        assert lazy[1].name == "letter" and [c.name for c in cursor.description or ()] == ["other"]
        cursor.execute("SET LOCAL statement_timeout = 0")
        assert cursor.description is None
