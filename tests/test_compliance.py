"""The compliance yardstick: pure arithmetic (incl. the 50 % online cap), the report from the database,
the CLI and the Excel export."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook
from sqlalchemy import select

from core.db import transaction
from core.models import DutySession, Village, WorkLogEntry
from scheduling import calendar
from scheduling.compliance import Activity, Periods, Rules, evaluate, half_days, local_bounds, report, to_xlsx
from tests.conftest import ROOT
from tests.scheduling_helpers import (
    lawyer_named,
    local,
    seeded_without_kb,  # noqa: F401  (overrides `seeded`: no KB)
)

RULES = Rules()
OVER = Periods(month_over=True, quarter_over=True, year_over=False)
IN_PROGRESS = Periods(month_over=False, quarter_over=False, year_over=False)


def ev(periods: Periods = OVER, **kw) -> object:  # type: ignore[no-untyped-def]
    kw.setdefault("month", 12)
    kw.setdefault("lectures_in_quarter", 1)
    kw.setdefault("half_days_to_date", 12)
    return evaluate(Activity(**kw), RULES, periods)


def test_two_sessions_of_four_hours_meet_the_month():  # type: ignore[no-untyped-def]
    r = ev(session_hours=(4.0, 4.0))
    assert r.monthly_met and r.monthly_by == "sessions" and r.status == "green" and r.reasons == ()


def test_eight_hours_in_one_session_also_meet_the_month():  # type: ignore[no-untyped-def]
    r = ev(session_hours=(8.0,))
    assert r.qualifying_sessions == 1 and r.monthly_by == "hours" and r.status == "green"


def test_short_sessions_do_not_count_as_sessions_but_their_hours_do():  # type: ignore[no-untyped-def]
    r = ev(session_hours=(3.0, 3.0, 2.0))
    assert r.qualifying_sessions == 0 and r.onsite_hours == 8.0 and r.monthly_by == "hours"


def test_online_service_offsets_at_most_half_of_the_monthly_hours():  # type: ignore[no-untyped-def]
    r = ev(session_hours=(4.0,), online_hours=10.0)
    assert r.online_credit == 4.0 and r.credited_hours == 8.0  # 10 h online, only 4 h credited
    assert r.monthly_by == "hours_with_online" and r.status == "amber"  # met, but leaning on online work
    short = ev(session_hours=(3.5,), online_hours=40.0)
    assert short.credited_hours == 7.5 and not short.monthly_met and short.status == "red"
    none_onsite = ev(session_hours=(), online_hours=100.0)
    assert none_onsite.credited_hours == 4.0 and not none_onsite.monthly_met


def test_the_offset_cap_is_configurable():  # type: ignore[no-untyped-def]
    generous = Rules(online_offset_share=0.75)
    r = evaluate(Activity(month=12, session_hours=(2.0,), online_hours=10.0, lectures_in_quarter=1,
                          half_days_to_date=12), generous, OVER)  # fmt: skip
    assert r.online_credit == 6.0 and r.monthly_met


def test_a_month_in_progress_is_amber_not_red():  # type: ignore[no-untyped-def]
    r = ev(IN_PROGRESS, session_hours=(4.0,))
    assert not r.monthly_met and r.status == "amber"
    assert ev(OVER, session_hours=(4.0,)).status == "red"


def test_lectures_per_quarter():  # type: ignore[no-untyped-def]
    pending = ev(IN_PROGRESS, session_hours=(4.0, 4.0), lectures_in_quarter=0)
    assert pending.lectures_met is None and pending.status == "amber"
    failed = ev(OVER, session_hours=(4.0, 4.0), lectures_in_quarter=0)
    assert failed.lectures_met is False and failed.status == "red" and any("讲座" in x for x in failed.reasons)


def test_half_days_a_year_pro_rata_and_in_full():  # type: ignore[no-untyped-def]
    assert half_days(4.0, RULES) == 1 and half_days(8.0, RULES) == 2 and half_days(3.9, RULES) == 0
    behind = ev(session_hours=(4.0, 4.0), month=6, half_days_to_date=5)
    assert behind.half_days_target == 6 and behind.status == "amber"
    year_done = Periods(month_over=True, quarter_over=True, year_over=True)
    assert ev(year_done, session_hours=(4.0, 4.0), half_days_to_date=11).status == "red"
    assert ev(year_done, session_hours=(4.0, 4.0), half_days_to_date=12).status == "green"


@given(
    onsite=st.lists(st.floats(min_value=0, max_value=12, allow_nan=False), max_size=6),
    online=st.floats(min_value=0, max_value=200, allow_nan=False),
)
def test_online_credit_never_exceeds_the_cap_and_never_lowers_the_result(onsite, online):  # type: ignore[no-untyped-def]
    base = ev(session_hours=tuple(onsite))
    with_online = ev(session_hours=tuple(onsite), online_hours=online)
    assert with_online.online_credit <= RULES.online_offset_share * RULES.min_hours_per_month + 1e-9
    assert with_online.monthly_met or not base.monthly_met
    # online work alone can never meet the month
    assert not ev(session_hours=(), online_hours=online).monthly_met


# ---------------------------------------------------------------------- from the database


def _record(container, code: str, day: int, hours: float, kind: str = "onsite") -> None:  # type: ignore[no-untyped-def]
    lawyer = lawyer_named(container, "乌日娜")  # before the transaction: SQLite has one writer
    with transaction(container.session_factory) as s:
        village = s.scalar(select(Village).where(Village.code == code))
        duty = calendar.create_session(
            s,
            lawyer=lawyer,
            village=village,
            starts_at=local(2026, 12, day, 14),
            ends_at=local(2026, 12, day, 18),
            place=None,
            kind=kind,
            now=local(2026, 12, 1),
            actor="test",
        )
        calendar.record_done(s, duty, hours=hours, people=3, now=local(2026, 12, 31, 12), actor="test")


def _online(container, code: str, tickets: int) -> None:  # type: ignore[no-untyped-def]
    lawyer = lawyer_named(container, "乌日娜")
    with transaction(container.session_factory) as s:
        village = s.scalar(select(Village).where(Village.code == code))
        for n in range(tickets):
            s.add(
                WorkLogEntry(village_id=village.id, lawyer_id=lawyer.id,
                             occurred_at=local(2026, 12, 10 + n, 9), method="online", content="咨询")
            )  # fmt: skip


@pytest.fixture
def december(seeded):  # type: ignore[no-untyped-def]
    """乌日娜's December: ab01 two 4 h sessions + a lecture; ab02 one 4 h session + 12 answered tickets;
    ab03 nothing done."""
    _record(seeded, "ab01", 2, 4.0)
    _record(seeded, "ab01", 16, 4.0)
    _record(seeded, "ab01", 18, 2.0, kind="lecture")
    _record(seeded, "ab02", 3, 4.0)
    _online(seeded, "ab02", 12)  # 12 × 0.5 h = 6 h online, capped at 4 h
    return seeded


def _rows(container, now):  # type: ignore[no-untyped-def]
    with container.session_factory() as s:
        rows = report(s, RULES, year=2026, month=12, now=now, lawyer_id=lawyer_named(container, "乌日娜").id)
    return {r.village: r.result for r in rows}


def test_report_from_the_database(december):  # type: ignore[no-untyped-def]
    rows = _rows(december, now=local(2027, 1, 5))
    ab01, ab02, ab03 = rows["巴彦图嘎嘎查"], rows["宝格都乌拉嘎查"], rows["查干淖尔嘎查"]
    assert (ab01.qualifying_sessions, ab01.onsite_hours, ab01.lectures, ab01.monthly_by) == (2, 8.0, 1, "sessions")
    # December is the last month: the year is over too, and 2 half-days fall short of 12 a year.
    assert ab01.half_days == 2 and ab01.status == "red" and ab01.reasons == ("全年现场坐班2个半天，进度要求12个",)
    assert (ab02.online_hours, ab02.online_credit, ab02.credited_hours) == (6.0, 4.0, 8.0)
    assert ab02.monthly_by == "hours_with_online"
    assert ab02.lectures_met is False and ab02.status == "red"  # the quarter is over without a lecture
    assert not ab03.monthly_met and ab03.status == "red"
    # The planned-but-not-done demo sessions do not count
    with december.session_factory() as s:
        assert s.scalar(select(DutySession).where(DutySession.status == "planned")) is not None


def test_month_bounds_are_local():  # type: ignore[no-untyped-def]
    start, end = local_bounds(2026, 12)
    assert str(start) == "2026-11-30 16:00:00" and str(end) == "2026-12-31 16:00:00"


def test_excel_export_has_the_rows_and_the_rules(december):  # type: ignore[no-untyped-def]
    with december.session_factory() as s:
        rows = report(s, RULES, year=2026, month=12, now=local(2027, 1, 5))
    book = load_workbook(io.BytesIO(to_xlsx(rows, RULES, year=2026, month=12)))
    sheet = book["2026-12"]
    header = [c.value for c in sheet[1]]
    assert header[:5] == ["旗县", "苏木乡镇", "嘎查村", "律师", "状态"]
    by_village = {row[2]: row for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert len(by_village) == 12  # every assigned village of the demo directory
    assert by_village["宝格都乌拉嘎查"][header.index("线上折抵小时")] == 4.0
    assert by_village["查干淖尔嘎查"][header.index("状态")] == "未达标"
    assert "50%" in book["考核规则"]["A2"].value


def test_excel_export_keeps_a_name_that_starts_with_equals_as_text(december):  # type: ignore[no-untyped-def]
    import dataclasses

    with december.session_factory() as s:
        rows = report(s, RULES, year=2026, month=12, now=local(2027, 1, 5))
    rows[0] = dataclasses.replace(rows[0], lawyer='=HYPERLINK("http://x")')  # e.g. from an imported CSV
    cell = load_workbook(io.BytesIO(to_xlsx(rows, RULES, year=2026, month=12)))["2026-12"]["D2"]
    assert cell.data_type == "s" and cell.value == '=HYPERLINK("http://x")'


def test_cli_prints_the_report(december, db_url):  # type: ignore[no-untyped-def]
    december.engine.dispose()
    env = {"DATABASE_URL": db_url, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "ENV": "test"}
    out = subprocess.run(
        [sys.executable, "-m", "admin.cli", "compliance", "report", "--month", "2026-12", "--county", "阿巴嘎旗"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "坐班考核 2026-12" in out.stdout and "宝格都乌拉嘎查\t乌日娜" in out.stdout
    assert "红星村" not in out.stdout  # another county
    bad = subprocess.run(
        [sys.executable, "-m", "admin.cli", "compliance", "report", "--month", "2026-13"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode != 0 and "YYYY-MM" in bad.stderr
