"""The villager's side of a ticket: asking for the lawyer, follow-ups, closing and rating, complaints."""

from __future__ import annotations

from sqlalchemy import select

from core.messages import Button, OutgoingMessage
from core.models import Message, Ticket
from handlers import onboarding, texts, tickets
from handlers.context import Context

FLOW = "handoff"
RATING_FLOW = "rating"
COMPLAIN_FLOW = "complain"
RECENT_QUESTIONS = 3


def offer_or_open(ctx: Context) -> list[OutgoingMessage]:
    """``ask_lawyer`` intent, /lawyer, the 找律师 button: open a ticket with what was asked,
    or ask for a one-line description first when there is nothing to pass on."""
    existing = tickets.active_for_account(ctx.session, ctx.sender.id)
    if existing is not None:
        who = tickets.responsible_name(existing, ctx.session)
        return [OutgoingMessage(texts.TICKET_ALREADY_OPEN.format(code=existing.code, who=who))]
    villager = ctx.villager
    if villager is None or villager.village_id is None:
        return onboarding.start(ctx, intro=texts.NEED_VILLAGE_FIRST)
    question = recent_questions(ctx)
    if not question:
        ctx.enter(FLOW, "describe")
        return [OutgoingMessage(texts.ASK_DESCRIBE_FOR_LAWYER)]
    return [open_with(ctx, question)]


def recent_questions(ctx: Context) -> str:
    """The villager's last few substantive messages, the context a lawyer needs."""
    rows = ctx.session.scalars(
        select(Message)
        .where(
            Message.account_id == ctx.sender.id,
            Message.direction == "in",
            Message.kind == "text",
            Message.payload.is_(None),
            Message.id != ctx.inbound.id,
            Message.intent.is_not(None),
            Message.intent.not_in(("greet", "thanks_bye", "ask_lawyer", "lawyer_contact", "duty_schedule")),
        )
        .order_by(Message.id.desc())
        .limit(RECENT_QUESTIONS)
    ).all()
    recent = [r.text.strip() for r in reversed(rows) if (ctx.now - r.created_at).total_seconds() < 6 * 3600]
    if ctx.incoming.payload is None and ctx.intent is not None and ctx.intent.intent != "ask_lawyer":
        recent.append(ctx.incoming.text.strip())
    elif ctx.incoming.payload is None and len(ctx.incoming.text.strip()) > 8:
        recent.append(ctx.incoming.text.strip())  # "帮我找律师，老板欠我三个月工钱"
    return "\n".join(dict.fromkeys(t for t in recent if t))


def open_with(ctx: Context, question: str, *, summary: str | None = None, intent: str | None = None) -> OutgoingMessage:
    ticket = tickets.open_ticket(
        ctx.session,
        settings=ctx.settings,
        account=ctx.account,
        question=question,
        intent=intent or _topic_of(ctx),
        now=ctx.now,
        summary=summary,
    )
    ctx.answered_by = "handoff"
    hours = int(ctx.settings.sla_first_response_hours)
    if ticket.lawyer is not None:
        return OutgoingMessage(
            texts.TICKET_OPENED_LAWYER.format(lawyer=ticket.lawyer.name, code=ticket.code, hours=hours)
        )
    village = ticket.village
    return OutgoingMessage(
        texts.TICKET_OPENED_QUEUE.format(
            village=village.name if village else "您的村",
            township=village.township.name if village else "",
            code=ticket.code,
            hours=hours,
        )
    )


def _topic_of(ctx: Context) -> str | None:
    row = ctx.session.scalar(
        select(Message.intent)
        .where(Message.account_id == ctx.sender.id, Message.direction == "in", Message.intent.is_not(None))
        .order_by(Message.id.desc())
        .limit(1)
    )
    if ctx.intent is not None and ctx.intent.intent not in ("ask_lawyer", "greet"):
        return ctx.intent.intent
    return row


def on_flow_text(ctx: Context, raw: str) -> list[OutgoingMessage]:
    if ctx.flow == FLOW:  # step "describe"
        ctx.leave()
        return [open_with(ctx, raw.strip())]
    if ctx.flow == RATING_FLOW:
        return _rating_comment(ctx, raw)
    if ctx.flow == COMPLAIN_FLOW:
        return _complaint(ctx, raw)
    ctx.leave()
    return []


