"""A named lease in the ``leases`` table: at most one process runs the scheduler's passes.

Acquiring and renewing are one statement, an upsert that only takes the row over when it is ours
or has expired::

    INSERT INTO leases (name, holder, expires_at) VALUES (:name, :me, :now + ttl)
    ON CONFLICT (name) DO UPDATE SET holder = :me, expires_at = :now + ttl
    WHERE leases.holder = :me OR leases.expires_at < :now

followed, in the same transaction, by reading back who holds it. On PostgreSQL two concurrent
upserts serialise on the row (the loser re-checks the WHERE against the winner's committed row and
updates nothing); on SQLite the transaction already holds the write lock from ``BEGIN IMMEDIATE``
(core.db). A holder that dies stops renewing and another process takes over once ``expires_at``
has passed; a clean shutdown releases the lease at once.

The lease keeps the passes from running twice in parallel, but correctness does not rest on it:
every send has a unique outbox key and every ticket change re-checks the row under a lock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from core.db import is_postgres, transaction
from core.models import Lease

SCHEDULER_LEASE = "scheduler"


@dataclass(frozen=True)
class LeaseState:
    holder: str
    expires_at: dt.datetime


def acquire(factory: sessionmaker[Session], *, name: str, holder: str, ttl: dt.timedelta, now: dt.datetime) -> bool:
    """Take or renew the lease; True when ``holder`` holds it until ``now + ttl``."""
    with transaction(factory) as session:
        insert = postgresql.insert if is_postgres(session) else sqlite.insert
        statement = insert(Lease).values(name=name, holder=holder, expires_at=now + ttl)
        statement = statement.on_conflict_do_update(
            index_elements=[Lease.name],
            set_={"holder": holder, "expires_at": now + ttl},
            where=(Lease.holder == holder) | (Lease.expires_at < now),
        )
        session.execute(statement)
        return session.scalar(select(Lease.holder).where(Lease.name == name)) == holder


def release(factory: sessionmaker[Session], *, name: str, holder: str) -> None:
    """Give the lease up (only if still ours), so another process need not wait for it to expire."""
    with transaction(factory) as session:
        session.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))


def current(factory: sessionmaker[Session], *, name: str) -> LeaseState | None:
    with factory() as session:
        row = session.get(Lease, name)
        return LeaseState(row.holder, row.expires_at) if row else None
