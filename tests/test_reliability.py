"""Nothing lost, nothing twice: a worker process killed mid-message, redeliveries racing each
other, a flaky messenger API, and the database going away for a few seconds."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from admin.app import create_app
from admin.container import Container, build
from bot.outbox import BASE_DELAY_SECONDS, MAX_ATTEMPTS, MAX_UNEXPECTED_ATTEMPTS, OutboxWorker
from core.clock import utcnow
from core.db import IDLE_PING_SECONDS, read_only, transaction
from core.http_errors import DB_DOWN
from core.messages import IncomingMessage, OutgoingMessage
from core.models import ChannelAccount, DeliveryAttempt, Message, OutboxMessage, Ticket
from core.ports import PermanentDeliveryError, SendReceipt, TransientDeliveryError
from handlers.notify import enqueue, release_held
from handlers.router import get_or_create_account
from tests.conftest import ROOT
from tests.fakes import FrozenClock, KeywordClassifier
from tests.helpers import Chat
from tests.tcp_proxy import TcpProxy
from tests.web import free_port


def _count(container: Container, model: Any, *where: Any) -> int:
    with container.session_factory() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


# ---------------------------------------------------------------------- a worker process killed mid-message


@contextmanager
def app_process(db_url: str, **env: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "ENV": "test",
        "DATABASE_URL": db_url,
        "SECRET_KEY": "test-secret-key-for-sessions-only",
        "LOG_LEVEL": "WARNING",
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.serve_app", str(port)], cwd=ROOT, env=environment, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else "server died"
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        yield process, base
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(10)


def _wait_for(condition: Callable[[], bool], *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_worker_killed_mid_message_loses_nothing_and_answers_once(seeded, db_url):  # type: ignore[no-untyped-def]
    chat = Chat(seeded, "crash-v")
    chat.choose_village("阿巴嘎旗", "别力古台镇", "巴彦图嘎嘎查")
    seeded.engine.dispose()  # the app processes below own the database now
    body = {"user_id": "crash-v", "text": "帮我找律师，老板欠我三个月工钱不给", "client_id": "c-crash"}
    external_id = "crash-v:c-crash"

    reader = read_only(seeded.session_factory)  # on SQLite, a plain session would queue for the write lock

    def stored_status() -> str | None:
        with reader() as s:
            return s.scalar(select(Message.status).where(Message.external_id == external_id))

    # 1. processing takes 30 s in this process: the message is committed first, then we kill it
    with app_process(db_url, TEST_PROCESSING_DELAY_SECONDS="30", RUN_BACKGROUND_WORKERS="false") as (process, base):
        errors: list[Exception] = []

        def post() -> None:
            try:
                httpx.post(f"{base}/api/webchat/messages", json=body, timeout=60)
            except httpx.HTTPError as exc:
                errors.append(exc)  # the server died under the request, as expected

        sender = threading.Thread(target=post)
        sender.start()
        _wait_for(lambda: stored_status() == "received", seconds=20, what="the message to be stored")
        time.sleep(0.5)  # well inside the processing transaction (classified, ticket opened, not committed)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        sender.join(10)
        assert errors, "the request should have died with the process"

    assert stored_status() == "received"  # kept, not processed, nothing half-done
    assert _count(seeded, Ticket) == 0
    assert _count(seeded, Message, Message.direction == "out", Message.in_reply_to_id.is_not(None)) == _count(
        seeded, Message, Message.direction == "out"
    )
    replies_before = _count(seeded, Message, Message.direction == "out")

    # 2. a new process picks it up on its own: exactly one answer and one ticket
    with app_process(
        db_url, RUN_BACKGROUND_WORKERS="true", RECOVERY_AGE_SECONDS="0", RECOVERY_INTERVAL_SECONDS="0.2"
    ) as (_process, base):
        _wait_for(lambda: stored_status() == "processed", seconds=30, what="recovery")
        assert _count(seeded, Ticket) == 1
        with seeded.session_factory() as s:
            inbound = s.scalar(select(Message).where(Message.external_id == external_id))
            assert inbound is not None
            replies = s.scalars(
                select(Message.text).where(Message.in_reply_to_id == inbound.id).order_by(Message.id)
            ).all()
            code = s.scalar(select(Ticket.code))
        assert replies and code and code in replies[-1]  # (PostgreSQL's sequence skipped the killed attempt's id)
        # the page fetches the answer (recovery pushed it through the outbox) …
        _wait_for(
            lambda: bool(httpx.get(f"{base}/api/webchat/messages", params={"user_id": "crash-v"}).json()["messages"]),
            seconds=10,
            what="the pushed answer",
        )
        pushed = httpx.get(f"{base}/api/webchat/messages", params={"user_id": "crash-v"}).json()["messages"]
        assert [m["text"] for m in pushed] == list(replies)
        # … and the client's retry of the same message gets the same answer without running again,
        # each reply named as the page's poll knows it, so that the page shows it once
        again = httpx.post(f"{base}/api/webchat/messages", json=body, timeout=30)
        assert again.status_code == 200 and [r["text"] for r in again.json()["replies"]] == list(replies)
        assert [r["id"] for r in again.json()["replies"]] == [m["id"] for m in pushed]
    assert _count(seeded, Ticket) == 1
    assert _count(seeded, Message, Message.direction == "in", Message.external_id == external_id) == 1
    assert _count(seeded, Message, Message.direction == "out") == replies_before + len(replies)


# ---------------------------------------------------------------------- redeliveries racing each other


def test_concurrent_redeliveries_are_answered_once(seeded):  # type: ignore[no-untyped-def]
    Chat(seeded, "race-v").choose_village("阿巴嘎旗", "别力古台镇", "巴彦图嘎嘎查")
    Chat(seeded, "555", channel="telegram").choose_village("阿巴嘎旗", "别力古台镇", "巴彦图嘎嘎查")
    web = IncomingMessage("webchat", "race-v", "race-v:c-1", text="帮我找律师，邻居占了我家承包的草场")
    telegram = IncomingMessage("telegram", "555", "900001:555:17", text="帮我找律师，老板欠我工钱")

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        web_results = list(pool.map(lambda _: seeded.router.handle(web), range(6)))
        tg_results = list(pool.map(lambda _: seeded.router.handle(telegram, push_replies=True), range(6)))

    assert len({tuple(r.text for r in result.replies) for result in web_results}) == 1  # same answer for all
    assert sum(not r.duplicate for r in web_results) <= 1
    assert _count(seeded, Ticket) == 2  # one per message, not one per delivery
    with seeded.session_factory() as s:
        for external_id in (web.message_id, telegram.message_id):
            inbound = s.scalars(select(Message).where(Message.external_id == external_id)).all()
            assert len(inbound) == 1 and inbound[0].status == "processed"
        stored_replies = s.scalar(
            select(func.count(Message.id)).where(Message.in_reply_to_id == inbound[0].id, Message.direction == "out")
        )
        pushed = s.scalars(select(OutboxMessage.text).where(OutboxMessage.dedup_key.like(f"reply:{inbound[0].id}:%")))
        pushed_texts = list(pushed)
    # the Telegram update's answer goes out once: one outbox row per reply, whatever the deliveries
    assert stored_replies == len(pushed_texts) >= 1
    assert all([r.text for r in result.replies] == pushed_texts for result in tg_results)


def test_an_accounts_messages_are_processed_one_at_a_time(seeded):  # type: ignore[no-untyped-def]
    """Processing waits for whoever holds the account's lock, then reads what that one committed:
    here the holder marks the message processed, and the waiting delivery answers it as a duplicate
    instead of running it a second time."""
    from sqlalchemy import text, update

    from handlers.router import ACCOUNT_LOCK_SPACE

    if seeded.engine.dialect.name != "postgresql":
        pytest.skip("SQLite takes its write lock at BEGIN: writers never overlap")
    message_id, _ = seeded.router.store(IncomingMessage("webchat", "lock-v", "lock-v:1", text="你好"))
    with seeded.session_factory() as s:
        account_id = s.get_one(Message, message_id).account_id
    holder = seeded.session_factory()
    try:
        holder.execute(text("SELECT pg_advisory_xact_lock(:s, :k)"), {"s": ACCOUNT_LOCK_SPACE, "k": account_id})
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(seeded.router.process, message_id)
            time.sleep(0.5)
            assert not waiting.done(), "processing must wait for the account's lock"
            holder.execute(update(Message).where(Message.id == message_id).values(status="processed"))
            holder.commit()
            result = waiting.result(10)
    finally:
        holder.close()
    assert result.duplicate and result.replies == []
    assert _count(seeded, Message, Message.in_reply_to_id == message_id) == 0


def test_one_dedup_key_is_one_outbox_row_whoever_writes_it_first(container, clock):  # type: ignore[no-untyped-def]
    with transaction(container.session_factory) as s:
        account = get_or_create_account(s, IncomingMessage("flaky", "dd", None), now=clock())
        s.flush()
        first = enqueue(
            s, account=account, message=OutgoingMessage("第一次"), purpose="relay", dedup_key="k1", now=clock()
        )
        again = enqueue(
            s, account=account, message=OutgoingMessage("第二次"), purpose="relay", dedup_key="k1", now=clock()
        )
        assert again is first and first.id is not None
        account_id, first_id = account.id, first.id
    with transaction(container.session_factory) as s:  # a later pass (a re-run scheduler, a retried request)
        account = s.get(ChannelAccount, account_id)
        later = enqueue(
            s, account=account, message=OutgoingMessage("第三次"), purpose="relay", dedup_key="k1", now=clock()
        )
        assert later.id == first_id and later.text == "第一次"
        other = enqueue(
            s, account=account, message=OutgoingMessage("别的"), purpose="relay", dedup_key="k2", now=clock()
        )
        assert other.id != first_id
    assert _count(container, OutboxMessage) == 2


def test_two_writers_racing_with_one_dedup_key_store_one_row(container, clock, db_url):  # type: ignore[no-untyped-def]
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite takes its write lock at BEGIN: writers never overlap")
    with transaction(container.session_factory) as s:
        account_id = get_or_create_account(s, IncomingMessage("flaky", "race", None), now=clock()).id

    def write(text: str, hold: threading.Event | None = None) -> int:
        with transaction(container.session_factory) as s:
            account = s.get(ChannelAccount, account_id)
            row = enqueue(
                s, account=account, message=OutgoingMessage(text), purpose="relay", dedup_key="race", now=clock()
            )
            if hold is not None:
                hold.wait(10)  # the other writer arrives while this insert is not yet committed
            return row.id

    go_on = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        first = pool.submit(write, "先到的", go_on)
        time.sleep(0.5)
        second = pool.submit(write, "后到的")
        time.sleep(0.5)
        assert not second.done(), "the second writer must wait for the first one's commit"
        go_on.set()
        assert first.result(10) == second.result(10)
    with container.session_factory() as s:
        assert list(s.scalars(select(OutboxMessage.text).where(OutboxMessage.dedup_key == "race"))) == ["先到的"]


# ---------------------------------------------------------------------- a flaky messenger API


@dataclass
class FlakyApi:
    """Fails every message ``fail_times`` times (5xx, timeout, refused, 429), then delivers it;
    recipients in ``blocked`` fail for good."""

    fail_times: int = 3
    retry_after: float = 7.0
    blocked: set[str] = field(default_factory=set)
    tries: Counter[str] = field(default_factory=Counter)
    delivered: list[tuple[str, str]] = field(default_factory=list)
    in_flight: set[str] = field(default_factory=set)
    overlaps: int = 0
    name: str = "flaky"

    async def send(self, *, recipient: str, message: OutgoingMessage) -> SendReceipt:
        key = message.text
        if key in self.in_flight:
            self.overlaps += 1  # two workers sending the same row at once
        self.in_flight.add(key)
        try:
            await asyncio.sleep(0)
            self.tries[key] += 1
            if recipient in self.blocked:
                raise PermanentDeliveryError("Forbidden: bot was blocked by the user")
            attempt = self.tries[key]
            if attempt <= self.fail_times:
                failure: list[Exception] = [
                    TransientDeliveryError("502 Bad Gateway"),
                    TransientDeliveryError("TimedOut: timed out"),
                    TransientDeliveryError("ConnectError: connection refused"),
                    TransientDeliveryError("429 Too Many Requests", retry_after=self.retry_after),
                ]
                raise failure[(attempt - 1) % len(failure)]
            self.delivered.append((recipient, key))
            return SendReceipt(external_id=f"m{len(self.delivered)}")
        finally:
            self.in_flight.discard(key)


def _fill_outbox(container: Container, clock: FrozenClock, *, recipients: int, each: int) -> None:
    with transaction(container.session_factory) as session:
        for r in range(recipients):
            account = get_or_create_account(session, IncomingMessage("flaky", f"r{r}", None), now=clock())
            session.flush()
            for i in range(each):
                enqueue(session, account=account, message=OutgoingMessage(f"r{r}-m{i}"), purpose="relay", now=clock())


def _drain(workers: list[OutboxWorker], clock: FrozenClock, *, until: Callable[[], bool], step: float = 5) -> int:
    async def run() -> int:
        passes = 0
        while not until():
            await asyncio.gather(*(w.deliver_due() for w in workers))
            clock.advance(seconds=step)
            passes += 1
            assert passes < 5000, "the outbox never drained"
        return passes

    return asyncio.run(run())


def test_flaky_api_every_message_delivered_exactly_once_in_order(container, clock):  # type: ignore[no-untyped-def]
    api = FlakyApi(fail_times=3)
    _fill_outbox(container, clock, recipients=8, each=5)
    rng = random.Random(7)
    # two workers at once, as with two web processes: claims keep them off each other's rows
    workers = [OutboxWorker(container.session_factory, {"flaky": api}, clock=clock, rng=rng.random) for _ in range(2)]
    _drain(workers, clock, until=lambda: _count(container, OutboxMessage, OutboxMessage.status == "pending") == 0)

    assert sorted(k for _, k in api.delivered) == sorted(f"r{r}-m{i}" for r in range(8) for i in range(5))
    assert len(api.delivered) == len(set(api.delivered)) == 40  # exactly once
    assert api.overlaps == 0
    for r in range(8):  # one recipient's messages arrive in the order they were written
        assert [k for who, k in api.delivered if who == f"r{r}"] == [f"r{r}-m{i}" for i in range(5)]
    with container.session_factory() as s:
        rows = s.scalars(select(OutboxMessage)).all()
        assert {(r.status, r.attempts) for r in rows} == {("sent", 4)}
        outcomes = Counter(s.scalars(select(DeliveryAttempt.outcome)).all())
    assert outcomes == {"transient": 120, "sent": 40}  # every attempt recorded


def test_backoff_grows_with_jitter_and_honours_retry_after(container, clock):  # type: ignore[no-untyped-def]
    api = FlakyApi(fail_times=4, retry_after=30)
    _fill_outbox(container, clock, recipients=12, each=1)
    worker = OutboxWorker(container.session_factory, {"flaky": api}, clock=clock)  # real random jitter
    delays: dict[int, list[float]] = {1: [], 2: [], 3: [], 4: []}
    for attempt in range(1, 5):
        attempt_at = clock()
        asyncio.run(worker.deliver_due())
        with container.session_factory() as s:
            for row in s.scalars(select(OutboxMessage)):
                assert row.attempts == attempt and row.status == "pending"
                delays[attempt].append((row.next_attempt_at - attempt_at).total_seconds())
        clock.advance(seconds=max(delays[attempt]) + 1)
    for attempt in (1, 2, 3):  # 502, timeout, refused: exponential with jitter in [0.5, 1.5)
        nominal = BASE_DELAY_SECONDS * 2 ** (attempt - 1)
        assert all(0.5 * nominal <= d < 1.5 * nominal + 1 for d in delays[attempt]), delays[attempt]
        assert len({round(d, 3) for d in delays[attempt]}) > 1, "no jitter: every recipient retries at once"
    assert min(delays[4]) >= 30  # 429: never sooner than Telegram asked
    asyncio.run(worker.deliver_due())
    assert len(api.delivered) == 12


def test_an_outage_of_hours_delays_messages_and_loses_none(container, clock):  # type: ignore[no-untyped-def]
    api = FlakyApi(fail_times=25)  # about fifteen hours of failures for every message
    _fill_outbox(container, clock, recipients=4, each=1)
    started = clock()
    worker = OutboxWorker(container.session_factory, {"flaky": api}, clock=clock, rng=lambda: 0.5)
    _drain([worker], clock, until=lambda: len(api.delivered) == 4, step=60)
    assert dt.timedelta(hours=14) < clock() - started < dt.timedelta(hours=17)
    with container.session_factory() as s:
        assert {(r.status, r.attempts) for r in s.scalars(select(OutboxMessage))} == {("sent", 26)}


def test_transient_failures_are_given_up_after_about_a_day(container, clock):  # type: ignore[no-untyped-def]
    api = FlakyApi(fail_times=10**6)
    _fill_outbox(container, clock, recipients=1, each=1)
    started = clock()
    worker = OutboxWorker(container.session_factory, {"flaky": api}, clock=clock, rng=lambda: 0.5)
    _drain(
        [worker],
        clock,
        until=lambda: _count(container, OutboxMessage, OutboxMessage.status == "pending") == 0,
        step=60,
    )
    assert dt.timedelta(hours=23) < clock() - started < dt.timedelta(hours=24)
    with container.session_factory() as s:
        row = s.scalars(select(OutboxMessage)).one()
        assert row.status == "failed" and row.attempts == MAX_ATTEMPTS
        outcomes = Counter(s.scalars(select(DeliveryAttempt.outcome)).all())
    assert outcomes == {"transient": MAX_ATTEMPTS - 1, "permanent": 1}  # every attempt recorded


def test_a_message_past_its_expiry_is_never_sent_however_it_became_due(container, clock):  # type: ignore[no-untyped-def]
    """A reminder that says 明日 must not arrive on the day itself: not after its retries, not on a
    first try that comes late, not when held messages are released. What has no expiry keeps going."""
    api = FlakyApi(fail_times=6)  # about two minutes of failures, then it works
    expiry = clock() + dt.timedelta(seconds=30)  # its day ends
    with transaction(container.session_factory) as session:
        accounts = []
        for name in ("retried", "late", "held"):
            account = get_or_create_account(session, IncomingMessage("flaky", name, None), now=clock())
            session.flush()
            accounts.append(account)
        retried, late, held = accounts
        held.unreachable = True  # blocked the bot for now: what is written for them is held
        for purpose, until in (("reminder", expiry), ("relay", None)):
            message = OutgoingMessage(f"retried-{purpose}")
            enqueue(session, account=retried, message=message, purpose=purpose, now=clock(), expires_at=until)
        late_at = expiry + dt.timedelta(minutes=5)  # due after its expiry (a worker down overnight)
        enqueue(
            session,
            account=late,
            message=OutgoingMessage("late"),
            purpose="reminder",
            not_before=late_at,
            expires_at=expiry,
            now=clock(),
        )
        enqueue(
            session, account=held, message=OutgoingMessage("held"), purpose="reminder", now=clock(), expires_at=expiry
        )
    worker = OutboxWorker(container.session_factory, {"flaky": api}, clock=clock, rng=lambda: 0.5)

    def status(text: str) -> str:
        with container.session_factory() as s:
            return s.scalars(select(OutboxMessage.status).where(OutboxMessage.text == text)).one()

    _drain([worker], clock, until=lambda: status("retried-relay") == "sent", step=10)
    with transaction(container.session_factory) as session:  # they write again: held messages go
        release_held(session, session.get_one(ChannelAccount, held.id), now=clock())
    _drain([worker], clock, until=lambda: status("late") != "pending" and status("held") != "pending", step=10)
    assert [status(t) for t in ("retried-reminder", "late", "held")] == ["cancelled"] * 3
    assert "retried-relay" in {k for _, k in api.delivered} and api.tries["late"] == api.tries["held"] == 0
    assert all(k != "retried-reminder" for _, k in api.delivered)  # it would have worked at the seventh try
    with container.session_factory() as s:
        expired = s.scalars(select(DeliveryAttempt).where(DeliveryAttempt.outcome == "expired")).all()
    assert len(expired) == 3


def test_an_error_no_adapter_knows_is_retried_for_minutes_not_a_day(container, clock):  # type: ignore[no-untyped-def]
    """Likely this message's own trouble: the person's later messages must not wait a day behind it."""

    class Broken(FlakyApi):
        async def send(self, *, recipient: str, message: OutgoingMessage) -> SendReceipt:
            if message.text == "r0-m0":
                raise KeyError("a bug in the adapter for this one message")
            return await super().send(recipient=recipient, message=message)

    api = Broken(fail_times=0)
    _fill_outbox(container, clock, recipients=1, each=2)
    started = clock()
    worker = OutboxWorker(container.session_factory, {"flaky": api}, clock=clock, rng=lambda: 0.5)
    _drain([worker], clock, until=lambda: bool(api.delivered), step=10)
    assert clock() - started < dt.timedelta(minutes=20) and api.delivered == [("r0", "r0-m1")]
    with container.session_factory() as s:
        first = s.scalars(select(OutboxMessage).where(OutboxMessage.text == "r0-m0")).one()
    assert first.status == "failed" and first.attempts == MAX_UNEXPECTED_ATTEMPTS and "KeyError" in first.last_error


def test_permanent_failures_stop_and_others_still_go(container, clock):  # type: ignore[no-untyped-def]
    api = FlakyApi(fail_times=1, blocked={"r0"})
    _fill_outbox(container, clock, recipients=3, each=2)
    worker = OutboxWorker(container.session_factory, {"flaky": api}, clock=clock, rng=lambda: 0.5)
    _drain([worker], clock, until=lambda: _count(container, OutboxMessage, OutboxMessage.status == "pending") == 0)
    clock.advance(hours=2)
    asyncio.run(worker.deliver_due())
    with container.session_factory() as s:
        failed = s.scalars(select(OutboxMessage).where(OutboxMessage.status == "failed")).all()
        account = s.scalar(select(ChannelAccount).where(ChannelAccount.external_id == "r0"))
    assert {r.text for r in failed} == {"r0-m0", "r0-m1"} and all(r.attempts == 1 for r in failed)
    assert account is not None and account.unreachable
    assert api.tries["r0-m0"] == 1  # never retried
    assert sorted(k for _, k in api.delivered) == ["r1-m0", "r1-m1", "r2-m0", "r2-m1"]


# ---------------------------------------------------------------------- the database briefly down


@contextmanager
def _behind_proxy(seeded: Container, db_url: str, **settings: Any) -> Iterator[tuple[Container, TcpProxy]]:
    """The app's own engine reaches PostgreSQL through a proxy the test can cut."""
    if not db_url.startswith("postgresql"):
        pytest.skip("a database server that can go away: PostgreSQL")
    url = make_url(db_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432)).start()
    proxied_url = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    settings = {"database_url": proxied_url, "db_connect_timeout_seconds": 2, **settings}
    container = build(seeded.settings.model_copy(update=settings), classifier=KeywordClassifier())
    try:
        yield container, proxy
    finally:
        proxy.close()
        container.engine.dispose()


