"""The policy's yardstick for on-site duty, per lawyer per village per month.

Defaults are the policy's numbers (all settings, see core.config ``compliance_*``):
- monthly on-site duty: at least 2 on-site sessions of at least 4 h each, OR at least 8 h of
  on-site time in the month; toward those 8 h, online/phone service may make up at most 50 %
  (i.e. at most 4 h are credited, however much online work was done);
- at least 1 legal lecture (法治讲座) a quarter;
- at least 12 on-site half-days a year (a session of h hours counts floor(h / 4) half-days),
  checked pro rata during the year (1 a month) and in full once December is over.

What counts: sessions with status ``done``; kinds ``onsite`` and ``mediation`` are on-site time,
``lecture`` counts as a lecture. Online/phone hours come from the work log entries of tickets
(method online or phone) of that lawyer and village in the month: the hours recorded on the
entry, or 0.5 h per answered ticket when none were recorded (COMPLIANCE_ONLINE_HOURS_PER_TICKET).
A month uses Asia/Shanghai calendar boundaries.

Status: red — a requirement failed for a period that is over (the month, the quarter, the year);
amber — not failed yet but at risk (month in progress and not met yet, met only thanks to online
credit, no lecture yet this quarter, half-days behind pace); green — everything met.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ, to_local, to_utc
from core.config import Settings
from core.models import Assignment, County, DutySession, Lawyer, Township, Village, WorkLogEntry
from core.spreadsheet import safe_row

ONSITE_KINDS = ("onsite", "mediation")
ONLINE_METHODS = ("online", "phone")
STATUS_LABELS = {"green": "达标", "amber": "预警", "red": "未达标"}


@dataclass(frozen=True)
class Rules:
    min_sessions_per_month: int = 2
    min_session_hours: float = 4.0
    min_hours_per_month: float = 8.0
    online_offset_share: float = 0.5
    online_hours_per_ticket: float = 0.5
    min_lectures_per_quarter: int = 1
    min_half_days_per_year: int = 12

    @classmethod
    def from_settings(cls, settings: Settings) -> Rules:
        return cls(
            min_sessions_per_month=settings.compliance_min_sessions_per_month,
            min_session_hours=settings.compliance_min_session_hours,
            min_hours_per_month=settings.compliance_min_hours_per_month,
            online_offset_share=settings.compliance_online_offset_share,
            online_hours_per_ticket=settings.compliance_online_hours_per_ticket,
            min_lectures_per_quarter=settings.compliance_min_lectures_per_quarter,
            min_half_days_per_year=settings.compliance_min_half_days_per_year,
        )


@dataclass(frozen=True)
class Activity:
    """What one lawyer did in one village, as far as the yardstick needs it."""

    month: int  # 1–12: the month reported (also where in the quarter and year it falls)
    session_hours: tuple[float, ...] = ()  # on-site sessions done this month, hours each
    online_hours: float = 0.0  # online/phone service this month
    lectures_in_quarter: int = 0  # lectures done in the quarter up to the end of the month
    half_days_to_date: int = 0  # on-site half-days this year up to the end of the month


@dataclass(frozen=True)
class Periods:
    """Which periods are over when the report is made."""

    month_over: bool
    quarter_over: bool
    year_over: bool


@dataclass(frozen=True)
class Result:
    sessions: int
    qualifying_sessions: int
    onsite_hours: float
    online_hours: float
    online_credit: float
    credited_hours: float
    monthly_met: bool
    monthly_by: str | None  # sessions / hours / hours_with_online
    lectures: int
    lectures_met: bool | None  # None: the quarter is not over and none yet
    half_days: int
    half_days_target: float
    status: str
    reasons: tuple[str, ...] = field(default_factory=tuple)


def half_days(hours: float, rules: Rules) -> int:
    return math.floor(hours / rules.min_session_hours + 1e-9)


def evaluate(activity: Activity, rules: Rules, periods: Periods) -> Result:
    """Pure arithmetic of the yardstick for one lawyer–village–month."""
    onsite = round(sum(activity.session_hours), 2)
    qualifying = sum(1 for h in activity.session_hours if h + 1e-9 >= rules.min_session_hours)
    credit = round(min(activity.online_hours, rules.online_offset_share * rules.min_hours_per_month), 2)
    credited = round(onsite + credit, 2)
    by: str | None = None
    if qualifying >= rules.min_sessions_per_month:
        by = "sessions"
    elif onsite + 1e-9 >= rules.min_hours_per_month:
        by = "hours"
    elif credited + 1e-9 >= rules.min_hours_per_month:
        by = "hours_with_online"
    red: list[str] = []
    amber: list[str] = []
    if by is None:
        gap = f"现场{qualifying}次/{onsite:g}小时（含线上折抵{credited:g}小时）"
        (red if periods.month_over else amber).append(
            f"本月坐班不足：{gap}，要求{rules.min_sessions_per_month}次×{rules.min_session_hours:g}小时"
            f"或{rules.min_hours_per_month:g}小时"
        )
    elif by == "hours_with_online":
        amber.append(f"本月靠线上服务折抵{credit:g}小时才达标")
    lectures_met: bool | None = activity.lectures_in_quarter >= rules.min_lectures_per_quarter
    if not lectures_met:
        if periods.quarter_over:
            red.append(f"本季度法治讲座{activity.lectures_in_quarter}次，要求至少{rules.min_lectures_per_quarter}次")
        else:
            lectures_met = None
            amber.append("本季度还没有开展法治讲座")
    target = rules.min_half_days_per_year * (12 if periods.year_over else activity.month) / 12
    if activity.half_days_to_date + 1e-9 < target:
        message = f"全年现场坐班{activity.half_days_to_date}个半天，进度要求{target:g}个"
        (red if periods.year_over else amber).append(message)
    status = "red" if red else "amber" if amber else "green"
    return Result(
        sessions=len(activity.session_hours),
        qualifying_sessions=qualifying,
        onsite_hours=onsite,
        online_hours=round(activity.online_hours, 2),
        online_credit=credit,
        credited_hours=credited,
        monthly_met=by is not None,
        monthly_by=by,
        lectures=activity.lectures_in_quarter,
        lectures_met=lectures_met,
        half_days=activity.half_days_to_date,
        half_days_target=round(target, 2),
        status=status,
        reasons=tuple(red + amber),
    )


# ---------------------------------------------------------------------- from the database


@dataclass(frozen=True)
class Row:
    county: str
    township: str
    village_id: int
    village: str
    lawyer_id: int
    lawyer: str
    result: Result


def local_bounds(year: int, month: int) -> tuple[dt.datetime, dt.datetime]:
    """The month in Asia/Shanghai as naive-UTC [start, end)."""
    start = dt.datetime(year, month, 1, tzinfo=LOCAL_TZ)
    end = dt.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=LOCAL_TZ)
    return to_utc(start), to_utc(end)


def parse_month(text: str) -> tuple[int, int]:
    try:
        year, month = (int(p) for p in text.strip().split("-"))
        dt.date(year, month, 1)
    except ValueError:
        raise ValueError("月份格式应为 YYYY-MM，例如 2026-12") from None
    return year, month


def periods_at(year: int, month: int, now: dt.datetime) -> Periods:
    quarter_end_month = (month - 1) // 3 * 3 + 3
    return Periods(
        month_over=now >= local_bounds(year, month)[1],
        quarter_over=now >= local_bounds(year, quarter_end_month)[1],
        year_over=now >= local_bounds(year, 12)[1],
    )


def report(
    session: Session,
    rules: Rules,
    *,
    year: int,
    month: int,
    now: dt.datetime,
    village_ids: Iterable[int] | None = None,
    lawyer_id: int | None = None,
) -> list[Row]:
    """Every lawyer–village pair assigned during the month (or with sessions in it), evaluated."""
    month_start, month_end = local_bounds(year, month)
    year_start = local_bounds(year, 1)[0]
    quarter_start = local_bounds(year, (month - 1) // 3 * 3 + 1)[0]
    scope = list(village_ids) if village_ids is not None else None
    first_day, last_day = to_local(month_start).date(), to_local(month_end).date() - dt.timedelta(days=1)

    assignments = select(Assignment.lawyer_id, Assignment.village_id).where(
        Assignment.start_date <= last_day, or_(Assignment.end_date.is_(None), Assignment.end_date >= first_day)
    )
    sessions_query = select(
        DutySession.lawyer_id,
        DutySession.village_id,
        DutySession.kind,
        DutySession.starts_at,
        DutySession.ends_at,
        DutySession.hours,
    ).where(DutySession.status == "done", DutySession.starts_at >= year_start, DutySession.starts_at < month_end)
    online_query = select(WorkLogEntry.lawyer_id, WorkLogEntry.village_id, WorkLogEntry.hours).where(
        WorkLogEntry.method.in_(ONLINE_METHODS),
        WorkLogEntry.occurred_at >= month_start,
        WorkLogEntry.occurred_at < month_end,
        WorkLogEntry.lawyer_id.is_not(None),
        WorkLogEntry.village_id.is_not(None),
    )
    if scope is not None:
        assignments = assignments.where(Assignment.village_id.in_(scope))
        sessions_query = sessions_query.where(DutySession.village_id.in_(scope))
        online_query = online_query.where(WorkLogEntry.village_id.in_(scope))
    if lawyer_id is not None:
        assignments = assignments.where(Assignment.lawyer_id == lawyer_id)
        sessions_query = sessions_query.where(DutySession.lawyer_id == lawyer_id)
        online_query = online_query.where(WorkLogEntry.lawyer_id == lawyer_id)

    pairs: set[tuple[int, int]] = {(lw, v) for lw, v in session.execute(assignments)}
    month_hours: dict[tuple[int, int], list[float]] = defaultdict(list)
    lectures: dict[tuple[int, int], int] = defaultdict(int)
    halves: dict[tuple[int, int], int] = defaultdict(int)
    for lw, v, kind, starts_at, ends_at, hours in session.execute(sessions_query):
        pair = (lw, v)
        spent = hours if hours is not None else (ends_at - starts_at).total_seconds() / 3600
        if kind in ONSITE_KINDS:
            halves[pair] += half_days(spent, rules)
            if starts_at >= month_start:
                month_hours[pair].append(spent)
                pairs.add(pair)
        elif kind == "lecture" and starts_at >= quarter_start:
            lectures[pair] += 1
    online: dict[tuple[int, int], float] = defaultdict(float)
    for who, where, recorded in session.execute(online_query):
        assert who is not None and where is not None  # filtered in the query
        online[(who, where)] += recorded if recorded is not None else rules.online_hours_per_ticket

    periods = periods_at(year, month, now)
    lawyers = {lw.id: lw.name for lw in session.scalars(select(Lawyer).where(Lawyer.id.in_({p[0] for p in pairs})))}
    places = {
        v.id: (c.name, t.name, v.name)
        for v, t, c in session.execute(
            select(Village, Township, County)
            .join(Township, Village.township_id == Township.id)
            .join(County, Township.county_id == County.id)
            .where(Village.id.in_({p[1] for p in pairs}))
        )
    }
    rows = []
    for lw, v in pairs:
        activity = Activity(
            month=month,
            session_hours=tuple(month_hours[(lw, v)]),
            online_hours=online[(lw, v)],
            lectures_in_quarter=lectures[(lw, v)],
            half_days_to_date=halves[(lw, v)],
        )
        county, township, village = places[v]
        rows.append(Row(county, township, v, village, lw, lawyers[lw], evaluate(activity, rules, periods)))
    rows.sort(key=lambda r: (r.county, r.township, r.village, r.lawyer))
    return rows


# ---------------------------------------------------------------------- output

HEADERS = (
    "旗县",
    "苏木乡镇",
    "嘎查村",
    "律师",
    "状态",
    "现场坐班次数",
    "其中≥标准时长",
    "现场小时",
    "线上/电话小时",
    "线上折抵小时",
    "合计认定小时",
    "本季度讲座",
    "全年半天数",
    "全年进度要求",
    "说明",
)


def row_values(row: Row) -> list[object]:
    r = row.result
    return [
        row.county,
        row.township,
        row.village,
        row.lawyer,
        STATUS_LABELS[r.status],
        r.sessions,
        r.qualifying_sessions,
        r.onsite_hours,
        r.online_hours,
        r.online_credit,
        r.credited_hours,
        r.lectures,
        r.half_days,
        r.half_days_target,
        "；".join(r.reasons),
    ]


def rules_lines(rules: Rules) -> list[str]:
    cap = rules.online_offset_share * rules.min_hours_per_month
    return [
        f"每村每月现场坐班≥{rules.min_sessions_per_month}次、每次≥{rules.min_session_hours:g}小时，"
        f"或每月≥{rules.min_hours_per_month:g}小时",
        f"线上/电话服务最多折抵{rules.online_offset_share:.0%}（每月最多{cap:g}小时）；"
        f"每件已答复咨询按{rules.online_hours_per_ticket:g}小时计（台账记录了时长的按实际）",
        f"每季度法治讲座≥{rules.min_lectures_per_quarter}次",
        f"每年现场坐班≥{rules.min_half_days_per_year}个半天（每{rules.min_session_hours:g}小时算1个半天）",
    ]


def to_text(rows: Sequence[Row], rules: Rules, *, year: int, month: int) -> str:
    lines = [f"坐班考核 {year}-{month:02d}", *("  " + line for line in rules_lines(rules)), ""]
    lines.append("\t".join(HEADERS))
    for row in rows:
        lines.append("\t".join(str(v) for v in row_values(row)))
    counts = {s: sum(1 for r in rows if r.result.status == s) for s in STATUS_LABELS}
    lines.append("")
    lines.append("合计：" + "，".join(f"{STATUS_LABELS[s]} {n}" for s, n in counts.items()))
    return "\n".join(lines)


def to_xlsx(rows: Sequence[Row], rules: Rules, *, year: int, month: int) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    fills = {
        "red": PatternFill("solid", fgColor="FBD5D5"),
        "amber": PatternFill("solid", fgColor="FFE8B3"),
        "green": PatternFill("solid", fgColor="D3F0DC"),
    }
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = f"{year}-{month:02d}"
    sheet.append(list(HEADERS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(safe_row(sheet, row_values(row)))
        sheet.cell(row=sheet.max_row, column=HEADERS.index("状态") + 1).fill = fills[row.result.status]
    sheet.freeze_panes = "A2"
    for column, width in zip("ABCDEFGHIJKLMNO", (10, 12, 16, 10, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 60), strict=True):
        sheet.column_dimensions[column].width = width
    notes = book.create_sheet("考核规则")
    for line in rules_lines(rules):
        notes.append([line])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
