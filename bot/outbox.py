"""Delivering outbox rows: sent, or retried with backoff on transient errors, or failed for good.

Claiming a row pushes its next attempt a lease into the future and commits before the network
call, so two workers never send the same row at once; a worker that dies mid-send leaves the row
to be retried when the lease ends (at-least-once delivery across a crash, never silent loss).
Rows for one recipient go out in order: a row waits while an older one for the same account is
still pending. A row the channel cannot deliver until the recipient writes again (WeChat's 48-hour
window) is ``held``; the router's ``release_held`` makes it pending again when they do.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from core.clock import utcnow
from core.db import is_postgres, transaction
from core.models import ChannelAccount, DeliveryAttempt, OutboxMessage
from core.ports import Channel, HeldDeliveryError, PermanentDeliveryError, TransientDeliveryError
from core.threads import in_thread
from handlers.notify import as_outgoing, mark_holding

log = logging.getLogger(__name__)

CLAIM_LEASE = dt.timedelta(seconds=60)
BASE_DELAY_SECONDS = 2.0
MAX_DELAY_SECONDS = 3600.0
#: Transient failures are retried for about a day: the backoff's nominal delays before the last
#: attempt add up to 23.1 hours. A messenger's outage or a county server's lost uplink can last
#: hours, and a lawyer's answer must still arrive; ten attempts had given up after 17 minutes.
#: (A message that would mislead late carries its own ``expires_at``.)
MAX_ATTEMPTS = 34
#: An exception no adapter knows is more likely this message's own trouble than an outage, and
#: while it is retried it holds back the later messages to the same person: 17 minutes, not a day.
MAX_UNEXPECTED_ATTEMPTS = 10
EXPIRED = "expired: too late to be true"


class UnexpectedDeliveryError(TransientDeliveryError):
    """An exception the channel's adapter does not map: retried, but not for as long."""


def backoff_seconds(attempt: int, *, retry_after: float | None, rng: Callable[[], float]) -> float:
    """Exponential backoff with full jitter in [0.5, 1.5)×, never sooner than the server asked."""
    delay = min(BASE_DELAY_SECONDS * 2 ** max(attempt - 1, 0), MAX_DELAY_SECONDS) * (0.5 + rng())
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


@dataclass
class PassResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    held: int = 0