@pytest.fixture
def proxied(seeded: Container, db_url: str) -> Iterator[tuple[Container, TcpProxy]]:
    with _behind_proxy(
        seeded, db_url, run_background_workers=True, recovery_interval_seconds=0.5, recovery_age_seconds=0
    ) as pair:
        yield pair


def test_pooled_connections_broken_while_idle_are_replaced_before_a_villager_needs_one(seeded, db_url):  # type: ignore[no-untyped-def]
    # no background workers: the villager's request is the first to take a connection afterwards
    with _behind_proxy(seeded, db_url, run_background_workers=False) as (container, proxy):
        app = create_app(container.settings, container=container)
        with TestClient(app, raise_server_exceptions=False) as client:
            first = client.post("/api/webchat/messages", json={"user_id": "idle", "text": "你好", "client_id": "a"})
            assert first.status_code == 200  # the pool now holds open connections
            proxy.cut()  # what a database restart does to them, while nobody is asking
            proxy.restore()
            time.sleep(IDLE_PING_SECONDS + 0.2)
            chat = client.post("/api/webchat/messages", json={"user_id": "idle", "text": "草场被占", "client_id": "b"})
            assert chat.status_code == 200, chat.json()
            assert chat.json()["replies"]


def test_with_the_database_away_a_wechat_villager_is_told_to_send_again(seeded, db_url):  # type: ignore[no-untyped-def]
    """WeChat does not resend a message that got an answer, and for an error status it shows only
    its own "service unavailable": the villager is told in our words, and nothing is half-stored."""
    from tests.wechat_support import APP_ID, APP_SECRET, TOKEN, WeChatServer

    wechat = {"wechat_token": TOKEN, "wechat_app_id": APP_ID, "wechat_app_secret": APP_SECRET}
    with (
        _behind_proxy(seeded, db_url, run_background_workers=False, **wechat) as (container, proxy),
        TestClient(create_app(container.settings, container=container), raise_server_exceptions=False) as client,
    ):
        wx = WeChatServer(client)
        assert wx.say("o-dbv", "你好") not in (None, DB_DOWN)
        proxy.cut()
        assert wx.say("o-dbv", "草场被人占了怎么办") == DB_DOWN  # a 200 with our words, not a 503
        proxy.restore()
        deadline = time.monotonic() + 15
        while client.get("/healthz").status_code != 200:
            assert time.monotonic() < deadline, "the app did not recover"
            time.sleep(0.2)
        again = wx.say("o-dbv", "草场被人占了怎么办")  # sent again, as they were told
        assert again not in (None, DB_DOWN)
    assert _count(seeded, Message, Message.channel == "wechat", Message.direction == "in") == 2
    assert (
        _count(seeded, Message, Message.channel == "wechat", Message.direction == "in", Message.status != "processed")
        == 0
    )


