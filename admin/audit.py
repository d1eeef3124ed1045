"""Console actions into the audit log: who did what to which record, and when."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from core.clock import utcnow
from core.models import AdminUser, AuditEvent


def record(
    session: Session,
    user: AdminUser,
    action: str,
    target: str,
    detail: str | None = None,
    *,
    now: dt.datetime | None = None,
) -> None:
    session.add(
        AuditEvent(
            at=now or utcnow(), actor=f"admin:{user.username}"[:80], action=action, target=target[:120], detail=detail
        )
    )
