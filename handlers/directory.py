"""Villages and their lawyers: lookups the conversation needs."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from sqlalchemy import ColumnElement, and_, bindparam, or_, select
from sqlalchemy.orm import Session, joinedload

from core.direct import Direct
from core.models import Assignment, ChannelAccount, County, Lawyer, Township, Village, full_place_name

# Words people add or leave out when naming a place; stripped before comparing.
_PLACE_SUFFIXES = re.compile(r"(嘎查村|嘎查|村委会|村民委员会|社区|村|苏木|乡|镇|街道|旗|县|区|盟|市)$")


def counties(session: Session) -> Sequence[County]:
    return session.scalars(select(County).order_by(County.league, County.name)).all()


def townships(session: Session, county_id: int) -> Sequence[Township]:
    return session.scalars(select(Township).where(Township.county_id == county_id).order_by(Township.name)).all()


def villages(session: Session, township_id: int) -> Sequence[Village]:
    return session.scalars(select(Village).where(Village.township_id == township_id).order_by(Village.name)).all()


def village_by_code(session: Session, code: str) -> Village | None:
    return session.scalar(select(Village).where(Village.code == code))


def _core_name(name: str) -> str:
    name = re.sub(r"\s+", "", name)
    previous = None
    while previous != name:
        previous = name
        name = _PLACE_SUFFIXES.sub("", name) or name
    return name


@dataclass(frozen=True)
class VillageMatch:
    village: Village
    score: float


def match_village(session: Session, typed: str, *, limit: int = 5) -> list[VillageMatch]:
    """Villages whose name resembles what the villager typed, best first.

    Typed names are often partial (``巴彦``), carry the township (``巴彦镇红星村``) or drop the
    suffix (``红星``); compare the core names and reward containment either way.

    Names are compared as plain rows and only the best few loaded as villages: with 11,000 villages
    loading them all with their townships took 141 ms a call, and onboarding calls it up to three
    times a message.
    """
    wanted = _core_name(typed)
    if not wanted:
        return []
    letters = set(wanted)
    scored: list[tuple[float, str, int]] = []
    for village_id, name in session.execute(_VILLAGE_NAMES):
        core = _core_name(name)
        if not core or letters.isdisjoint(core):  # nothing in common: a ratio of 0, no containment
            continue
        score = SequenceMatcher(None, wanted, core).ratio()
        if core in wanted or wanted in core:
            score = max(score, 0.75 + 0.25 * min(len(wanted), len(core)) / max(len(wanted), len(core)))
        if score >= 0.5:
            scored.append((score, name, village_id))
    best = sorted(scored, key=lambda m: (-m[0], m[1]))[:limit]
    if not best:
        return []
    loaded = {
        v.id: v
        for v in session.scalars(
            select(Village)
            .where(Village.id.in_([village_id for *_, village_id in best]))
            .options(joinedload(Village.township).joinedload(Township.county))
        )
    }
    return [VillageMatch(loaded[village_id], score) for score, _, village_id in best]


_VILLAGE_NAMES = select(Village.id, Village.name)


def clear_match(matches: list[VillageMatch]) -> Village | None:
    """The one village meant, if the best match clearly beats the rest."""
    if not matches:
        return None
    best = matches[0]
    if best.score >= 0.99 and (len(matches) == 1 or matches[1].score < 0.99):
        return best.village
    if best.score >= 0.75 and (len(matches) == 1 or best.score - matches[1].score >= 0.15):
        return best.village
    return None


def _serving(on: object) -> ColumnElement[bool]:
    """An assignment that runs on the day ``on`` (a date, or a parameter bound later)."""
    return and_(Assignment.start_date <= on, or_(Assignment.end_date.is_(None), Assignment.end_date >= on))


def current_assignments(session: Session, village_id: int, *, on: dt.date) -> Sequence[Assignment]:
    return session.scalars(
        select(Assignment)
        .options(joinedload(Assignment.lawyer))
        .where(Assignment.village_id == village_id, _serving(on))
        .order_by(Assignment.start_date, Assignment.id)
    ).all()


def village_lawyers(session: Session, village_id: int, *, on: dt.date) -> list[Lawyer]:
    return [a.lawyer for a in current_assignments(session, village_id, on=on) if a.lawyer.active]


@dataclass(frozen=True)
class Place:
    """A village by its names, as a villager is told where they are registered."""

    id: int
    name: str
    township: str
    county: str

    @property
    def full_name(self) -> str:
        return full_place_name(self.county, self.township, self.name)


@dataclass(frozen=True)
class LawyerContact:
    name: str
    firm: str
    phone: str


#: A village's names and its active lawyers on a day (one row each; one row of nulls for none), in
#: one plain query: the message on which a villager chooses their village read the village, its
#: township and county, then the assignments and lawyers as ORM objects (docs/PERFORMANCE.md,
#: "choosing the village").
_PLACE_WITH_LAWYERS = Direct(
    select(
        Village.id,
        Village.name,
        Township.name.label("township"),
        County.name.label("county"),
        Lawyer.name.label("lawyer_name"),
        Lawyer.firm.label("lawyer_firm"),
        Lawyer.phone.label("lawyer_phone"),
    )
    .join(Township, Township.id == Village.township_id)
    .join(County, County.id == Township.county_id)
    .outerjoin(
        Assignment,
        and_(Assignment.village_id == Village.id, _serving(bindparam("on", type_=Assignment.start_date.type))),
    )
    .outerjoin(Lawyer, and_(Lawyer.id == Assignment.lawyer_id, Lawyer.active.is_(True)))
    .where(Village.id == bindparam("village_id"))
    .order_by(Assignment.start_date, Assignment.id)
)


def place_with_lawyers(session: Session, village_id: int, *, on: dt.date) -> tuple[Place, list[LawyerContact]] | None:
    """The village's names and its lawyers on the day ``on``, in the order ``village_lawyers`` gives."""
    rows = _PLACE_WITH_LAWYERS.rows_in(session, {"village_id": village_id, "on": on})
    if not rows:
        return None
    first = rows[0]
    place = Place(first["id"], first["name"], first["township"], first["county"])
    lawyers = [
        LawyerContact(row["lawyer_name"], row["lawyer_firm"], row["lawyer_phone"])
        for row in rows
        if row["lawyer_name"] is not None
    ]
    return place, lawyers


def lawyer_accounts(session: Session, lawyer_id: int) -> Sequence[ChannelAccount]:
    """The messenger accounts a lawyer has bound, reachable ones first."""
    return session.scalars(
        select(ChannelAccount)
        .where(ChannelAccount.lawyer_id == lawyer_id)
        .order_by(ChannelAccount.unreachable, ChannelAccount.id)
    ).all()
