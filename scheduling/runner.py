"""The scheduler: one periodic pass, run by one process at a time.

APScheduler (3.11, ``AsyncIOScheduler``) fires a single interval job every
SCHEDULER_INTERVAL_SECONDS in each web process that runs background workers. The job first takes
or renews the ``scheduler`` lease (scheduling.lease); only the holder runs the pass, the others
skip until the holder stops renewing. The pass itself (``run_pass``) computes everything from the
database at a given ``now``: plan recurring sessions ahead, send due duty reminders, ticket SLA
reminders/escalations and auto-closing. `villagelaw scheduler run-once --now …` runs one pass.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from core.config import Settings
from core.threads import in_thread
from scheduling import calendar, lease, reminders, sla

if TYPE_CHECKING:
    from admin.container import Container

log = logging.getLogger(__name__)
MIN_LEASE = dt.timedelta(seconds=30)
STEPS = ("plan", "reminders", "sla")


class LeaseLost(RuntimeError):
    """Another process took the lease over during a long pass; this one stops."""


@dataclass
class PassReport:
    now: dt.datetime
    counts: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{k}={v}" for k, v in sorted(self.counts.items()) if v]
        return ", ".join(parts) or "nothing due"


def run_pass(
    factory: sessionmaker[Session],
    settings: Settings,
    *,
    now: dt.datetime,
    keep_alive: Callable[[], None] = lambda: None,
) -> PassReport:
    """One pass at ``now`` (naive UTC). Each step runs even when another failed."""
    report = PassReport(now)
    for step in STEPS:
        try:
            if step == "plan":
                report.counts["sessions_planned"] = calendar.expand_rules(factory, settings, now=now)
            elif step == "reminders":
                sent = reminders.send_due(factory, settings, now=now, keep_alive=keep_alive)
                report.counts.update({f"reminder_{kind}": n for kind, n in sent.items()})
            else:
                report.counts.update(sla.run(factory, settings, now=now, keep_alive=keep_alive))
        except LeaseLost:
            raise
        except Exception as exc:
            log.exception("scheduler step %s failed", step)
            report.errors.append(f"{step}: {type(exc).__name__}")
    return report


def lease_ttl(settings: Settings) -> dt.timedelta:
    return max(dt.timedelta(seconds=3 * settings.scheduler_interval_seconds), MIN_LEASE)


def default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class SchedulerRunner:
    """Runs a pass when, and only when, this process holds the lease."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        settings: Settings,
        *,
        holder: str | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        lease_clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.factory = factory
        self.settings = settings
        self.holder = holder or default_holder()
        self.clock = clock  # the time the pass reasons about
        self.lease_clock = lease_clock  # wall-clock time for the lease, also under a frozen pass clock
        self.ttl = lease_ttl(settings)
        self._renewed_at: dt.datetime | None = None

    def acquire(self) -> bool:
        now = self.lease_clock()
        held = lease.acquire(self.factory, name=lease.SCHEDULER_LEASE, holder=self.holder, ttl=self.ttl, now=now)
        self._renewed_at = now if held else None
        return held

    def keep_alive(self) -> None:
        """Renew the lease during a long pass; stop the pass if it was lost."""
        if self._renewed_at is None or self.lease_clock() - self._renewed_at < self.ttl / 3:
            return
        if not self.acquire():
            raise LeaseLost(self.holder)

    def tick(self) -> PassReport | None:
        """None when another process holds the lease."""
        if not self.acquire():
            return None
        report = run_pass(self.factory, self.settings, now=self.clock(), keep_alive=self.keep_alive)
        if report.counts.total() or report.errors:
            log.info("scheduler pass: %s%s", report.summary(), f"; errors: {report.errors}" if report.errors else "")
        return report

    def release(self) -> None:
        lease.release(self.factory, name=lease.SCHEDULER_LEASE, holder=self.holder)
        self._renewed_at = None


async def run_scheduler(container: Container, stop: asyncio.Event, *, runner: SchedulerRunner | None = None) -> None:
    """Background task of the web process (admin.workers): the periodic pass until ``stop``."""
    runner = runner or SchedulerRunner(container.session_factory, container.settings)

    async def job() -> None:
        try:
            await in_thread(runner.tick)
        except LeaseLost:
            log.warning("scheduler lease lost mid-pass; another process continues")
        except Exception:
            log.exception("scheduler pass failed; next try in %ss", container.settings.scheduler_interval_seconds)

    scheduler = AsyncIOScheduler(timezone=dt.UTC)
    scheduler.add_job(
        job,
        IntervalTrigger(seconds=container.settings.scheduler_interval_seconds, timezone=dt.UTC),
        id="villagelaw-pass",
        max_instances=1,  # a slow pass is never overlapped by the next one
        coalesce=True,  # after a stall, run once rather than catch up every missed interval
        next_run_time=dt.datetime.now(dt.UTC),
        misfire_grace_time=None,
    )
    scheduler.start()
    log.info("scheduler started as %s", runner.holder)
    try:
        await stop.wait()
    finally:
        scheduler.shutdown(wait=False)
        try:
            await in_thread(runner.release)
        except Exception:
            log.warning("could not release the scheduler lease; it expires in %s", runner.ttl)