def test_database_down_for_five_seconds_degrades_then_recovers_by_itself(proxied, seeded):  # type: ignore[no-untyped-def]
    container, proxy = proxied
    with TestClient(create_app(container.settings, container=container), raise_server_exceptions=False) as client:
        assert client.get("/healthz").status_code == 200
        ok = client.post("/api/webchat/messages", json={"user_id": "dbv", "text": "你好", "client_id": "before"})
        assert ok.status_code == 200
        with transaction(container.session_factory) as s:  # due while the database is away
            account = s.scalar(select(ChannelAccount).where(ChannelAccount.external_id == "dbv"))
            enqueue(
                s,
                account=account,
                message=OutgoingMessage("律师回复您"),
                purpose="relay",
                now=utcnow() + dt.timedelta(seconds=2),
            )

        proxy.cut()
        down_at = time.monotonic()
        answers = []
        while time.monotonic() - down_at < 5:
            started = time.monotonic()
            health = client.get("/healthz")
            assert health.status_code == 503 and health.json()["status"] == "degraded"
            chat = client.post("/api/webchat/messages", json={"user_id": "dbv", "text": "草场被占", "client_id": "c-9"})
            answers.append((chat.status_code, chat.json()["error"], time.monotonic() - started))
            time.sleep(0.3)
        assert all(status == 503 and error == DB_DOWN for status, error, _ in answers)
        assert max(seconds for *_, seconds in answers) < 10, "requests must fail fast, not hang"

        proxy.restore()
        deadline = time.monotonic() + 15
        while client.get("/healthz").status_code != 200:  # no restart, no operator
            assert time.monotonic() < deadline, "the app did not recover"
            time.sleep(0.2)
        resent = client.post("/api/webchat/messages", json={"user_id": "dbv", "text": "草场被占", "client_id": "c-9"})
        assert resent.status_code == 200 and resent.json()["replies"]
        deadline = time.monotonic() + 15
        while _count(seeded, OutboxMessage, OutboxMessage.status == "sent", OutboxMessage.text == "律师回复您") == 0:
            assert time.monotonic() < deadline, "the outbox worker did not resume"
            time.sleep(0.2)

    # nothing half-stored: the refused attempts left no row, the resend is stored and answered once
    assert _count(seeded, Message, Message.direction == "in", Message.external_id == "dbv:c-9") == 1
    assert _count(seeded, Message, Message.direction == "in", Message.status != "processed") == 0
