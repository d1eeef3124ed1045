"""The console's audit trail: who looked at or changed what, and when.

Every knowledge-base edit, every view of a ticket (a villager's words) and every export goes
through ``audit``; rows are only ever added, never edited, and survive a villager's /forget.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from sqlalchemy.orm import Session

from core.clock import utcnow
from core.models import AdminUser, AuditEvent, Ticket


def actor_of(user: AdminUser) -> str:
    return f"admin:{user.username}"


def audit(
    session: Session,
    user: AdminUser | str,
    action: str,
    target: str | None = None,
    detail: str | None = None,
    *,
    now: dt.datetime | None = None,
) -> AuditEvent:
    """Add one audit row to the request's transaction (it commits with the work it records)."""
    event = AuditEvent(
        at=now or utcnow(),
        actor=actor_of(user) if isinstance(user, AdminUser) else user,
        action=action,
        target=target[:120] if target else None,
        detail=detail,
    )
    session.add(event)
    return event


def codes_of(tickets: Iterable[Ticket]) -> list[str]:
    """How a page's tickets are named in ``audit_shown``."""
    return [t.code or str(t.id) for t in tickets]


def audit_shown(
    session: Session, user: AdminUser, where: str, codes: Sequence[str], *, now: dt.datetime | None = None
) -> None:
    """A page that shows consultations' questions (a list, the overview's urgent ones, the
    knowledge-gap page) is a ticket view: one ``tickets_viewed`` row naming where and which."""
    if codes:
        audit(session, user, "tickets_viewed", where, " ".join(codes)[:2000], now=now)
