"""Scale: a national-sized directory in PostgreSQL — 11,000 villages, 10,000 lawyers, 1,000,000
villagers (and their messenger accounts), 2,000,000 messages, 200,000 tickets with their events,
264,000 duty sessions, 300,000 outbox rows — and the hot queries timed against it through the
code that runs them in production, each with its EXPLAIN (ANALYZE) plan.

Tickets are in the state a running system keeps them in: the scheduler's passes keep the pools it
scans small (about a day of tickets awaiting a first answer, a week of answered ones; older ones
are escalated or closed), so the scans cost what those pools cost, not what the history does.

Seeding runs server-side (INSERT … SELECT over generate_series, in batches) into a dedicated
database, ``villagelaw_bench_scale``, once; later runs reuse it (``python -m bench scale`` after
``VILLAGELAW_BENCH_RESEED=1`` seeds it again).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

from bench import pg
from bench.stats import check, percentile

NOW = dt.datetime(2026, 12, 1, 2, 0)
COUNTIES, TOWNSHIPS, VILLAGES, LAWYERS = 110, 1_100, 11_000, 10_000
VILLAGERS, MESSAGES, TICKETS, SESSIONS_PER_VILLAGE, OUTBOX = 1_000_000, 2_000_000, 200_000, 24, 300_000
BATCH = 250_000
SERIES = "generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint))"  # bigint: i * 104729 overflows int
MARKER = "bench:scale:v2"
RUNS = 200
TARGET_P95_MS = 20.0

QUESTIONS = (
    "老板欠我三个月工钱不给怎么办",
    "邻居占了我家的承包地",
    "离婚了孩子归谁",
    "借钱不还有欠条能起诉吗",
    "草场被征用补偿款怎么分",
    "交通事故对方不赔钱",
    "你好",
    "律师什么时候来我们村",
)

SEED_SQL: list[tuple[str, str]] = [
    (
        "counties",
        "INSERT INTO counties (id, league, name, underserved) "
        "SELECT i, '盟' || ((i - 1) / 10 + 1), '县' || i, i % 3 = 0 FROM generate_series(1, :counties) i",
    ),
    (
        "townships",
        "INSERT INTO townships (id, county_id, name) "
        "SELECT i, (i - 1) / 10 + 1, '镇' || i FROM generate_series(1, :townships) i",
    ),
    (
        "villages",
        "INSERT INTO villages (id, township_id, name, code, duty_place) "
        "SELECT i, (i - 1) / 10 + 1, '村' || i, 's' || i, '村委会' FROM generate_series(1, :villages) i",
    ),
    (
        "lawyers",
        "INSERT INTO lawyers (id, name, firm, phone, practice_areas, languages, active, created_at) "
        "SELECT i, '律师' || i, '律师事务所' || (i % 500), '139' || lpad(i::text, 8, '0'), '[]', '[]', true, :now "
        "FROM generate_series(1, :lawyers) i",
    ),
    (
        "assignments",
        "INSERT INTO assignments (lawyer_id, village_id, start_date) "
        "SELECT (i - 1) % :lawyers + 1, i, DATE '2026-01-01' FROM generate_series(1, :villages) i",
    ),
    (
        "lawyer accounts",
        "INSERT INTO channel_accounts (id, channel, external_id, lawyer_id, unreachable, created_at) "
        "SELECT :villagers + i, 'telegram', 'L' || i, i, false, :now FROM generate_series(1, :lawyers) i",
    ),
    (
        "duty sessions",
        "INSERT INTO duty_sessions (lawyer_id, village_id, starts_at, ends_at, place, kind, status, version, "
        "created_at) SELECT (v - 1) % :lawyers + 1, v, "
        "TIMESTAMP '2026-06-01 01:00' + k * INTERVAL '15 days' + (v % 7) * INTERVAL '1 hour', "
        "TIMESTAMP '2026-06-01 05:00' + k * INTERVAL '15 days' + (v % 7) * INTERVAL '1 hour', "
        "'村委会', 'onsite', CASE WHEN k < 12 THEN 'done' ELSE 'planned' END, 1, :now "
        "FROM generate_series(1, :villages) v, generate_series(0, :sessions - 1) k",
    ),
]
# Batched: (label, total rows, statement over the batch [lo, hi])
BATCHED_SQL: list[tuple[str, int, str]] = [
    (
        "villagers",
        VILLAGERS,
        "INSERT INTO villagers (id, display_name, village_id, reminders_opt_in, created_at) "
        "SELECT i, '村民' || i, (i * 7919) % :villages + 1, i % 4 = 0, :now - (i % 365) * INTERVAL '1 day' "
        "FROM " + SERIES + " i",
    ),
    (
        "villager accounts",
        VILLAGERS,
        "INSERT INTO channel_accounts (id, channel, external_id, villager_id, unreachable, last_inbound_at, "
        "created_at) SELECT i, (ARRAY['webchat', 'telegram', 'wechat'])[i % 3 + 1], 'v' || i, i, i % 97 = 0, "
        ":now - (i % 365) * INTERVAL '1 day', :now - (i % 365) * INTERVAL '1 day' FROM " + SERIES + " i",
    ),
    (
        "tickets",
        TICKETS,
        "INSERT INTO tickets (id, code, kind, status, urgent, villager_id, account_id, village_id, lawyer_id, "
        "township_id, intent, question, created_at, sla_due_at, first_response_at, escalated_at, closed_at, "
        "last_event_at) "
        "SELECT t.i, 'T-' || lpad(t.i::text, 6, '0'), CASE WHEN t.i % 50 = 0 THEN 'major_event' ELSE 'consult' END, "
        "t.status, t.i % 50 = 0, t.v, t.v, t.village, (t.village - 1) % :lawyers + 1, (t.village - 1) / 10 + 1, "
        "(ARRAY['land', 'labor', 'marriage_family', 'debt_contract', 'tort'])[t.i % 5 + 1], '我的问题', "
        "t.created, t.created + INTERVAL '24 hours', "
        "CASE WHEN t.status IN ('answered', 'closed') THEN t.created + INTERVAL '3 hours' END, "
        "CASE WHEN t.status = 'escalated' THEN t.created + INTERVAL '24 hours' END, "
        "CASE WHEN t.status = 'closed' THEN t.created + INTERVAL '2 days' END, "
        # last_event_at: the time of the last of the three events seeded for ticket i below
        ":now - (t.i % 400) * INTERVAL '1 day' + INTERVAL '4 hours' "
        "FROM (SELECT i, (i * 104729) % :villagers + 1 AS v, ((i * 104729) % :villagers + 1) * 7919 % :villages + 1 "
        "AS village, s.status, CASE s.status "
        "WHEN 'open' THEN :now - (i % 30) * INTERVAL '1 hour' "
        "WHEN 'claimed' THEN :now - (i % 36) * INTERVAL '1 hour' "
        "WHEN 'answered' THEN :now - (i % 10) * INTERVAL '1 day' "
        "ELSE :now - (i % 400) * INTERVAL '1 day' + (i % 24) * INTERVAL '1 hour' END AS created "
        "FROM " + SERIES + " i, LATERAL (SELECT CASE WHEN i % 200 < 2 THEN 'open' WHEN i % 200 = 2 THEN 'claimed' "
        "WHEN i % 200 < 7 THEN 'answered' WHEN i % 200 < 11 THEN 'escalated' ELSE 'closed' END AS status) s) t",
    ),
    (
        "ticket events",
        TICKETS,
        "INSERT INTO ticket_events (ticket_id, at, actor, action, detail) "
        "SELECT i, :now - (i % 400) * INTERVAL '1 day' + k * INTERVAL '2 hours', 'system', "
        "(ARRAY['opened', 'answered', 'closed'])[k + 1], NULL FROM " + SERIES + " i, generate_series(0, 2) k",
    ),
    (
        "messages",
        MESSAGES,
        "INSERT INTO messages (id, account_id, direction, channel, external_id, kind, text, status, "
        "in_reply_to_id, intent, answered_by, attempts, created_at, processed_at) "
        "SELECT i, (i / 2 * 104729) % :villagers + 1, CASE WHEN i % 2 = 1 THEN 'in' ELSE 'out' END, "
        "(ARRAY['webchat', 'telegram', 'wechat'])[((i / 2 * 104729) % :villagers + 1) % 3 + 1], "
        "CASE WHEN i % 2 = 1 THEN 'seed-' || i END, 'text', "
        "(ARRAY[:q0, :q1, :q2, :q3, :q4, :q5, :q6, :q7])[i % 8 + 1], "
        "CASE WHEN i % 2 = 0 THEN 'sent' WHEN i > :messages - 2000 THEN 'received' ELSE 'processed' END, "
        "CASE WHEN i % 2 = 0 THEN i - 1 END, CASE WHEN i % 2 = 1 THEN 'labor' END, NULL, 1, "
        ":now - ((:messages - i) / 6000) * INTERVAL '1 day' - (i % 86400) * INTERVAL '1 second', "
        ":now - ((:messages - i) / 6000) * INTERVAL '1 day' FROM " + SERIES + " i",
    ),
    (
        "outbox",
        OUTBOX,
        "INSERT INTO outbox (account_id, channel, text, purpose, dedup_key, status, attempts, next_attempt_at, "
        "created_at, sent_at) SELECT CASE WHEN i % 10 = 0 THEN :villagers + i % :lawyers + 1 "
        "ELSE (i * 31337) % :villagers + 1 END, 'telegram', '提醒', 'reminder', 'seed:' || i, "
        "CASE WHEN i % 33 = 0 THEN 'pending' WHEN i % 101 = 0 THEN 'failed' ELSE 'sent' END, 1, "
        ":now + ((i % 600) - 300) * INTERVAL '1 minute', :now - (i % 90) * INTERVAL '1 day', "
        "CASE WHEN i % 33 <> 0 AND i % 101 <> 0 THEN :now - (i % 90) * INTERVAL '1 day' END "
        "FROM " + SERIES + " i",
    ),
]


def _params() -> dict[str, Any]:
    return {
        "now": NOW,
        "counties": COUNTIES,
        "townships": TOWNSHIPS,
        "villages": VILLAGES,
        "lawyers": LAWYERS,
        "villagers": VILLAGERS,
        "messages": MESSAGES,
        "sessions": SESSIONS_PER_VILLAGE,
        **{f"q{i}": q for i, q in enumerate(QUESTIONS)},
    }


def seed(engine: Any) -> None:
    from sqlalchemy import text

    params = _params()
    started = time.perf_counter()
    with engine.begin() as conn:
        for label, sql in SEED_SQL:
            t = time.perf_counter()
            conn.execute(text(sql), params)
            print(f"    seeded {label:<20} {time.perf_counter() - t:7.1f} s", flush=True)
    for label, total, sql in BATCHED_SQL:
        t = time.perf_counter()
        for lo in range(1, total + 1, BATCH):
            with engine.begin() as conn:
                conn.execute(text(sql), {**params, "lo": lo, "hi": min(lo + BATCH - 1, total)})
        print(f"    seeded {label:<20} {time.perf_counter() - t:7.1f} s  ({total:,} rows)", flush=True)
    with engine.begin() as conn:
        pg.reset_sequences(
            conn,
            (
                "counties",
                "townships",
                "villages",
                "lawyers",
                "villagers",
                "channel_accounts",
                "messages",
                "tickets",
                "ticket_events",
                "duty_sessions",
                "outbox",
                "assignments",
            ),
        )
        conn.execute(text("INSERT INTO cache_entries (key, value) VALUES (:k, :v)"), {"k": MARKER, "v": f"{VILLAGERS}"})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    print(f"  {'seeding':<38} {time.perf_counter() - started:10.1f} s", flush=True)


def _seeded(engine: Any) -> bool:
    from sqlalchemy import text

    with engine.connect() as conn:
        try:
            return conn.scalar(text("SELECT value FROM cache_entries WHERE key = :k"), {"k": MARKER}) is not None
        except Exception:
            return False


# ---------------------------------------------------------------------- the hot queries


def hot_queries() -> dict[str, Callable[[Any, random.Random], Any]]:
    """Each through the code that runs it in production."""
    from sqlalchemy import select

    from admin.container import Container  # noqa: F401  (the app's import order)
    from admin.workers import unprocessed_ids
    from bot.outbox import OutboxWorker
    from core.config import Settings
    from core.direct import driver_of
    from core.messages import IncomingMessage
    from core.models import Ticket
    from handlers import schedule, tickets
    from handlers.router import ACCOUNT, Router, identity
    from scheduling import sla

    settings = Settings(env="test", _env_file=None)  # type: ignore[call-arg]
    router = Router(session_factory=None, settings=settings, services=None)  # type: ignore[arg-type]
    outbox = OutboxWorker(None, {"telegram": None, "webchat": None, "wechat": None})  # type: ignore[arg-type,dict-item]

    def villager(n: int) -> IncomingMessage:
        return IncomingMessage(["webchat", "telegram", "wechat"][n % 3], f"v{n}", None)

    def lookup(s: Any, rng: random.Random) -> Any:
        return s.scalar(ACCOUNT, identity(villager(rng.randint(1, VILLAGERS))))

    def store(s: Any, rng: random.Random) -> Any:
        """Storing a message as the code does in the common case: one statement stamps the account,
        counts the message for the rate limit and inserts it (in the bench's session's transaction:
        rolled back).
        An account the seed made unreachable (1 in 97) inserts nothing: ``_store`` takes it then."""
        return router._store_at_once(driver_of(s), villager(rng.randint(1, VILLAGERS)), now=NOW)

    class _Recovery:  # what unprocessed_ids needs of the container
        session_factory: Any
        settings = Settings(env="test", _env_file=None)  # type: ignore[call-arg]

    def recovery(s: Any, rng: random.Random) -> Any:
        holder = _Recovery()
        holder.session_factory = lambda: _Borrowed(s)
        return unprocessed_ids(holder, now=NOW)  # type: ignore[arg-type]

    def sla_scan(s: Any, rng: random.Random) -> Any:
        half = dt.timedelta(hours=settings.sla_first_response_hours / 2)
        escalate = s.scalars(
            select(Ticket.id).where(*sla._awaiting(), Ticket.escalated_at.is_(None), Ticket.sla_due_at <= NOW)
        ).all()
        remind = s.scalars(
            select(Ticket.id).where(
                *sla._awaiting(),
                Ticket.sla_reminded_at.is_(None),
                Ticket.sla_due_at > NOW,
                Ticket.sla_due_at <= NOW + half,
            )
        ).all()
        return escalate, remind

    def autoclose_scan(s: Any, rng: random.Random) -> Any:
        return sla.answered_and_silent(s, NOW - dt.timedelta(days=settings.ticket_autoclose_days))

    return {
        "villager lookup by channel id": lookup,
        "store: account stamped, rate limit, insert": store,
        "an account's active ticket": lambda s, rng: tickets.active_for_account(s, rng.randint(1, VILLAGERS)),
        "a lawyer's open tickets": lambda s, rng: tickets.open_for_lawyer(s, rng.randint(1, LAWYERS), now=NOW),
        "a village's next duty sessions": lambda s, rng: schedule.upcoming_sessions(
            s, rng.randint(1, VILLAGES), after=NOW, limit=2
        ),
        "SLA scan (remind / escalate)": sla_scan,
        "auto-close scan (answered, silent 7 d)": autoclose_scan,
        "outbox due scan": lambda s, rng: s.scalars(outbox.due_query(NOW)).all(),
        "recovery scan (stored, unprocessed)": recovery,
    }


class _Borrowed:
    """The bench's open session, lent to code that opens and closes its own."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def __enter__(self) -> Any:
        return self.session

    def __exit__(self, *_: object) -> None:
        return None


