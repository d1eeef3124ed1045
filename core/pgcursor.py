"""A psycopg cursor whose ``description`` is built only when something reads it.

SQLAlchemy asks for ``cursor.description`` after every statement, but for a statement it has run
before it already holds the result's columns (its cached result metadata) and only checks that a
description exists. psycopg builds it eagerly, one ``Column`` per result column with a type
lookup each, ~50 a message: 9 % of a message's instructions (``python -m bench instructions``:
5.48 M with psycopg's own cursor, 4.99 M with this one). Here the columns are made from the
result they describe, when first read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

import psycopg
from psycopg import pq

_TUPLES = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.SINGLE_TUPLE, pq.ExecStatus.TUPLES_CHUNK)


class LazyDescriptionCursor(psycopg.Cursor[Any]):
    @property
    def description(self) -> Sequence[psycopg.Column] | None:  # type: ignore[override]
        res = self.pgresult
        # as psycopg's own: columns when there are fields, or when the query said it gave tuples
        if res and (res.nfields or res.status in _TUPLES):
            return _Description(_Described(res, self._encoding, self.adapters))
        return None


class _Described:
    """What ``psycopg.Column`` reads from its cursor, fixed at this result: the cursor may have run
    another statement by the time the description is read."""

    __slots__ = ("_encoding", "adapters", "pgresult")

    def __init__(self, pgresult: pq.abc.PGresult, encoding: str, adapters: Any) -> None:
        self.pgresult, self._encoding, self.adapters = pgresult, encoding, adapters


class _Description(Sequence[psycopg.Column]):
    __slots__ = ("_columns", "_source")

    def __init__(self, source: _Described) -> None:
        self._source = source
        self._columns: list[psycopg.Column] | None = None

    def _made(self) -> list[psycopg.Column]:
        if self._columns is None:
            source = self._source
            self._columns = [psycopg.Column(source, i) for i in range(source.pgresult.nfields)]  # type: ignore[arg-type]
        return self._columns

    def __len__(self) -> int:
        return self._source.pgresult.nfields

    @overload
    def __getitem__(self, index: int) -> psycopg.Column: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[psycopg.Column]: ...
    def __getitem__(self, index: int | slice) -> psycopg.Column | Sequence[psycopg.Column]:
        return self._made()[index]

    def __iter__(self) -> Iterator[psycopg.Column]:
        return iter(self._made())

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented

    __hash__ = None  # type: ignore[assignment]
