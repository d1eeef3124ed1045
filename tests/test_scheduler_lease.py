"""Only one process runs the scheduler: the database lease, with two OS processes and in the web app."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import subprocess
import sys
import textwrap

from sqlalchemy import select

from admin.container import build
from core.db import make_engine, make_session_factory
from core.models import Lease
from scheduling import lease
from scheduling.runner import SchedulerRunner, run_scheduler
from tests.conftest import ROOT
from tests.fakes import KeywordClassifier

T = dt.datetime(2026, 12, 1, 10, 0)
TTL = dt.timedelta(seconds=30)


def _factory(db_url):  # type: ignore[no-untyped-def]
    return make_session_factory(make_engine(db_url))


def test_acquire_renew_expire_release(db_url):  # type: ignore[no-untyped-def]
    factory = _factory(db_url)
    assert lease.acquire(factory, name="x", holder="a", ttl=TTL, now=T)
    assert not lease.acquire(factory, name="x", holder="b", ttl=TTL, now=T + dt.timedelta(seconds=10))
    assert lease.acquire(factory, name="x", holder="a", ttl=TTL, now=T + dt.timedelta(seconds=20))  # renew
    # b only gets it once a's renewed lease (until T+50s) has expired
    assert not lease.acquire(factory, name="x", holder="b", ttl=TTL, now=T + dt.timedelta(seconds=45))
    assert lease.acquire(factory, name="x", holder="b", ttl=TTL, now=T + dt.timedelta(seconds=51))
    assert not lease.acquire(factory, name="x", holder="a", ttl=TTL, now=T + dt.timedelta(seconds=52))
    lease.release(factory, name="x", holder="a")  # not a's any more: no effect
    assert lease.current(factory, name="x").holder == "b"  # type: ignore[union-attr]
    lease.release(factory, name="x", holder="b")
    assert lease.current(factory, name="x") is None
    assert lease.acquire(factory, name="x", holder="a", ttl=TTL, now=T + dt.timedelta(seconds=53))
    factory.kw["bind"].dispose()


CONTENDER = textwrap.dedent(
    """
    import datetime as dt, random, sys, time
    from core.db import make_engine, make_session_factory
    from scheduling import lease
    url, holder, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    factory = make_session_factory(make_engine(url))
    ttl = dt.timedelta(seconds=0.4)
    end = time.time() + seconds
    print("READY", flush=True)
    sys.stdin.readline()  # both start together
    while time.time() < end:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        if lease.acquire(factory, name="scheduler", holder=holder, ttl=ttl, now=now):
            print(f"HELD {now.isoformat()} {(now + ttl).isoformat()}", flush=True)
        time.sleep(random.uniform(0.01, 0.08))
    # exits without releasing: like a crash, the other process must wait for the expiry
    """
)


def test_two_processes_never_hold_the_lease_at_the_same_time(db_url):  # type: ignore[no-untyped-def]
    env_args = [sys.executable, "-c", CONTENDER, db_url]
    procs = {
        name: subprocess.Popen(
            [*env_args, name, str(seconds)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, seconds in (("short", 1.2), ("long", 3.0))
    }
    for proc in procs.values():
        assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
    for proc in procs.values():
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    held: list[tuple[dt.datetime, dt.datetime, str]] = []
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        for line in out.splitlines():
            if line.startswith("HELD"):
                _, start, end = line.split()
                held.append((dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(end), name))
    held.sort()
    assert held, "nobody ever held the lease"
    for (_start_a, end_a, a), (start_b, _end_b, b) in itertools.pairwise(held):
        if a != b:
            assert start_b >= end_a, f"{b} took the lease at {start_b} while {a} held it until {end_a}"
    # The long-running process holds it at the end, whoever won the start: a dead holder is replaced.
    assert held[-1][2] == "long"


def test_only_one_of_two_web_processes_runs_the_passes(db_url, settings):  # type: ignore[no-untyped-def]
    """Two schedulers as two web workers would run them (separate engines, APScheduler jobs)."""
    fast = settings.model_copy(update={"scheduler_interval_seconds": 1})
    containers = [build(fast, classifier=KeywordClassifier()) for _ in range(2)]
    runs: dict[str, int] = {}

    class CountingRunner(SchedulerRunner):
        def tick(self):  # type: ignore[no-untyped-def]
            report = super().tick()
            if report is not None:
                runs[self.holder] = runs.get(self.holder, 0) + 1
            return report

    runners = [CountingRunner(c.session_factory, fast, holder=f"worker-{i}") for i, c in enumerate(containers)]

    async def scenario() -> None:
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(run_scheduler(c, stop, runner=r)) for c, r in zip(containers, runners, strict=True)
        ]
        await asyncio.sleep(2.6)
        stop.set()
        await asyncio.gather(*tasks)

    asyncio.run(scenario())
    assert len(runs) == 1, runs  # one holder ran every pass
    assert next(iter(runs.values())) >= 2  # and it kept running them every interval
    with containers[0].session_factory() as s:
        assert s.scalar(select(Lease).where(Lease.name == lease.SCHEDULER_LEASE)) is None  # released on stop
    for c in containers:
        c.engine.dispose()


def test_cli_run_once_respects_the_lease_unless_forced(db_url):  # type: ignore[no-untyped-def]
    factory = _factory(db_url)
    far = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=1)
    assert lease.acquire(factory, name=lease.SCHEDULER_LEASE, holder="web-1", ttl=TTL, now=far - TTL)
    env = {"DATABASE_URL": db_url, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "ENV": "test"}
    cli = [sys.executable, "-m", "admin.cli", "scheduler", "run-once", "--now", "2026-12-01T18:00+08:00"]
    refused = subprocess.run(cli, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "web-1" in refused.stdout
    forced = subprocess.run([*cli, "--force"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert forced.returncode == 0, forced.stderr
    assert "pass at 2026-12-01 10:00 UTC" in forced.stdout
    assert lease.current(factory, name=lease.SCHEDULER_LEASE).holder == "web-1"  # type: ignore[union-attr]
    factory.kw["bind"].dispose()


def test_the_web_app_runs_the_scheduler_in_the_background_and_releases_the_lease(settings):  # type: ignore[no-untyped-def]
    import time

    from fastapi.testclient import TestClient

    from admin.app import create_app

    live = settings.model_copy(update={"run_background_workers": True, "scheduler_interval_seconds": 1})
    container = build(live, classifier=KeywordClassifier())
    holder = None
    with TestClient(create_app(live, container=container)):
        for _ in range(50):
            state = lease.current(container.session_factory, name=lease.SCHEDULER_LEASE)
            if state is not None:
                holder = state.holder
                break
            time.sleep(0.1)
    assert holder is not None and holder.count(":") == 2  # host:pid:nonce
    assert lease.current(container.session_factory, name=lease.SCHEDULER_LEASE) is None
    container.engine.dispose()
