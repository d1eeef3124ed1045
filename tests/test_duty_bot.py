"""Duty days in the chat: the lawyer's /duty and /done, the villager's /remind and 提醒我."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from core.models import AuditEvent, DutySession, Villager, WorkLogEntry
from tests.helpers import Chat
from tests.scheduling_helpers import (
    bind_lawyer,
    local,
    seeded_without_kb,  # noqa: F401  (overrides `seeded`: no KB)
    session_on,
    villager,
)

DAY = dt.date(2026, 12, 8)


def _duty(container, duty_id: int) -> DutySession:  # type: ignore[no-untyped-def]
    with container.session_factory() as s:
        duty = s.get(DutySession, duty_id)
        assert duty is not None
        return duty


def test_duty_lists_the_lawyers_coming_sessions(seeded):  # type: ignore[no-untyped-def]
    lawyer = bind_lawyer(seeded, "乌日娜", "lw-wu")
    lawyer.say("/duty")
    assert "您接下来的坐班" in lawyer.text
    assert "12月8日（周二） 09:00–13:00 巴彦图嘎嘎查" in lawyer.text
    assert "查干淖尔嘎查" in lawyer.text  # all three of her villages
    assert "红星村" not in lawyer.text  # not another lawyer's


def test_duty_and_done_are_for_lawyers_only(seeded):  # type: ignore[no-untyped-def]
    chat = villager(seeded, "v1", "ab01", opt_in=False)
    chat.say("/duty")
    assert "不认识这个指令" in chat.text
    chat.say(payload=f"dt:ok:{session_on(seeded, 'ab01', DAY).id}")
    assert "不认识" in chat.text


def test_done_records_hours_people_and_a_work_log_entry(seeded, clock):  # type: ignore[no-untyped-def]
    lawyer = bind_lawyer(seeded, "乌日娜", "lw-wu")
    duty = session_on(seeded, "ab01", DAY)
    lawyer.say("/done")
    assert "没有待记录" in lawyer.text  # nothing has happened yet
    clock.now = local(2026, 12, 8, 13, 30)
    lawyer.say("/duty")
    assert "还有1次坐班没有记录" in lawyer.text
    lawyer.say("/done")
    lawyer.tap("12月8日")
    lawyer.tap("完成了")
    assert "几个小时" in lawyer.text and "4小时" in lawyer.buttons()
    lawyer.say("十")
    assert "请输入0到12之间的小时数" in lawyer.text
    lawyer.say("3.5小时")
    assert "多少人次" in lawyer.text
    lawyer.say("很多")
    assert "请输入人数" in lawyer.text
    lawyer.say("7")
    assert "已记录" in lawyer.text and "3.5小时" in lawyer.text and "7人次" in lawyer.text
    done = _duty(seeded, duty.id)
    assert (done.status, done.hours, done.people_served) == ("done", 3.5, 7)
    with seeded.session_factory() as s:
        entry = s.scalar(select(WorkLogEntry).where(WorkLogEntry.duty_session_id == duty.id))
        assert entry is not None
        assert entry.method == "onsite" and entry.hours == 3.5 and entry.village_id == duty.village_id
        assert "接待7人次" in (entry.result or "")
    lawyer.say("/done")
    assert "没有待记录" in lawyer.text


def test_record_prompt_buttons_and_hour_buttons(seeded, clock):  # type: ignore[no-untyped-def]
    lawyer = bind_lawyer(seeded, "乌日娜", "lw-wu")
    duty = session_on(seeded, "ab01", DAY)
    clock.now = local(2026, 12, 8, 13, 5)
    lawyer.say(payload=f"dt:ok:{duty.id}")  # the button on the scheduler's record prompt
    lawyer.tap("4小时")
    lawyer.say("0")
    assert "接待0人次" in lawyer.text
    assert _duty(seeded, duty.id).status == "done"


def test_missed_session_is_recorded_with_the_reason(seeded, clock):  # type: ignore[no-untyped-def]
    lawyer = bind_lawyer(seeded, "乌日娜", "lw-wu")
    duty = session_on(seeded, "ab01", DAY)
    clock.now = local(2026, 12, 8, 14, 0)
    lawyer.say(payload=f"dt:miss:{duty.id}")
    assert "原因" in lawyer.text
    lawyer.say("大雪封路，车过不去")
    assert "没去成" in lawyer.text and "大雪封路" in lawyer.text
    missed = _duty(seeded, duty.id)
    assert missed.status == "missed" and missed.note == "大雪封路，车过不去"


def test_a_lawyer_cannot_record_another_lawyers_session_or_a_future_one(seeded, clock):  # type: ignore[no-untyped-def]
    other = bind_lawyer(seeded, "巴特尔", "lw-ba")
    duty = session_on(seeded, "ab01", DAY)
    lawyer = bind_lawyer(seeded, "乌日娜", "lw-wu")
    lawyer.say(payload=f"dt:ok:{duty.id}")
    assert "还没开始" in lawyer.text
    clock.now = local(2026, 12, 8, 14, 0)
    other.say(payload=f"dt:ok:{duty.id}")
    assert "不是您的" in other.text
    assert _duty(seeded, duty.id).status == "planned"


def test_remind_on_off_and_chinese_phrases(seeded):  # type: ignore[no-untyped-def]
    chat = Chat(seeded, "v-remind")
    chat.say("提醒我")
    assert "请先选好您是哪个村" in chat.text  # no village yet: choose one first
    chat.say("/start vab01")
    chat.say("/remind")
    assert "还没有开启" in chat.text and "开启提醒" in chat.buttons()
    chat.tap("开启提醒")
    assert "已开启坐班提醒" in chat.text and "前3天和当天早上" in chat.text
    assert "下次来村坐班：12月8日（周二）" in chat.text
    with seeded.session_factory() as s:
        assert s.scalar(select(Villager.reminders_opt_in).join(Villager.village)) is True
    chat.say("取消提醒")
    assert "已关闭" in chat.text
    chat.say("/remind maybe")
    assert "格式" in chat.text
    chat.say("/remind on")
    assert "已开启" in chat.text
    with seeded.session_factory() as s:
        assert s.scalar(select(Villager.reminders_opt_in)) is True


def test_lawyer_remind_is_explained(seeded):  # type: ignore[no-untyped-def]
    lawyer = bind_lawyer(seeded, "乌日娜", "lw-wu")
    lawyer.say("/remind on")
    assert "自动收到" in lawyer.text


def test_schedule_still_answers_villagers(seeded):  # type: ignore[no-untyped-def]
    chat = villager(seeded, "v-s", "ab01", opt_in=False)
    chat.say("/schedule")
    assert "12月8日（周二） 09:00–13:00" in chat.text and "乌日娜律师" in chat.text


def test_recording_is_audited(seeded, clock):  # type: ignore[no-untyped-def]
    lawyer = bind_lawyer(seeded, "乌日娜", "lw-wu")
    duty = session_on(seeded, "ab01", DAY)
    clock.now = local(2026, 12, 8, 14, 0)
    lawyer.say(payload=f"dt:ok:{duty.id}")
    lawyer.say("4")
    lawyer.say("3")
    with seeded.session_factory() as s:
        assert s.scalar(select(AuditEvent).where(AuditEvent.action == "duty_done")) is not None
