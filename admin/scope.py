"""What an admin may see: a county admin their county, a clerk their township, a lawyer their villages."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.models import AdminUser, Assignment, Township, Village


def village_ids(session: Session, user: AdminUser) -> list[int] | None:
    """None means every village (superadmin)."""
    if user.role == "superadmin":
        return None
    if user.role == "county_admin":
        query = select(Village.id).join(Township).where(Township.county_id == user.county_id)
    elif user.role == "township_clerk":
        query = select(Village.id).where(Village.township_id == user.township_id)
    else:  # lawyer: the villages they currently advise
        today = utcnow().date()
        query = select(Assignment.village_id).where(
            Assignment.lawyer_id == user.lawyer_id,
            Assignment.start_date <= today,
            (Assignment.end_date.is_(None)) | (Assignment.end_date >= today),
        )
    return list(session.scalars(query))


def township_ids(session: Session, user: AdminUser) -> list[int] | None:
    if user.role == "superadmin":
        return None
    if user.role == "county_admin":
        return list(session.scalars(select(Township.id).where(Township.county_id == user.county_id)))
    if user.role == "township_clerk":
        return [user.township_id] if user.township_id else []
    return []


def village_filter(column: Any, ids: list[int] | None) -> ColumnElement[bool]:
    """``column IN ids``, or no restriction for a superadmin (``ids`` None); ``column`` is a mapped attribute."""
    if ids is None:
        return true()
    return column.in_(ids)  # type: ignore[no-any-return]
