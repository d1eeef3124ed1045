"""概览: what needs attention today."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from admin import scope
from core.models import AdminUser, Message, OutboxMessage, Ticket

ACTIVE = ("open", "claimed", "answered", "escalated", "reopened")


def overview(session: Session, user: AdminUser, *, now: dt.datetime) -> dict[str, Any]:
    villages = scope.village_ids(session, user)
    townships = scope.township_ids(session, user)
    in_scope = scope.village_filter(Ticket.village_id, villages)
    in_scope_or_queue = in_scope if townships is None else in_scope | Ticket.township_id.in_(townships)
    base = select(func.count(Ticket.id)).where(in_scope_or_queue, Ticket.status.in_(ACTIVE))
    return {
        "open_count": session.scalar(base) or 0,
        "overdue_count": session.scalar(base.where(Ticket.first_response_at.is_(None), Ticket.sla_due_at < now)) or 0,
        "escalated_count": session.scalar(base.where(Ticket.status == "escalated")) or 0,
        "urgent": session.scalars(
            select(Ticket)
            .where(in_scope_or_queue, Ticket.urgent.is_(True), Ticket.status.in_(ACTIVE))
            .order_by(Ticket.created_at.desc())
            .limit(20)
        ).all(),
        "failed_deliveries": session.scalar(
            select(func.count(OutboxMessage.id)).where(OutboxMessage.status == "failed")
        )
        or 0
        if user.role == "superadmin"
        else None,
        "failed_messages": session.scalar(select(func.count(Message.id)).where(Message.status == "failed")) or 0
        if user.role == "superadmin"
        else None,
    }