@contextlib.contextmanager
def _capturing(engine: Any, capture: Callable[..., None]) -> Iterator[None]:
    """Every statement sent meanwhile, to ``capture``: SQLAlchemy's, and the few that
    ``core.direct`` sends to psycopg itself."""
    from sqlalchemy import event

    from core import direct

    sent_direct = direct.Direct.rows

    def rows(statement: direct.Direct, driver: Any, given: dict[str, Any]) -> list[dict[str, Any]]:
        capture(None, None, statement.sql, statement.parameters(given), None, False)
        return sent_direct(statement, driver, given)

    event.listen(engine, "before_cursor_execute", capture)
    direct.Direct.rows = rows  # type: ignore[method-assign]
    try:
        yield
    finally:
        direct.Direct.rows = sent_direct  # type: ignore[method-assign]
        event.remove(engine, "before_cursor_execute", capture)


def _explain(engine: Any, statements: list[tuple[str, Any]]) -> list[str]:
    lines: list[str] = []
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, parameters in statements:
            if statement.lstrip().upper().startswith("SET "):  # the query's settings, as the code sets them
                cursor.execute(statement, parameters)
                continue
            if not statement.lstrip().upper().startswith(("SELECT", "WITH", "INSERT", "UPDATE", "DELETE")):
                continue  # BEGIN, SAVEPOINT …; what the statements write is rolled back below
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY OFF) " + statement, parameters)
            lines.extend("      " + row[0] for row in cursor.fetchall())
        raw.rollback()
    finally:
        raw.close()
    return lines


