"""Emergencies and major events (重大事项): people first, then an urgent report to the 司法所."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from core.messages import Button, OutgoingMessage
from core.models import Ticket
from handlers import texts, tickets
from handlers.context import Context

# Several panicked messages in a row are one event, not one ticket each.
SAME_EVENT_WINDOW = dt.timedelta(minutes=30)


def emergency(ctx: Context) -> list[OutgoingMessage]:
    ctx.answered_by = "emergency"
    ticket = _report(ctx, "emergency")
    reported = texts.EMERGENCY_REPORTED.format(who=tickets.responsible_name(ticket, ctx.session))
    return [OutgoingMessage(texts.EMERGENCY), OutgoingMessage(reported)]


def major_event(ctx: Context) -> list[OutgoingMessage]:
    """collective_dispute: guidance on acting lawfully, and an urgent report."""
    from handlers import answer

    replies = answer.answer_question(ctx, "collective_dispute")
    ticket = _report(ctx, "collective_dispute")
    who = tickets.responsible_name(ticket, ctx.session)
    replies.append(OutgoingMessage(texts.MAJOR_EVENT_REPORTED.format(who=who, code=ticket.code)))
    return [r for r in replies if r.text != texts.NOT_SURE] or [
        OutgoingMessage(
            texts.MAJOR_EVENT_REPORTED.format(who=who, code=ticket.code),
            (Button(texts.BUTTON_ASK_LAWYER, "cmd:lawyer"),),
        )
    ]


def _report(ctx: Context, intent: str) -> Ticket:
    recent = ctx.session.scalar(
        select(Ticket)
        .where(
            Ticket.account_id == ctx.sender.id,
            Ticket.kind == "major_event",
            Ticket.created_at >= ctx.now - SAME_EVENT_WINDOW,
            Ticket.status != "closed",
        )
        .order_by(Ticket.id.desc())
        .limit(1)
    )
    text = ctx.incoming.text.strip()
    if recent is not None:
        ctx.inbound.ticket_id = recent.id
        tickets.log(
            ctx.session,
            recent,
            actor=f"villager:{recent.villager_id}",
            action="follow_up",
            detail=text[:2000],
            now=ctx.now,
        )
        tickets.relay_to_responsible(
            ctx.session,
            recent,
            OutgoingMessage(
                texts.NOTIFY_FOLLOW_UP.format(
                    code=recent.code,
                    name=tickets.villager_name(ctx.sender.display_name, recent.villager_id),
                    text=text[:2000],
                )
            ),
            key=f"followup:{ctx.inbound.id}",
            now=ctx.now,
        )
        return recent
    ticket = tickets.open_ticket(
        ctx.session,
        settings=ctx.settings,
        account=ctx.account,
        question=text,
        intent=intent,
        kind="major_event",
        urgent=True,
        now=ctx.now,
    )
    ctx.inbound.ticket_id = ticket.id
    return ticket
