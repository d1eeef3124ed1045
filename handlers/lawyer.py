"""The lawyer's side, in their own messenger: binding, their tickets, answering and closing."""

from __future__ import annotations

import re

from sqlalchemy import select

from core.clock import to_local
from core.messages import Button, OutgoingMessage
from core.models import Lawyer, OutboxMessage, Ticket
from handlers import roster, texts, tickets
from handlers.context import Context

FLOW = "lawyer_reply"
CODE_RE = re.compile(r"^\s*(T-?\d{1,10})\s*(.*)$", re.IGNORECASE | re.DOTALL)


def _lawyer(ctx: Context) -> Lawyer:
    assert ctx.account.lawyer is not None
    return ctx.account.lawyer


def _normal_code(code: str) -> str:
    digits = re.sub(r"\D", "", code)
    return f"T-{int(digits):04d}"


def bind(ctx: Context, arg: str) -> list[OutgoingMessage]:
    code = arg.strip()
    if not code:
        return [OutgoingMessage(texts.BIND_USAGE)]
    try:
        lawyer = roster.bind(ctx.session, account=ctx.account, code=code, now=ctx.now)
    except roster.TooManyAttempts:
        return [OutgoingMessage(texts.BIND_TOO_MANY)]
    except roster.BindError:
        return [OutgoingMessage(texts.BIND_BAD)]
    ctx.leave()
    return [OutgoingMessage(texts.BIND_OK.format(name=lawyer.name))]


def unbind(ctx: Context, _arg: str) -> list[OutgoingMessage]:
    roster.unbind(ctx.session, account=ctx.account, now=ctx.now, actor=f"account:{ctx.sender.id}")
    ctx.leave()
    return [OutgoingMessage(texts.UNBIND_OK)]


def list_tickets(ctx: Context, _arg: str = "") -> list[OutgoingMessage]:
    rows = tickets.open_for_lawyer(ctx.session, _lawyer(ctx).id, now=ctx.now)
    if not rows:
        return [OutgoingMessage(texts.LAWYER_NO_OPEN)]
    lines = [texts.LAWYER_OPEN_HEADER]
    for t in rows:
        hours = int((ctx.now - t.created_at).total_seconds() // 3600)
        lines.append(
            texts.LAWYER_OPEN_LINE.format(
                code=t.code,
                village=t.village.name if t.village else "",
                status=texts.TICKET_STATUS.get(t.status, t.status),
                age=f"{hours}小时前" if hours else to_local(t.created_at).strftime("%H:%M"),
                question=t.question[:40].replace("\n", " "),
            )
        )
    buttons = tuple(Button(f"{texts.BUTTON_REPLY} {t.code}", f"tk:reply:{t.code}") for t in rows[:5])
    return [OutgoingMessage("\n".join(lines), buttons)]


def _ticket_for_action(ctx: Context, code: str) -> Ticket | OutgoingMessage:
    code = _normal_code(code)
    ticket = tickets.by_code(ctx.session, code)
    if ticket is None:
        return OutgoingMessage(texts.LAWYER_TICKET_NOT_FOUND.format(code=code))
    if not tickets.can_act(ctx.session, _lawyer(ctx).id, ticket, now=ctx.now):
        tickets.deny(ctx.session, actor=f"lawyer:{_lawyer(ctx).id}", code=code, now=ctx.now)
        return OutgoingMessage(texts.LAWYER_NO_PERMISSION.format(code=code))
    return ticket


def reply_command(ctx: Context, arg: str) -> list[OutgoingMessage]:
    match = CODE_RE.match(arg)
    if not match or not match.group(2).strip():
        return [OutgoingMessage(texts.LAWYER_REPLY_USAGE)]
    return send_answer(ctx, match.group(1), match.group(2).strip())


def send_answer(ctx: Context, code: str, text: str) -> list[OutgoingMessage]:
    found = _ticket_for_action(ctx, code)
    if isinstance(found, OutgoingMessage):
        return [found]
    if found.status == "closed":
        return [OutgoingMessage(texts.LAWYER_TICKET_CLOSED.format(code=found.code))]
    tickets.answer(ctx.session, found, text=text, lawyer=_lawyer(ctx), now=ctx.now, key=f"answer:{ctx.inbound.id}")
    ctx.inbound.ticket_id = found.id  # the answer belongs to the ticket (and goes with it on /forget)
    return [OutgoingMessage(texts.LAWYER_REPLY_SENT.format(code=found.code))]


def close_command(ctx: Context, arg: str) -> list[OutgoingMessage]:
    if not arg.strip():
        return [OutgoingMessage(texts.LAWYER_CLOSE_USAGE)]
    found = _ticket_for_action(ctx, arg.strip().split()[0])
    if isinstance(found, OutgoingMessage):
        return [found]
    tickets.close(ctx.session, found, actor=f"lawyer:{_lawyer(ctx).id}", now=ctx.now)
    return [OutgoingMessage(texts.LAWYER_CLOSED.format(code=found.code))]


def on_ticket_button(ctx: Context, action: str, code: str) -> list[OutgoingMessage]:
    """tk:claim / tk:reply / tk:close tapped on a notification."""
    found = _ticket_for_action(ctx, code)
    if isinstance(found, OutgoingMessage):
        return [found]
    if action == "claim":
        tickets.claim(ctx.session, found, _lawyer(ctx), now=ctx.now)
        return [OutgoingMessage(texts.LAWYER_CLAIMED.format(code=found.code))]
    if action == "close":
        tickets.close(ctx.session, found, actor=f"lawyer:{_lawyer(ctx).id}", now=ctx.now)
        return [OutgoingMessage(texts.LAWYER_CLOSED.format(code=found.code))]
    ctx.enter(FLOW, "text", code=found.code)
    return [OutgoingMessage(texts.LAWYER_REPLY_PROMPT.format(code=found.code))]


def on_text(ctx: Context, raw: str) -> list[OutgoingMessage]:
    """Free text from a lawyer: a reply to a notification, the answer after tapping 回复, or help."""
    if not raw.strip():
        return [OutgoingMessage(texts.LAWYER_HELP)]
    if ctx.incoming.reply_to:
        code = _code_of_notification(ctx, ctx.incoming.reply_to)
        if code:
            return send_answer(ctx, code, raw.strip())
    if ctx.flow == FLOW:
        if raw.strip() in ("取消", "算了"):
            ctx.leave()
            return [OutgoingMessage(texts.CANCELLED)]
        code = ctx.leave().get("code", "")
        return send_answer(ctx, code, raw.strip())
    match = CODE_RE.match(raw)
    if match and match.group(2).strip():
        return send_answer(ctx, match.group(1), match.group(2).strip())
    return [OutgoingMessage(texts.LAWYER_HELP)]


def _code_of_notification(ctx: Context, external_id: str) -> str | None:
    row = ctx.session.scalar(
        select(OutboxMessage).where(
            OutboxMessage.account_id == ctx.sender.id,
            OutboxMessage.external_message_id == external_id,
            OutboxMessage.ticket_id.is_not(None),
        )
    )
    if row is None or row.ticket_id is None:
        return None
    ticket = ctx.session.get(Ticket, row.ticket_id)
    return ticket.code if ticket else None
