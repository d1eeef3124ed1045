"""core.db's session variants: what each one sends to the database."""

from __future__ import annotations

import datetime as dt

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

    compiled = _SENDER.statement.compile(dialect=container.engine.dialect)
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


def test_a_direct_statement_converts_values_as_sqlalchemy_does(container):  # type: ignore[no-untyped-def]
    _postgres_only(container)
    from sqlalchemy import JSON, Float, Numeric, bindparam, cast, literal

    from core.direct import Direct, driver_of

    statement = select(
        cast(bindparam("doc", type_=JSON), JSON).label("doc"),  # converted when given
        cast(literal({"固定": [1]}, JSON), JSON).label("fixed"),  # converted once, with the statement
        literal(0.25, Float).label("share"),
        # PostgreSQL sends a numeric, which psycopg reads as a Decimal: SQLAlchemy makes it a float
        cast(literal("0.75"), Numeric(4, 2, asdecimal=False)).label("ratio"),
        bindparam("at", type_=CacheEntry.expires_at.type).label("at"),
    )
    given = {"doc": {"村": ["嘎查", 1]}, "at": dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)}
    with container.session_factory() as session:
        expected = dict(session.execute(statement, given).one()._mapping)
        direct = Direct(statement)
        for _ in range(2):  # the second time from the conversions kept
            (got,) = direct.rows(driver_of(session), given)
            assert got == expected
            assert {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in expected.items()}
        assert type(got["ratio"]) is float


def test_a_direct_statement_names_its_parameters_and_refuses_expanding_ones():  # type: ignore[no-untyped-def]
    from sqlalchemy import bindparam

    from core.direct import Direct

    statement = Direct(select(CacheEntry.key).where(CacheEntry.key == bindparam("key")))
    with pytest.raises(KeyError):
        statement.parameters({})
    with pytest.raises(KeyError):
        statement.parameters({"key": "a", "other": 1})
    with pytest.raises(ValueError, match="among"):
        Direct(select(CacheEntry.key).where(CacheEntry.key.in_(["a", "b"])))


def test_a_direct_statements_errors_are_sqlalchemys(container):  # type: ignore[no-untyped-def]
    """The app answers a database error with a 503; psycopg's own would have been a 500."""
    _postgres_only(container)
    from sqlalchemy import Integer, Text, bindparam, cast, exc

    from core.direct import Direct, driver_of

    bad = Direct(select(cast(bindparam("n", type_=Text), Integer).label("n")))
    with container.session_factory() as session, pytest.raises(exc.DataError):
        bad.rows(driver_of(session), {"n": "not a number"})


def test_a_connection_lent_in_autocommit_goes_back_as_it_was_or_not_at_all(container):  # type: ignore[no-untyped-def]
    _postgres_only(container)
    from sqlalchemy import bindparam, exc, text

    from core.direct import Direct, autocommitting

    put = Direct(
        CacheEntry.__table__.insert().values(key=bindparam("key"), value="v", expires_at=None)  # type: ignore[attr-defined]
    )
    with autocommitting(container.engine) as driver:
        put.rows(driver, {"key": "lent"})
        with container.session_factory() as other:  # committed at once: seen from elsewhere
            assert other.scalar(select(CacheEntry.value).where(CacheEntry.key == "lent")) == "v"
    assert driver.autocommit is False and not driver.closed
    with autocommitting(container.engine) as broken:
        with container.engine.connect() as killer:
            killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": broken.info.backend_pid})
        with pytest.raises(exc.OperationalError):
            put.rows(broken, {"key": "lost"})
    assert broken.closed  # invalidated, not put back in the pool
    with transaction(container.session_factory) as session:  # the pool still serves
        assert session.scalar(select(CacheEntry.value).where(CacheEntry.key == "lent")) == "v"


def test_direct_statements_are_sent_as_sqlalchemy_would_send_them(container):  # type: ignore[no-untyped-def]
    """Compiled once for PostgreSQL without a server to ask: the same text as the engine's own."""
    _postgres_only(container)
    from core.direct import Direct
    from handlers import router

    with container.engine.connect():  # the dialect learns the server's version
        pass
    statements = [value for value in vars(router).values() if isinstance(value, Direct)]
    assert len(statements) >= 3
    for statement in statements:
        assert statement.statement.compile(dialect=container.engine.dialect).string == statement.sql


