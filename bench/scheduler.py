"""Scheduler pass: a 5,000-villager reminder broadcast into the outbox, the re-run that must send
nothing, and the idle pass every interval pays (SQLite, demo directory)."""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path

from bench.stats import check

VILLAGERS = 5000


def run() -> bool:
    from sqlalchemy import func, insert, select

    from admin.seed import seed_demo
    from core.clock import LOCAL_TZ, to_utc
    from core.config import Settings
    from core.db import make_engine, make_session_factory, transaction
    from core.migrate import upgrade
    from core.models import ChannelAccount, OutboxMessage, Village, Villager
    from scheduling.runner import run_pass

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = make_engine(url)
        upgrade(engine)
        factory = make_session_factory(engine)
        settings = Settings(env="test", database_url=url, _env_file=None)  # type: ignore[call-arg]
        t0 = dt.datetime(2026, 12, 1, 2, 0)
        with transaction(factory) as s:
            seed_demo(s, settings=settings, now=t0)
            village = s.scalar(select(Village).where(Village.code == "ab01"))
            assert village is not None
            s.execute(
                insert(Villager),
                [{"village_id": village.id, "reminders_opt_in": True, "created_at": t0} for _ in range(VILLAGERS)],
            )
            ids = list(s.scalars(select(Villager.id).where(Villager.village_id == village.id)))
            s.execute(
                insert(ChannelAccount),
                [{"channel": "webchat", "external_id": f"b{i}", "villager_id": i, "created_at": t0} for i in ids],
            )
        # 3 days before the demo session of 2026-12-08 09:00 in ab01
        at = to_utc(dt.datetime(2026, 12, 5, 9, 0, tzinfo=LOCAL_TZ))
        started = time.perf_counter()
        report = run_pass(factory, settings, now=at)
        broadcast = time.perf_counter() - started
        started = time.perf_counter()
        again = run_pass(factory, settings, now=at + dt.timedelta(minutes=1))
        rerun = time.perf_counter() - started
        started = time.perf_counter()
        run_pass(factory, settings, now=at + dt.timedelta(hours=5))
        idle = time.perf_counter() - started
        with factory() as s:
            rows = s.scalar(select(func.count(OutboxMessage.id))) or 0
        engine.dispose()
    print(f"  {'reminder rows written':<38} {report.counts['reminder_advance']:10d}")
    ok = check(f"broadcast pass, {VILLAGERS} villagers", broadcast, 30.0, unit="s")
    ok &= check("re-run of the same pass (sends 0)", rerun, 5.0, unit="s")
    ok &= check("idle pass", idle, 1.0, unit="s")
    ok &= again.counts.total() == 0 and rows == report.counts["reminder_advance"] == VILLAGERS
    return ok
