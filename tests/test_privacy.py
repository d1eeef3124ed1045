"""Personal data: phone and ID numbers never reach a log; a villager can have their data deleted."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from core.clock import utcnow
from core.db import transaction
from core.logs import PersonalDataFilter, configure_logging, mask
from core.models import (
    AuditEvent,
    ChannelAccount,
    DeliveryAttempt,
    Lawyer,
    LegalAidCheck,
    Message,
    OutboxMessage,
    Ticket,
    TicketEvent,
    Villager,
    WorkLogEntry,
)
from handlers import roster, texts
from tests.helpers import Chat

PHONE = "13912345678"
ID_NUMBER = "15250219800101123X"

# ---------------------------------------------------------------------- logs


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("电话13912345678", "电话139****5678"),
        ("call +86 139 1234 5678 now", "call +86 139****5678 now"),
        ("86-13912345678", "86-139****5678"),
        ("身份证15250219800101123X谢谢", "身份证152***********123X谢谢"),
        ("id 110105194912310021.", "id 110***********0021."),
        ("村委会电话0479-8221234", "村委会电话0479-****1234"),
        ("打010 62751234找我", "打010-****1234找我"),
        ("座机04798221234", "座机0479-****1234"),
        ("（0479）8221234", "0479-****1234"),
        ("(0479)8221234", "0479-****1234"),
        ("0479－8221234", "0479-****1234"),
        ("010-6275-1234", "010-****1234"),
        # not personal: ids, amounts, dates, a 12-digit number, a 20-digit number, a fraction, a short id
        ("outbox 12345 failed after 3 attempts", "outbox 12345 failed after 3 attempts"),
        ("欠款12000元 2026-12-01", "欠款12000元 2026-12-01"),
        ("order 139123456789", "order 139123456789"),
        ("trace 15250219800101123456", "trace 15250219800101123456"),
        ("took 0.0012345678 s", "took 0.0012345678 s"),
        ("version 0.23.0, outbox 0001234", "version 0.23.0, outbox 0001234"),
        ("req a0123456789 openid oAbc01234567890", "req a0123456789 openid oAbc01234567890"),
        ("padded 0000012345, x=-0123456789", "padded 0000012345, x=-0123456789"),
    ],
)
def test_mask_hides_phone_and_id_numbers_only(raw, masked):  # type: ignore[no-untyped-def]
    assert mask(raw) == masked


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The process's logging as `villagelaw serve` configures it, writing into a buffer."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    root.handlers = [logging.StreamHandler(stream)]
    try:
        configure_logging("INFO")
        yield stream
    finally:
        root.handlers, level = saved
        root.setLevel(level)


def test_logging_config_masks_messages_arguments_and_tracebacks(captured):  # type: ignore[no-untyped-def]
    log = logging.getLogger("handlers.some_module")
    log.info("villager wrote %s", f"我的电话是{PHONE}，身份证{ID_NUMBER}")
    try:
        raise ValueError(f"cannot parse {PHONE}")
    except ValueError:
        log.exception("processing failed for %s", ID_NUMBER)
    logging.getLogger("uvicorn.access").info('"GET /api/webchat/messages?user_id=%s HTTP/1.1" 200', PHONE)
    out = captured.getvalue()
    assert PHONE not in out and ID_NUMBER not in out
    assert "139****5678" in out and "152***********123X" in out
    assert "ValueError: cannot parse 139****5678" in out  # the traceback is kept, masked


def test_access_log_lines_keep_the_path_but_not_the_query():  # type: ignore[no-untyped-def]
    def written(path: str) -> str:  # a record as uvicorn makes it, through the handlers' filter
        args = ("10.0.0.7:5120", "POST", path, "1.1", 200)
        record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', args, None)
        assert PersonalDataFilter().filter(record)
        return record.getMessage()

    assert written("/wechat?signature=ab&openid=oVillager7") == '10.0.0.7:5120 - "POST /wechat?… HTTP/1.1" 200'
    assert written("/healthz") == '10.0.0.7:5120 - "POST /healthz HTTP/1.1" 200'


def test_the_serve_command_installs_the_filter(monkeypatch, captured):  # type: ignore[no-untyped-def]
    import uvicorn

    from admin import cli

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    logging.getLogger().handlers[0].filters.clear()
    cli.serve(host=None, port=None, telegram_polling=False)
    assert calls and calls[0]["log_config"] is None  # uvicorn's loggers propagate to the filtered root
    assert any(isinstance(f, PersonalDataFilter) for f in logging.getLogger().handlers[0].filters)


def test_database_errors_do_not_carry_message_text(seeded):  # type: ignore[no-untyped-def]
    from sqlalchemy.exc import StatementError

    secret = f"我的电话{PHONE}"
    with pytest.raises(StatementError) as caught, transaction(seeded.session_factory) as s:
        s.add(Message(account_id=999_999, direction="in", channel="webchat", text=secret))
        s.flush()  # no such account: a foreign-key error whose message would include the row
    assert secret not in str(caught.value)


# ---------------------------------------------------------------------- /forget


def _count(container, model, *where) -> int:  # type: ignore[no-untyped-def]
    with container.session_factory() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _lawyer_chat(container) -> Chat:  # type: ignore[no-untyped-def]
    lawyer_chat = Chat(container, "lawyer-1", name="乌日娜")
    with transaction(container.session_factory) as s:
        lawyer = s.scalar(select(Lawyer).where(Lawyer.name == "乌日娜"))
        code = roster.issue_bind_code(
            s, settings=container.settings, lawyer=lawyer, now=container.router.clock(), actor="test"
        ).code
    lawyer_chat.say(f"/bind {code}")
    return lawyer_chat


def test_forget_asks_first_and_typed_yes_does_not_delete(seeded):  # type: ignore[no-untyped-def]
    chat = Chat(seeded, "v-forget", name="张大爷")
    chat.choose_village("阿巴嘎旗", "别力古台镇", "巴彦图嘎嘎查")
    chat.say(f"我的电话是{PHONE}，老板欠我工钱")
    replies = chat.say("删除我的信息")
    assert texts.FORGET_CONFIRM in replies[0].text
    assert chat.buttons() == [texts.BUTTON_FORGET_YES, texts.BUTTON_FORGET_NO]
    chat.say("/forget yes")  # typed, not the button: ask again
    assert texts.FORGET_CONFIRM in chat.text
    chat.say("/forget")
    chat.tap(texts.BUTTON_FORGET_NO)
    assert chat.text == texts.FORGET_KEPT
    assert _count(seeded, Message, Message.text.contains(PHONE)) == 1
    with seeded.session_factory() as s:
        assert s.scalar(select(Villager.forgotten_at)) is None


def test_forget_blanks_messages_anonymises_tickets_and_keeps_counts(seeded):  # type: ignore[no-untyped-def]
    lawyer_chat = _lawyer_chat(seeded)
    chat = Chat(seeded, "v-forget", name="张大爷")
    chat.choose_village("阿巴嘎旗", "别力古台镇", "巴彦图嘎嘎查")
    chat.say(f"老板欠我三个月工钱，我电话{PHONE}")
    chat.say("/lawyer")
    with seeded.session_factory() as s:
        ticket = s.scalar(select(Ticket))
        assert ticket is not None and PHONE in ticket.question and ticket.lawyer is not None
        code = ticket.code
    lawyer_chat.say(f"/reply {code} 张大爷您好，先去劳动监察大队投诉，带上考勤记录。")
    with transaction(seeded.session_factory) as s:  # a legal-aid check with answers, for the same account
        account = s.scalar(select(ChannelAccount).where(ChannelAccount.external_id == "v-forget"))
        s.add(LegalAidCheck(account_id=account.id, answers={"income": 800, "household": 3}, outcome="likely"))
        # errors recorded on the way may quote their words
        theirs = s.scalars(select(Message).where(Message.account_id == account.id).order_by(Message.id)).all()
        theirs[-1].error = "ValueError: cannot parse '老板欠我三个月工钱'"
        relay = s.scalars(select(OutboxMessage).where(OutboxMessage.text.contains("劳动监察"))).first()
        assert relay is not None
        quoted = "BadRequest: 张大爷您好，先去劳动监察大队投诉"
        relay.status, relay.last_error = "failed", quoted  # failed, not pending: not cancelled below
        s.add(DeliveryAttempt(outbox_id=relay.id, at=utcnow(), outcome="permanent", error=quoted))
    before = {
        "in": _count(seeded, Message, Message.direction == "in"),
        "tickets": _count(seeded, Ticket),
        "events": _count(seeded, TicketEvent),
    }

    chat.say("/forget")
    chat.tap(texts.BUTTON_FORGET_YES)
    assert "已删除您的信息" in chat.text and "1件咨询" in chat.text

    with seeded.session_factory() as s:
        # nothing they wrote, nothing about them, is left in messages, outbox, tickets, work log
        assert s.scalar(select(func.count(Message.id)).where(Message.text.contains("工钱"))) == 0
        assert s.scalar(select(func.count(Message.id)).where(Message.text.contains("劳动监察"))) == 0
        assert s.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.text.contains("工钱"))) == 0
        assert s.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.text.contains("张大爷"))) == 0
        assert s.scalar(select(func.count(Message.id)).where(Message.error.contains("工钱"))) == 0
        assert s.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.last_error.contains("张大爷"))) == 0
        assert s.scalar(select(func.count(DeliveryAttempt.id)).where(DeliveryAttempt.error.contains("张大爷"))) == 0
        assert s.scalar(select(func.count(DeliveryAttempt.id)).where(DeliveryAttempt.error == texts.FORGOTTEN)) == 1
        assert s.scalar(select(func.count(Message.id)).where(Message.error == texts.FORGOTTEN)) == 1  # it had one
        ticket = s.scalar(select(Ticket).where(Ticket.code == code))
        assert ticket is not None and ticket.question == "" and ticket.status == "closed"
        assert ticket.intent == "labor" and ticket.created_at is not None and ticket.village_id is not None
        assert all(e.detail is None or "张大爷" not in e.detail for e in s.scalars(select(TicketEvent)))
        entry = s.scalar(select(WorkLogEntry).where(WorkLogEntry.ticket_id == ticket.id))
        assert entry is not None and entry.person == texts.FORGOTTEN and "工钱" not in entry.content
        assert entry.content == f"{code} 劳动用工" and entry.occurred_at is not None
        villager = s.scalar(select(Villager))
        assert villager is not None and villager.forgotten_at is not None
        assert villager.display_name is None and villager.village_id is None
        account = s.scalar(select(ChannelAccount).where(ChannelAccount.external_id == "v-forget"))
        assert account is not None and account.display_name is None
        assert s.scalar(select(LegalAidCheck.answers)) == {}
        assert s.scalar(select(LegalAidCheck.outcome)) == "likely"
        audit = s.scalar(select(AuditEvent).where(AuditEvent.action == "personal_data_deleted"))
        assert audit is not None and audit.actor == f"villager:{villager.id}"
        assert s.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "lawyer_bound")) == 1
    # counts for the work log are unchanged (plus the two /forget messages)
    assert _count(seeded, Ticket) == before["tickets"]
    assert _count(seeded, Message, Message.direction == "in") == before["in"] + 2
    assert _count(seeded, TicketEvent) == before["events"] + 1  # the closing event
    # the lawyer is told the ticket is closed, without the villager's words
    notices = [t for t in _outbox_texts(seeded, "lawyer-1") if code in t and "删除" in t]
    assert notices == [texts.FORGET_LAWYER_NOTICE.format(code=code)]
    # and the villager can start afresh
    chat.say("你好")
    assert "村" in chat.text


def _outbox_texts(container, external_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    with container.session_factory() as s:
        return list(
            s.scalars(
                select(OutboxMessage.text)
                .join(ChannelAccount, ChannelAccount.id == OutboxMessage.account_id)
                .where(ChannelAccount.external_id == external_id)
                .order_by(OutboxMessage.id)
            )
        )


def test_pending_messages_about_a_forgotten_villager_are_not_sent(seeded):  # type: ignore[no-untyped-def]
    _lawyer_chat(seeded)
    chat = Chat(seeded, "v-pending")
    chat.choose_village("阿巴嘎旗", "别力古台镇", "巴彦图嘎嘎查")
    chat.say("邻居占了我家承包的草场")
    chat.say("/lawyer")
    with seeded.session_factory() as s:
        assert s.scalar(select(OutboxMessage.status).where(OutboxMessage.purpose == "notify")) == "pending"
    chat.say("删除我的数据")
    chat.tap(texts.BUTTON_FORGET_YES)
    with seeded.session_factory() as s:
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "notify").order_by(OutboxMessage.id))
        statuses = [(r.status, r.text) for r in rows]
    assert statuses[0] == ("cancelled", "")  # the new-ticket notice with the question never goes out
    assert statuses[1][0] == "pending" and "删除" in statuses[1][1]


def test_a_lawyer_cannot_forget_through_the_bot(seeded):  # type: ignore[no-untyped-def]
    lawyer_chat = _lawyer_chat(seeded)
    lawyer_chat.say("/forget")
    assert lawyer_chat.text == texts.FORGET_LAWYER
