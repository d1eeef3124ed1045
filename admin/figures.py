"""统计报表: the figures a justice bureau reports upward, computed in one place.

The statistics page, its Excel exports and ``villagelaw report`` all call ``compute``; every
figure is an SQL aggregate over one period and one area (admin.scope.Area), so a county with a
million villagers costs a few indexed GROUP BYs, never a loop over rows in Python.

What is counted (also printed on the page and in the workbook's 说明 sheet):
- 咨询 (a consultation): an inbound message from a villager the bot handled as a question —
  ``messages.answered_by`` in CONSULT_KINDS. Follow-ups relayed into an open ticket (``relay``)
  are shown in the answer table but are not new consultations.
- 工单 figures use tickets created in the period; 首次答复 is ``first_response_at - created_at``;
  an SLA breach is an answer after ``sla_due_at``, or no answer while ``sla_due_at`` has passed.
- 满意度 is ``tickets.rating`` (1–5) of the period's tickets.
- 坐班考核 is scheduling.compliance for each month of the period.
- 法律援助 counts the checks started in the period and their outcomes.
Weeks start on Monday (local time); the first and last week are clipped to the period.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Float, Integer, and_, case, cast, distinct, func, literal, or_, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from admin.scope import Area
from core.clock import to_local, to_utc
from core.config import Settings
from core.db import is_postgres
from core.models import (
    ChannelAccount,
    Lawyer,
    LegalAidCheck,
    Message,
    Ticket,
    TicketEvent,
    Village,
    Villager,
)
from core.spreadsheet import safe_row
from handlers import texts
from handlers.tickets import TOPIC_NAMES
from scheduling import compliance

CONSULT_KINDS = ("kb", "suggest", "unsure", "handoff", "emergency", "legal_aid")
ANSWERED_BY_NAMES = {
    "kb": "知识库直接答复",
    "suggest": "推荐相关文章",
    "unsure": "没有把握，建议找律师",
    "handoff": "转给律师（新建工单）",
    "relay": "工单追问，转给律师",
    "emergency": "紧急求助指引",
    "legal_aid": "法律援助自查",
}
TOPICS = {
    **TOPIC_NAMES,
    "ask_lawyer": "找律师",
    "duty_schedule": "坐班时间",
    "lawyer_contact": "律师联系方式",
    "greet": "问候",
    "thanks_bye": "致谢/再见",
    "out_of_scope": "非法律问题",
    "": "未识别",
}
CHANNELS = {"webchat": "网页", "telegram": "Telegram", "wechat": "微信", "cli": "命令行"}
RESPONSE_BUCKETS = (
    (1, "1小时内"),
    (4, "1–4小时"),
    (12, "4–12小时"),
    (24, "12–24小时"),
    (48, "24–48小时"),
    (None, "48小时以上"),
)
UNANSWERED = "尚未答复"
AID_OUTCOME_NAMES = {
    "likely": texts.AID_OUTCOMES["likely"],
    "appoint": "应当指派律师（第25条）",
    "maybe": texts.AID_OUTCOMES["maybe"],
    "unlikely": texts.AID_OUTCOMES["unlikely"],
}
QUEUE_LAWYER = "司法所（未分配律师）"


# ---------------------------------------------------------------------- period


@dataclass(frozen=True)
class Period:
    """Local calendar days [start, end)."""

    start: dt.date
    end: dt.date
    label: str
    key: str

    @property
    def utc_bounds(self) -> tuple[dt.datetime, dt.datetime]:
        return to_utc(dt.datetime.combine(self.start, dt.time())), to_utc(dt.datetime.combine(self.end, dt.time()))

    def months(self) -> list[tuple[int, int]]:
        out = []
        year, month = self.start.year, self.start.month
        while dt.date(year, month, 1) < self.end:
            out.append((year, month))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return out

    def weeks(self) -> list[tuple[dt.date, dt.date]]:
        """Monday-based weeks overlapping the period, clipped to it: (first day, last day)."""
        monday = self.start - dt.timedelta(days=self.start.weekday())
        out = []
        while monday < self.end:
            out.append((max(monday, self.start), min(monday + dt.timedelta(days=6), self.end - dt.timedelta(days=1))))
            monday += dt.timedelta(days=7)
        return out


_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})-?[Qq]([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\s*(?:\.\.|~|至|到)\s*(\d{4}-\d{2}-\d{2})$")


def month_period(year: int, month: int) -> Period:
    end = dt.date(year + (month == 12), month % 12 + 1, 1)
    return Period(dt.date(year, month, 1), end, f"{year}年{month}月", f"{year}-{month:02d}")


def parse_period(text: str | None, *, today: dt.date) -> Period:
    """'2026-12', '2026-Q4', '2026' or '2026-11-01..2026-11-30' (inclusive); empty: this month."""
    value = (text or "").strip()
    if not value:
        return month_period(today.year, today.month)
    if m := _MONTH.match(value):
        year, month = int(m.group(1)), int(m.group(2))
        if 1 <= month <= 12:
            return month_period(year, month)
    if m := _QUARTER.match(value):
        year, quarter = int(m.group(1)), int(m.group(2))
        start = dt.date(year, quarter * 3 - 2, 1)
        end = month_period(year, quarter * 3).end
        return Period(start, end, f"{year}年第{quarter}季度", f"{year}-Q{quarter}")
    if m := _YEAR.match(value):
        year = int(m.group(1))
        return Period(dt.date(year, 1, 1), dt.date(year + 1, 1, 1), f"{year}年", str(year))
    if (m := _RANGE.match(value)) and (span := _dates(m.group(1), m.group(2))):
        first, last = span
        return Period(first, last + dt.timedelta(days=1), f"{first}至{last}", f"{first}..{last}")
    raise ValueError("统计期间的格式：2026-12（月）、2026-Q4（季度）、2026（年）或 2026-11-01..2026-11-30")


def _dates(first_text: str, last_text: str) -> tuple[dt.date, dt.date] | None:
    try:
        first, last = dt.date.fromisoformat(first_text), dt.date.fromisoformat(last_text)
    except ValueError:
        return None
    return (first, last) if first <= last and (last - first).days <= 366 * 3 else None


# ---------------------------------------------------------------------- tables


@dataclass(frozen=True)
class Chart:
    kind: str  # stacked (weeks × series) / bars (one series) / hbars
    label_col: int
    value_cols: tuple[int, ...]
    skip_last_row: bool = False  # a 合计 row is not a bar


@dataclass
class Table:
    key: str
    title: str
    headers: list[str]
    rows: list[list[Any]]
    note: str = ""
    chart: Chart | None = None
    total_rows: int | None = None  # when the page shows only part of the rows


@dataclass
class Figures:
    period: Period
    area_label: str
    generated_at: dt.datetime
    tables: list[Table] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def table(self, key: str) -> Table:
        return next(t for t in self.tables if t.key == key)


#: Villages whose duty compliance one statistics page shows, and lawyers it lists.
PAGE_VILLAGES = 50
PAGE_LAWYER_ROWS = 100

TABLE_KEYS = (
    "consult_topic",
    "consult_channel",
    "answered_by",
    "tickets",
    "response_time",
    "lawyers",
    "satisfaction",
    "compliance",
    "legal_aid",
)


def compute(
    session: Session,
    settings: Settings,
    *,
    period: Period,
    area: Area,
    now: dt.datetime,
    only: Sequence[str] | None = None,
    compliance_villages: Sequence[int] | None = None,
    row_limit: int | None = None,
) -> Figures:
    """Every table of the report (or ``only`` some). ``compliance_villages`` evaluates the duty
    yardstick for those villages only (a page of them); ``row_limit`` trims long lists for a page."""
    figures = Figures(period=period, area_label=area.label, generated_at=now)
    wanted = set(only or TABLE_KEYS)
    if is_postgres(session):
        # Compiling these short aggregates costs PostgreSQL's JIT more time than it saves.
        session.execute(text("SET LOCAL jit = off"))
    start, end = period.utc_bounds
    if wanted & {"consult_topic", "consult_channel", "answered_by"}:
        consult = _consultations(session, area, start, end, period)
        figures.tables += [t for t in consult if t.key in wanted]
        figures.summary.update(_answer_summary(consult))
    if wanted & {"tickets", "response_time", "lawyers", "satisfaction"}:
        tables = _ticket_figures(session, area, start, end, now, row_limit)
        figures.tables += [t for t in tables if t.key in wanted]
        figures.summary.update(_satisfaction_summary(tables))
    if "compliance" in wanted:
        figures.tables.append(_compliance_table(session, settings, area, period, now, compliance_villages))
    if "legal_aid" in wanted:
        figures.tables.append(_legal_aid_table(session, area, start, end))
    order = {key: i for i, key in enumerate(TABLE_KEYS)}
    figures.tables.sort(key=lambda t: order[t.key])
    return figures


def page_figures(
    session: Session, settings: Settings, *, period: Period, area: Area, now: dt.datetime, page: int
) -> Figures:
    """What one page of 统计报表 shows: every table, the duty compliance of one page of villages,
    the busiest lawyers."""
    return compute(
        session,
        settings,
        period=period,
        area=area,
        now=now,
        compliance_villages=area_village_ids(session, area, offset=(page - 1) * PAGE_VILLAGES, limit=PAGE_VILLAGES),
        row_limit=PAGE_LAWYER_ROWS,
    )


# ---------------------------------------------------------------------- SQL helpers


def _days_between(session: Session, later: Any, earlier: Any) -> ColumnElement[Any]:
    if is_postgres(session):
        return func.extract("epoch", later - earlier) / 86400.0
    return func.julianday(later) - func.julianday(earlier)


def _floor(session: Session, value: ColumnElement[Any]) -> ColumnElement[Any]:
    # Only used on non-negative values: CAST truncates toward zero, which is floor there.
    return func.floor(value) if is_postgres(session) else cast(value, Integer)


def _week_of(session: Session, column: Any, origin: dt.datetime) -> ColumnElement[Any]:
    """Index of the Monday-based week of ``column`` counted from ``origin`` (a local Monday, as UTC)."""
    anchor = literal(origin) if is_postgres(session) else literal(origin.isoformat(sep=" "))
    return _floor(session, _days_between(session, column, anchor) / 7)


def _week_labels(period: Period) -> list[str]:
    return [f"{a:%m-%d}–{b:%m-%d}" for a, b in period.weeks()]


def _share(part: int | float, whole: int | float) -> str:
    return f"{part / whole:.1%}" if whole else "—"


# ---------------------------------------------------------------------- consultations


def _consultations(session: Session, area: Area, start: dt.datetime, end: dt.datetime, period: Period) -> list[Table]:
    first_monday = period.start - dt.timedelta(days=period.start.weekday())
    origin = to_utc(dt.datetime.combine(first_monday, dt.time()))
    inner = select(
        _week_of(session, Message.created_at, origin).label("week"),
        func.coalesce(Message.intent, "").label("intent"),
        Message.channel.label("channel"),
        Message.answered_by.label("answered_by"),
    ).where(
        Message.direction == "in",
        Message.created_at >= start,
        Message.created_at < end,
        Message.answered_by.is_not(None),
    )
    if area.villages is not None:
        inner = (
            inner.join(ChannelAccount, ChannelAccount.id == Message.account_id)
            .join(Villager, Villager.id == ChannelAccount.villager_id)
            .where(area.village_filter(Villager.village_id))
        )
    sub = inner.subquery()
    rows = session.execute(
        select(sub.c.week, sub.c.intent, sub.c.channel, sub.c.answered_by, func.count()).group_by(
            sub.c.week, sub.c.intent, sub.c.channel, sub.c.answered_by
        )
    ).all()
    weeks = _week_labels(period)
    by_topic: dict[tuple[int, str], int] = defaultdict(int)
    by_channel: dict[tuple[int, str], int] = defaultdict(int)
    by_kind: dict[str, int] = defaultdict(int)
    for week, intent, channel, answered_by, count in rows:
        by_kind[answered_by] += count
        if answered_by not in CONSULT_KINDS:
            continue
        index = min(max(int(week), 0), len(weeks) - 1)
        by_topic[(index, intent)] += count
        by_channel[(index, channel)] += count
    topic_table = _weekly(
        "consult_topic", "每周咨询量（按类别）", "类别", weeks, by_topic, lambda k: TOPICS.get(k, k or "未识别")
    )
    channel_table = _weekly(
        "consult_channel", "每周咨询量（按渠道）", "渠道", weeks, by_channel, lambda k: CHANNELS.get(k, k)
    )
    consultations = sum(v for k, v in by_kind.items() if k in CONSULT_KINDS)
    answer_rows: list[list[Any]] = []
    for kind, name in ANSWERED_BY_NAMES.items():
        answer_rows.append([name, by_kind.get(kind, 0), _share(by_kind.get(kind, 0), consultations)])
    for kind in sorted(set(by_kind) - set(ANSWERED_BY_NAMES)):
        answer_rows.append([kind, by_kind[kind], _share(by_kind[kind], consultations)])
    answer_rows.append(["咨询合计（不含工单追问）", consultations, _share(consultations, consultations)])
    answers = Table(
        "answered_by",
        "答复方式（知识库与律师）",
        ["答复方式", "次数", "占咨询比例"],
        answer_rows,
        note="“工单追问”是已有工单中村民的补充消息，不计入咨询量。",
        chart=Chart("hbars", 0, (1,), skip_last_row=True),
    )
    return [topic_table, channel_table, answers]


def _weekly(
    key: str,
    title: str,
    what: str,
    weeks: list[str],
    counts: dict[tuple[int, str], int],
    name: Any,
) -> Table:
    totals: dict[str, int] = defaultdict(int)
    for (_, name_key), count in counts.items():
        totals[name_key] += count
    series = sorted(totals, key=lambda s: (-totals[s], s))
    rows: list[list[Any]] = []
    for index, label in enumerate(weeks):
        values = [counts.get((index, s), 0) for s in series]
        rows.append([label, *values, sum(values)])
    rows.append(["合计", *(totals[s] for s in series), sum(totals.values())])
    headers = ["周", *(name(s) for s in series), "合计"]
    chart = Chart("stacked", 0, tuple(range(1, len(series) + 1)), skip_last_row=True) if series else None
    return Table(key, title, headers, rows, note=f"按{what}分列；周一至周日为一周。", chart=chart)


def _answer_summary(tables: list[Table]) -> dict[str, Any]:
    answers = next(t for t in tables if t.key == "answered_by")
    counts = {row[0]: row[1] for row in answers.rows}
    total = counts.get("咨询合计（不含工单追问）", 0)
    kb = counts.get(ANSWERED_BY_NAMES["kb"], 0)
    lawyer = counts.get(ANSWERED_BY_NAMES["handoff"], 0)
    return {
        "consultations": total,
        "kb_answered": kb,
        "kb_share": _share(kb, total),
        "to_lawyer": lawyer,
        "lawyer_share": _share(lawyer, total),
    }


# ---------------------------------------------------------------------- tickets


def _ticket_scope(area: Area, start: dt.datetime, end: dt.datetime) -> ColumnElement[bool]:
    return and_(Ticket.created_at >= start, Ticket.created_at < end, Ticket.kind != "complaint", area.ticket_filter())


def _breached(now: dt.datetime) -> ColumnElement[bool]:
    return or_(
        and_(Ticket.first_response_at.is_not(None), Ticket.first_response_at > Ticket.sla_due_at),
        and_(Ticket.first_response_at.is_(None), Ticket.sla_due_at < now),
    )


def _answerers(session: Session, area: Area, start: dt.datetime, end: dt.datetime) -> dict[str, int]:
    """Tickets of the period answered by a lawyer, and by the 司法所 (both, when both answered)."""
    who = case((TicketEvent.actor.like("lawyer:%"), "by_lawyer"), else_="by_admin")
    events = (
        select(TicketEvent.ticket_id.label("ticket_id"), who.label("who"))
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .where(
            TicketEvent.action == "answered",
            or_(TicketEvent.actor.like("lawyer:%"), TicketEvent.actor.like("admin:%")),
            _ticket_scope(area, start, end),
        )
        .subquery()
    )
    rows = session.execute(select(events.c.who, func.count(distinct(events.c.ticket_id))).group_by(events.c.who)).all()
    return {str(name): int(count) for name, count in rows}


def _ticket_facts(session: Session, area: Area, start: dt.datetime, end: dt.datetime, now: dt.datetime) -> Any:
    """One row per ticket of the period with everything the ticket tables count (a subquery)."""
    hours = _days_between(session, Ticket.first_response_at, Ticket.created_at) * 24
    bucket = case(
        (Ticket.first_response_at.is_(None), len(RESPONSE_BUCKETS)),
        *((hours <= limit, index) for index, (limit, _) in enumerate(RESPONSE_BUCKETS) if limit is not None),
        else_=len(RESPONSE_BUCKETS) - 1,
    )

    def flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return case((condition, 1), else_=0)

    return (
        select(
            Ticket.lawyer_id.label("lawyer_id"),
            bucket.label("bucket"),
            case((Ticket.first_response_at.is_(None), None), else_=hours).label("hours"),
            flag(_breached(now)).label("breach"),
            flag(Ticket.escalated_at.is_not(None)).label("escalated"),
            flag(Ticket.status == "closed").label("closed"),
            flag(Ticket.urgent.is_(True) | (Ticket.kind == "major_event")).label("urgent"),
            Ticket.rating.label("rating"),
        )
        .where(_ticket_scope(area, start, end))
        .subquery()
    )


def _ticket_figures(
    session: Session, area: Area, start: dt.datetime, end: dt.datetime, now: dt.datetime, row_limit: int | None
) -> list[Table]:
    """工单办理, 首次答复用时, 律师办理情况 and 满意度 from two passes over the period's tickets."""
    facts = _ticket_facts(session, area, start, end, now)
    flags = ("breach", "escalated", "closed", "urgent")
    grouped = session.execute(
        select(facts.c.bucket, facts.c.rating, *(facts.c[f] for f in flags), func.count()).group_by(
            facts.c.bucket, facts.c.rating, *(facts.c[f] for f in flags)
        )
    ).all()
    per_bucket: dict[int, int] = defaultdict(int)
    ratings: dict[int, int] = defaultdict(int)
    flagged: dict[str, int] = defaultdict(int)
    for bucket, rating, *values, count in grouped:
        per_bucket[int(bucket)] += count
        if rating is not None:
            ratings[int(rating)] += count
        for name, value in zip(flags, values, strict=True):
            flagged[name] += count * int(value)
    flagged.update(_answerers(session, area, start, end))
    total = sum(per_bucket.values())
    unanswered = per_bucket.get(len(RESPONSE_BUCKETS), 0)
    counts: list[tuple[str, int]] = [
        ("新建工单", total),
        ("其中紧急/重大事项", flagged["urgent"]),
        ("律师已答复", flagged["by_lawyer"]),
        ("司法所答复", flagged["by_admin"]),
        ("尚未答复", unanswered),
        ("超时未按时答复（SLA）", flagged["breach"]),
        ("转司法所跟进", flagged["escalated"]),
        ("已结办", flagged["closed"]),
    ]
    tickets = Table(
        "tickets",
        "工单办理（转律师的咨询）",
        ["项目", "数量", "占新建工单比例"],
        [[label, count, _share(count, total)] for label, count in counts],
    )
    labels = [label for _, label in RESPONSE_BUCKETS] + [UNANSWERED]
    response = Table(
        "response_time",
        "首次答复用时分布",
        ["用时", "工单数", "占比"],
        [[label, per_bucket.get(i, 0), _share(per_bucket.get(i, 0), total)] for i, label in enumerate(labels)],
        note="从村民提交到律师或司法所第一次答复。",
        chart=Chart("bars", 0, (1,)),
    )
    rated = sum(ratings.values())
    average = sum(score * count for score, count in ratings.items()) / rated if rated else None
    satisfaction_rows: list[list[Any]] = [
        [f"{score}分", ratings.get(score, 0), _share(ratings.get(score, 0), rated)] for score in range(5, 0, -1)
    ]
    satisfaction_rows.append(["平均分", round(average, 2) if average is not None else "—", f"{rated}份评价"])
    satisfaction = Table(
        "satisfaction",
        "满意度（回访）",
        ["评分", "数量", "占比"],
        satisfaction_rows,
        note="村民在工单结办后的评分（1–5分）。",
        chart=Chart("bars", 0, (1,), skip_last_row=True),
    )
    return [tickets, response, _lawyers_table(session, facts, row_limit), satisfaction]


