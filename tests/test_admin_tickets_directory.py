"""咨询工单 and 村与律师 in the console: scoping, answering from the 司法所 queue, caps, bind codes,
spreadsheet import all-or-nothing, and the yearly Excel 台账."""

from __future__ import annotations

import io
import subprocess
import sys

from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from admin.auth import hash_password
from core.db import transaction
from core.models import AdminUser, Assignment, AuditEvent, Lawyer, Ticket, Township, Village
from tests.helpers import Chat
from tests.test_handoff import bind_lawyer, deliver, pushed
from tests.web import csrf_of, logged_in_client


def _clerk(container, township_name: str, username: str = "clerk") -> None:  # type: ignore[no-untyped-def]
    with transaction(container.session_factory) as s:
        township = s.scalar(select(Township).where(Township.name == township_name))
        s.add(
            AdminUser(
                username=username,
                password_hash=hash_password("pw-12345678"),
                role="township_clerk",
                township_id=township.id,
            )
        )


def _ticket_in(container, user: str, county: str, township: str, village: str, text: str) -> None:  # type: ignore[no-untyped-def]
    chat = Chat(container, user)
    chat.choose_village(county, township, village)
    chat.say("/lawyer")
    chat.say(text)


def test_queue_ticket_answered_by_the_township_reaches_the_villager(seeded):  # type: ignore[no-untyped-def]
    _ticket_in(seeded, "v-q1", "正蓝旗", "上都镇", "红星村", "宅基地被占了怎么办")
    _clerk(seeded, "上都镇")
    client = logged_in_client(seeded, "clerk", "pw-12345678")
    listing = client.get("/admin/tickets?view=queue").text
    assert "T-0001" in listing
    page = client.get("/admin/tickets/T-0001")
    assert page.status_code == 200 and "宅基地被占了" in page.text
    r = client.post(
        "/admin/tickets/T-0001/answer",
        data={"text": "请明天上午来司法所面谈。", "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    deliver(seeded)
    assert "上都镇司法所回复您（T-0001）" in pushed(seeded, "v-q1")[-1]
    with seeded.session_factory() as s:
        assert s.scalar(select(Ticket.status)) == "answered"
        actions = set(s.scalars(select(AuditEvent.action)))
        assert {"ticket_viewed", "ticket_answered"} <= actions


def test_clerk_cannot_see_another_townships_tickets(seeded):  # type: ignore[no-untyped-def]
    _ticket_in(seeded, "v-other", "阿巴嘎旗", "别力古台镇", "巴彦图嘎嘎查", "邻居占了我家草场")
    _clerk(seeded, "上都镇")
    client = logged_in_client(seeded, "clerk", "pw-12345678")
    assert "T-0001" not in client.get("/admin/tickets?view=all").text
    assert client.get("/admin/tickets/T-0001").status_code == 404
    with seeded.session_factory() as s:
        assert s.scalar(select(AuditEvent).where(AuditEvent.action == "ticket_access_denied")) is not None


def test_assign_from_queue_notifies_the_lawyer(seeded):  # type: ignore[no-untyped-def]
    _ticket_in(seeded, "v-assign", "正蓝旗", "上都镇", "红星村", "借钱不还")
    bind_lawyer(seeded, Chat(seeded, "l-late"), "巴特尔")  # binds only after the ticket went to the queue
    client = logged_in_client(seeded)
    page = client.get("/admin/tickets/T-0001")
    with seeded.session_factory() as s:
        batu = s.scalar(select(Lawyer).where(Lawyer.name == "巴特尔"))
        wang = s.scalar(select(Lawyer).where(Lawyer.name == "王海涛"))
    token = csrf_of(page.text)
    assert client.post("/admin/tickets/T-0001/assign", data={"lawyer_id": wang.id, "csrf": token}).status_code == 422
    client.post("/admin/tickets/T-0001/assign", data={"lawyer_id": batu.id, "csrf": token})
    deliver(seeded)
    assert "T-0001" in pushed(seeded, "l-late")[-1]


def test_caps_and_bind_codes_in_the_console(seeded):  # type: ignore[no-untyped-def]
    client = logged_in_client(seeded)
    page = client.get("/admin/directory")
    assert page.status_code == 200 and "红星村" in page.text and "未绑定" in page.text
    token = csrf_of(page.text)
    with seeded.session_factory() as s:
        batu = s.scalar(select(Lawyer).where(Lawyer.name == "巴特尔"))
    r = client.post("/admin/directory/assign", data={"lawyer_id": batu.id, "village_code": "zl05", "csrf": token})
    assert "最多3个村" in r.text  # refused with the reason, nothing stored
    with seeded.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Assignment).where(Assignment.lawyer_id == batu.id)) == 3
    r = client.post(f"/admin/directory/lawyers/{batu.id}/bind-code", data={"csrf": token})
    code = r.text.split('id="bind-code">')[1].split("<")[0].strip()
    from core.clock import utcnow

    seeded.router.clock.now = utcnow()  # the console issued the code on the real clock
    chat = Chat(seeded, "l-console")
    chat.say(f"/bind {code}")
    assert "绑定成功" in chat.text