def test_a_direct_insert_fills_constant_defaults_and_returns_the_new_key(container):  # type: ignore[no-untyped-def]
    """SQLAlchemy computes an INSERT's Python-side column defaults at each execution; a Direct
    statement sends the constant ones it fixed, and refuses to leave one that must be computed."""
    _postgres_only(container)
    from sqlalchemy import bindparam
    from sqlalchemy.dialects import postgresql

    from core.direct import Direct, driver_of
    from core.models import ChannelAccount, Conversation

    accounts = ChannelAccount.__table__
    insert = Direct(
        postgresql.insert(accounts)  # type: ignore[arg-type]
        .values(channel=bindparam("channel"), external_id=bindparam("id"), created_at=bindparam("at"))
        .on_conflict_do_nothing(index_elements=["channel", "external_id"])
    )
    at = dt.datetime(2026, 11, 27, 8, 0)
    with transaction(container.session_factory) as session:
        (made,) = insert.rows(driver_of(session), {"channel": "webchat", "id": "d1", "at": at})
        assert insert.rows(driver_of(session), {"channel": "webchat", "id": "d1", "at": at}) == []  # there already
        account = session.get_one(ChannelAccount, made["id"])
        assert (account.unreachable, account.holds_messages, account.rate_window_count) == (False, False, 0)
    with pytest.raises(ValueError, match="updated_at"):  # utcnow(): a new value each time
        Direct(Conversation.__table__.insert().values(account_id=bindparam("a"), data={}))  # type: ignore[attr-defined]


def test_a_direct_statement_comes_after_what_the_session_holds(container):  # type: ignore[no-untyped-def]
    """``Direct.rows_in`` writes the session's pending ORM changes first, as ``session.execute``
    does: a plain statement sees them, and one that writes cannot be overtaken by them."""
    from sqlalchemy import bindparam

    from core.direct import Direct
    from core.models import ChannelAccount

    named = Direct(select(ChannelAccount.id).where(ChannelAccount.external_id == bindparam("who")))
    with transaction(container.session_factory) as session:
        pending = ChannelAccount(channel="webchat", external_id="pending-1", created_at=dt.datetime(2026, 11, 27))
        session.add(pending)
        assert named.rows_in(session, {"who": "pending-1"}) == [{"id": pending.id}]


def test_a_threads_next_unit_of_work_starts_clean_in_the_session_it_reuses(container):  # type: ignore[no-untyped-def]
    """``transaction`` hands a thread's closed session out again: nothing of the last unit of work
    may be in it, a failed one is not handed out, a nested one gets its own, and another thread its
    own."""
    import threading

    factory = container.session_factory
    with transaction(factory) as first:
        cache_entries.put(first, "k", "v1", expires_at=None)
        loaded = first.scalars(select(CacheEntry).where(CacheEntry.key == "k")).one()
        with transaction(factory) as nested:
            assert nested is not first
    with transaction(factory) as second:
        assert second is first  # what makes it cheaper
        assert not second.identity_map and not second.new and not second.dirty
        assert loaded not in second
        cache_entries.put(second, "k", "v2", expires_at=None)
    with transaction(factory) as third:
        assert third.scalar(select(CacheEntry.value).where(CacheEntry.key == "k")) == "v2"
    with pytest.raises(RuntimeError), transaction(factory) as failed:
        cache_entries.put(failed, "k", "lost", expires_at=None)
        raise RuntimeError
    with transaction(factory) as after:
        assert after is not failed
        assert after.scalar(select(CacheEntry.value).where(CacheEntry.key == "k")) == "v2"
    elsewhere: list[object] = []

    def other_thread() -> None:
        with transaction(factory) as session:
            elsewhere.append(session)

    worker = threading.Thread(target=other_thread)
    worker.start()
    worker.join()
    assert elsewhere and elsewhere[0] is not after


def test_a_kept_session_does_not_keep_its_factory_alive() -> None:
    import gc
    import weakref

    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import sessionmaker

    engine = create_engine("sqlite://")
    factory = sessionmaker(engine)
    with transaction(factory) as session:
        session.execute(text("SELECT 1"))
    gone = weakref.ref(factory)
    del factory, session
    gc.collect()
    assert gone() is None
    engine.dispose()
