"""概览: what needs attention today, in the admin's own area.

Every figure is one indexed query (counts in SQL, lists limited), so the page stays fast with a
million villagers; the lists link to the section where the work is done.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

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
    overdue = and_(Ticket.first_response_at.is_(None), Ticket.sla_due_at < now)
    # one pass over the area's active tickets for the three figures
    open_count, overdue_count, escalated_count = session.execute(
        select(
            func.count(Ticket.id),
            func.count(Ticket.id).filter(overdue),
            func.count(Ticket.id).filter(Ticket.status == "escalated"),
        ).where(in_area)
    ).one()
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
        "open_count": open_count,
        "new_today": session.scalar(
            select(func.count(Ticket.id)).where(area.ticket_filter(), Ticket.created_at >= midnight)
        )
        or 0,
        "overdue_count": overdue_count,
        "escalated_count": escalated_count,
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
        return listed(
            session,
            select(Village)
            .options(joinedload(Village.township).joinedload(Township.county))
            .join(Township, Township.id == Village.township_id)
            .join(County, County.id == Township.county_id)
            .where(in_area, condition)
            .order_by(County.name, Township.name, Village.name),
        )

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
    # the accounts of the rows shown, not joined to every failed row before the limit
    failed_deliveries, failed_outbox = listed(
        session, outbox.options(selectinload(OutboxMessage.account)).order_by(OutboxMessage.id.desc())
    )
    failed_messages, failed_inbound = listed(session, inbound.order_by(Message.id.desc()))
    return {
        "failed_deliveries": failed_deliveries,
        "failed_outbox": failed_outbox,
        "failed_messages": failed_messages,
        "failed_inbound": failed_inbound,
    }


def listed(session: Session, query: Select[Any]) -> tuple[int, list[Any]]:
    """How many rows ``query`` (one entity, ordered) has, and its first LIST_LIMIT, in one statement:
    a window's count is taken before the limit. Counted and listed apart, an area's rows were read
    twice: with this, a county's overview at a million villagers ran 250 → 150 ms of SQL
    (docs/PERFORMANCE.md)."""
    rows = session.execute(query.add_columns(func.count().over()).limit(LIST_LIMIT)).all()
    return (rows[0][1] if rows else 0), [row[0] for row in rows]
