"""Ticket deadlines, driven by the scheduler pass.

- First response: a ticket still waiting for its lawyer's first answer gets a reminder to the
  lawyer halfway to the deadline (N/2 hours before ``sla_due_at``, N = SLA_FIRST_RESPONSE_HOURS),
  and at the deadline it is escalated: status ``escalated`` (so it shows in the 司法所 queue, see
  handlers.tickets.in_admin_queue), ``escalated_at``, a TicketEvent, the villager told
  "已转交司法所" and the lawyer told too (they may still answer). Tickets that already sit in the
  queue (no lawyer) are not escalated again. A pass that comes after the deadline escalates
  without sending the stale reminder.
- Silence: a ticket answered and silent (no event) for TICKET_AUTOCLOSE_DAYS is closed by the
  system and the villager asked to rate it (回访).

Each ticket is changed in its own transaction after locking its row and checking again, and every
message has a unique outbox key, so passes that overlap or repeat change and send nothing twice.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, sessionmaker

from core.config import Settings
from core.db import is_postgres, transaction
from core.messages import Button, OutgoingMessage
from core.models import Ticket, TicketEvent, Township
from handlers import texts, tickets
from handlers.notify import enqueue

SYSTEM = "system"


def _awaiting() -> tuple[ColumnElement[bool], ...]:
    return (
        Ticket.status.in_(tickets.AWAITING_FIRST_RESPONSE),
        Ticket.first_response_at.is_(None),
        Ticket.lawyer_id.is_not(None),
        Ticket.sla_due_at.is_not(None),
    )


def _locked(session: Session, ticket_id: int) -> Ticket | None:
    query = select(Ticket).where(Ticket.id == ticket_id)
    if is_postgres(session):
        query = query.with_for_update(of=Ticket)
    return session.scalar(query.execution_options(populate_existing=True))


def _half(settings: Settings) -> dt.timedelta:
    return dt.timedelta(hours=settings.sla_first_response_hours / 2)


def _needs_reminder(ticket: Ticket, settings: Settings, now: dt.datetime) -> bool:
    return (
        ticket.status in tickets.AWAITING_FIRST_RESPONSE
        and ticket.first_response_at is None
        and ticket.lawyer_id is not None
        and ticket.sla_reminded_at is None
        and ticket.sla_due_at is not None
        and ticket.sla_due_at - _half(settings) <= now < ticket.sla_due_at
    )


def _needs_escalation(ticket: Ticket, now: dt.datetime) -> bool:
    return (
        ticket.status in tickets.AWAITING_FIRST_RESPONSE
        and ticket.first_response_at is None
        and ticket.lawyer_id is not None
        and ticket.escalated_at is None
        and ticket.sla_due_at is not None
        and ticket.sla_due_at <= now
    )


def run(
    factory: sessionmaker[Session],
    settings: Settings,
    *,
    now: dt.datetime,
    keep_alive: Callable[[], None] = lambda: None,
) -> Counter[str]:
    done: Counter[str] = Counter()
    with factory() as session:
        to_escalate = list(
            session.scalars(
                select(Ticket.id).where(*_awaiting(), Ticket.escalated_at.is_(None), Ticket.sla_due_at <= now)
            )
        )
        to_remind = list(
            session.scalars(
                select(Ticket.id).where(
                    *_awaiting(),
                    Ticket.sla_reminded_at.is_(None),
                    Ticket.sla_due_at > now,
                    Ticket.sla_due_at <= now + _half(settings),
                )
            )
        )
    for ticket_id in to_escalate:
        with transaction(factory) as session:
            ticket = _locked(session, ticket_id)
            if ticket is not None and _needs_escalation(ticket, now):
                escalate(session, ticket, settings=settings, now=now)
                done["escalated"] += 1
        keep_alive()
    for ticket_id in to_remind:
        with transaction(factory) as session:
            ticket = _locked(session, ticket_id)
            if ticket is not None and _needs_reminder(ticket, settings, now):
                remind(session, ticket, settings=settings, now=now)
                done["sla_reminded"] += 1
        keep_alive()
    done["autoclosed"] = autoclose(factory, settings, now=now, keep_alive=keep_alive)
    return done


def remind(session: Session, ticket: Ticket, *, settings: Settings, now: dt.datetime) -> None:
    assert ticket.lawyer_id is not None
    waited = int((now - ticket.created_at).total_seconds() // 3600)
    message = OutgoingMessage(
        texts.NOTIFY_SLA_REMINDER.format(
            code=ticket.code, village=ticket.village.name if ticket.village else "", hours=waited
        ),
        (Button(texts.BUTTON_REPLY, f"tk:reply:{ticket.code}"),),
    )
    key = f"sla:{ticket.id}:remind:{ticket.sla_due_at:%Y%m%d%H%M}"
    tickets.send_to_lawyer(session, ticket.lawyer_id, message, purpose="notify", key=key, ticket=ticket, now=now)
    ticket.sla_reminded_at = now
    tickets.log(session, ticket, actor=SYSTEM, action="sla_reminded", detail=f"{waited}h", now=now)


def escalate(session: Session, ticket: Ticket, *, settings: Settings, now: dt.datetime) -> None:
    """Past the first-response deadline: to the 司法所 queue, the villager and the lawyer told."""
    ticket.status = "escalated"
    ticket.escalated_at = now
    hours = f"{settings.sla_first_response_hours:g}"
    tickets.log(session, ticket, actor=SYSTEM, action="escalated", detail=f"no first response in {hours}h", now=now)
    township = session.get(Township, ticket.township_id) if ticket.township_id else None
    township_name = township.name if township else ""
    due = f"{ticket.sla_due_at:%Y%m%d%H%M}"
    if ticket.account is not None:
        enqueue(
            session,
            account=ticket.account,
            message=OutgoingMessage(texts.TICKET_ESCALATED_VILLAGER.format(code=ticket.code, township=township_name)),
            purpose="notify",
            dedup_key=f"sla:{ticket.id}:escalated:{due}",
            ticket_id=ticket.id,
            now=now,
        )
    if ticket.lawyer_id is not None:
        notice = OutgoingMessage(
            texts.SLA_ESCALATED_LAWYER.format(code=ticket.code, hours=hours, township=township_name),
            (Button(texts.BUTTON_REPLY, f"tk:reply:{ticket.code}"),),
        )
        key = f"sla:{ticket.id}:escalated:{due}"
        tickets.send_to_lawyer(session, ticket.lawyer_id, notice, purpose="notify", key=key, ticket=ticket, now=now)


def answered_and_silent(session: Session, cutoff: dt.datetime) -> list[int]:
    """Ids of the answered tickets whose last event (``Ticket.last_event_at``) is not after
    ``cutoff``: a range of ix_tickets_silent. ``autoclose`` re-checks each one against its events."""
    silent = select(Ticket.id).where(Ticket.status == "answered", Ticket.last_event_at <= cutoff)
    return list(session.scalars(silent))


def autoclose(
    factory: sessionmaker[Session],
    settings: Settings,
    *,
    now: dt.datetime,
    keep_alive: Callable[[], None] = lambda: None,
) -> int:
    cutoff = now - dt.timedelta(days=settings.ticket_autoclose_days)
    with factory() as session:
        ids = answered_and_silent(session, cutoff)
    closed = 0
    for ticket_id in ids:
        with transaction(factory) as session:
            ticket = _locked(session, ticket_id)
            if ticket is None or ticket.status != "answered":
                continue
            last = session.scalar(select(func.max(TicketEvent.at)).where(TicketEvent.ticket_id == ticket.id))
            if last is None or last > cutoff:
                continue
            days = f"{settings.ticket_autoclose_days:g}"
            tickets.close(session, ticket, actor=SYSTEM, now=now, detail=f"auto: answered, silent {days} days")
            closed += 1
        keep_alive()
    return closed
