"""A few fixed statements that every message runs, compiled once and sent straight to psycopg.

SQLAlchemy's work around one execution — the cache key, the parameters, the result's metadata
and rows, and for a statement of its own, checking a connection out with its isolation level and
back — cost as much CPU as psycopg's on the statements every message runs: sending three of
them this way cut a web chat message's instructions by 17 % (6.03 → 5.00 M, callgrind, as
``python -m bench instructions`` counts them). A ``Direct`` statement is written with SQLAlchemy
as any other; it is compiled once for PostgreSQL, and its parameters and result columns are
converted by the same types SQLAlchemy would use. Nothing else is bypassed: it runs on the
connection of the session's transaction, or on a pooled connection in autocommit.

Only statements without expanding parameters (``core.db.among`` instead of ``in_``), on PostgreSQL;
elsewhere callers run them through SQLAlchemy as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import Engine, exc
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from core.db import is_postgres

_DIALECT = postgresql.dialect(driver="psycopg")  # type: ignore[no-untyped-call]
Processor = Callable[[Any], Any]


class Direct:
    """``statement`` compiled for PostgreSQL (psycopg); ``rows`` gives dicts by column name."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        compiled = statement.compile(dialect=_DIALECT)
        assert isinstance(compiled, SQLCompiler)
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise ValueError("a Direct statement cannot have expanding parameters: use core.db.among")
        assert not compiled.escaped_bind_names, "parameter names psycopg would need escaped"
        self.sql: str = compiled.string
        #: the parameters the statement fixes itself (literals, constants), with their values as sent
        self.defaults: dict[str, Any] = {}
        #: the parameters the caller gives, and the conversions of those that have one
        self.required: set[str] = set()
        self.bind_processors: dict[str, Processor] = {}
        # the column defaults SQLAlchemy computes in Python at each execution of an INSERT/UPDATE
        computed = {column.key: column.default for column in compiled.insert_prefetch}
        computed |= {column.key: column.onupdate for column in compiled.update_prefetch}
        for name, bind in compiled.binds.items():
            processor = bind.type.dialect_impl(_DIALECT).bind_processor(_DIALECT)
            if bind.required:
                self.required.add(name)
                if processor is not None:
                    self.bind_processors[name] = processor
            else:  # converted here, once
                value = _fixed_default(name, computed[name]) if name in computed else bind.effective_value
                self.defaults[name] = processor(value) if processor is not None else value
        selected = getattr(statement, "selected_columns", None)
        if selected is None:  # an INSERT/UPDATE/DELETE: what it returns, asked for or implicit (a new row's key)
            selected = compiled.returning or ()
        self._selected = list(selected)
        self.columns: list[str] = [column.key for column in self._selected]
        #: made from the first result: SQLAlchemy's conversions depend on the type the server sends
        self._result_processors: list[tuple[int, Processor]] | None = None

    def _processors(self, description: Any) -> list[tuple[int, Processor]]:
        if self._result_processors is None:
            processors = []
            for index, (column, described) in enumerate(zip(self._selected, description, strict=True)):
                processor = column.type.dialect_impl(_DIALECT).result_processor(_DIALECT, described.type_code)
                if processor is not None:
                    processors.append((index, processor))
            self._result_processors = processors
        return self._result_processors

    def parameters(self, given: dict[str, Any]) -> dict[str, Any]:
        if given.keys() != self.required:
            missing, unknown = self.required - given.keys(), given.keys() - self.required
            raise KeyError(f"parameters missing: {sorted(missing)}; not this statement's: {sorted(unknown)}")
        values = self.defaults | given
        for name, processor in self.bind_processors.items():
            values[name] = processor(given[name])
        return values

    def rows(self, driver_connection: Any, given: dict[str, Any]) -> list[dict[str, Any]]:
        """Run it; its rows (none for a statement that returns none). psycopg's errors come out as
        SQLAlchemy's, as from any other statement (a database that went away is a 503, not a 500)."""
        parameters = self.parameters(given)
        try:
            with driver_connection.cursor() as cursor:
                cursor.execute(self.sql, parameters)
                description = cursor.description
                if description is None:
                    return []
                fetched = cursor.fetchall()
        except psycopg.Error as error:
            raise _wrapped(error, self.sql) from error
        processors = self._processors(description)
        out = []
        for row in fetched:
            values = list(row)
            for index, processor in processors:
                values[index] = processor(values[index])
            out.append(dict(zip(self.columns, values, strict=True)))
        return out

    def rows_in(self, session: Session, given: dict[str, Any]) -> list[dict[str, Any]]:
        """Its rows, in the session's transaction: sent straight to psycopg on PostgreSQL, through
        SQLAlchemy elsewhere (SQLite, ``make run``'s default)."""
        if is_postgres(session):
            # what the session holds is written first, as session.execute does (SQLite, below):
            # a plain statement must see the unit of work's changes and come after them
            if session.autoflush:
                session.flush()
            return self.rows(driver_of(session), given)
        statement: Any = self.statement  # an Executable: Direct is given statements, not bare clauses
        result = session.execute(statement, given)
        # an INSERT without RETURNING returns nothing here (PostgreSQL's compile returns the key);
        # a SELECT run by the ORM gives a result that returns rows without saying so
        if not getattr(result, "returns_rows", True):
            return []
        return [dict(row._mapping) for row in result]


def _fixed_default(name: str, default: Any) -> Any:
    """A column's default that is a constant (unreachable=False): the same at every execution."""
    if default is None or not default.is_scalar:
        raise ValueError(f"give {name}: its default is computed at each execution, which a Direct statement does not")
    return default.arg


def _wrapped(error: psycopg.Error, sql: str | None) -> exc.StatementError:
    """psycopg's error as SQLAlchemy's (OperationalError, DataError …), parameters left out."""
    return exc.DBAPIError.instance(
        sql, None, error, psycopg.Error, hide_parameters=True, dialect=_DIALECT, ismulti=False
    )


def driver_of(session: Session) -> Any:
    """The psycopg connection beneath the session's transaction (begun if it was not)."""
    return session.connection().connection.driver_connection


@contextmanager
def autocommitting(engine: Engine) -> Iterator[Any]:
    """A pooled psycopg connection in autocommit for one statement, put back as it was found.
    SQLAlchemy's own way (an engine with the isolation level as an option) sets and resets the
    level through its event system at every checkout."""
    try:
        pooled = engine.raw_connection()
    except psycopg.Error as error:  # no connection to be had: wrapped as engine.connect() would
        raise _wrapped(error, None) from error
    driver = pooled.driver_connection
    assert driver is not None
    try:
        driver.autocommit = True
        yield driver
    finally:
        if driver.broken or driver.closed:  # the server went away: no use putting it back
            pooled.invalidate()
        else:
            driver.autocommit = False
            pooled.close()