def _xlsx(rows: list[list[str]]) -> bytes:
    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def test_spreadsheet_import_is_all_or_nothing_with_row_errors(seeded):  # type: ignore[no-untyped-def]
    client = logged_in_client(seeded)
    token = csrf_of(client.get("/admin/directory").text)
    villages = "盟市,旗县,苏木乡镇,嘎查村,编码\n锡林郭勒盟,镶黄旗,新宝拉格镇,巴音塔拉嘎查,xh01\n锡林郭勒盟,镶黄旗,新宝拉格镇,,xh02\n"
    r = client.post(
        "/admin/directory/import",
        data={"kind": "villages", "csrf": token},
        files={"file": ("v.csv", villages.encode("utf-8"), "text/csv")},
    )
    assert r.status_code == 422 and "“嘎查村”不能为空" in r.text and ">3<" in r.text
    with seeded.session_factory() as s:
        assert s.scalar(select(Village).where(Village.code == "xh01")) is None
    good = villages.replace(",,xh02", ",乌兰嘎查,xh02").encode("gb18030")  # Excel's CSV in GBK
    assert (
        client.post(
            "/admin/directory/import",
            data={"kind": "villages", "csrf": token},
            files={"file": ("v.csv", good, "text/csv")},
        ).status_code
        == 200
    )
    lawyers = _xlsx([["姓名", "律师事务所", "电话"], ["赵敏", "镶黄旗民生律师事务所", "13904790199"]])
    assert (
        client.post(
            "/admin/directory/import",
            data={"kind": "lawyers", "csrf": token},
            files={"file": ("l.xlsx", lawyers, "application/octet-stream")},
        ).status_code
        == 200
    )
    rows = [["律师电话", "村编码", "开始日期"]] + [
        ["13904790199", c, "2026-12-01"] for c in ("xh01", "xh02", "zl01", "zl02")
    ]
    r = client.post(
        "/admin/directory/import",
        data={"kind": "assignments", "csrf": token},
        files={"file": ("a.xlsx", _xlsx(rows), "application/octet-stream")},
    )
    assert r.status_code == 422 and "最多3个村" in r.text  # the 4th breaks the cap: none is applied
    with seeded.session_factory() as s:
        zhao = s.scalar(select(Lawyer).where(Lawyer.phone == "13904790199"))
        assert s.scalar(select(func.count()).select_from(Assignment).where(Assignment.lawyer_id == zhao.id)) == 0
    r = client.post(
        "/admin/directory/import",
        data={"kind": "assignments", "csrf": token},
        files={"file": ("a.xlsx", _xlsx(rows[:4]), "application/octet-stream")},
    )
    assert r.status_code == 200 and "已导入 3 行" in r.text


