"""The duty calendar: sessions, recurrence rules expanded into sessions, and recording what happened.

Times are naive UTC in the database and Asia/Shanghai for people (core.clock). A rule is an
iCalendar RRULE (python-dateutil), e.g. ``FREQ=MONTHLY;BYDAY=+2TU,+4TU`` with start 09:00 and 240
minutes for "每月第2、4个周二 9:00–13:00". Rules are expanded into ordinary session rows a few
months ahead; each row can then be moved or cancelled on its own without disturbing the rest.

Expansion is idempotent twice over: (rule_id, starts_at) is unique, and each rule remembers how far
it has been planned (a ``cache_entries`` row), so a session that was moved away from its slot is
not planned again in the old one.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from dateutil.relativedelta import relativedelta
from dateutil.rrule import rrulestr
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, sessionmaker

from core.clock import LOCAL_TZ, WEEKDAYS, to_local, to_utc
from core.config import Settings
from core.db import is_postgres, transaction
from core.models import AuditEvent, CacheEntry, DutyRule, DutySession, Lawyer, Village, WorkLogEntry
from handlers import directory, texts
from scheduling import reminders

KINDS = tuple(texts.SESSION_KINDS)  # onsite / lecture / mediation
ALLOWED_FREQ = ("WEEKLY", "MONTHLY")
MAX_HOURS = 12.0
MAX_PEOPLE = 1000
UNRECORDED_LOOKBACK = dt.timedelta(days=60)
#: Common rhythms offered in the console (label, RRULE).
PRESETS = (
    ("每月第2、4个周二", "FREQ=MONTHLY;BYDAY=+2TU,+4TU"),
    ("每月第1、3个周四", "FREQ=MONTHLY;BYDAY=+1TH,+3TH"),
    ("每周三", "FREQ=WEEKLY;BYDAY=WE"),
    ("每两周一次（周五）", "FREQ=WEEKLY;INTERVAL=2;BYDAY=FR"),
    ("每月5日、20日", "FREQ=MONTHLY;BYMONTHDAY=5,20"),
)
_DAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


class CalendarError(ValueError):
    """A change that cannot be made; the message is shown to the admin or lawyer as is."""


# ---------------------------------------------------------------------- rules


def normalise_rrule(text: str) -> str:
    body = re.sub(r"\s+", "", text or "").upper().removeprefix("RRULE:")
    if not body:
        raise CalendarError("请填写重复规则（RRULE），例如 FREQ=MONTHLY;BYDAY=+2TU,+4TU")
    if len(body) > 300:
        raise CalendarError("重复规则太长")
    if "DTSTART" in body or "\n" in body:
        raise CalendarError("重复规则只写 RRULE 部分，不要写 DTSTART")
    # UNTIL is read as local time, like the rest of the rule (the rule's start is a local time).
    body = re.sub(r"(UNTIL=\d{8}(?:T\d{6})?)Z", r"\1", body)
    freq = re.search(r"(?:^|;)FREQ=([A-Z]+)", body)
    if freq is None or freq.group(1) not in ALLOWED_FREQ:
        raise CalendarError("重复规则必须是每周（FREQ=WEEKLY）或每月（FREQ=MONTHLY）")
    try:
        rule = rrulestr(body, dtstart=dt.datetime(2026, 1, 1, 9, 0))
        first = rule.after(dt.datetime(2026, 1, 1))  # type: ignore[union-attr]
    except Exception as exc:  # dateutil raises ValueError, TypeError or IndexError on bad rules
        raise CalendarError(f"重复规则写得不对：{exc or type(exc).__name__}") from None
    if first is None:
        raise CalendarError("这个重复规则不会产生任何日期")
    return body


def parse_hhmm(text: str) -> dt.time:
    match = re.fullmatch(r"\s*([01]?\d|2[0-3])[:：]([0-5]\d)\s*", text or "")
    if match is None:
        raise CalendarError("时间格式应为 HH:MM，例如 09:00")
    return dt.time(int(match.group(1)), int(match.group(2)))


def describe_rrule(body: str) -> str:
    """'FREQ=MONTHLY;BYDAY=+2TU,+4TU' → '每月第2、4个周二' (the raw rule when unusual)."""
    parts = dict(p.split("=", 1) for p in body.split(";") if "=" in p)
    interval = int(parts.get("INTERVAL", "1") or 1)
    freq = parts.get("FREQ")
    byday = [d for d in parts.get("BYDAY", "").split(",") if d]
    try:
        if freq == "WEEKLY" and byday and all(d in _DAY_CODES for d in byday):
            days = "、".join("周" + WEEKDAYS[_DAY_CODES.index(d)] for d in byday)
            return f"每周{days[1:]}" if interval == 1 else f"每{interval}周的{days}"
        if freq == "MONTHLY" and byday:
            ords = [int(d[:-2] or 0) for d in byday]
            codes = {d[-2:] for d in byday}
            if len(codes) == 1 and all(ords):
                day = "周" + WEEKDAYS[_DAY_CODES.index(codes.pop())]
                nth = "、".join("最后一" if n == -1 else str(n) for n in ords)
                return f"每月第{nth}个{day}".replace("第最后一个", "最后一个")
        if freq == "MONTHLY" and parts.get("BYMONTHDAY") and interval == 1:
            return "每月" + "、".join(f"{d}日" for d in parts["BYMONTHDAY"].split(","))
    except (ValueError, IndexError):
        pass
    return body


def occurrences(rule: DutyRule, *, after: dt.datetime, until: dt.datetime) -> list[dt.datetime]:
    """Start instants (naive UTC) of the rule in (after, until]. The rule recurs in local time,
    anchored on the local date it was created."""
    start = parse_hhmm(rule.start_time)
    anchor = dt.datetime.combine(to_local(rule.created_at).date(), start)
    recurrence = rrulestr(rule.rrule, dtstart=anchor)
    local_after = to_local(after).replace(tzinfo=None)
    local_until = to_local(until).replace(tzinfo=None)
    return [to_utc(o.replace(tzinfo=LOCAL_TZ)) for o in recurrence.between(local_after, local_until, inc=True)]  # type: ignore[union-attr]


def _watermark_key(rule_id: int) -> str:
    return f"duty_rule:{rule_id}:planned_until"


def _watermark(session: Session, rule_id: int) -> dt.datetime | None:
    entry = session.get(CacheEntry, _watermark_key(rule_id))
    return dt.datetime.fromisoformat(entry.value) if entry else None


def _set_watermark(session: Session, rule_id: int, until: dt.datetime) -> None:
    entry = session.get(CacheEntry, _watermark_key(rule_id))
    if entry is None:
        session.add(CacheEntry(key=_watermark_key(rule_id), value=until.isoformat()))
    else:
        entry.value = until.isoformat()


def horizon(settings: Settings, now: dt.datetime) -> dt.datetime:
    return now + relativedelta(months=settings.duty_plan_months_ahead)


def expand_rule(session: Session, rule: DutyRule, *, settings: Settings, now: dt.datetime) -> int:
    """Plan the rule's sessions up to the horizon; returns how many rows were created."""
    if not rule.active:
        return 0
    until = horizon(settings, now)
    since = max(now, _watermark(session, rule.id) or now)
    if since >= until:
        return 0
    village = session.get(Village, rule.village_id)
    assert village is not None
    existing = set(
        session.scalars(
            select(DutySession.starts_at).where(
                DutySession.rule_id == rule.id, DutySession.starts_at > since, DutySession.starts_at <= until
            )
        )
    )
    created = 0
    for starts_at in occurrences(rule, after=since, until=until):
        if starts_at in existing or starts_at <= now:
            continue
        if not _advises(session, rule.lawyer_id, rule.village_id, to_local(starts_at).date()):
            continue  # the assignment ended (or has not begun): nothing to plan
        ends_at = starts_at + dt.timedelta(minutes=rule.duration_minutes)
        if _clash(session, lawyer_id=rule.lawyer_id, starts_at=starts_at, ends_at=ends_at, ignore_id=None):
            continue  # already there at that time (planned by hand or by another rule)
        row = DutySession(
            lawyer_id=rule.lawyer_id,
            village_id=rule.village_id,
            rule_id=rule.id,
            starts_at=starts_at,
            ends_at=ends_at,
            place=rule.place,
            kind=rule.kind,
            status="planned",
            created_at=now,
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            continue  # planned concurrently by another process
        created += 1
    _set_watermark(session, rule.id, until)
    return created


def expand_rules(factory: sessionmaker[Session], settings: Settings, *, now: dt.datetime) -> int:
    with factory() as session:
        ids = list(session.scalars(select(DutyRule.id).where(DutyRule.active.is_(True)).order_by(DutyRule.id)))
    created = 0
    for rule_id in ids:
        with transaction(factory) as session:
            rule = session.get(DutyRule, rule_id)
            if rule is not None:
                created += expand_rule(session, rule, settings=settings, now=now)
    return created


def create_rule(
    session: Session,
    *,
    settings: Settings,
    lawyer: Lawyer,
    village: Village,
    rrule: str,
    start_time: str,
    duration_minutes: int,
    place: str,
    kind: str,
    now: dt.datetime,
    actor: str,
) -> tuple[DutyRule, int]:
    body = normalise_rrule(rrule)
    start = parse_hhmm(start_time)
    _check_kind(kind)
    if not 30 <= duration_minutes <= MAX_HOURS * 60:
        raise CalendarError("时长应在0.5到12小时之间")
    if not _advises(session, lawyer.id, village.id, to_local(now).date()):
        raise CalendarError(f"{lawyer.name}律师目前不是{village.name}的法律顾问")
    rule = DutyRule(
        lawyer_id=lawyer.id,
        village_id=village.id,
        rrule=body,
        start_time=start.strftime("%H:%M"),
        duration_minutes=duration_minutes,
        place=_place(place, village),
        kind=kind,
        active=True,
        created_at=now,
    )
    session.add(rule)
    session.flush()
    session.add(AuditEvent(at=now, actor=actor, action="duty_rule_created", target=f"duty_rule:{rule.id}", detail=body))
    return rule, expand_rule(session, rule, settings=settings, now=now)


def deactivate_rule(session: Session, rule: DutyRule, *, now: dt.datetime, actor: str) -> int:
    """Stop the rule; its future planned sessions are cancelled (those reminded are told)."""
    rule.active = False
    future = session.scalars(
        select(DutySession).where(
            DutySession.rule_id == rule.id, DutySession.status == "planned", DutySession.starts_at > now
        )
    ).all()
    for duty in future:
        cancel_session(session, duty, reason=None, now=now, actor=actor)
    session.add(AuditEvent(at=now, actor=actor, action="duty_rule_stopped", target=f"duty_rule:{rule.id}"))
    return len(future)


# ---------------------------------------------------------------------- sessions


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise CalendarError("坐班类型不对")


def _place(place: str | None, village: Village) -> str:
    value = (place or "").strip() or village.duty_place or "村委会"
    return value[:100]


def _advises(session: Session, lawyer_id: int, village_id: int, day: dt.date) -> bool:
    return any(a.lawyer_id == lawyer_id for a in directory.current_assignments(session, village_id, on=day))


def _check_times(
    session: Session, *, lawyer_id: int, starts_at: dt.datetime, ends_at: dt.datetime, ignore_id: int | None
) -> None:
    if ends_at <= starts_at:
        raise CalendarError("结束时间必须晚于开始时间")
    if ends_at - starts_at > dt.timedelta(hours=MAX_HOURS):
        raise CalendarError("一次坐班不能超过12小时")
    clash = _clash(session, lawyer_id=lawyer_id, starts_at=starts_at, ends_at=ends_at, ignore_id=ignore_id)
    if clash is not None:
        raise CalendarError(f"这位律师同一时间已有坐班（{clash.village.name} {to_local(clash.starts_at):%m-%d %H:%M}）")


def _clash(
    session: Session, *, lawyer_id: int, starts_at: dt.datetime, ends_at: dt.datetime, ignore_id: int | None
) -> DutySession | None:
    return session.scalar(
        select(DutySession)
        .where(
            DutySession.lawyer_id == lawyer_id,
            DutySession.status.in_(("planned", "done")),
            DutySession.starts_at < ends_at,
            DutySession.ends_at > starts_at,
            DutySession.id != (ignore_id or 0),
        )
        .limit(1)
    )


def local_range(day: dt.date, start: str, end: str) -> tuple[dt.datetime, dt.datetime]:
    """A local date and HH:MM–HH:MM → naive UTC instants."""
    starts = dt.datetime.combine(day, parse_hhmm(start), tzinfo=LOCAL_TZ)
    ends = dt.datetime.combine(day, parse_hhmm(end), tzinfo=LOCAL_TZ)
    return to_utc(starts), to_utc(ends)


def create_session(
    session: Session,
    *,
    lawyer: Lawyer,
    village: Village,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    place: str | None,
    kind: str,
    now: dt.datetime,
    actor: str,
) -> DutySession:
    _check_kind(kind)
    if not _advises(session, lawyer.id, village.id, to_local(starts_at).date()):
        raise CalendarError(f"{lawyer.name}律师在这一天不是{village.name}的法律顾问")
    _check_times(session, lawyer_id=lawyer.id, starts_at=starts_at, ends_at=ends_at, ignore_id=None)
    duty = DutySession(
        lawyer_id=lawyer.id,
        village_id=village.id,
        starts_at=starts_at,
        ends_at=ends_at,
        place=_place(place, village),
        kind=kind,
        status="planned",
        created_at=now,
    )
    session.add(duty)
    session.flush()
    session.add(AuditEvent(at=now, actor=actor, action="duty_created", target=f"duty:{duty.id}"))
    return duty


def lock(session: Session, duty_id: int) -> DutySession | None:
    """The session row, locked on PostgreSQL so a reminder pass and a change do not interleave."""
    query = select(DutySession).where(DutySession.id == duty_id)
    if is_postgres(session):
        query = query.with_for_update(of=DutySession)
    return session.scalar(query.execution_options(populate_existing=True))


def update_session(
    session: Session,
    duty: DutySession,
    *,
    lawyer: Lawyer,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    place: str | None,
    kind: str,
    now: dt.datetime,
    actor: str,
) -> int:
    """Edit a planned session. Moving it (time, place or lawyer) bumps its version, tells those
    already reminded, and makes the reminders due again for the new time. Returns notices sent."""
    locked = lock(session, duty.id)
    assert locked is not None
    if locked.status != "planned":
        raise CalendarError("只能修改计划中的坐班")
    _check_kind(kind)
    if not _advises(session, lawyer.id, locked.village_id, to_local(starts_at).date()):
        raise CalendarError(f"{lawyer.name}律师在这一天不是{locked.village.name}的法律顾问")
    _check_times(session, lawyer_id=lawyer.id, starts_at=starts_at, ends_at=ends_at, ignore_id=locked.id)
    place = _place(place, locked.village)
    before = reminders.Snapshot.of(locked)
    moved = (starts_at, ends_at, place, lawyer.id) != (locked.starts_at, locked.ends_at, locked.place, locked.lawyer_id)
    if locked.rule_id is not None and starts_at != locked.starts_at:
        taken = session.scalar(
            select(DutySession.id).where(DutySession.rule_id == locked.rule_id, DutySession.starts_at == starts_at)
        )
        if taken is not None:
            raise CalendarError("同一规则在这个时间已有一次坐班")
    locked.kind = kind
    if not moved:
        return 0
    locked.starts_at, locked.ends_at, locked.place = starts_at, ends_at, place
    locked.lawyer_id = lawyer.id
    locked.lawyer = lawyer
    locked.version += 1
    session.flush()
    session.add(
        AuditEvent(at=now, actor=actor, action="duty_moved", target=f"duty:{locked.id}", detail=f"v{locked.version}")
    )
    return reminders.notify_change(session, locked, before=before, change="moved", now=now)


def cancel_session(session: Session, duty: DutySession, *, reason: str | None, now: dt.datetime, actor: str) -> int:
    locked = lock(session, duty.id)
    assert locked is not None
    if locked.status != "planned":
        raise CalendarError("只能取消计划中的坐班")
    locked.status = "cancelled"
    locked.note = (reason or "").strip()[:1000] or None
    session.add(AuditEvent(at=now, actor=actor, action="duty_cancelled", target=f"duty:{locked.id}", detail=reason))
    return reminders.notify_change(
        session, locked, before=reminders.Snapshot.of(locked), change="cancelled", reason=reason, now=now
    )


def record_done(
    session: Session,
    duty: DutySession,
    *,
    hours: float,
    people: int,
    now: dt.datetime,
    actor: str,
    note: str | None = None,
) -> WorkLogEntry:
    """Mark a session done with its hours and people served, and write it into the work log
    (一事一记, method on-site). Recording it again corrects the same entry."""
    if duty.starts_at > now:
        raise CalendarError("这次坐班还没开始，不能记录完成")
    if duty.status == "cancelled":
        raise CalendarError("这次坐班已取消")
    if not 0 < hours <= MAX_HOURS:
        raise CalendarError("时长应在0到12小时之间")
    if not 0 <= people <= MAX_PEOPLE:
        raise CalendarError("接待人数不对")
    duty.status = "done"
    duty.hours = round(hours, 2)
    duty.people_served = people
    if note:
        duty.note = note.strip()[:1000]
    kind = texts.SESSION_KINDS.get(duty.kind, duty.kind)
    content = texts.DUTY_WORKLOG_CONTENT.format(kind=kind, place=duty.place)
    result = texts.DUTY_WORKLOG_RESULT.format(hours=f"{duty.hours:g}", people=people)
    entry = session.scalar(select(WorkLogEntry).where(WorkLogEntry.duty_session_id == duty.id))
    if entry is None:
        entry = WorkLogEntry(duty_session_id=duty.id, created_at=now)
        session.add(entry)
    entry.village_id = duty.village_id
    entry.lawyer_id = duty.lawyer_id
    entry.occurred_at = duty.starts_at
    entry.person = texts.DUTY_WORKLOG_PERSON.format(people=people)
    entry.method = "onsite"
    entry.content = content
    entry.result = result + (f"；{duty.note}" if duty.note else "")
    entry.hours = duty.hours
    session.add(AuditEvent(at=now, actor=actor, action="duty_done", target=f"duty:{duty.id}", detail=result))
    return entry


def record_missed(session: Session, duty: DutySession, *, reason: str, now: dt.datetime, actor: str) -> None:
    if duty.starts_at > now:
        raise CalendarError("这次坐班还没开始；不能来的话请联系司法所改期或取消")
    if duty.status != "planned":
        raise CalendarError("这次坐班已经记录过了")
    if not reason.strip():
        raise CalendarError("请写明没去成的原因")
    duty.status = "missed"
    duty.note = reason.strip()[:1000]
    session.add(AuditEvent(at=now, actor=actor, action="duty_missed", target=f"duty:{duty.id}", detail=duty.note))


# ---------------------------------------------------------------------- listings


def lawyer_upcoming(session: Session, lawyer_id: int, *, now: dt.datetime, limit: int = 8) -> Sequence[DutySession]:
    return session.scalars(
        select(DutySession)
        .options(joinedload(DutySession.village))
        .where(DutySession.lawyer_id == lawyer_id, DutySession.status == "planned", DutySession.ends_at > now)
        .order_by(DutySession.starts_at)
        .limit(limit)
    ).all()


def lawyer_unrecorded(session: Session, lawyer_id: int, *, now: dt.datetime, limit: int = 5) -> Sequence[DutySession]:
    """Sessions that have begun but are still 'planned': the lawyer should record them."""
    return session.scalars(
        select(DutySession)
        .options(joinedload(DutySession.village))
        .where(
            DutySession.lawyer_id == lawyer_id,
            DutySession.status == "planned",
            DutySession.starts_at <= now,
            DutySession.starts_at >= now - UNRECORDED_LOOKBACK,
        )
        .order_by(DutySession.starts_at.desc())
        .limit(limit)
    ).all()
