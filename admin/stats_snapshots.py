"""Slow statistics pages served from their last computation, at most STATS_SNAPSHOT_SECONDS old.

At a million villagers the all-areas figures of a quarter aggregate half a million messages and
fifty thousand tickets: close to a second of PostgreSQL time, far above a page's 300 ms, and
repeated for every admin who opens the same report. A county's or a township's figures take a
fraction of that and are always computed live.

A snapshot is exactly what ``figures.compute`` returned, kept as JSON in ``cache_entries`` with an
expiry; the page shows when it was computed. Only a computation slower than ``SLOW_MS`` leaves a
snapshot, so small areas (and test databases) always see live figures. The refresher — one
process at a time, under its own lease — recomputes the all-areas page of this month and this
quarter before their snapshots expire, so the two views a system administrator opens first never
wait. Excel downloads are always computed live.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from admin import figures, scope
from core.clock import to_local, utcnow
from core.config import Settings
from core.db import transaction
from core.models import CacheEntry
from core.threads import in_thread
from scheduling import lease

log = logging.getLogger(__name__)

#: A live computation slower than this leaves a snapshot for the next views.
SLOW_MS = 150.0
SNAPSHOT_LEASE = "stats-snapshots"
KEY_PREFIX = "stats:"


def snapshot_key(area: scope.Area, period: figures.Period, page: int) -> str | None:
    return f"{KEY_PREFIX}{area.key}:{period.key}:{page}" if area.key else None


def figures_for_page(
    session: Session,
    settings: Settings,
    *,
    area: scope.Area,
    period: figures.Period,
    page: int,
    now: dt.datetime,
) -> figures.Figures:
    """The fresh snapshot of this page when there is one, else the page computed (and kept if slow)."""
    key = snapshot_key(area, period, page)
    if key is None or settings.stats_snapshot_seconds <= 0:
        return figures.page_figures(session, settings, period=period, area=area, now=now, page=page)
    entry = session.get(CacheEntry, key)
    if entry is not None and entry.expires_at is not None and entry.expires_at > now:
        try:
            return from_json(entry.value)
        except (ValueError, KeyError, TypeError):  # written by an older version: computed again
            log.warning("ignoring unreadable statistics snapshot %s", key)
    result, _ = _compute(session, settings, key, entry, area=area, period=period, page=page, now=now)
    return result


def _compute(
    session: Session,
    settings: Settings,
    key: str,
    entry: CacheEntry | None,
    *,
    area: scope.Area,
    period: figures.Period,
    page: int,
    now: dt.datetime,
) -> tuple[figures.Figures, bool]:
    """Compute the page; keep it as the snapshot ``entry`` when that was slow, drop ``entry`` when
    it was fast (nothing to go stale). Returns the figures and whether they were kept."""
    started = time.perf_counter()
    result = figures.page_figures(session, settings, period=period, area=area, now=now, page=page)
    if (time.perf_counter() - started) * 1000 < SLOW_MS:
        if entry is not None:
            session.delete(entry)
        return result, False
    value = to_json(result)
    expires_at = now + dt.timedelta(seconds=settings.stats_snapshot_seconds)
    try:
        with session.begin_nested():
            if entry is None:
                session.add(CacheEntry(key=key, value=value, expires_at=expires_at))
            else:
                entry.value, entry.expires_at = value, expires_at
    except IntegrityError:  # another request stored it meanwhile: theirs is as good
        pass
    return result, True


# ---------------------------------------------------------------------- the refresher


def refresh(factory: sessionmaker[Session], settings: Settings, *, now: dt.datetime) -> int:
    """Recompute the all-areas page of this month and this quarter; returns how many were kept."""
    today = to_local(now).date()
    area = scope.everywhere()
    kept = 0
    for text in (f"{today:%Y-%m}", f"{today.year}-Q{(today.month - 1) // 3 + 1}"):
        period = figures.parse_period(text, today=today)
        key = snapshot_key(area, period, 1)
        assert key is not None
        with transaction(factory) as session:
            entry = session.get(CacheEntry, key)
            _, stored = _compute(session, settings, key, entry, area=area, period=period, page=1, now=now)
            kept += stored
    return kept


async def refresh_loop(
    factory: sessionmaker[Session],
    settings: Settings,
    stop: asyncio.Event,
    *,
    clock: Callable[[], dt.datetime] = utcnow,
) -> None:
    """Background task of the web process: refresh before the snapshots expire, in one process."""
    if settings.stats_snapshot_seconds <= 0:
        return
    from scheduling.runner import default_holder

    holder = default_holder()
    interval = max(settings.stats_snapshot_seconds / 2, 10.0)
    ttl = dt.timedelta(seconds=3 * interval)

    def once() -> None:
        if lease.acquire(factory, name=SNAPSHOT_LEASE, holder=holder, ttl=ttl, now=utcnow()):
            refresh(factory, settings, now=clock())  # the pages' clock (frozen in tests)

    while not stop.is_set():
        try:
            await in_thread(once)
        except Exception:  # the database is away, say: the pages compute live meanwhile
            log.warning("statistics snapshot refresh failed", exc_info=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


# ---------------------------------------------------------------------- JSON


def to_json(result: figures.Figures) -> str:
    data = dataclasses.asdict(result)
    data["period"] = dataclasses.asdict(result.period)
    return json.dumps(data, ensure_ascii=False, default=_encode)


def from_json(text: str) -> figures.Figures:
    data = json.loads(text)
    p = data["period"]
    period = figures.Period(dt.date.fromisoformat(p["start"]), dt.date.fromisoformat(p["end"]), p["label"], p["key"])
    tables = [
        figures.Table(
            key=t["key"],
            title=t["title"],
            headers=t["headers"],
            rows=t["rows"],
            note=t["note"],
            chart=figures.Chart(
                t["chart"]["kind"],
                t["chart"]["label_col"],
                tuple(t["chart"]["value_cols"]),
                t["chart"]["skip_last_row"],
            )
            if t["chart"]
            else None,
            total_rows=t["total_rows"],
        )
        for t in data["tables"]
    ]
    return figures.Figures(
        period=period,
        area_label=data["area_label"],
        generated_at=dt.datetime.fromisoformat(data["generated_at"]),
        tables=tables,
        summary=data["summary"],
    )


def _encode(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return str(value)  # as the page prints it
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"not JSON: {type(value).__name__}")