def test_worklog_excel_contains_the_answered_ticket(seeded, db_url, tmp_path):  # type: ignore[no-untyped-def]
    lawyer_chat = Chat(seeded, "l-wl")
    bind_lawyer(seeded, lawyer_chat, "巴特尔")
    _ticket_in(seeded, "v-wl", "正蓝旗", "上都镇", "红星村", "土地流转合同怎么签")
    lawyer_chat.say("/reply T-0001 要签书面合同，写清期限和租金。")
    client = logged_in_client(seeded)
    r = client.get("/admin/directory/worklog?village=zl01&year=2026")
    assert r.status_code == 200
    with seeded.session_factory() as s:
        exported = s.scalar(select(AuditEvent).where(AuditEvent.action == "worklog_exported"))
    assert exported is not None and exported.target == "village:zl01" and exported.detail == "2026"
    sheet = load_workbook(io.BytesIO(r.content)).active
    values = [[c for c in row] for row in sheet.iter_rows(values_only=True)]
    assert "红星村" in values[0][0] and values[1][0] == "序号"
    assert any(row[3] == "巴特尔" and row[4] == "线上" and "土地流转合同" in row[5] for row in values[2:3])
    assert any(row[0] == "合计" and row[1] == "1件" for row in values)
    out = tmp_path / "wl.xlsx"
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "admin.cli",
            "worklog",
            "export",
            "--village",
            "zl01",
            "--year",
            "2026",
            "--out",
            str(out),
        ],
        env={"DATABASE_URL": db_url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    assert "1 entries" in cli.stdout and load_workbook(out).active.max_row == values.__len__()


def test_worklog_excel_keeps_text_that_starts_with_equals_as_text(seeded):  # type: ignore[no-untyped-def]
    import datetime as dt

    from admin.worklog import build_workbook
    from core.models import WorkLogEntry

    with transaction(seeded.session_factory) as s:
        village = s.scalar(select(Village).where(Village.code == "zl01"))
        assert village is not None
        s.add(
            WorkLogEntry(
                village_id=village.id,
                occurred_at=dt.datetime(2026, 6, 1, 2),
                person="=1+1",  # a display name the villager chose
                method="online",
                content='=HYPERLINK("http://x","点我")',  # their question
            )
        )
        s.flush()
        sheet = load_workbook(io.BytesIO(build_workbook(s, village, 2026))).active
    assert sheet is not None
    person, content = sheet["C3"], sheet["F3"]
    assert (person.data_type, person.value) == ("s", "=1+1")
    assert (content.data_type, content.value) == ("s", '=HYPERLINK("http://x","点我")')


def test_a_lawyers_villages_follow_the_local_date_not_utc(seeded, monkeypatch):  # type: ignore[no-untyped-def]
    """01:00 on 2 December in Asia/Shanghai is still 1 December in UTC: an assignment starting on the
    2nd is already the lawyer's, as the bot (which reasons in local days) treats it."""
    import datetime as dt

    from admin import scope
    from core import clock

    # the one place the console asks for today's date (core.clock.local_today)
    monkeypatch.setattr(clock, "utcnow", lambda: dt.datetime(2026, 12, 1, 17, 0))
    with transaction(seeded.session_factory) as session:
        lawyer = Lawyer(name="新律师", firm="测试所", phone="13900000000")
        session.add(lawyer)
        session.flush()
        village = session.scalars(select(Village).order_by(Village.id)).first()
        session.add(Assignment(lawyer_id=lawyer.id, village_id=village.id, start_date=dt.date(2026, 12, 2)))
        session.add(Assignment(lawyer_id=lawyer.id, village_id=village.id + 1, start_date=dt.date(2026, 12, 3)))
        session.flush()
        user = AdminUser(username="new-lawyer", password_hash="x", role="lawyer", lawyer_id=lawyer.id)
        assert scope.village_ids(session, user) == [village.id]  # the 3rd's assignment not yet
