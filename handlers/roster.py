"""Managing the lawyer–village directory: lawyers, assignments under the policy caps, binding codes."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core.config import Settings
from core.models import (
    Assignment,
    AuditEvent,
    BindCode,
    ChannelAccount,
    County,
    Lawyer,
    Township,
    Village,
)

# No 0/O/1/I/L: codes are read aloud over the phone and typed on small keyboards.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
MAX_BIND_ATTEMPTS_PER_DAY = 5


class PolicyError(ValueError):
    """A change the policy forbids; the message is shown to the admin as is."""


def add_lawyer(
    session: Session,
    *,
    name: str,
    firm: str,
    phone: str,
    practice_areas: list[str] | None = None,
    languages: list[str] | None = None,
) -> Lawyer:
    lawyer = Lawyer(
        name=name.strip(),
        firm=firm.strip(),
        phone=phone.strip(),
        practice_areas=practice_areas or [],
        languages=languages or ["汉语"],
    )
    session.add(lawyer)
    session.flush()
    return lawyer


def cap_for(settings: Settings, county: County) -> int:
    return settings.max_villages_per_lawyer_underserved if county.underserved else settings.max_villages_per_lawyer


def _overlaps(start: dt.date, end: dt.date | None):  # type: ignore[no-untyped-def]
    far = dt.date.max
    return (Assignment.start_date <= (end or far)) & or_(Assignment.end_date.is_(None), Assignment.end_date >= start)


def assign(
    session: Session,
    *,
    settings: Settings,
    lawyer: Lawyer,
    village: Village,
    start: dt.date,
    end: dt.date | None = None,
) -> Assignment:
    """Assign a lawyer to a village, refusing what breaks the policy caps.

    The cap is the one of the village's county (3, or 8 where the county is under-served), and
    counts every village the lawyer advises during any part of the new assignment's period.
    """
    if end is not None and end < start:
        raise PolicyError("结束日期不能早于开始日期")
    duplicate = session.scalar(
        select(Assignment).where(
            Assignment.lawyer_id == lawyer.id, Assignment.village_id == village.id, _overlaps(start, end)
        )
    )
    if duplicate is not None:
        raise PolicyError(f"{lawyer.name}律师在这段时间已经是{village.name}的法律顾问")
    county = session.get(Township, village.township_id).county  # type: ignore[union-attr]
    cap = cap_for(settings, county)
    current = (
        session.scalar(
            select(func.count(func.distinct(Assignment.village_id))).where(
                Assignment.lawyer_id == lawyer.id, _overlaps(start, end)
            )
        )
        or 0
    )
    if current + 1 > cap:
        kind = "服务力量薄弱地区" if county.underserved else ""
        raise PolicyError(
            f"{lawyer.name}律师已担任{current}个村的法律顾问，{county.name}{kind}每名律师最多{cap}个村，不能再增加{village.name}"
        )
    assignment = Assignment(lawyer_id=lawyer.id, village_id=village.id, start_date=start, end_date=end)
    session.add(assignment)
    session.flush()
    return assignment


def _hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


@dataclass(frozen=True)
class IssuedCode:
    code: str
    expires_at: dt.datetime


def issue_bind_code(
    session: Session, *, settings: Settings, lawyer: Lawyer, now: dt.datetime, actor: str
) -> IssuedCode:
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    expires = now + dt.timedelta(hours=settings.bind_code_ttl_hours)
    session.add(BindCode(lawyer_id=lawyer.id, code_hash=_hash(code), expires_at=expires, created_at=now))
    session.add(AuditEvent(at=now, actor=actor, action="bind_code_issued", target=f"lawyer:{lawyer.id}"))
    return IssuedCode(code, expires)


class BindError(Exception):
    pass


class TooManyAttempts(BindError):
    pass


def bind(session: Session, *, account: ChannelAccount, code: str, now: dt.datetime) -> Lawyer:
    """Link a messenger account to the lawyer whose unexpired, unused code it presents.

    Failed attempts are audited and limited per account, so a villager cannot find a code by guessing
    (31^8 ≈ 8.5e11 codes, 5 tries a day)."""
    since = now - dt.timedelta(days=1)
    failures = (
        session.scalar(
            select(func.count(AuditEvent.id)).where(
                AuditEvent.action == "bind_failed", AuditEvent.target == f"account:{account.id}", AuditEvent.at >= since
            )
        )
        or 0
    )
    if failures >= MAX_BIND_ATTEMPTS_PER_DAY:
        raise TooManyAttempts()
    row = session.scalar(select(BindCode).where(BindCode.code_hash == _hash(code)))
    if row is None or row.used_at is not None or row.expires_at < now:
        session.add(
            AuditEvent(at=now, actor=f"account:{account.id}", action="bind_failed", target=f"account:{account.id}")
        )
        raise BindError()
    row.used_at = now
    lawyer = session.get(Lawyer, row.lawyer_id)
    assert lawyer is not None
    account.lawyer_id = lawyer.id
    account.lawyer = lawyer
    account.unreachable = False
    session.add(AuditEvent(at=now, actor=f"account:{account.id}", action="lawyer_bound", target=f"lawyer:{lawyer.id}"))
    return lawyer


def unbind(session: Session, *, account: ChannelAccount, now: dt.datetime, actor: str) -> None:
    lawyer_id = account.lawyer_id
    account.lawyer_id = None
    account.lawyer = None
    session.add(AuditEvent(at=now, actor=actor, action="lawyer_unbound", target=f"lawyer:{lawyer_id}"))