class OutboxWorker:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        channels: Mapping[str, Channel],
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        rng: Callable[[], float] = random.random,
        batch_size: int = 100,
    ) -> None:
        self.session_factory = session_factory
        self.channels = channels
        self.clock = clock
        self.rng = rng
        self.batch_size = batch_size
        self.wake = asyncio.Event()

    def due_query(self, now: dt.datetime) -> Select[Any]:
        """Rows due now, oldest first, skipping a row while an older one to the same recipient waits."""
        older = aliased(OutboxMessage)
        blocked = (
            select(older.id)
            .where(older.account_id == OutboxMessage.account_id, older.status == "pending", older.id < OutboxMessage.id)
            .exists()
        )
        return (
            select(OutboxMessage)
            .where(
                OutboxMessage.status == "pending",
                OutboxMessage.next_attempt_at <= now,
                OutboxMessage.channel.in_(list(self.channels)),
                ~blocked,
            )
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(self.batch_size)
        )

    def claim(self) -> list[int]:
        now = self.clock()
        with transaction(self.session_factory) as session:
            query = self.due_query(now)
            if is_postgres(session):
                query = query.with_for_update(skip_locked=True, of=OutboxMessage)
            claimed = []
            for row in session.scalars(query).all():
                if row.expires_at is not None and now >= row.expires_at:
                    # however it became due (a late first try, a retry, a release), it is not sent
                    row.status, row.last_error = "cancelled", EXPIRED
                    session.add(DeliveryAttempt(outbox_id=row.id, at=now, outcome="expired", error=EXPIRED))
                    continue
                row.next_attempt_at = now + CLAIM_LEASE
                claimed.append(row.id)
            return claimed

    async def deliver_due(self) -> PassResult:
        result = PassResult()
        ids = await in_thread(self.claim)
        for outbox_id in ids:
            outcome = await self.deliver_one(outbox_id)
            setattr(result, outcome, getattr(result, outcome) + 1)
        return result

    async def deliver_one(self, outbox_id: int) -> str:
        row, recipient = await in_thread(self._load, outbox_id)
        if row is None:
            return "failed"
        channel = self.channels[row.channel]
        error: Exception | None = None
        receipt = None
        try:
            receipt = await channel.send(recipient=recipient, message=as_outgoing(row))
        except (TransientDeliveryError, PermanentDeliveryError, HeldDeliveryError) as exc:
            error = exc
        except Exception as exc:  # an unknown failure is treated as transient, and logged
            log.exception("unexpected error sending outbox %s", outbox_id)
            error = UnexpectedDeliveryError(f"{type(exc).__name__}: {exc}")
        return await in_thread(self._record, outbox_id, receipt.external_id if receipt else None, error)

    def _load(self, outbox_id: int) -> tuple[OutboxMessage | None, str]:
        with self.session_factory() as session:
            row = session.get(OutboxMessage, outbox_id)
            if row is None or row.status != "pending":
                return None, ""
            account = session.get(ChannelAccount, row.account_id)
            assert account is not None
            session.expunge(row)
            return row, account.external_id

    def _record(self, outbox_id: int, external_id: str | None, error: Exception | None) -> str:
        now = self.clock()
        with transaction(self.session_factory) as session:
            row = session.get(OutboxMessage, outbox_id)
            assert row is not None
            row.attempts += 1
            if error is None:
                row.status = "sent"
                row.sent_at = now
                row.external_message_id = external_id
                row.last_error = None
                session.add(DeliveryAttempt(outbox_id=row.id, at=now, outcome="sent"))
                return "sent"
            row.last_error = str(error)[:2000]
            if isinstance(error, HeldDeliveryError):
                row.status = "held"
                mark_holding(session, row.account_id)
                session.add(DeliveryAttempt(outbox_id=row.id, at=now, outcome="held", error=row.last_error))
                return "held"
            limit = MAX_UNEXPECTED_ATTEMPTS if isinstance(error, UnexpectedDeliveryError) else MAX_ATTEMPTS
            if isinstance(error, PermanentDeliveryError) or row.attempts >= limit:
                row.status = "failed"
                session.add(DeliveryAttempt(outbox_id=row.id, at=now, outcome="permanent", error=row.last_error))
                if isinstance(error, PermanentDeliveryError) and error.unreachable:
                    account = session.get(ChannelAccount, row.account_id)
                    assert account is not None
                    account.unreachable = True
                    account.unreachable_reason = row.last_error[:200]
                log.warning("outbox %s failed permanently after %d attempts", row.id, row.attempts)
                return "failed"
            retry_after = error.retry_after if isinstance(error, TransientDeliveryError) else None
            delay = backoff_seconds(row.attempts, retry_after=retry_after, rng=self.rng)
            row.next_attempt_at = now + dt.timedelta(seconds=delay)
            session.add(DeliveryAttempt(outbox_id=row.id, at=now, outcome="transient", error=row.last_error))
            return "retried"

    async def run_forever(self, stop: asyncio.Event, *, interval: float = 1.0) -> None:
        while not stop.is_set():
            # Cleared before the pass, not after: a wake-up for a row written during the pass is kept.
            self.wake.clear()
            try:
                result = await self.deliver_due()
                # A sent row may unblock the next one for the same recipient (a reply in several
                # messages): go again at once rather than a second later.
                busy = result.sent > 0 or result.retried + result.failed + result.held >= self.batch_size
            except Exception:
                log.exception("outbox pass failed; retrying")  # e.g. the database is briefly down
                busy = False
            if busy:
                continue
            waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(self.wake.wait())]
            _done, pending = await asyncio.wait(waiters, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
