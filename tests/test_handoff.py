"""Lawyer handoff end to end over the web chat: tickets, notification, relay, follow-up, close, rating, work log."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import func, select

from bot.outbox import OutboxWorker
from core.db import transaction
from core.models import (
    Assignment,
    AuditEvent,
    ChannelAccount,
    Lawyer,
    OutboxMessage,
    Ticket,
    TicketEvent,
    Village,
    WorkLogEntry,
)
from handlers import roster
from tests.fakes import RecordingChannel
from tests.helpers import Chat


def deliver(container) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(OutboxWorker(container.session_factory, container.channels, clock=container.router.clock).deliver_due())


def pushed(container, user: str) -> list[str]:  # type: ignore[no-untyped-def]
    """What the web chat page of ``user`` would fetch."""
    with container.session_factory() as s:
        rows = s.scalars(
            select(OutboxMessage)
            .join(ChannelAccount, ChannelAccount.id == OutboxMessage.account_id)
            .where(ChannelAccount.external_id == user, OutboxMessage.status == "sent")
            .order_by(OutboxMessage.id)
        ).all()
        return [r.text for r in rows]


def bind_lawyer(container, chat: Chat, name: str) -> Lawyer:  # type: ignore[no-untyped-def]
    with transaction(container.session_factory) as s:
        lawyer = s.scalar(select(Lawyer).where(Lawyer.name == name))
        code = roster.issue_bind_code(
            s, settings=container.settings, lawyer=lawyer, now=container.router.clock(), actor="test"
        ).code
    chat.say(f"/bind {code}")
    assert "绑定成功" in chat.text
    return lawyer


def test_villager_to_lawyer_and_back_end_to_end(seeded):  # type: ignore[no-untyped-def]
    lawyer_chat = Chat(seeded, "lawyer-batu")
    bind_lawyer(seeded, lawyer_chat, "巴特尔")
    villager = Chat(seeded, "villager-1", name="张大爷")
    villager.choose_village("正蓝旗", "上都镇", "红星村")

    villager.say("我家承包地被邻居占了一半，村里不管，这事复杂得很")
    villager.say("找律师")
    assert "巴特尔律师" in villager.text and "T-0001" in villager.text
    deliver(seeded)
    note = pushed(seeded, "lawyer-batu")[-1]
    assert "T-0001" in note and "红星村" in note and "张大爷" in note and "承包地被邻居占了" in note

    lawyer_chat.say("/reply T-0001 您好，请带上承包合同和确权证，周二我在村委会坐班时详谈。")
    assert "已发给村民" in lawyer_chat.text
    deliver(seeded)
    assert "巴特尔律师回复您（T-0001）" in pushed(seeded, "villager-1")[-1]

    villager.say("好的 那我需要带户口本吗")  # a follow-up goes to the lawyer, not the bot
    assert "已转给巴特尔律师" in villager.text
    deliver(seeded)
    assert "户口本" in pushed(seeded, "lawyer-batu")[-1]

    lawyer_chat.say("/close T-0001")
    deliver(seeded)
    assert "请给这次服务打个分" in pushed(seeded, "villager-1")[-1]
    villager.say(payload="rate:T-0001:5")
    villager.say("律师很耐心")
    with seeded.session_factory() as s:
        ticket = s.scalar(select(Ticket).where(Ticket.code == "T-0001"))
        assert ticket.status == "closed" and ticket.rating == 5 and ticket.rating_comment == "律师很耐心"
        actions = [
            e.action
            for e in s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id))
        ]
        assert actions == ["opened", "answered", "follow_up", "closed", "rated", "rating_comment"]
        entry = s.scalar(select(WorkLogEntry).where(WorkLogEntry.ticket_id == ticket.id))
        assert entry.method == "online" and entry.person == "张大爷" and "已答复" in entry.result

    villager.say("我们村律师是谁")  # the bot answers again once the ticket is closed
    assert "巴特尔律师" in villager.text


def test_lawyer_answers_by_replying_to_the_notification(seeded):  # type: ignore[no-untyped-def]
    fake = RecordingChannel(name="tg")
    seeded.channels["tg"] = fake
    lawyer_chat = Chat(seeded, "tg-lawyer", channel="tg")
    bind_lawyer(seeded, lawyer_chat, "巴特尔")
    villager = Chat(seeded, "v-reply")
    villager.choose_village("正蓝旗", "上都镇", "红星村")
    villager.say("/lawyer")
    villager.say("借给亲戚两万块钱不还")
    deliver(seeded)
    notification = fake.sent[-1]
    assert "T-0001" in notification.message.text
    assert [b.payload for b in notification.message.buttons] == [
        "tk:claim:T-0001",
        "tk:reply:T-0001",
        "tk:close:T-0001",
    ]
    with seeded.session_factory() as s:
        external = s.scalar(select(OutboxMessage.external_message_id).where(OutboxMessage.purpose == "notify"))
    lawyer_chat.say("先把借条找出来，拍照发我。", reply_to=external)
    assert "已发给村民" in lawyer_chat.text
    deliver(seeded)
    assert "借条找出来" in pushed(seeded, "v-reply")[-1]


def test_notifications_are_never_sent_twice(seeded):  # type: ignore[no-untyped-def]
    fake = RecordingChannel(name="tg")
    seeded.channels["tg"] = fake
    bind_lawyer(seeded, Chat(seeded, "tg-l2", channel="tg"), "巴特尔")
    villager = Chat(seeded, "v-dup")
    villager.choose_village("正蓝旗", "上都镇", "红星村")
    villager.say("/lawyer")
    villager.say("邻居家牛把我家庄稼吃了", message_id="dup-1")
    villager.say("邻居家牛把我家庄稼吃了", message_id="dup-1")  # redelivery
    deliver(seeded)
    deliver(seeded)
    assert len([s for s in fake.sent if "T-0001" in s.message.text]) == 1
    with seeded.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Ticket)) == 1


def test_no_bound_lawyer_goes_to_the_township_queue_honestly(seeded):  # type: ignore[no-untyped-def]
    villager = Chat(seeded, "v-queue")
    villager.choose_village("正蓝旗", "上都镇", "红星村")
    villager.say("/lawyer")
    villager.say("我想咨询宅基地的事")
    assert "上都镇司法所" in villager.text and "12348" in villager.text
    with seeded.session_factory() as s:
        ticket = s.scalar(select(Ticket))
        assert ticket.lawyer_id is None and ticket.township_id is not None
    villager.say("还有，邻居把墙砌到我家地上了")  # a follow-up: relayed, and they are told to whom
    assert "上都镇司法所" in villager.text and ticket.code in villager.text


def test_lawyer_cannot_touch_another_villages_ticket(seeded):  # type: ignore[no-untyped-def]
    batu = Chat(seeded, "l-batu")
    bind_lawyer(seeded, batu, "巴特尔")
    other = Chat(seeded, "l-wang")
    bind_lawyer(seeded, other, "王海涛")  # advises 吉尔嘎郎图嘎查 only
    villager = Chat(seeded, "v-perm")
    villager.choose_village("正蓝旗", "上都镇", "红星村")
    villager.say("/lawyer")
    villager.say("离婚孩子归谁")
    other.say("/reply T-0001 我来答")
    assert "无权限" in other.text
    other.say("/close T-0001")
    assert "无权限" in other.text
    other.say(payload="tk:claim:T-0001")
    assert "无权限" in other.text
    with seeded.session_factory() as s:
        assert (
            s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "ticket_access_denied"))
            == 3
        )
        assert s.scalar(select(Ticket.status)) == "open"
    other.say("/tickets")
    assert "T-0001" not in other.text
    batu.say("/tickets")
    assert "T-0001" in batu.text


def test_binding_rejects_wrong_expired_and_reused_codes(seeded, clock):  # type: ignore[no-untyped-def]
    chat = Chat(seeded, "guesser")
    chat.say("/bind ABCDEFGH")
    assert "不对或已过期" in chat.text
    with transaction(seeded.session_factory) as s:
        lawyer = s.scalar(select(Lawyer).where(Lawyer.name == "巴特尔"))
        code = roster.issue_bind_code(s, settings=seeded.settings, lawyer=lawyer, now=clock(), actor="t").code
    clock.advance(hours=25)
    chat.say(f"绑定 {code}")
    assert "不对或已过期" in chat.text
    with transaction(seeded.session_factory) as s:
        lawyer = s.scalar(select(Lawyer).where(Lawyer.name == "巴特尔"))
        fresh = roster.issue_bind_code(s, settings=seeded.settings, lawyer=lawyer, now=clock(), actor="t").code
    chat.say(f"绑定 {fresh.lower()}")
    assert "绑定成功" in chat.text
    thief = Chat(seeded, "thief")
    thief.say(f"/bind {fresh}")
    assert "不对或已过期" in thief.text
    for _ in range(5):
        thief.say("/bind ZZZZZZZZ")
    assert "尝试次数太多" in thief.text
    with seeded.session_factory() as s:
        account = s.scalar(select(ChannelAccount).where(ChannelAccount.external_id == "thief"))
        assert account.lawyer_id is None
    chat.say("/unbind")
    assert "解除绑定" in chat.text


def test_assignment_caps(seeded):  # type: ignore[no-untyped-def]
    with transaction(seeded.session_factory) as s:
        batu = s.scalar(select(Lawyer).where(Lawyer.name == "巴特尔"))  # 3 villages in 正蓝旗 (not under-served)
        wang = s.scalar(select(Lawyer).where(Lawyer.name == "王海涛"))  # 1 village in 阿巴嘎旗 (under-served)
        zl04 = s.scalar(select(Village).where(Village.code == "zl04"))
        start = dt.date(2026, 12, 1)
        with pytest.raises(roster.PolicyError, match="最多3个村"):
            roster.assign(s, settings=seeded.settings, lawyer=batu, village=zl04, start=start)
        # ending one assignment frees a place from the day after
        current = s.scalars(select(Assignment).where(Assignment.lawyer_id == batu.id)).first()
        current.end_date = dt.date(2026, 12, 31)
        roster.assign(s, settings=seeded.settings, lawyer=batu, village=zl04, start=dt.date(2027, 1, 1))
        abaga = s.scalars(select(Village).where(Village.code.like("ab%")).order_by(Village.code)).all()
        for v in abaga[:5]:
            roster.assign(s, settings=seeded.settings, lawyer=wang, village=v, start=start)
        assert s.scalar(select(func.count()).select_from(Assignment).where(Assignment.lawyer_id == wang.id)) == 6
        with pytest.raises(roster.PolicyError, match="已经是"):
            roster.assign(s, settings=seeded.settings, lawyer=wang, village=abaga[0], start=start)


def test_complaints_go_to_the_township_never_to_the_lawyer(seeded):  # type: ignore[no-untyped-def]
    fake = RecordingChannel(name="tg")
    seeded.channels["tg"] = fake
    bind_lawyer(seeded, Chat(seeded, "tg-l3", channel="tg"), "巴特尔")
    villager = Chat(seeded, "v-complain")
    villager.choose_village("正蓝旗", "上都镇", "红星村")
    villager.say("投诉")
    villager.say("巴特尔律师上次坐班没来")
    assert "上都镇司法所" in villager.text
    deliver(seeded)
    assert not any("坐班没来" in s.message.text for s in fake.sent)
    with seeded.session_factory() as s:
        ticket = s.scalar(select(Ticket))
        assert ticket.kind == "complaint" and ticket.lawyer_id is None


def test_major_event_opens_an_urgent_ticket_with_emergency_numbers_first(seeded):  # type: ignore[no-untyped-def]
    villager = Chat(seeded, "v-sos")
    villager.choose_village("正蓝旗", "上都镇", "红星村")
    replies = villager.say("救命 他在打我")
    assert "110" in replies[0].text and "12338" in replies[0].text
    villager.say("救命 他又来了")  # same event, not a second ticket
    with seeded.session_factory() as s:
        tickets = s.scalars(select(Ticket)).all()
        assert len(tickets) == 1 and tickets[0].urgent and tickets[0].kind == "major_event"
        assert s.scalar(select(AuditEvent).where(AuditEvent.action == "major_event_reported")) is not None
