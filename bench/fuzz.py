"""Fuzzing: 10,000 generated requests against each door — the web chat API, the Telegram webhook
and the WeChat endpoint (when bot/wechat.py exists) — on PostgreSQL (it refuses what SQLite
swallows: NUL characters, over-long strings). Checks: tests/fuzzing.py."""

from __future__ import annotations

import time

from bench import pg

REQUESTS = 10_000


def run(requests: int = REQUESTS) -> bool:
    from hypothesis import HealthCheck, given, settings

    from core.db import make_engine
    from core.migrate import upgrade
    from tests.fuzzing import ENDPOINTS, FuzzRequest, fuzz_app, wechat_available

    if pg.available():
        url = pg.database("fuzz", fresh=True)
        where = "PostgreSQL"
    else:
        import tempfile

        url = f"sqlite:///{tempfile.mkdtemp()}/fuzz.db"
        where = "SQLite (PostgreSQL not reachable)"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    ok = True
    for endpoint in ENDPOINTS:
        if endpoint == "wechat" and not wechat_available():
            print(f"  {'wechat':<10} skipped: bot/wechat.py is not in this tree")
            continue
        started = time.perf_counter()
        failure: str | None = None
        with fuzz_app(endpoint, url) as harness:

            @settings(
                max_examples=requests,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(ENDPOINTS[endpoint])
            def door(request: FuzzRequest) -> None:
                harness.check(request)

            try:
                door()
            except Exception as exc:  # a finding: print it and go on with the other doors
                failure = f"{type(exc).__name__}: {str(exc)[:1500]}"
        sent = sum(harness.statuses.values())
        elapsed = time.perf_counter() - started
        statuses = " ".join(f"{code}×{n}" for code, n in sorted(harness.statuses.items()))
        print(f"  {endpoint:<10} {sent:6d} requests on {where} in {elapsed:5.1f}s  [{statuses}]")
        if failure:
            ok = False
            print(f"  {endpoint:<10} FAILED: {failure}")
        else:
            print(f"  {endpoint:<10} no 5xx, no error logged, nothing stored for refused requests  OK")
    return ok
