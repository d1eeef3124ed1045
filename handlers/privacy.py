"""A villager's right to have their data deleted (/forget, 删除我的信息).

What goes: the text of every message they sent or received (and of the lawyer's messages about
their tickets), their names, their village, their legal-aid answers, the words in their tickets'
events and work-log lines. What stays, anonymised: the rows themselves — counts, intents, dates,
villages of tickets, ratings — because the lawyer's yearly work log (一事一记) and the statistics
need them. The audit trail is kept and records the deletion.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, case, literal, or_, select, update
from sqlalchemy.orm import Session

from core.messages import Button, OutgoingMessage
from core.models import (
    AuditEvent,
    ChannelAccount,
    Conversation,
    DeliveryAttempt,
    LegalAidCheck,
    Message,
    OutboxMessage,
    Ticket,
    TicketEvent,
    WorkLogEntry,
)
from handlers import texts, tickets
from handlers.context import Context

CONFIRM = "yes"
KEEP = "no"


def forget(ctx: Context, arg: str) -> list[OutgoingMessage]:
    """Ask first; only the confirmation button (not typed words) deletes."""
    if ctx.is_lawyer:
        return [OutgoingMessage(texts.FORGET_LAWYER)]
    if arg == KEEP:
        return [OutgoingMessage(texts.FORGET_KEPT)]
    if arg != CONFIRM or ctx.incoming.payload is None:
        buttons = (
            Button(texts.BUTTON_FORGET_YES, f"cmd:forget:{CONFIRM}"),
            Button(texts.BUTTON_FORGET_NO, f"cmd:forget:{KEEP}"),
        )
        return [OutgoingMessage(texts.FORGET_CONFIRM, buttons)]
    ctx.leave()
    report = forget_account_holder(ctx.session, account=ctx.account, now=ctx.now, keep_message_id=ctx.inbound.id)
    return [OutgoingMessage(texts.FORGET_DONE.format(messages=report.messages, tickets=report.tickets))]


@dataclass(frozen=True)
class ForgetReport:
    messages: int
    tickets: int


def forget_account_holder(
    session: Session, *, account: ChannelAccount, now: dt.datetime, keep_message_id: int | None = None
) -> ForgetReport:
    """Delete the personal data of the villager behind ``account`` (all their accounts)."""
    villager = account.villager
    accounts = [account]
    if villager is not None:
        accounts = list(
            session.scalars(
                select(ChannelAccount).where(
                    ChannelAccount.villager_id == villager.id, ChannelAccount.lawyer_id.is_(None)
                )
            )
        )
        if account not in accounts:
            accounts.append(account)
    account_ids = [a.id for a in accounts]
    theirs: ColumnElement[bool] = Ticket.account_id.in_(account_ids)
    if villager is not None:
        theirs = theirs | (Ticket.villager_id == villager.id)
    ticket_rows = list(session.scalars(select(Ticket).where(theirs)))
    ticket_ids = [t.id for t in ticket_rows]

    about_them: ColumnElement[bool] = Message.account_id.in_(account_ids)
    if ticket_ids:
        about_them = or_(about_them, Message.ticket_id.in_(ticket_ids))
    blanked: int = session.execute(  # type: ignore[attr-defined]
        update(Message)
        .where(about_them, Message.id != (keep_message_id or 0))
        # an error recorded while processing may quote what they wrote
        .values(text="", payload=None, buttons=None, meta=None, error=_redacted(Message.error))
        .execution_options(synchronize_session=False)
    ).rowcount

    to_them: ColumnElement[bool] = OutboxMessage.account_id.in_(account_ids)
    if ticket_ids:
        to_them = or_(to_them, OutboxMessage.ticket_id.in_(ticket_ids))
    session.execute(
        update(OutboxMessage)
        .where(to_them)
        .values(text="", buttons=None, last_error=_redacted(OutboxMessage.last_error))
        .execution_options(synchronize_session=False)
    )
    session.execute(  # every attempt kept its copy of the error
        update(DeliveryAttempt)
        .where(DeliveryAttempt.outbox_id.in_(select(OutboxMessage.id).where(to_them)))
        .values(error=_redacted(DeliveryAttempt.error))
        .execution_options(synchronize_session=False)
    )
    # Nothing still waiting may go out: it would carry their words (or an empty message).
    session.execute(
        update(OutboxMessage)
        .where(to_them, OutboxMessage.status.in_(("pending", "held")))
        .values(status="cancelled", last_error="personal data deleted")
        .execution_options(synchronize_session=False)
    )

    actor = f"villager:{villager.id}" if villager else f"account:{account.id}"
    if ticket_ids:
        session.execute(
            update(TicketEvent)
            .where(TicketEvent.ticket_id.in_(ticket_ids))
            .values(detail=None)
            .execution_options(synchronize_session=False)
        )
    for ticket in ticket_rows:
        _anonymise_ticket(session, ticket, actor=actor, now=now)
    entries: ColumnElement[bool] | None = WorkLogEntry.ticket_id.in_(ticket_ids) if ticket_ids else None
    if villager is not None:
        entries = (
            WorkLogEntry.villager_id == villager.id
            if entries is None
            else entries | (WorkLogEntry.villager_id == villager.id)
        )
    if entries is not None:
        for entry in session.scalars(select(WorkLogEntry).where(entries)):
            of_ticket = next((t for t in ticket_rows if t.id == entry.ticket_id), None)
            entry.person = texts.FORGOTTEN
            entry.content = _topic_line(of_ticket) if of_ticket else texts.FORGOTTEN
            entry.result = texts.FORGOTTEN if entry.result else None

    session.execute(
        update(LegalAidCheck)
        .where(LegalAidCheck.account_id.in_(account_ids))
        .values(answers={})
        .execution_options(synchronize_session=False)
    )
    for each in accounts:
        each.display_name = None
        conversation = session.scalar(select(Conversation).where(Conversation.account_id == each.id))
        if conversation is not None:
            conversation.flow, conversation.step, conversation.data = None, None, {}
    if villager is not None:
        villager.display_name = None
        villager.village_id = None
        villager.reminders_opt_in = False
        villager.forgotten_at = now
    session.add(
        AuditEvent(
            at=now,
            actor=actor,
            action="personal_data_deleted",
            target=actor,
            detail=f"accounts={len(account_ids)} messages={blanked} tickets={len(ticket_ids)}",
        )
    )
    return ForgetReport(messages=blanked, tickets=len(ticket_ids))


def _redacted(error: Any) -> Any:
    """An error column's new value: gone, where there was one."""
    return case((error.is_(None), None), else_=literal(texts.FORGOTTEN))


def _topic_line(ticket: Ticket) -> str:
    return f"{ticket.code} {tickets.TOPIC_NAMES.get(ticket.intent or '', '咨询')}"


def _anonymise_ticket(session: Session, ticket: Ticket, *, actor: str, now: dt.datetime) -> None:
    was_active = ticket.status in tickets.ACTIVE
    if was_active:
        tickets.close(session, ticket, actor=actor, now=now, ask_rating=False, detail="personal data deleted")
        if ticket.lawyer_id is not None and ticket.kind != "complaint":
            notice = OutgoingMessage(texts.FORGET_LAWYER_NOTICE.format(code=ticket.code))
            key = f"forgotten:{ticket.id}"
            tickets.send_to_lawyer(session, ticket.lawyer_id, notice, purpose="notify", key=key, ticket=ticket, now=now)
    ticket.question = ""
    ticket.summary = None
    ticket.rating_comment = None
