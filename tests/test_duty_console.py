"""坐班日历 and 坐班考核 in the admin console: login, CSRF, scope, create/edit/cancel, Excel download."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from admin.app import create_app
from admin.auth import hash_password
from core.db import transaction
from core.models import AdminUser, DutyRule, DutySession, Township, Village
from tests.scheduling_helpers import (
    lawyer_named,
    seeded_without_kb,  # noqa: F401  (overrides `seeded`: no KB)
    session_on,
)

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def app(seeded):  # type: ignore[no-untyped-def]
    with transaction(seeded.session_factory) as s:
        township = s.scalar(select(Township).where(Township.name == "别力古台镇"))
        s.add(
            AdminUser(
                username="clerk",
                password_hash=hash_password("clerk-password"),
                role="township_clerk",
                township_id=township.id,
                county_id=township.county_id,
            )
        )
    return create_app(seeded.settings, container=seeded)


def login(app, username: str, password: str) -> tuple[TestClient, str]:  # type: ignore[no-untyped-def]
    client = TestClient(app, raise_server_exceptions=False)
    page = client.get("/admin/login")
    token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    r = client.post("/admin/login", data={"username": username, "password": password, "csrf": token},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303, r.text
    # Logging in starts a fresh session: forms now carry a new CSRF token.
    token = CSRF.search(client.get("/admin/duty").text).group(1)  # type: ignore[union-attr]
    return client, token


def _village_id(seeded, code: str) -> int:  # type: ignore[no-untyped-def]
    with seeded.session_factory() as s:
        return s.scalar(select(Village.id).where(Village.code == code))  # type: ignore[return-value]


def test_calendar_needs_login_and_is_in_the_navigation(app):  # type: ignore[no-untyped-def]
    anonymous = TestClient(app, raise_server_exceptions=False)
    r = anonymous.get("/admin/duty", follow_redirects=False)
    assert r.status_code == 303 and "/admin/login" in r.headers["location"]
    client, _ = login(app, "admin", "villagelaw-demo")
    page = client.get("/admin/duty?month=2026-12")
    assert page.status_code == 200
    assert 'href="/admin/duty"' in page.text and "坐班日历" in page.text and "坐班考核" in page.text
    assert "巴彦图嘎嘎查 · 乌日娜" in page.text and "红星村 · 巴特尔" in page.text
    assert '<strong id="session-count">24</strong>' in page.text


def test_filters_by_lawyer_and_village(app, seeded):  # type: ignore[no-untyped-def]
    client, _ = login(app, "admin", "villagelaw-demo")
    lawyer = lawyer_named(seeded, "巴特尔")
    page = client.get(f"/admin/duty?month=2026-12&lawyer={lawyer.id}")
    assert "红星村 · 巴特尔" in page.text and "乌日娜" not in page.text.split("<table")[1]
    page = client.get(f"/admin/duty?month=2026-12&village={_village_id(seeded, 'ab02')}")
    assert '<strong id="session-count">2</strong>' in page.text


def test_clerk_sees_and_edits_only_their_township(app, seeded):  # type: ignore[no-untyped-def]
    client, token = login(app, "clerk", "clerk-password")
    page = client.get("/admin/duty?month=2026-12")
    assert "巴彦图嘎嘎查" in page.text and "红星村" not in page.text
    foreign = session_on(seeded, "zl01", dt.date(2026, 12, 8))
    assert client.get(f"/admin/duty/{foreign.id}").status_code == 403
    r = client.post(f"/admin/duty/{foreign.id}/cancel", data={"csrf": token, "reason": "x"})
    assert r.status_code == 403 and "管辖范围" in r.json()["error"]
    r = client.post("/admin/duty/new", data={
        "csrf": token, "village_id": _village_id(seeded, "zl01"), "lawyer_id": lawyer_named(seeded, "巴特尔").id,
        "date": "2026-12-15", "start": "09:00", "end": "13:00"})  # fmt: skip
    assert r.status_code == 403 and "管辖范围" in r.json()["error"]
    with seeded.session_factory() as s:
        assert s.get(DutySession, foreign.id).status == "planned"


def test_create_edit_and_cancel_a_session(app, seeded):  # type: ignore[no-untyped-def]
    client, token = login(app, "clerk", "clerk-password")
    form = {"village_id": _village_id(seeded, "ab02"), "lawyer_id": lawyer_named(seeded, "乌日娜").id,
            "date": "2026-12-15", "start": "14:00", "end": "17:30", "place": "", "kind": "lecture"}  # fmt: skip
    assert client.post("/admin/duty/new", data=form).status_code == 403  # no CSRF token: refused
    r = client.post("/admin/duty/new", data={**form, "csrf": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/duty?month=2026-12"
    with seeded.session_factory() as s:
        duty = s.scalar(select(DutySession).where(DutySession.kind == "lecture"))
        assert duty is not None and duty.starts_at.hour == 6 and duty.place == "嘎查党群服务中心"
    assert "已添加坐班" in client.get("/admin/duty?month=2026-12").text
    bad = client.post("/admin/duty/new", data={**form, "csrf": token, "end": "13:00"})
    assert bad.status_code == 400 and "结束时间必须晚于开始时间" in bad.text
    moved = client.post(f"/admin/duty/{duty.id}", data={**form, "csrf": token, "date": "2026-12-16"},
                        follow_redirects=False)  # fmt: skip
    assert moved.status_code == 303
    r = client.post(f"/admin/duty/{duty.id}/cancel", data={"csrf": token, "reason": "下雪"}, follow_redirects=False)
    assert r.status_code == 303
    with seeded.session_factory() as s:
        row = s.get(DutySession, duty.id)
        assert row.version == 2 and row.status == "cancelled" and row.note == "下雪"
    page = client.get(f"/admin/duty/{duty.id}")
    assert "已取消" in page.text and "取消坐班" not in page.text


def test_rules_page_creates_and_stops_a_rule(app, seeded):  # type: ignore[no-untyped-def]
    client, token = login(app, "admin", "villagelaw-demo")
    form = {"csrf": token, "village_id": _village_id(seeded, "ab05"), "lawyer_id": lawyer_named(seeded, "张建国").id,
            "rrule": "FREQ=MONTHLY;BYDAY=+1TH,+3TH", "start": "09:00", "hours": "4", "kind": "onsite"}  # fmt: skip
    r = client.post("/admin/duty/rules", data=form, follow_redirects=True)
    assert r.status_code == 200 and "每月第1、3个周四" in r.text and "已排出" in r.text
    bad = client.post("/admin/duty/rules", data={**form, "rrule": "FREQ=DAILY"})
    assert bad.status_code == 400 and "每周" in bad.text
    with seeded.session_factory() as s:
        rule = s.scalar(select(DutyRule))
        planned = s.scalars(select(DutySession).where(DutySession.rule_id == rule.id)).all()
    assert len(planned) >= 5
    r = client.post(f"/admin/duty/rules/{rule.id}/stop", data={"csrf": token}, follow_redirects=True)
    assert "已停用规则" in r.text


def test_compliance_page_and_excel_download(app):  # type: ignore[no-untyped-def]
    client, _ = login(app, "clerk", "clerk-password")
    page = client.get("/admin/compliance?month=2026-12")
    assert page.status_code == 200 and "坐班考核 2026年12月" in page.text
    assert page.text.count('class="compliance-row"') == 3  # the clerk's township: 3 villages
    assert "红星村" not in page.text
    xlsx = client.get("/admin/compliance.xlsx?month=2026-12")
    assert xlsx.status_code == 200
    assert "attachment" in xlsx.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(xlsx.content))["2026-12"]
    villages = {row[2] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert villages == {"巴彦图嘎嘎查", "宝格都乌拉嘎查", "查干淖尔嘎查"}


def test_a_lawyers_web_login_reads_only_their_villages(app, seeded):  # type: ignore[no-untyped-def]
    with transaction(seeded.session_factory) as s:
        s.add(
            AdminUser(
                username="wu",
                password_hash=hash_password("lawyer-password"),
                role="lawyer",
                lawyer_id=lawyer_named(seeded, "乌日娜").id,
            )
        )
    client, token = login(app, "wu", "lawyer-password")
    page = client.get("/admin/duty?month=2026-12")
    assert "巴彦图嘎嘎查 · 乌日娜" in page.text and "伊和淖尔嘎查" not in page.text
    assert "新建坐班" not in page.text
    duty = session_on(seeded, "ab01", dt.date(2026, 12, 8))
    r = client.post(f"/admin/duty/{duty.id}/cancel", data={"csrf": token, "reason": "x"})
    assert r.status_code == 403 and "司法所" in r.json()["error"]
