"""Ticket SLA driven by the scheduler pass: reminder at N/2, escalation at N, auto-close after silence."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from core.models import Ticket, TicketEvent
from handlers import tickets
from tests.conftest import T0
from tests.helpers import Chat
from tests.scheduling_helpers import (
    bind_lawyer,
    outbox_for,
    run,
    seeded_without_kb,  # noqa: F401  (overrides `seeded`: no KB)
    texts_for,
)


def _open_ticket(container) -> Chat:  # type: ignore[no-untyped-def]
    chat = Chat(container, "asker", name="老张")
    chat.say("/start vab01")
    chat.say("/lawyer")
    chat.say("老板欠我三个月工钱不给，怎么办")
    assert "T-0001" in chat.text, chat.text
    return chat


def _ticket(container) -> Ticket:  # type: ignore[no-untyped-def]
    with container.session_factory() as s:
        ticket = s.scalar(select(Ticket).where(Ticket.code == "T-0001"))
        assert ticket is not None
        return ticket


def _events(container, action: str) -> list[TicketEvent]:  # type: ignore[no-untyped-def]
    with container.session_factory() as s:
        return list(s.scalars(select(TicketEvent).where(TicketEvent.action == action)))


@pytest.fixture
def lawyer(seeded):  # type: ignore[no-untyped-def]
    return bind_lawyer(seeded, "乌日娜", "lw-wu")


def at(**delta: float) -> dt.datetime:
    return T0 + dt.timedelta(**delta)


def test_lawyer_is_reminded_halfway_to_the_deadline_once(seeded, lawyer):  # type: ignore[no-untyped-def]
    _open_ticket(seeded)
    run(seeded, at(hours=11, minutes=59))
    assert len(texts_for(seeded, "lw-wu", purpose="notify")) == 1  # only the new-ticket notice so far
    report = run(seeded, at(hours=12))
    assert report.counts["sla_reminded"] == 1
    reminder = texts_for(seeded, "lw-wu", purpose="notify")[-1]
    assert "【提醒】咨询 T-0001" in reminder and "巴彦图嘎嘎查" in reminder and "12小时" in reminder
    assert _ticket(seeded).sla_reminded_at == at(hours=12)
    assert run(seeded, at(hours=13)).counts["sla_reminded"] == 0
    assert len(_events(seeded, "sla_reminded")) == 1
    assert len(texts_for(seeded, "lw-wu", purpose="notify")) == 2  # the new-ticket notice and one reminder


def test_unanswered_ticket_is_escalated_at_the_deadline_once(seeded, lawyer):  # type: ignore[no-untyped-def]
    _open_ticket(seeded)
    run(seeded, at(hours=12))
    run(seeded, at(hours=23, minutes=59))
    assert _ticket(seeded).status == "open"
    report = run(seeded, at(hours=24))
    assert report.counts["escalated"] == 1
    ticket = _ticket(seeded)
    assert ticket.status == "escalated" and ticket.escalated_at == at(hours=24)
    [told] = [t for t in texts_for(seeded, "asker", purpose="notify")]
    assert "已转交别力古台镇司法所" in told and "T-0001" in told
    assert "已转司法所" in texts_for(seeded, "lw-wu", purpose="notify")[-1]
    with seeded.session_factory() as s:
        queue = list(s.scalars(select(Ticket.code).where(tickets.in_admin_queue())))
    assert queue == ["T-0001"]
    run(seeded, at(hours=25))
    run(seeded, at(hours=48))
    assert len(_events(seeded, "escalated")) == 1
    assert len(texts_for(seeded, "asker", purpose="notify")) == 1


def test_a_first_answer_stops_the_clock(seeded, lawyer, clock):  # type: ignore[no-untyped-def]
    _open_ticket(seeded)
    clock.advance(hours=2)
    lawyer.say("/reply T-0001 您好，可以先找老板要工资欠条，再申请劳动仲裁。")
    assert "已发给村民" in lawyer.text
    run(seeded, at(hours=12))
    run(seeded, at(hours=30))
    ticket = _ticket(seeded)
    assert ticket.status == "answered" and ticket.sla_reminded_at is None and ticket.escalated_at is None


def test_a_pass_after_the_deadline_escalates_without_the_stale_reminder(seeded, lawyer):  # type: ignore[no-untyped-def]
    _open_ticket(seeded)
    report = run(seeded, at(hours=30))  # the scheduler was down for the whole day
    assert report.counts["escalated"] == 1 and report.counts["sla_reminded"] == 0
    assert _ticket(seeded).sla_reminded_at is None


def test_tickets_already_in_the_queue_are_not_escalated_again(seeded):  # type: ignore[no-untyped-def]
    _open_ticket(seeded)  # nobody bound: the ticket went to the 司法所 queue from the start
    assert _ticket(seeded).lawyer_id is None
    assert run(seeded, at(hours=30)).counts["escalated"] == 0
    assert _ticket(seeded).status == "open"


def test_answered_silent_ticket_is_closed_after_seven_days_with_a_rating_prompt(seeded, lawyer, clock):  # type: ignore[no-untyped-def]
    villager = _open_ticket(seeded)
    clock.advance(hours=1)
    lawyer.say("/reply T-0001 可以申请劳动仲裁，不收费。")
    clock.advance(days=3)
    villager.say("仲裁要带什么材料？")  # a follow-up: the silence starts again
    answered_follow_up = clock()
    run(seeded, answered_follow_up + dt.timedelta(days=7, minutes=-1))
    assert _ticket(seeded).status == "answered"
    report = run(seeded, answered_follow_up + dt.timedelta(days=7))
    assert report.counts["autoclosed"] == 1
    ticket = _ticket(seeded)
    assert ticket.status == "closed" and ticket.closed_at == answered_follow_up + dt.timedelta(days=7)
    [closed] = _events(seeded, "closed")
    assert closed.actor == "system" and "silent 7 days" in (closed.detail or "")
    [survey] = outbox_for(seeded, "asker", purpose="survey")
    assert "T-0001" in survey.text and [b["label"] for b in survey.buttons][:5] == ["5分", "4分", "3分", "2分", "1分"]
    assert run(seeded, answered_follow_up + dt.timedelta(days=9)).counts["autoclosed"] == 0
    assert len(outbox_for(seeded, "asker", purpose="survey")) == 1
