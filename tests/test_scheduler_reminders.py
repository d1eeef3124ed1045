"""Duty reminders with a frozen clock: timing, opt-in/out, grace window, no duplicates, change notices.

The seeded calendar gives 巴彦图嘎嘎查 (ab01, lawyer 乌日娜) a session on Tuesday 2026-12-08
09:00–13:00 at 嘎查党群服务中心; the clock starts on 2026-12-01 10:00 (Asia/Shanghai).
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from admin.container import build
from core.db import transaction
from core.models import OutboxMessage
from scheduling import calendar
from tests.fakes import KeywordClassifier
from tests.scheduling_helpers import (
    bind_lawyer,
    deliver,
    lawyer_named,
    local,
    outbox_for,
    run,
    seeded_without_kb,  # noqa: F401  (overrides `seeded`: no KB)
    session_on,
    texts_for,
    villager,
)

DAY = dt.date(2026, 12, 8)


@pytest.fixture
def world(seeded):  # type: ignore[no-untyped-def]
    bind_lawyer(seeded, "乌日娜", "lw-wu")
    villager(seeded, "v-in", "ab01", opt_in=True)
    villager(seeded, "v-out", "ab01", opt_in=False)
    villager(seeded, "v-other", "ab02", opt_in=True)  # another village: never reminded of ab01
    return seeded


def _reminders(container) -> int:  # type: ignore[no-untyped-def]
    with container.session_factory() as s:
        return s.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.purpose == "reminder")) or 0


def test_lawyer_is_reminded_the_evening_before_and_two_hours_before_then_asked_to_record(world):  # type: ignore[no-untyped-def]
    run(world, local(2026, 12, 7, 17, 59))
    assert texts_for(world, "lw-wu") == []
    run(world, local(2026, 12, 7, 18, 0))
    [eve] = texts_for(world, "lw-wu")
    assert "明日坐班" in eve and "巴彦图嘎嘎查" in eve and "嘎查党群服务中心" in eve and "09:00–13:00" in eve
    run(world, local(2026, 12, 8, 6, 59))
    assert len(texts_for(world, "lw-wu")) == 1
    run(world, local(2026, 12, 8, 7, 0))
    soon = texts_for(world, "lw-wu")[-1]
    assert "2小时后坐班" in soon and "嘎查党群服务中心" in soon
    run(world, local(2026, 12, 8, 12, 59))
    assert len(texts_for(world, "lw-wu")) == 2
    run(world, local(2026, 12, 8, 13, 0))
    prompt = outbox_for(world, "lw-wu")[-1]
    assert "坐班记录" in prompt.text
    # each is not sent once it would mislead: 明日 from midnight, "in 2 hours" from the start,
    # the record prompt a day after the session
    assert [r.expires_at for r in outbox_for(world, "lw-wu")] == [
        local(2026, 12, 8, 0, 0),
        local(2026, 12, 8, 9, 0),
        local(2026, 12, 9, 13, 0),
    ]
    assert [b["payload"] for b in prompt.buttons] == [
        f"dt:ok:{session_on(world, 'ab01', DAY).id}",
        f"dt:miss:{session_on(world, 'ab01', DAY).id}",
    ]


def test_only_opted_in_villagers_of_the_village_get_three_day_and_morning_reminders(world):  # type: ignore[no-untyped-def]
    run(world, local(2026, 12, 5, 8, 59))
    assert texts_for(world, "v-in") == []
    run(world, local(2026, 12, 5, 9, 0))  # 3 days before, same time of day
    [advance] = texts_for(world, "v-in")
    assert "乌日娜律师将于12月8日（周二） 09:00–13:00在嘎查党群服务中心现场坐班" in advance
    assert "可带上相关材料" in advance
    run(world, local(2026, 12, 8, 7, 0))
    assert "今天律师坐班" in texts_for(world, "v-in")[-1]
    assert [r.expires_at for r in outbox_for(world, "v-in")] == [local(2026, 12, 8, 9, 0), local(2026, 12, 8, 13, 0)]
    assert texts_for(world, "v-out") == []
    assert not any("巴彦图" in t or "12月8日" in t for t in texts_for(world, "v-other"))


def test_opting_out_stops_reminders(world):  # type: ignore[no-untyped-def]
    chat = villager(world, "v-in", "ab01", opt_in=False)
    chat.say("取消提醒")
    assert "已关闭" in chat.text
    run(world, local(2026, 12, 5, 9, 30))
    assert texts_for(world, "v-in") == []
    chat.say("/remind on")
    run(world, local(2026, 12, 5, 9, 45))
    assert len(texts_for(world, "v-in")) == 1


def test_two_passes_and_a_restart_never_send_twice(world, settings):  # type: ignore[no-untyped-def]
    at = local(2026, 12, 7, 18, 5)
    first = run(world, at)
    assert first.counts["reminder_eve"] == 1
    second = run(world, at + dt.timedelta(minutes=1))
    assert second.counts.total() == 0
    count = _reminders(world)
    world.engine.dispose()
    restarted = build(settings, classifier=KeywordClassifier())  # a new process: new engine, nothing in memory
    try:
        assert run(restarted, at + dt.timedelta(minutes=2)).counts.total() == 0
    finally:
        restarted.engine.dispose()
    assert _reminders(world) == count


def test_catch_up_inside_the_grace_window_but_nothing_stale_outside_it(world):  # type: ignore[no-untyped-def]
    # The process was down at 18:00; it comes back at 19:59: still within the 2 h grace window.
    report = run(world, local(2026, 12, 7, 19, 59))
    assert report.counts["reminder_eve"] == 1


def test_a_pass_after_the_grace_window_sends_no_stale_reminder(world):  # type: ignore[no-untyped-def]
    report = run(world, local(2026, 12, 7, 20, 0))  # 18:00 + 2 h: too late for "tomorrow" news
    assert report.counts["reminder_eve"] == 0
    assert texts_for(world, "lw-wu") == []
    report = run(world, local(2026, 12, 5, 11, 30))  # 2.5 h after the 3-day reminder was due
    assert texts_for(world, "v-in") == []


def test_grace_window_is_a_setting(seeded, settings):  # type: ignore[no-untyped-def]
    wide = settings.model_copy(update={"reminder_grace_hours": 4})
    bind_lawyer(seeded, "乌日娜", "lw-wu")
    seeded.settings = wide
    report = run(seeded, local(2026, 12, 7, 21, 30))
    assert report.counts["reminder_eve"] == 1


def test_cancellation_notifies_those_already_reminded_and_withdraws_pending_ones(world):  # type: ignore[no-untyped-def]
    run(world, local(2026, 12, 5, 9, 0))  # villager's 3-day reminder
    deliver(world, local(2026, 12, 5, 9, 1))
    villager(world, "v-late", "ab01", opt_in=True)  # opted in after the 3-day reminder went out
    run(world, local(2026, 12, 7, 18, 0))  # lawyer's evening reminder, still pending in the outbox
    duty = session_on(world, "ab01", DAY)
    with transaction(world.session_factory) as s:
        notices = calendar.cancel_session(
            s, s.get(type(duty), duty.id), reason="律师临时出庭", now=local(2026, 12, 7, 18, 30), actor="admin:test"
        )
    assert notices == 1  # the villager who had been told; the lawyer's reminder was never sent
    cancel = texts_for(world, "v-in")[-1]
    assert "坐班取消" in cancel and "律师临时出庭" in cancel
    assert outbox_for(world, "v-in")[-1].expires_at is None  # late is better than never for this one
    [eve] = outbox_for(world, "lw-wu")
    assert eve.status == "cancelled"  # withdrawn: the lawyer is not told of a session that is off
    assert texts_for(world, "v-late") == [] and texts_for(world, "v-out") == []
    # No reminders for a cancelled session afterwards
    run(world, local(2026, 12, 8, 7, 0))
    assert len(texts_for(world, "v-in")) == 2


def test_moving_a_session_tells_those_reminded_and_reminds_again_for_the_new_time(world):  # type: ignore[no-untyped-def]
    run(world, local(2026, 12, 7, 18, 0))
    deliver(world, local(2026, 12, 7, 18, 1))
    duty = session_on(world, "ab01", DAY)
    lawyer = lawyer_named(world, "乌日娜")
    new_start, new_end = local(2026, 12, 10, 14, 0), local(2026, 12, 10, 17, 0)
    with transaction(world.session_factory) as s:
        notices = calendar.update_session(
            s,
            s.get(type(duty), duty.id),
            lawyer=lawyer,
            starts_at=new_start,
            ends_at=new_end,
            place="村委会会议室",
            kind="onsite",
            now=local(2026, 12, 7, 19, 0),
            actor="admin:test",
        )
    assert notices == 1
    moved = texts_for(world, "lw-wu")[-1]
    assert "坐班改期" in moved and "12月10日（周四） 14:00–17:00" in moved and "村委会会议室" in moved
    with world.session_factory() as s:
        assert s.get(type(duty), duty.id).version == 2
    # The old time passes quietly; the new one gets its own reminders.
    run(world, local(2026, 12, 8, 7, 0))
    assert len(texts_for(world, "lw-wu")) == 2
    run(world, local(2026, 12, 9, 18, 0))
    assert "明日坐班" in texts_for(world, "lw-wu")[-1] and "14:00–17:00" in texts_for(world, "lw-wu")[-1]
    with world.session_factory() as s:
        keys = list(s.scalars(select(OutboxMessage.dedup_key).where(OutboxMessage.purpose == "reminder")))
    assert any(k.startswith(f"duty:{duty.id}:v2:eve:") for k in keys)


def test_unreachable_accounts_and_other_villages_are_skipped(world):  # type: ignore[no-untyped-def]
    from core.models import ChannelAccount

    with transaction(world.session_factory) as s:
        account = s.scalar(select(ChannelAccount).where(ChannelAccount.external_id == "v-in"))
        account.unreachable = True
    run(world, local(2026, 12, 5, 9, 0))
    assert texts_for(world, "v-in") == []


def test_lectures_are_announced_to_villagers_but_mediations_are_not(world):  # type: ignore[no-untyped-def]
    lawyer = lawyer_named(world, "乌日娜")
    with transaction(world.session_factory) as s:
        village = session_on(world, "ab01", DAY).village_id
        from core.models import Village

        for kind, day in (("lecture", 14), ("mediation", 15)):
            calendar.create_session(
                s,
                lawyer=lawyer,
                village=s.get(Village, village),
                starts_at=local(2026, 12, day, 15),
                ends_at=local(2026, 12, day, 17),
                place="村委会会议室",
                kind=kind,
                now=local(2026, 12, 1),
                actor="test",
            )
    run(world, local(2026, 12, 11, 15, 0))  # 3 days before the lecture
    run(world, local(2026, 12, 12, 15, 0))  # 3 days before the mediation
    [lecture] = texts_for(world, "v-in")
    assert "举办法治讲座" in lecture and "12月14日" in lecture
    run(world, local(2026, 12, 14, 18, 0))
    assert "明日坐班" in texts_for(world, "lw-wu")[-1]  # the lawyer is reminded of the mediation
    assert len(texts_for(world, "v-in")) == 1