def relay_follow_up(ctx: Context, raw: str) -> list[OutgoingMessage] | None:
    ticket = tickets.active_for_account(ctx.session, ctx.sender.id) if ctx.may_have_open_ticket else None
    if ticket is None:
        return None
    ctx.answered_by = "relay"
    ctx.inbound.ticket_id = ticket.id
    message = OutgoingMessage(
        texts.NOTIFY_FOLLOW_UP.format(
            code=ticket.code,
            name=tickets.villager_name(ctx.sender.display_name, ticket.villager_id),
            text=raw.strip()[:2000],
        ),
        (Button(texts.BUTTON_REPLY, f"tk:reply:{ticket.code}"),),
    )
    tickets.relay_to_responsible(ctx.session, ticket, message, key=f"followup:{ctx.inbound.id}", now=ctx.now)
    tickets.log(
        ctx.session, ticket, actor=f"villager:{ticket.villager_id}", action="follow_up", detail=raw[:2000], now=ctx.now
    )
    if ticket.status == "answered":
        ticket.status = "reopened" if ticket.first_response_at is None else "answered"
    who = tickets.responsible_name(ticket, ctx.session)
    return [OutgoingMessage(texts.FOLLOW_UP_RELAYED.format(who=who, code=ticket.code))]


def on_ticket_button(ctx: Context, action: str, code: str) -> list[OutgoingMessage]:
    """tk:resolved / tk:more from the villager's side."""
    ticket = tickets.by_code(ctx.session, code)
    if ticket is None or ticket.account_id != ctx.sender.id:
        return [OutgoingMessage(texts.LAWYER_TICKET_NOT_FOUND.format(code=code))]
    actor = f"villager:{ticket.villager_id}"
    if action == "resolved":
        tickets.close(ctx.session, ticket, actor=actor, now=ctx.now, ask_rating=False)
        return [
            OutgoingMessage(texts.TICKET_CLOSED_BY_VILLAGER.format(code=ticket.code)),
            tickets.rating_prompt(ticket),
        ]
    # "more": still need help — reopen, next text goes to the same lawyer
    if ticket.status == "closed":
        tickets.reopen(ctx.session, ticket, actor=actor, now=ctx.now)
    who = tickets.responsible_name(ticket, ctx.session)
    return [OutgoingMessage(texts.TICKET_REOPENED.format(code=ticket.code, who=who))]


def on_rate(ctx: Context, code: str, score: int) -> list[OutgoingMessage]:
    ticket = tickets.by_code(ctx.session, code)
    if ticket is None or ticket.account_id != ctx.sender.id or not 1 <= score <= 5:
        return [OutgoingMessage(texts.LAWYER_TICKET_NOT_FOUND.format(code=code))]
    tickets.rate(ctx.session, ticket, score=score, actor=f"villager:{ticket.villager_id}", now=ctx.now)
    ctx.enter(RATING_FLOW, "comment", code=ticket.code)
    return [OutgoingMessage(texts.RATE_THANKS)]


def _rating_comment(ctx: Context, raw: str) -> list[OutgoingMessage]:
    code = ctx.leave().get("code", "")
    if raw.strip() in ("跳过", "不用", "没有", "不写"):
        return [OutgoingMessage(texts.RATE_SKIPPED)]
    ticket = tickets.by_code(ctx.session, code)
    if ticket is not None and ticket.account_id == ctx.sender.id:
        ticket.rating_comment = raw.strip()[:1000]
        tickets.log(
            ctx.session,
            ticket,
            actor=f"villager:{ticket.villager_id}",
            action="rating_comment",
            detail=raw[:1000],
            now=ctx.now,
        )
    return [OutgoingMessage(texts.RATE_COMMENT_THANKS)]


def start_complaint(ctx: Context) -> list[OutgoingMessage]:
    villager = ctx.villager
    if villager is None or villager.village_id is None:
        return onboarding.start(ctx, intro=texts.COMPLAIN_NEED_VILLAGE)
    ctx.enter(COMPLAIN_FLOW, "describe")
    return [OutgoingMessage(texts.COMPLAIN_ASK)]


def _complaint(ctx: Context, raw: str) -> list[OutgoingMessage]:
    ctx.leave()
    ticket: Ticket = tickets.open_ticket(
        ctx.session,
        settings=ctx.settings,
        account=ctx.account,
        question=raw.strip(),
        intent="complaint",
        kind="complaint",
        now=ctx.now,
    )
    village = ticket.village
    return [
        OutgoingMessage(
            texts.COMPLAIN_RECEIVED.format(code=ticket.code, township=village.township.name if village else "")
        )
    ]
