"""Engine and session factory. SQLite for the embedded default, PostgreSQL in production."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Engine, create_engine, event, exc, literal
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool


def make_engine(url: str, *, connect_timeout: int = 5, **kwargs: Any) -> Engine:
    """``connect_timeout`` (PostgreSQL): a database that does not answer makes requests fail fast
    (503, health degraded) instead of hanging. Statement parameters — villagers' words — are kept
    out of exception messages, and so out of logs."""
    kwargs.setdefault("hide_parameters", True)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    pooled = kwargs.get("poolclass") is not NullPool
    if pooled:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        kwargs.setdefault("pool_timeout", 10)
    kwargs.setdefault("connect_args", {"connect_timeout": connect_timeout})
    if parsed.get_driver_name() == "psycopg":
        from core.pgcursor import LazyDescriptionCursor

        kwargs["connect_args"].setdefault("cursor_factory", LazyDescriptionCursor)
    engine = create_engine(url, **kwargs)
    if pooled and not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine)
    return engine


#: A pooled connection unused for longer than this is checked before it is handed out.
IDLE_PING_SECONDS = 0.25


def _ping_when_idle(engine: Engine) -> None:
    """pool_pre_ping, but only for connections that sat idle: a server that restarted (or a
    network that dropped) while they waited has broken them. Under load a connection goes back out
    within milliseconds, and pinging it anyway cost two of every message's fifteen round trips.
    One that breaks while in use fails that request, and SQLAlchemy then renews the whole pool."""

    @event.listens_for(engine, "checkin")
    def _stamp(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # this one is dead, and so are the others that waited as long: renew them all
            raise exc.InvalidatePoolError(str(error)) from error


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the web chat read while the outbox worker writes; foreign keys are off by default.
    # pysqlite's own transaction handling is switched off so that _sqlite_begin_immediate decides.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


READ_ONLY = "villagelaw_read_only"


def _sqlite_begin_immediate(connection: Any) -> None:
    # Take the write lock at BEGIN: two threads that read-then-write the same row (a redelivered
    # message) then queue up instead of failing with "database is locked" halfway through.
    # Read-only work (see read_only) takes no lock, so it never waits for, or blocks, a writer.
    if connection.get_execution_options().get(READ_ONLY):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_side_engine(url: str, *, connect_timeout: int = 5) -> Engine:
    """For the few reads made while a request already holds a pooled connection (has the
    knowledge base changed?): a connection of its own, never one from the request pool. Taking a
    second connection from the same pool deadlocks under load: every thread holds one and waits
    for another."""
    return make_engine(url, connect_timeout=connect_timeout, poolclass=NullPool)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def one_statement(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """Sessions for work that is a single statement: on PostgreSQL it commits by itself
    (autocommit, two round trips fewer than BEGIN … COMMIT); elsewhere the sessions of ``factory``."""
    return _autocommitting(factory)


def read_only(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """Sessions for reads that may run beside a writing transaction of the same thread. On
    PostgreSQL without BEGIN and ROLLBACK, two round trips fewer: at READ COMMITTED each statement
    sees the database as of its own start anyway, in a transaction or not."""
    return _autocommitting(factory, **{READ_ONLY: True})


def _autocommitting(factory: sessionmaker[Session], **options: Any) -> sessionmaker[Session]:
    """``factory``'s sessions with these execution options, autocommitting on PostgreSQL. Built once
    for each factory: an engine with options costs ~25 µs to make, and WeChat asks for two a message."""
    engine: Engine = factory.kw["bind"]
    if engine.dialect.name == "postgresql":
        options["isolation_level"] = "AUTOCOMMIT"
    if not options:
        return factory
    variants = _VARIANTS.setdefault(factory, {})
    key = tuple(sorted(options.items()))
    if key not in variants:
        variants[key] = sessionmaker(engine.execution_options(**options), expire_on_commit=False)
    return variants[key]


#: factory → its variants, by their options; gone with the factory (tests make many).
_VARIANTS: weakref.WeakKeyDictionary[sessionmaker[Session], dict[Any, sessionmaker[Session]]] = (
    weakref.WeakKeyDictionary()
)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = _session_from(factory)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    _kept_sessions()[factory] = session  # closed cleanly: nothing of this unit of work is left in it


#: Each thread's closed sessions, one for each factory, to be used again (SQLAlchemy resets a
#: session at ``close()`` for that). A new session's event dispatchers fill themselves in at first
#: use, each event by a failed lookup that formats an AttributeError (gdb: 939 in 40 messages, 28
#: with this), and every message opens two sessions. ``python -m bench instructions``, three runs
#: each against the commit before: ``Router.handle`` 3.832–3.881 → 3.755–3.818 M a message, the
#: serving process 4.504–4.541 → 4.455–4.485 M (−1 to −2 %).
_kept = threading.local()


def _kept_sessions() -> weakref.WeakKeyDictionary[sessionmaker[Session], Session]:
    sessions = getattr(_kept, "sessions", None)
    if sessions is None:
        sessions = _kept.sessions = weakref.WeakKeyDictionary()  # gone with the factory (tests make many)
    return sessions


def _session_from(factory: sessionmaker[Session]) -> Session:
    """This thread's closed session of ``factory``, taken (a nested transaction makes its own), or
    a new one."""
    kept = _kept_sessions().pop(factory, None)
    return factory() if kept is None else kept


def insert_once(target: Any, *returning: Any, **conflict: Any) -> Callable[[Session], Any]:
    """``INSERT … ON CONFLICT DO NOTHING RETURNING …`` into ``target``, built once for each database
    we run on; call the result with a session for its statement, and pass the values as parameters.
    It returns no row when one with the same key is there, or is being inserted by a concurrent
    transaction (PostgreSQL waits for that one to commit): the check and the race in one statement."""
    statements = {
        name: dialect.insert(target).on_conflict_do_nothing(**conflict).returning(*returning)
        for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
    }
    return lambda session: statements[session.get_bind().dialect.name]


def upsert(target: Any, *, index_elements: list[str], update: list[str]) -> Callable[[Session], Any]:
    """``INSERT … ON CONFLICT (index_elements) DO UPDATE`` setting the ``update`` columns to the
    values given, built once for each database we run on (as ``insert_once``): no read first, and
    two first writers of one key cannot collide."""
    statements = {}
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite)):
        statement = dialect.insert(target)
        statements[name] = statement.on_conflict_do_update(
            index_elements=index_elements, set_={column: statement.excluded[column] for column in update}
        )
    return lambda session: statements[session.get_bind().dialect.name]


def among(column: Any, values: Any) -> ColumnElement[bool]:
    """``column IN (…)`` of values fixed in the code, as parameters bound when the statement is
    compiled. ``in_`` of plain values makes an "expanding" parameter, and SQLAlchemy renders the
    statement's text again at every execution: for the sender's query, read with every message,
    that was 6 % of a message's instructions (``python -m bench instructions``: 5.30 M with
    ``in_``, 4.99 M with this)."""
    return column.in_([literal(value, column.type) for value in values])


def is_postgres(session_or_engine: Session | Engine) -> bool:
    bind = session_or_engine.get_bind() if isinstance(session_or_engine, Session) else session_or_engine
    return bind.dialect.name == "postgresql"
