"""Background work inside the web process: outbox delivery, recovery of unprocessed messages, scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

from sqlalchemy import select

from admin import stats_snapshots
from admin.container import Container
from bot.outbox import OutboxWorker
from core.clock import utcnow
from core.models import Message
from core.threads import in_thread

log = logging.getLogger(__name__)


def start_workers(container: Container, stop: asyncio.Event) -> list[asyncio.Task[None]]:
    outbox = OutboxWorker(container.session_factory, container.channels)
    container.outbox = outbox
    tasks = [
        asyncio.create_task(outbox.run_forever(stop), name="outbox"),
        asyncio.create_task(recovery_loop(container, stop), name="recovery"),
    ]
    try:
        from scheduling.runner import run_scheduler

        tasks.append(asyncio.create_task(run_scheduler(container, stop), name="scheduler"))
    except ImportError:
        pass
    tasks.append(
        asyncio.create_task(
            stats_snapshots.refresh_loop(
                container.session_factory, container.settings, stop, clock=lambda: container.router.clock()
            ),
            name="stats-snapshots",
        )
    )
    return tasks


def unprocessed_ids(container: Container, *, now: dt.datetime, limit: int = 100) -> list[int]:
    # Younger messages are probably being processed right now by the request that stored them.
    age = dt.timedelta(seconds=container.settings.recovery_age_seconds)
    with container.session_factory() as session:
        return list(
            session.scalars(
                select(Message.id)
                .where(Message.status == "received", Message.direction == "in", Message.created_at <= now - age)
                .order_by(Message.id)
                .limit(limit)
            )
        )


def recover_unprocessed(container: Container, *, now: dt.datetime | None = None) -> int:
    """Process messages stored but never answered (the process died mid-way). Replies to push
    channels go to the outbox, and so do a web chat visitor's, whose page fetches them."""
    ids = unprocessed_ids(container, now=now or utcnow())
    for message_id in ids:
        container.router.process(message_id, push_replies=True)
    return len(ids)


async def recovery_loop(container: Container, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            count = await in_thread(recover_unprocessed, container)
            if count:
                log.info("recovered %d unprocessed messages", count)
        except Exception:
            log.exception("recovery pass failed; retrying")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=container.settings.recovery_interval_seconds)
