"""What an admin may see: a county admin their county, a clerk their township, a lawyer their villages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, select, true
from sqlalchemy.orm import Session

from core.clock import local_today
from core.models import AdminUser, Assignment, County, Ticket, Township, Village


def village_ids(session: Session, user: AdminUser) -> list[int] | None:
    """None means every village (superadmin)."""
    if user.role == "superadmin":
        return None
    if user.role == "county_admin":
        query = select(Village.id).join(Township).where(Township.county_id == user.county_id)
    elif user.role == "township_clerk":
        query = select(Village.id).where(Village.township_id == user.township_id)
    else:  # lawyer: the villages they currently advise
        today = local_today()
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


# ---------------------------------------------------------------------- areas as SQL


class OutOfScope(Exception):
    """A county or township outside what this admin may see was asked for."""


@dataclass(frozen=True)
class Area:
    """Where figures and lists come from, as sub-selects (never a Python list of ids, so a
    county with thousands of villages stays one indexed query). ``None`` means everywhere."""

    villages: Select[Any] | None
    townships: Select[Any] | None
    label: str
    lawyer_id: int | None = None
    #: Names the area in cache keys: "all", "county:3", "township:12", "lawyer:7".
    key: str = ""

    def village_filter(self, column: Any) -> ColumnElement[bool]:
        return true() if self.villages is None else column.in_(self.villages)  # type: ignore[no-any-return]

    def ticket_filter(self) -> ColumnElement[bool]:
        """Tickets of the area; by township where possible: it also covers the 司法所 queue."""
        if self.lawyer_id is not None or self.townships is None:
            return self.village_filter(Ticket.village_id)
        return Ticket.township_id.in_(self.townships)


def area(session: Session, user: AdminUser, *, county_id: int | None = None, township_id: int | None = None) -> Area:
    """The user's scope, narrowed to a county or township they asked for (``OutOfScope`` if not theirs)."""
    if user.role == "lawyer":
        if county_id or township_id:
            raise OutOfScope()
        today = local_today()
        villages = select(Assignment.village_id).where(
            Assignment.lawyer_id == user.lawyer_id,
            Assignment.start_date <= today,
            (Assignment.end_date.is_(None)) | (Assignment.end_date >= today),
        )
        return Area(
            villages=villages,
            townships=None,
            label="本人所联系的村",
            lawyer_id=user.lawyer_id,
            key=f"lawyer:{user.lawyer_id}",
        )
    allowed_county = user.county_id if user.role in ("county_admin", "township_clerk") else None
    allowed_township = user.township_id if user.role == "township_clerk" else None
    if user.role not in ("superadmin", "county_admin", "township_clerk"):
        raise OutOfScope()
    if township_id:
        township = session.get(Township, township_id)
        if township is None or (allowed_county and township.county_id != allowed_county):
            raise OutOfScope()
        if allowed_township and township.id != allowed_township:
            raise OutOfScope()
        return _townships(
            select(Township.id).where(Township.id == township.id),
            f"{township.county.name}{township.name}",
            key=f"township:{township.id}",
        )
    if allowed_township:
        township = session.get(Township, allowed_township)
        name = f"{township.county.name}{township.name}" if township else "本乡镇"
        if county_id and (township is None or county_id != township.county_id):
            raise OutOfScope()
        return _townships(
            select(Township.id).where(Township.id == allowed_township), name, key=f"township:{allowed_township}"
        )
    county_id = county_id or allowed_county
    if county_id:
        county = session.get(County, county_id)
        if county is None or (allowed_county and county.id != allowed_county):
            raise OutOfScope()
        return _townships(
            select(Township.id).where(Township.county_id == county.id), county.name, key=f"county:{county.id}"
        )
    return everywhere()


def everywhere() -> Area:
    """A system administrator's whole country."""
    return Area(villages=None, townships=None, label="全部地区", key="all")


def _townships(townships: Select[Any], label: str, *, key: str) -> Area:
    return Area(
        villages=select(Village.id).where(Village.township_id.in_(townships)),
        townships=townships,
        label=label,
        key=key,
    )
