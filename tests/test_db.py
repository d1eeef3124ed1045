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
