"""Tickets: a villager's question in the hands of a responsible person until it is closed.

Every state change writes a TicketEvent, and every message it causes for someone else goes to
the outbox in the same transaction — a crash between the two loses nothing and sends nothing twice.

Routing rule (documented in the README): among the lawyers currently assigned to the village who
have a bound messenger account, take the one whose next planned duty session in that village is
soonest (within 14 days); otherwise the one with the fewest unfinished tickets; ties go to the
longest-serving assignment. If nobody qualifies, the ticket goes to the township's 司法所 queue.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, select
from sqlalchemy.orm import Session

from core.config import Settings
from core.db import among
from core.messages import Attachment, Button, OutgoingMessage
from core.models import (
    AuditEvent,
    ChannelAccount,
    DutySession,
    Lawyer,
    Ticket,
    TicketEvent,
    Township,
    Village,
    Villager,
    WorkLogEntry,
)
from handlers import directory, texts
from handlers.notify import enqueue

ACTIVE = ("open", "claimed", "answered", "escalated", "reopened")
AWAITING_FIRST_RESPONSE = ("open", "claimed", "reopened")
TOPIC_NAMES = {
    "land": "土地",
    "marriage_family": "婚姻家庭",
    "labor": "劳动用工",
    "debt_contract": "借贷合同",
    "traffic_accident": "交通事故",
    "criminal": "刑事",
    "tort": "人身财产损害",
    "other_legal": "其他法律问题",
    "legal_aid": "法律援助",
    "emergency": "紧急情况",
    "collective_dispute": "群体性纠纷",
    "complaint": "投诉",
}
DUTY_LOOKAHEAD = dt.timedelta(days=14)
QUESTION_PREVIEW = 500


def log(session: Session, ticket: Ticket, *, actor: str, action: str, detail: str | None, now: dt.datetime) -> None:
    session.add(TicketEvent(ticket_id=ticket.id, actor=actor, action=action, detail=detail, at=now))
    ticket.last_event_at = now


def by_code(session: Session, code: str) -> Ticket | None:
    return session.scalar(select(Ticket).where(Ticket.code == code.strip().upper()))


def _active_for(account_id: Any) -> Select[Ticket]:
    return (
        select(Ticket)
        .where(
            Ticket.account_id == account_id,
            among(Ticket.status, ACTIVE),
            among(Ticket.kind, ("consult", "major_event")),
        )
        .order_by(Ticket.id.desc())
        .limit(1)
    )


#: Built once: every message of a villager asks it (handlers/router.py says why).
_ACTIVE_FOR_ACCOUNT = _active_for(bindparam("account_id"))
#: The active ticket's id as a column of a query about channel accounts (the router reads it
#: with the sender, saving a query on each message of a villager without one).
ACTIVE_TICKET_ID = _active_for(ChannelAccount.id).with_only_columns(Ticket.id).scalar_subquery()


def active_for_account(session: Session, account_id: int) -> Ticket | None:
    """The ticket whose lawyer currently answers this villager instead of the bot."""
    return session.scalar(_ACTIVE_FOR_ACCOUNT, {"account_id": account_id})


def choose_lawyer(session: Session, village_id: int, *, now: dt.datetime) -> Lawyer | None:
    candidates = [
        lw
        for lw in directory.village_lawyers(session, village_id, on=now.date())
        if any(not a.unreachable for a in directory.lawyer_accounts(session, lw.id))
    ]
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    ids = [lw.id for lw in candidates]
    next_duty = dict(
        session.execute(
            select(DutySession.lawyer_id, func.min(DutySession.starts_at))
            .where(
                DutySession.lawyer_id.in_(ids),
                DutySession.village_id == village_id,
                DutySession.status == "planned",
                DutySession.starts_at >= now,
                DutySession.starts_at <= now + DUTY_LOOKAHEAD,
            )
            .group_by(DutySession.lawyer_id)
        ).all()
    )
    open_counts = dict(
        session.execute(
            select(Ticket.lawyer_id, func.count(Ticket.id))
            .where(Ticket.lawyer_id.in_(ids), Ticket.status.in_(ACTIVE))
            .group_by(Ticket.lawyer_id)
        ).all()
    )
    far = dt.datetime.max
    return min(candidates, key=lambda lw: (next_duty.get(lw.id, far), open_counts.get(lw.id, 0), ids.index(lw.id)))


def responsible_name(ticket: Ticket, session: Session) -> str:
    if ticket.lawyer is not None:
        return texts.LAWYER_NAME.format(name=ticket.lawyer.name)
    return queue_name(session, ticket)


def in_admin_queue() -> ColumnElement[bool]:
    """The 司法所 queue: unfinished tickets nobody was assigned, and those escalated past their SLA."""
    return Ticket.status.in_(ACTIVE) & (Ticket.lawyer_id.is_(None) | (Ticket.status == "escalated"))


def queue_name(session: Session, ticket: Ticket) -> str:
    # the name is all the reply needs: no township object to load and track
    township = session.scalar(_TOWNSHIP_NAME, {"id": ticket.township_id}) if ticket.township_id else None
    return texts.ADMIN_QUEUE_NAME.format(township=township or "县")


_TOWNSHIP_NAME = select(Township.name).where(Township.id == bindparam("id"))


def open_ticket(
    session: Session,
    *,
    settings: Settings,
    account: ChannelAccount,
    question: str,
    intent: str | None,
    now: dt.datetime,
    kind: str = "consult",
    urgent: bool = False,
    summary: str | None = None,
) -> Ticket:
    villager: Villager | None = account.villager
    village: Village | None = villager.village if villager else None
    lawyer = None
    if village is not None and kind != "complaint":
        lawyer = choose_lawyer(session, village.id, now=now)
    ticket = Ticket(
        kind=kind,
        status="open",
        urgent=urgent,
        villager_id=villager.id if villager else None,
        account_id=account.id,
        village_id=village.id if village else None,
        township_id=village.township_id if village else None,
        lawyer_id=lawyer.id if lawyer else None,
        intent=intent,
        question=question[:4000],
        summary=summary,
        created_at=now,
        sla_due_at=now + dt.timedelta(hours=settings.sla_first_response_hours),
    )
    session.add(ticket)
    session.flush()
    ticket.code = f"T-{ticket.id:04d}"
    ticket.lawyer = lawyer
    target = f"lawyer:{lawyer.id}" if lawyer else f"queue:township:{ticket.township_id}"
    log(session, ticket, actor=_villager_actor(villager), action="opened", detail=f"{kind} → {target}", now=now)
    if urgent:
        session.add(
            AuditEvent(
                at=now,
                actor="system",
                action="major_event_reported",
                target=ticket.code,
                detail=f"village={village.id if village else None} intent={intent}",
            )
        )
    if lawyer is not None:
        notify_lawyer_new(session, ticket, lawyer, now=now)
    return ticket


def _villager_actor(villager: Villager | None) -> str:
    return f"villager:{villager.id}" if villager else "villager"


def display_name(ticket: Ticket) -> str:
    account = ticket.account
    return villager_name(account.display_name if account else None, ticket.villager_id)


def villager_name(display_name: str | None, villager_id: int | None) -> str:
    """How a villager is named to a lawyer: their messenger name, or 村民<their number>. (The
    handlers name the sender of the message by what was read with it: no account to load.)"""
    return display_name or (f"村民{villager_id}" if villager_id else "村民")


def notify_lawyer_new(session: Session, ticket: Ticket, lawyer: Lawyer, *, now: dt.datetime) -> None:
    village = ticket.village.full_name if ticket.village else "（未选村）"
    template = texts.NOTIFY_URGENT_TICKET if ticket.urgent else texts.NOTIFY_NEW_TICKET
    message = OutgoingMessage(
        template.format(
            code=ticket.code,
            village=village,
            name=display_name(ticket),
            topic=TOPIC_NAMES.get(ticket.intent or "", "咨询"),
            question=ticket.question[:QUESTION_PREVIEW],
        ),
        (
            Button(texts.BUTTON_CLAIM, f"tk:claim:{ticket.code}"),
            Button(texts.BUTTON_REPLY, f"tk:reply:{ticket.code}"),
            Button(texts.BUTTON_CLOSE, f"tk:close:{ticket.code}"),
        ),
    )
    send_to_lawyer(session, lawyer.id, message, purpose="notify", key=f"notify:{ticket.id}", ticket=ticket, now=now)


def send_to_lawyer(
    session: Session,
    lawyer_id: int,
    message: OutgoingMessage,
    *,
    purpose: str,
    key: str,
    ticket: Ticket,
    now: dt.datetime,
    channel: str | None = None,
) -> None:
    """``message`` about ``ticket`` to every messenger account the lawyer has bound (``channel``:
    only to that channel's), through the outbox; each copy's dedup key is ``key:<account id>``."""
    for account in directory.lawyer_accounts(session, lawyer_id):
        if channel is None or account.channel == channel:
            enqueue(
                session,
                account=account,
                message=message,
                purpose=purpose,
                dedup_key=f"{key}:{account.id}",
                ticket_id=ticket.id,
                now=now,
            )


def relay_to_responsible(
    session: Session, ticket: Ticket, message: OutgoingMessage, *, key: str, now: dt.datetime
) -> None:
    """A follow-up from the villager: to the ticket's lawyer, or left in the 司法所 queue."""
    if ticket.lawyer_id is None:
        return  # the console shows the conversation to the queue
    send_to_lawyer(session, ticket.lawyer_id, message, purpose="relay", key=key, ticket=ticket, now=now)


def forward_to_responsible(
    session: Session, ticket: Ticket, attachment: Attachment, *, channel: str, key: str, now: dt.datetime
) -> None:
    """The villager's photo or document itself, to the ticket's lawyer on the same channel: a
    channel's file reference means nothing to another channel (the notice goes everywhere)."""
    if ticket.lawyer_id is None:
        return
    message = OutgoingMessage("", attachment=attachment)
    send_to_lawyer(
        session, ticket.lawyer_id, message, purpose="relay", key=key, ticket=ticket, now=now, channel=channel
    )


def can_act(session: Session, lawyer_id: int, ticket: Ticket, *, now: dt.datetime) -> bool:
    """A lawyer acts on tickets assigned to them or on tickets of villages they currently advise.
    Complaints are never visible to lawyers."""
    if ticket.kind == "complaint":
        return False
    if ticket.lawyer_id == lawyer_id:
        return True
    return advises(session, lawyer_id, ticket.village_id, now=now)


def advises(session: Session, lawyer_id: int, village_id: int | None, *, now: dt.datetime) -> bool:
    if village_id is None:
        return False
    return any(a.lawyer_id == lawyer_id for a in directory.current_assignments(session, village_id, on=now.date()))


def assign(session: Session, ticket: Ticket, lawyer: Lawyer, *, actor: str, now: dt.datetime) -> None:
    """Hand a ticket to one of its village's lawyers (from the 司法所 queue, or to another lawyer)."""
    ticket.lawyer_id = lawyer.id
    ticket.lawyer = lawyer
    if ticket.status == "escalated":
        ticket.status = "open" if ticket.first_response_at is None else "answered"
    log(session, ticket, actor=actor, action="assigned", detail=f"lawyer:{lawyer.id}", now=now)
    notify_lawyer_new(session, ticket, lawyer, now=now)


def deny(session: Session, *, actor: str, code: str, now: dt.datetime) -> None:
    session.add(AuditEvent(at=now, actor=actor, action="ticket_access_denied", target=code))


def claim(session: Session, ticket: Ticket, lawyer: Lawyer, *, now: dt.datetime) -> None:
    if ticket.lawyer_id != lawyer.id:
        ticket.lawyer_id = lawyer.id
        ticket.lawyer = lawyer
    if ticket.status in ("open", "escalated", "reopened"):
        ticket.status = "claimed"
    log(session, ticket, actor=f"lawyer:{lawyer.id}", action="claimed", detail=None, now=now)


def answer(
    session: Session,
    ticket: Ticket,
    *,
    text: str,
    now: dt.datetime,
    lawyer: Lawyer | None = None,
    admin: str | None = None,
    key: str,
) -> None:
    """Relay an answer to the villager and record it (ticket event + work-log entry)."""
    who = texts.LAWYER_NAME.format(name=lawyer.name) if lawyer else queue_name(session, ticket)
    actor = f"lawyer:{lawyer.id}" if lawyer else f"admin:{admin}"
    if lawyer is not None and ticket.lawyer_id != lawyer.id:
        ticket.lawyer_id = lawyer.id
        ticket.lawyer = lawyer
    ticket.status = "answered"
    if ticket.first_response_at is None:
        ticket.first_response_at = now
    log(session, ticket, actor=actor, action="answered", detail=text[:2000], now=now)
    if ticket.account is not None:
        enqueue(
            session,
            account=ticket.account,
            message=OutgoingMessage(
                texts.LAWYER_ANSWER.format(who=who, code=ticket.code, text=text),
                (
                    Button(texts.BUTTON_RESOLVED, f"tk:resolved:{ticket.code}"),
                    Button(texts.BUTTON_MORE_QUESTIONS, f"tk:more:{ticket.code}"),
                ),
            ),
            purpose="relay",
            dedup_key=key,
            ticket_id=ticket.id,
            now=now,
        )
    _work_log_answer(session, ticket, text=text, now=now, lawyer=lawyer)


def _work_log_answer(session: Session, ticket: Ticket, *, text: str, now: dt.datetime, lawyer: Lawyer | None) -> None:
    entry = session.scalar(select(WorkLogEntry).where(WorkLogEntry.ticket_id == ticket.id))
    if entry is None:
        session.add(
            WorkLogEntry(
                village_id=ticket.village_id,
                lawyer_id=lawyer.id if lawyer else ticket.lawyer_id,
                villager_id=ticket.villager_id,
                ticket_id=ticket.id,
                occurred_at=now,
                person=display_name(ticket),
                method="online",
                content=f"{ticket.code} {TOPIC_NAMES.get(ticket.intent or '', '咨询')}：{ticket.question[:300]}",
                result=f"已答复：{text[:300]}",
            )
        )
    else:
        entry.result = f"{entry.result}\n追加答复：{text[:300]}"[:4000]


def close(
    session: Session,
    ticket: Ticket,
    *,
    actor: str,
    now: dt.datetime,
    ask_rating: bool = True,
    detail: str | None = None,
) -> None:
    if ticket.status == "closed":
        return
    ticket.status = "closed"
    ticket.closed_at = now
    log(session, ticket, actor=actor, action="closed", detail=detail, now=now)
    entry = session.scalar(select(WorkLogEntry).where(WorkLogEntry.ticket_id == ticket.id))
    if entry is not None:
        entry.result = f"{entry.result}\n已结办"[:4000]
    if ask_rating and ticket.account is not None and ticket.kind != "complaint":
        enqueue(
            session,
            account=ticket.account,
            message=rating_prompt(ticket),
            purpose="survey",
            dedup_key=f"survey:{ticket.id}:{_close_count(session, ticket)}",
            ticket_id=ticket.id,
            now=now,
        )


def _close_count(session: Session, ticket: Ticket) -> int:
    return int(
        session.scalar(
            select(func.count(TicketEvent.id)).where(TicketEvent.ticket_id == ticket.id, TicketEvent.action == "closed")
        )
        or 0
    )


def rating_prompt(ticket: Ticket) -> OutgoingMessage:
    scores = [Button(f"{n}分", f"rate:{ticket.code}:{n}") for n in range(5, 0, -1)]
    more = Button(texts.BUTTON_MORE_QUESTIONS, f"tk:more:{ticket.code}")
    return OutgoingMessage(texts.RATE_PROMPT.format(code=ticket.code), (*scores, more))


def reopen(session: Session, ticket: Ticket, *, actor: str, now: dt.datetime) -> None:
    ticket.status = "reopened"
    ticket.closed_at = None
    ticket.first_response_at = None
    ticket.sla_reminded_at = None
    ticket.escalated_at = None
    ticket.sla_due_at = now + (ticket.sla_due_at - ticket.created_at if ticket.sla_due_at else dt.timedelta(hours=24))
    log(session, ticket, actor=actor, action="reopened", detail=None, now=now)


def rate(session: Session, ticket: Ticket, *, score: int, actor: str, now: dt.datetime) -> None:
    ticket.rating = score
    log(session, ticket, actor=actor, action="rated", detail=str(score), now=now)
    if ticket.status != "closed":
        close(session, ticket, actor=actor, now=now, ask_rating=False)


def open_for_lawyer(session: Session, lawyer_id: int, *, now: dt.datetime) -> Sequence[Ticket]:
    """A lawyer's unfinished tickets: their own, plus unassigned ones of villages they advise."""
    villages = [
        a.village_id
        for a in session.scalars(select(directory.Assignment).where(directory.Assignment.lawyer_id == lawyer_id)).all()
        if a.start_date <= now.date() and (a.end_date is None or a.end_date >= now.date())
    ]
    mine = Ticket.lawyer_id == lawyer_id
    condition = mine if not villages else (mine | (Ticket.lawyer_id.is_(None) & Ticket.village_id.in_(villages)))
    return session.scalars(
        select(Ticket)
        .where(condition, Ticket.status.in_(ACTIVE), Ticket.kind != "complaint")
        .order_by(Ticket.urgent.desc(), Ticket.created_at)
        .limit(50)
    ).all()
