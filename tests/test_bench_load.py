"""The load benchmark's steady start: its clock, and what is counted beside it, start only when
every villager has said its untimed messages; the CPU shares it prints; the peak memory it checks."""

from __future__ import annotations

import asyncio
import random

import psutil
import pytest

from bench.load import MESSAGES_PER_VILLAGER, CpuReading, SteadyStart


def test_the_clock_starts_when_the_last_villager_arrives_and_not_before() -> None:
    async def scenario() -> tuple[list[str], float]:
        events: list[str] = []
        steady = SteadyStart(3, random.Random(1), on_start=lambda: events.append("clock"))

        async def villager(name: str, untimed_sends: int) -> None:
            for _ in range(untimed_sends):  # untimed messages, answered at once
                await asyncio.sleep(0)
            events.append(f"{name} arrived")
            await steady.arrive()
            events.append(f"{name} timed")

        await asyncio.gather(villager("a", 0), villager("b", 5), villager("c", 2))
        return events, steady.started

    events, started = asyncio.run(scenario())
    arrived = [e for e in events if e.endswith("arrived")]
    assert events[: len(arrived) + 1] == [*arrived, "clock"], events
    assert events.count("clock") == 1
    assert sorted(events[len(arrived) + 1 :]) == ["a timed", "b timed", "c timed"]
    assert started > 0


def test_every_villager_starts_inside_its_conversation() -> None:
    # a phase as long as the conversation would leave that villager never arriving: the run would hang
    steady = SteadyStart(500, random.Random(5), on_start=lambda: None)
    assert all(0 <= phase < MESSAGES_PER_VILLAGER for phase in steady.phases)
    assert len(set(steady.phases)) > MESSAGES_PER_VILLAGER // 2  # spread, not in step


def test_cpu_shares_count_each_side_since_the_start() -> None:
    cores = psutil.cpu_count()
    start = CpuReading(generator=1.0, each_server=[0.5, 10.0, 20.0], postgres={7: 3.0}, busy=100.0)
    # a backend (pid 8) connected during the run; the supervisor (first) did a little too
    end = CpuReading(generator=2.0, each_server=[0.7, 14.0, 23.0], postgres={7: 4.0, 8: 2.0}, busy=120.0)
    shares = end.shares_since(start, wall=10.0)
    assert shares["server seconds"] == pytest.approx(7.2)
    assert shares["generator seconds"] == pytest.approx(1.0)
    assert shares["each worker"] == pytest.approx([4.0, 3.0])
    assert shares["postgres"] == pytest.approx(3.0 / 10.0 / cores * 100)
    assert shares["others"] == pytest.approx((20.0 - 7.2 - 1.0 - 3.0) / 10.0 / cores * 100)
    # busy time read a moment apart from the processes' can come out below their sum: not negative
    idle = CpuReading(generator=2.0, each_server=[0.7, 14.0, 23.0], postgres={7: 4.0, 8: 2.0}, busy=105.0)
    assert idle.shares_since(start, wall=10.0)["others"] == 0.0


def test_the_peak_of_each_process_is_its_highest_over_the_runs() -> None:
    from bench.load import _highest

    saturated, paced, wechat = {1: 40.0, 2: 270.0, 3: 260.0}, {2: 265.0, 3: 281.5}, {1: 41.0, 4: 250.0}
    assert _highest(_highest(saturated, paced), wechat) == {1: 41.0, 2: 270.0, 3: 281.5, 4: 250.0}


def test_the_check_that_nothing_was_lost_finds_what_was_lost_or_answered_wrong(seeded, db_url) -> None:  # type: ignore[no-untyped-def]
    """`bench load`'s verdict on the database: every message it was told was taken is stored,
    processed and answered as often as the generator saw."""
    from sqlalchemy import update

    from bench.load import Tally, _verify
    from core.db import transaction
    from core.messages import IncomingMessage
    from core.models import Message

    tally = Tally()
    for user in ("u1", "u2", "u3"):
        key = f"{user}:c1"
        result = seeded.router.handle(IncomingMessage("webchat", user, key, text="你好"))
        tally.sent[key] = len(result.replies)
    assert _verify(db_url, tally, channel="webchat") == (3, 0, 0)

    tally.sent["u4:c1"] = 1  # answered 200 but never stored
    assert _verify(db_url, tally, channel="webchat")[1] == 1
    del tally.sent["u4:c1"]
    tally.sent["u1:c1"] += 1  # the villager saw more replies than were stored
    assert _verify(db_url, tally, channel="webchat") == (3, 0, 1)
    tally.sent["u1:c1"] -= 1
    with transaction(seeded.session_factory) as s:  # stored but never processed
        s.execute(update(Message).where(Message.external_id == "u2:c1").values(status="received"))
    assert _verify(db_url, tally, channel="webchat") == (3, 0, 1)
