"""Slow statistics pages come from a snapshot at most STATS_SNAPSHOT_SECONDS old; fast ones stay
live; the refresher keeps the all-areas views of this month and quarter warm."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from admin import figures, scope, stats_snapshots
from core.db import transaction
from core.models import CacheEntry
from tests import console_data
from tests.test_console_stats import NOV, client_for, stat


@pytest.fixture
def data(seeded):  # type: ignore[no-untyped-def]
    with transaction(seeded.session_factory) as session:
        return console_data.build(session)


@pytest.fixture
def computations(monkeypatch):  # type: ignore[no-untyped-def]
    """Counts the report computations the pages run."""
    calls: list[str] = []
    real = figures.compute

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(kwargs["area"].key)
        return real(*args, **kwargs)

    monkeypatch.setattr(figures, "compute", counting)
    return calls


def _snapshots(seeded) -> dict[str, CacheEntry]:  # type: ignore[no-untyped-def]
    with seeded.session_factory() as session:
        rows = session.scalars(select(CacheEntry).where(CacheEntry.key.startswith(stats_snapshots.KEY_PREFIX)))
        return {row.key: row for row in rows}


def test_a_snapshot_holds_exactly_the_computed_figures(seeded, data):  # type: ignore[no-untyped-def]
    with seeded.session_factory() as session:
        chosen = figures.parse_period(NOV, today=console_data.local(12, 1).date())
        computed = figures.compute(
            session, seeded.settings, period=chosen, area=scope.everywhere(), now=seeded.router.clock()
        )
    assert computed.summary["consultations"] == 9  # real figures, not an empty report
    assert stats_snapshots.from_json(stats_snapshots.to_json(computed)) == computed


def test_a_slow_page_is_served_from_its_snapshot_until_it_expires(seeded, data, computations, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(stats_snapshots, "SLOW_MS", 0.0)  # every computation counts as slow
    client = client_for(seeded, "admin")
    first = client.get(f"/admin/stats?period={NOV}")
    assert first.status_code == 200 and stat(first.text, "consultations") == "9"
    assert computations == ["all"] and list(_snapshots(seeded)) == [f"stats:all:{NOV}:1"]
    again = client.get(f"/admin/stats?period={NOV}")
    assert computations == ["all"]  # from the snapshot
    assert stat(again.text, "consultations") == "9" and stat(again.text, "rating-average") == "4.0"
    assert stat(again.text, "computed-at") == stat(first.text, "computed-at")
    client.get(f"/admin/stats?period={NOV}&cpage=2")  # another page of villages: its own snapshot
    assert computations == ["all", "all"]
    seeded.router.clock.advance(seconds=seeded.settings.stats_snapshot_seconds + 1)
    client.get(f"/admin/stats?period={NOV}")
    assert computations == ["all", "all", "all"]  # expired: computed again
    county = client_for(seeded, "county")
    county.get(f"/admin/stats?period={NOV}")
    assert f"stats:{computations[-1]}:{NOV}:1" in _snapshots(seeded) and computations[-1].startswith("county:")


def test_a_fast_page_is_always_computed_live(seeded, data, computations):  # type: ignore[no-untyped-def]
    client = client_for(seeded, "admin")
    for _ in range(2):
        assert client.get(f"/admin/stats?period={NOV}").status_code == 200
    assert computations == ["all", "all"] and _snapshots(seeded) == {}


def test_zero_seconds_turns_snapshots_off(seeded, data, computations, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(stats_snapshots, "SLOW_MS", 0.0)
    monkeypatch.setattr(seeded, "settings", seeded.settings.model_copy(update={"stats_snapshot_seconds": 0}))
    client = client_for(seeded, "admin")
    for _ in range(2):
        client.get(f"/admin/stats?period={NOV}")
    assert computations == ["all", "all"] and _snapshots(seeded) == {}


def test_the_refresher_keeps_this_month_and_quarter_warm_and_drops_fast_ones(seeded, data, computations, monkeypatch):  # type: ignore[no-untyped-def]
    now = seeded.router.clock()  # 2026-12-01 local
    monkeypatch.setattr(stats_snapshots, "SLOW_MS", 0.0)
    assert stats_snapshots.refresh(seeded.session_factory, seeded.settings, now=now) == 2
    assert set(_snapshots(seeded)) == {"stats:all:2026-12:1", "stats:all:2026-Q4:1"}
    client = client_for(seeded, "admin")
    quarter = client.get("/admin/stats?period=2026-Q4")
    assert computations == ["all", "all"]  # none for the page
    with seeded.session_factory() as session:
        live = figures.compute(
            session,
            seeded.settings,
            period=figures.parse_period("2026-Q4", today=now.date()),
            area=scope.everywhere(),
            now=now,
        )
    assert stat(quarter.text, "consultations") == str(live.summary["consultations"])
    assert stat(quarter.text, "ticket-total") == str(live.summary["tickets"])
    monkeypatch.setattr(stats_snapshots, "SLOW_MS", 1e9)  # the data became small again
    assert stats_snapshots.refresh(seeded.session_factory, seeded.settings, now=now) == 0
    assert _snapshots(seeded) == {}