def _lawyers_table(session: Session, facts: Any, row_limit: int | None) -> Table:
    per_lawyer = session.execute(
        select(
            facts.c.lawyer_id,
            func.count(),
            func.count(facts.c.hours),
            func.avg(cast(facts.c.hours, Float)),
            func.sum(facts.c.breach),
            func.sum(facts.c.escalated),
            func.count(facts.c.rating),
            func.avg(cast(facts.c.rating, Float)),
        )
        .group_by(facts.c.lawyer_id)
        .order_by(func.count().desc(), facts.c.lawyer_id)
    ).all()
    shown = per_lawyer[:row_limit] if row_limit else per_lawyer
    names = dict(
        session.execute(select(Lawyer.id, Lawyer.name).where(Lawyer.id.in_({r[0] for r in shown if r[0]}))).all()
    )
    rows: list[list[Any]] = []
    for lawyer_id, count, answered, avg_hours, breaches, escalated, rated, avg_rating in shown:
        rows.append(
            [
                names.get(lawyer_id, QUEUE_LAWYER) if lawyer_id else QUEUE_LAWYER,
                count,
                answered,
                round(avg_hours, 1) if avg_hours is not None else "—",
                int(breaches or 0),
                int(escalated or 0),
                rated,
                round(avg_rating, 2) if avg_rating is not None else "—",
            ]
        )
    return Table(
        "lawyers",
        "律师办理情况（首次答复、超时、满意度）",
        ["律师", "工单", "已答复", "平均首次答复（小时）", "超时（SLA）", "转司法所", "评价数", "平均满意度"],
        rows,
        note="按工单的当前负责律师统计；超时：答复晚于期限，或期限已过仍未答复。",
        chart=Chart("hbars", 0, (4,)),
        total_rows=len(per_lawyer),
    )