def run() -> bool:
    if not pg.available():
        print("  PostgreSQL not reachable: scale benchmark skipped")
        return True

    from core.db import make_engine, make_session_factory
    from core.migrate import upgrade

    reseed = os.environ.get("VILLAGELAW_BENCH_RESEED") == "1"
    url = pg.database("scale", fresh=reseed)
    engine = make_engine(url)
    if not _seeded(engine):
        engine.dispose()
        url = pg.database("scale", fresh=True)
        engine = make_engine(url)
        upgrade(engine)
        seed(engine)
    else:
        upgrade(engine)  # indexes added since it was seeded
        print("  reusing the seeded database (VILLAGELAW_BENCH_RESEED=1 seeds it again)")
    factory = make_session_factory(engine)
    with engine.connect() as conn:
        from sqlalchemy import text

        sizes = conn.execute(
            text(
                "SELECT relname, n_live_tup FROM pg_stat_user_tables WHERE relname IN "
                "('villages', 'lawyers', 'villagers', 'channel_accounts', 'messages', 'tickets', 'ticket_events', "
                "'duty_sessions', 'outbox') ORDER BY relname"
            )
        ).all()
    print("  rows: " + ", ".join(f"{name} {count:,}" for name, count in sizes))
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        captured.append((statement, parameters))

    ok = True
    rng = random.Random(11)
    plans: dict[str, list[str]] = {}
    for name, query in hot_queries().items():
        with factory() as session:
            captured.clear()
            with _capturing(engine, capture):
                query(session, rng)  # warm, and capture the statements for EXPLAIN
            statements = list(captured)
            timings = []
            for _ in range(RUNS):
                started = time.perf_counter()
                query(session, rng)
                timings.append((time.perf_counter() - started) * 1000)
                session.rollback()
        plans[name] = _explain(engine, statements)
        ok &= check(f"{name} p95", percentile(timings, 95), TARGET_P95_MS, unit="ms")
        print(f"  {'':<38} p50 {percentile(timings, 50):.2f} ms, max {max(timings):.1f} ms, {RUNS} runs")
    print("  EXPLAIN (ANALYZE) of each hot query, as the code sends it:")
    for name, lines in plans.items():
        print(f"    -- {name}")
        for line in lines:
            print(line)
    engine.dispose()
    return ok
