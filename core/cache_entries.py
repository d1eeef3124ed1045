"""Small values shared across processes (``cache_entries``), each read or written by one statement:
a value is put with an upsert, taken (read and removed at once) with DELETE … RETURNING."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Table, bindparam, delete
from sqlalchemy.orm import Session

from core.db import upsert
from core.models import CacheEntry

_entries: Table = CacheEntry.__table__  # type: ignore[assignment]
_PUT = upsert(_entries, index_elements=["key"], update=["value", "expires_at"])
_DROP = delete(_entries).where(_entries.c.key == bindparam("key"))
_TAKE = _DROP.returning(_entries.c.value, _entries.c.expires_at)


def put(session: Session, key: str, value: str, *, expires_at: dt.datetime | None) -> None:
    session.execute(_PUT(session), {"key": key, "value": value, "expires_at": expires_at})


def take(session: Session, key: str) -> Any:
    """The entry's value and expiry (a row), removed; None when there is none."""
    return session.execute(_TAKE, {"key": key}).one_or_none()


def drop(session: Session, key: str) -> None:
    session.execute(_DROP, {"key": key})