def _satisfaction_summary(tables: list[Table]) -> dict[str, Any]:
    satisfaction = next(t for t in tables if t.key == "satisfaction")
    response = next(t for t in tables if t.key == "response_time")
    average_row = satisfaction.rows[-1]
    return {
        "rating_average": average_row[1],
        "ratings": sum(row[1] for row in satisfaction.rows[:-1]),
        "tickets": sum(row[1] for row in response.rows),
    }


# ---------------------------------------------------------------------- duty compliance and legal aid


def area_village_ids(session: Session, area: Area, *, offset: int = 0, limit: int | None = None) -> list[int]:
    """Villages of the area in directory order (a page of them with ``limit``)."""
    from core.models import County, Township

    query = (
        select(Village.id)
        .join(Township, Township.id == Village.township_id)
        .join(County, County.id == Township.county_id)
        .where(area.village_filter(Village.id))
        .order_by(County.name, Township.name, Village.name)
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def count_villages(session: Session, area: Area) -> int:
    return int(session.scalar(select(func.count(Village.id)).where(area.village_filter(Village.id))) or 0)


def _compliance_table(
    session: Session,
    settings: Settings,
    area: Area,
    period: Period,
    now: dt.datetime,
    villages: Sequence[int] | None,
) -> Table:
    rules = compliance.Rules.from_settings(settings)
    ids = list(villages) if villages is not None else area_village_ids(session, area)
    rows: list[list[Any]] = []
    statuses: dict[str, int] = defaultdict(int)
    for year, month in period.months():
        for row in compliance.report(
            session, rules, year=year, month=month, now=now, village_ids=ids, lawyer_id=area.lawyer_id
        ):
            rows.append([f"{year}-{month:02d}", *compliance.row_values(row)])
            statuses[row.result.status] += 1
    return Table(
        "compliance",
        "驻村坐班考核（每村每月）",
        ["月份", *compliance.HEADERS],
        rows,
        note="；".join(compliance.rules_lines(rules)),
        chart=None,
        total_rows=None,
    )


def compliance_status_counts(table: Table) -> dict[str, int]:
    column = table.headers.index("状态")
    counts = {label: 0 for label in compliance.STATUS_LABELS.values()}
    for row in table.rows:
        counts[row[column]] = counts.get(row[column], 0) + 1
    return counts


def _legal_aid_table(session: Session, area: Area, start: dt.datetime, end: dt.datetime) -> Table:
    in_period = and_(
        LegalAidCheck.started_at >= start,
        LegalAidCheck.started_at < end,
        area.village_filter(LegalAidCheck.village_id),
    )
    started, completed, handed = session.execute(
        select(
            func.count(LegalAidCheck.id),
            func.count(LegalAidCheck.completed_at),
            func.count(LegalAidCheck.ticket_id),
        ).where(in_period)
    ).one()
    outcomes: dict[str | None, int] = {
        outcome: n
        for outcome, n in session.execute(
            select(LegalAidCheck.outcome, func.count())
            .where(in_period, LegalAidCheck.completed_at.is_not(None))
            .group_by(LegalAidCheck.outcome)
        )
    }
    rows: list[list[Any]] = [
        ["开始自查", started, _share(started, started)],
        ["完成自查", completed, _share(completed, started)],
        ["未完成", started - completed, _share(started - completed, started)],
        ["转律师（工单）", handed, _share(handed, started)],
    ]
    for key, name in AID_OUTCOME_NAMES.items():
        rows.append([f"结果：{name}", outcomes.get(key, 0), _share(outcomes.get(key, 0), completed)])
    return Table(
        "legal_aid",
        "法律援助自查",
        ["项目", "数量", "比例"],
        rows,
        note="“结果”各行的比例以完成自查的人数为分母。",
        chart=Chart("hbars", 0, (1,)),
    )


# ---------------------------------------------------------------------- Excel


def to_workbook(figures: Figures, *, title: str = "村律通统计报表") -> bytes:
    """One sheet per table plus a 说明 sheet: what a bureau forwards upward as is.

    Written in openpyxl's write-only mode (rows streamed, no cell object kept for each of an
    all-areas report's quarter of a million cells)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    about = book.create_sheet("说明")
    about.column_dimensions["A"].width = 28
    about.column_dimensions["B"].width = 90
    heading = WriteOnlyCell(about, value=title)
    heading.font = Font(bold=True, size=14)
    about.append([heading])
    about.append(
        ["统计期间", figures.period.label, f"{figures.period.start} 至 {figures.period.end - dt.timedelta(days=1)}"]
    )
    about.append(["统计范围", figures.area_label])
    about.append(["生成时间", f"{to_local(figures.generated_at):%Y-%m-%d %H:%M}"])
    about.append([])
    for table in figures.tables:
        about.append([table.title, table.note])
    for table in figures.tables:
        sheet = book.create_sheet(_sheet_name(table.title))
        # widths and the frozen header row are written before the first row: set them first
        for index, header in enumerate(table.headers, start=1):
            widest = max([len(str(header))] + [len(str(r[index - 1])) for r in table.rows[:200]])
            sheet.column_dimensions[get_column_letter(index)].width = min(max(8, widest * 1.6 + 2), 60)
        sheet.freeze_panes = "A2"
        header_cells = []
        for header in table.headers:
            cell = WriteOnlyCell(sheet, value=header)
            cell.font = Font(bold=True)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            header_cells.append(cell)
        sheet.append(header_cells)
        for row in table.rows:
            sheet.append(safe_row(sheet, row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _sheet_name(title: str) -> str:
    # Excel: at most 31 characters, none of []:*?/\
    return re.sub(r"[\[\]:*?/\\]", "", title)[:31]
