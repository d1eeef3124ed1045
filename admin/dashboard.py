"""概览: what needs attention today, in the admin's own area.

Every figure is one indexed query (counts in SQL, lists limited), so the page stays fast with a
million villagers; the lists link to the section where the work is done.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session, joinedload

from admin import scope
from core.clock import to_local, to_utc
from core.models import (
    AdminUser,
    Assignment,
    ChannelAccount,
    County,
    DutySession,
    Lawyer,
    Message,
    OutboxMessage,
    Ticket,
    Township,
    Village,
    Villager,
)
from handlers.tickets import ACTIVE

LIST_LIMIT = 20


def overview(session: Session, user: AdminUser, *, now: dt.datetime) -> dict[str, Any]:
    area = scope.area(session, user)
    in_area = and_(area.ticket_filter(), Ticket.status.in_(ACTIVE))
    count = select(func.count(Ticket.id)).where(in_area)
    today = to_local(now).date()
    midnight = to_utc(dt.datetime.combine(today, dt.time()))
    monday = today - dt.timedelta(days=today.weekday())
    week = (
        to_utc(dt.datetime.combine(monday, dt.time())),
        to_utc(dt.datetime.combine(monday, dt.time())) + dt.timedelta(days=7),
    )
    return {
        "area_label": area.label,
        "today": today,
        "open_count": session.scalar(count) or 0,
        "new_today": session.scalar(
            select(func.count(Ticket.id)).where(area.ticket_filter(), Ticket.created_at >= midnight)
        )
        or 0,
        "overdue_count": session.scalar(count.where(Ticket.first_response_at.is_(None), Ticket.sla_due_at < now)) or 0,
        "escalated_count": session.scalar(count.where(Ticket.status == "escalated")) or 0,
        "urgent": session.scalars(
            select(Ticket)
            .options(joinedload(Ticket.village).joinedload(Village.township).joinedload(Township.county))
            .where(in_area, Ticket.urgent.is_(True) | (Ticket.kind == "major_event"))
            .order_by(Ticket.created_at.desc())
            .limit(LIST_LIMIT)
        ).all(),
        "week_start": monday,
        "week_sessions": session.scalars(
            select(DutySession)
            .options(joinedload(DutySession.lawyer), joinedload(DutySession.village))
            .where(
                DutySession.starts_at >= week[0],
                DutySession.starts_at < week[1],
                DutySession.status != "cancelled",
                area.village_filter(DutySession.village_id),
            )
            .order_by(DutySession.starts_at)
            .limit(50)
        ).all(),
        **_uncovered(session, area, today),
        **_failures(session, area),
    }


def _uncovered(session: Session, area: scope.Area, today: dt.date) -> dict[str, Any]:
    """Villages nobody advises, and villages whose lawyers have bound no messenger account (their
    tickets go to the 司法所 queue instead of a lawyer)."""
    current = and_(
        Assignment.village_id == Village.id,
        Assignment.start_date <= today,
        or_(Assignment.end_date.is_(None), Assignment.end_date >= today),
        Lawyer.id == Assignment.lawyer_id,
        Lawyer.active.is_(True),
    )
    assigned = exists().where(current)
    bound = exists().where(
        current, ChannelAccount.lawyer_id == Assignment.lawyer_id, ChannelAccount.unreachable.is_(False)
    )
    in_area = area.village_filter(Village.id)

    def villages(condition: Any) -> tuple[int, list[Village]]:
        total = session.scalar(select(func.count(Village.id)).where(in_area, condition)) or 0
        rows = session.scalars(
            select(Village)
            .options(joinedload(Village.township).joinedload(Township.county))
            .join(Township, Township.id == Village.township_id)
            .join(County, County.id == Township.county_id)
            .where(in_area, condition)
            .order_by(County.name, Township.name, Village.name)
            .limit(LIST_LIMIT)
        ).all()
        return total, list(rows)

    no_lawyer_count, no_lawyer = villages(~assigned)
    unbound_count, unbound = villages(assigned & ~bound)
    return {
        "no_lawyer_count": no_lawyer_count,
        "no_lawyer": no_lawyer,
        "unbound_count": unbound_count,
        "unbound": unbound,
    }


def _failures(session: Session, area: scope.Area) -> dict[str, Any]:
    """Messages the outbox gave up on, and inbound messages processing gave up on: nothing is
    dropped silently, somebody has to look (phone the villager, fix the lawyer's account)."""
    outbox = select(OutboxMessage).where(OutboxMessage.status == "failed")
    inbound = select(Message).where(Message.status == "failed", Message.direction == "in")
    if area.villages is not None:
        # Failed rows are few: join each to its account, then keep the area's villagers and the
        # lawyers advising its villages (both small sets). Fast once failures are indexed.
        lawyers = select(Assignment.lawyer_id).where(area.village_filter(Assignment.village_id))

        def of_area(query: Any, account_column: Any) -> Any:
            return (
                query.join(ChannelAccount, ChannelAccount.id == account_column)
                .outerjoin(Villager, Villager.id == ChannelAccount.villager_id)
                .where(or_(area.village_filter(Villager.village_id), ChannelAccount.lawyer_id.in_(lawyers)))
            )

        outbox = of_area(outbox, OutboxMessage.account_id)
        inbound = of_area(inbound, Message.account_id)
    failed_outbox = session.scalars(
        outbox.options(joinedload(OutboxMessage.account)).order_by(OutboxMessage.id.desc()).limit(LIST_LIMIT)
    ).all()
    failed_inbound = session.scalars(inbound.order_by(Message.id.desc()).limit(LIST_LIMIT)).all()
    return {
        "failed_deliveries": session.scalar(select(func.count()).select_from(outbox.subquery())) or 0,
        "failed_outbox": failed_outbox,
        "failed_messages": session.scalar(select(func.count()).select_from(inbound.subquery())) or 0,
        "failed_inbound": failed_inbound,
    }
