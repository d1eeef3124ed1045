"""概览, 统计报表, 知识库缺口, 审计日志 and 便民联系卡 over HTTP: exact figures on constructed data
(tests/console_data.py), every area rule, the Excel exports, the draft-article loop and the
monthly report CLI. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from admin import dashboard, figures, scope
from core.db import transaction
from core.models import AdminUser, AuditEvent, KbArticle
from tests import console_data
from tests.console_data import PASSWORD
from tests.web import csrf_of, logged_in_client

NOV = "2026-11"


@pytest.fixture
def data(seeded):  # type: ignore[no-untyped-def]
    with transaction(seeded.session_factory) as session:
        ids = console_data.build(session)
    return ids


def client_for(seeded, username: str):  # type: ignore[no-untyped-def]
    if username == "admin":
        return logged_in_client(seeded)
    return logged_in_client(seeded, username, PASSWORD)


def stat(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}">([^<]*)<', html)
    assert match, element_id
    return match.group(1).strip()


def _figures(seeded, username: str, **area):  # type: ignore[no-untyped-def]
    with seeded.session_factory() as session:
        user = session.scalar(select(AdminUser).where(AdminUser.username == username))
        chosen = figures.parse_period(NOV, today=console_data.local(12, 1).date())
        return figures.compute(
            session,
            seeded.settings,
            period=chosen,
            area=scope.area(session, user, **area),
            now=seeded.router.clock(),
        )


def _rows(table: figures.Table) -> dict[str, list[object]]:
    return {str(row[0]): row[1:] for row in table.rows}


# ---------------------------------------------------------------------- figures


def test_figures_of_a_county_are_exact(seeded, data):  # type: ignore[no-untyped-def]
    result = _figures(seeded, "county")
    assert result.area_label == "阿巴嘎旗" and result.period.label == "2026年11月"
    summary = result.summary
    assert summary["consultations"] == 7 and summary["kb_answered"] == 3 and summary["kb_share"] == "42.9%"
    assert summary["to_lawyer"] == 1 and summary["lawyer_share"] == "14.3%"
    topic = result.table("consult_topic")
    assert topic.headers == ["周", "劳动用工", "土地", "借贷合同", "法律援助", "婚姻家庭", "合计"]  # most asked first
    weeks = _rows(topic)
    assert list(weeks) == [
        "11-01–11-01",
        "11-02–11-08",
        "11-09–11-15",
        "11-16–11-22",
        "11-23–11-29",
        "11-30–11-30",
        "合计",
    ]
    assert weeks["11-02–11-08"] == [0, 2, 1, 0, 0, 3]
    assert weeks["11-09–11-15"] == [2, 0, 0, 0, 0, 2]
    assert weeks["合计"] == [2, 2, 1, 1, 1, 7]
    channel = result.table("consult_channel")
    assert channel.headers == ["周", "网页", "Telegram", "合计"] and _rows(channel)["合计"] == [4, 3, 7]
    answers = _rows(result.table("answered_by"))
    assert answers["知识库直接答复"] == [3, "42.9%"] and answers["工单追问，转给律师"] == [1, "14.3%"]
    assert answers["紧急求助指引"] == [0, "0.0%"]

    tickets = _rows(result.table("tickets"))
    assert tickets["新建工单"][0] == 4
    assert tickets["律师已答复"][0] == 2 and tickets["司法所答复"][0] == 1 and tickets["尚未答复"][0] == 1
    assert tickets["超时未按时答复（SLA）"][0] == 2 and tickets["转司法所跟进"][0] == 2 and tickets["已结办"][0] == 3
    response = _rows(result.table("response_time"))
    assert response["1小时内"][0] == 0 and response["1–4小时"][0] == 1 and response["4–12小时"][0] == 1
    assert response["24–48小时"][0] == 1 and response["尚未答复"] == [1, "25.0%"]
    lawyers = _rows(result.table("lawyers"))
    assert lawyers["张建国"] == [2, 1, 30.0, 2, 2, 1, 3.0]
    assert lawyers["乌日娜"] == [1, 1, 2.0, 0, 0, 1, 5.0]
    assert lawyers[figures.QUEUE_LAWYER] == [1, 1, 5.0, 0, 0, 0, "—"]
    satisfaction = _rows(result.table("satisfaction"))
    assert satisfaction["5分"] == [1, "50.0%"] and satisfaction["3分"] == [1, "50.0%"] and satisfaction["1分"][0] == 0
    assert satisfaction["平均分"][0] == 4.0 and summary["rating_average"] == 4.0 and summary["ratings"] == 2

    aid = _rows(result.table("legal_aid"))
    assert aid["开始自查"][0] == 2 and aid["完成自查"][0] == 1 and aid["未完成"][0] == 1
    assert aid["结果：很可能符合"] == [1, "100.0%"] and aid["结果：暂不符合"][0] == 0
    compliance = result.table("compliance")
    assert {row[3] for row in compliance.rows} == {
        "巴彦图嘎嘎查",
        "宝格都乌拉嘎查",
        "查干淖尔嘎查",
        "伊和淖尔嘎查",
        "萨如拉图雅嘎查",
        "吉尔嘎郎图嘎查",
    }
    assert all(row[0] == NOV for row in compliance.rows)


def test_figures_everywhere_and_for_a_township(seeded, data):  # type: ignore[no-untyped-def]
    everywhere = _figures(seeded, "admin")
    assert everywhere.summary["consultations"] == 9 and everywhere.summary["tickets"] == 5
    assert _rows(everywhere.table("satisfaction"))["平均分"][0] == 4.0  # 5, 3, 4
    assert _rows(everywhere.table("legal_aid"))["结果：暂不符合"][0] == 1
    township = _figures(seeded, "clerk")
    assert township.area_label == "阿巴嘎旗别力古台镇"
    assert township.summary["consultations"] == 4 and township.summary["tickets"] == 2  # T1, T5
    assert set(_rows(township.table("lawyers"))) == {"乌日娜", figures.QUEUE_LAWYER}
    lawyer = _figures(seeded, "lawyer")  # 张建国: ab04, ab05
    assert lawyer.summary["tickets"] == 2 and set(_rows(lawyer.table("lawyers"))) == {"张建国"}
    assert {row[3] for row in lawyer.table("compliance").rows} == {"伊和淖尔嘎查", "萨如拉图雅嘎查"}


def test_periods_parse_and_refuse_nonsense() -> None:
    import datetime as dt

    today = dt.date(2026, 12, 15)
    assert figures.parse_period("", today=today).key == "2026-12"
    quarter = figures.parse_period("2026-q4", today=today)
    assert (quarter.start, quarter.end, quarter.months()) == (
        dt.date(2026, 10, 1),
        dt.date(2027, 1, 1),
        [(2026, 10), (2026, 11), (2026, 12)],
    )
    span = figures.parse_period("2026-11-01..2026-11-30", today=today)
    assert span.end == dt.date(2026, 12, 1) and span.key == "2026-11-01..2026-11-30"
    assert len(figures.parse_period("2026", today=today).weeks()) == 53
    for bad in ("2026-13", "next month", "2026-11-30..2026-11-01", "2026-02-30..2026-03-01"):
        with pytest.raises(ValueError, match="格式"):
            figures.parse_period(bad, today=today)


# ---------------------------------------------------------------------- pages


def test_stats_page_shows_the_figures_with_charts_and_exports_every_table(seeded, data):  # type: ignore[no-untyped-def]
    client = client_for(seeded, "county")
    page = client.get(f"/admin/stats?period={NOV}")
    assert page.status_code == 200, page.text
    html = page.text
    assert stat(html, "consultations") == "7" and stat(html, "kb-share") == "42.9%"
    assert stat(html, "lawyer-share") == "14.3%" and stat(html, "rating-average") == "4.0"
    assert html.count("<svg") >= 6 and "每周咨询量（按类别）" in html
    assert "红星村" not in html  # another county's village
    for key in figures.TABLE_KEYS:
        assert f'data-export="{key}"' in html
    one = client.get(f"/admin/stats.xlsx?period={NOV}&table=lawyers")
    assert one.status_code == 200 and one.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(one.content))
    assert book.sheetnames == ["说明", "律师办理情况（首次答复、超时、满意度）"]
    rows = list(book["律师办理情况（首次答复、超时、满意度）"].values)
    assert rows[0][:3] == ("律师", "工单", "已答复") and ("张建国", 2, 1, 30, 2, 2, 1, 3) in rows
    everything = load_workbook(io.BytesIO(client.get(f"/admin/stats.xlsx?period={NOV}").content))
    assert len(everything.sheetnames) == 1 + len(figures.TABLE_KEYS)
    assert ("新建工单", 4, "100.0%") in list(everything["工单办理（转律师的咨询）"].values)
    assert everything["说明"]["B3"].value == "阿巴嘎旗"
    with seeded.session_factory() as s:
        exports = s.scalars(select(AuditEvent).where(AuditEvent.action == "stats_exported")).all()
    assert [(e.actor, e.target) for e in exports] == [("admin:county", "lawyers"), ("admin:county", "all")]
    assert client.get("/admin/stats.xlsx?table=nope").status_code == 404
    assert client.get("/admin/stats?period=2026-13").status_code == 400


def test_township_clerk_sees_only_their_township(seeded, data):  # type: ignore[no-untyped-def]
    clerk = client_for(seeded, "clerk2")  # 正蓝旗上都镇
    page = clerk.get(f"/admin/stats?period={NOV}")
    assert page.status_code == 200 and "上都镇" in page.text
    assert stat(page.text, "consultations") == "2" and stat(page.text, "ticket-total") == "1"
    assert clerk.get(f"/admin/stats?period={NOV}&township={data['bieligutai']}").status_code == 403
    assert clerk.get(f"/admin/stats?period={NOV}&county={data['abaga']}").status_code == 403
    assert clerk.get(f"/admin/stats.xlsx?period={NOV}&township={data['bieligutai']}").status_code == 403
    dashboard = clerk.get("/admin").text
    assert "T-0006" not in dashboard and stat(dashboard, "open-count") == "0"
    gaps = clerk.get(f"/admin/gaps?period={NOV}").text
    assert "拖欠工资" not in gaps and "邻居打人了" in gaps
    assert clerk.get("/admin/cards/ab01.pdf").status_code == 404
    assert clerk.get("/admin/audit").status_code == 403
    nav = re.findall(r"<nav>(.*?)</nav>", clerk.get("/admin").text, re.S)[0]
    assert "统计报表" in nav and "审计日志" not in nav
    county = client_for(seeded, "county")
    assert county.get(f"/admin/stats?period={NOV}&county={data['zhenglan']}").status_code == 403
    assert county.get(f"/admin/stats?period={NOV}&township={data['bieligutai']}").status_code == 200


def test_dashboard_of_a_county(seeded, data):  # type: ignore[no-untyped-def]
    html = client_for(seeded, "county").get("/admin").text
    assert [
        label
        for label in re.findall(r'<a href="/admin[^"]*" ?(?:class="active")?>([^<]+)</a>', html.split("</nav>")[0])
    ] == ["概览", "咨询工单", "知识库", "村与律师", "坐班日历", "统计报表", "审计日志"]
    assert stat(html, "open-count") == "2" and stat(html, "new-today") == "1"
    assert stat(html, "overdue-count") == "1" and stat(html, "escalated-count") == "1"
    assert stat(html, "failed-deliveries") == "1" and stat(html, "failed-messages") == "0"
    urgent = html.split('id="urgent"')[1].split("</section>")[0]
    assert "T-0006" in urgent and "T-0004" not in urgent  # T-0004 is closed, and in 正蓝旗
    with seeded.session_factory() as s:  # the questions it showed are in the audit log
        seen = s.scalars(select(AuditEvent).where(AuditEvent.action == "tickets_viewed")).all()
    assert [(e.actor, e.target) for e in seen] == [("admin:county", "dashboard")]
    assert set(seen[0].detail.split()) == set(re.findall(r'href="/admin/tickets/(T-\d+)"', urgent))
    listing = client_for(seeded, "county").get("/admin/tickets?view=all").text
    client_for(seeded, "county").get("/admin/tickets", params={"view": "active " + "x" * 300})  # shows all
    with seeded.session_factory() as s:
        seen = s.scalars(select(AuditEvent).where(AuditEvent.target == "tickets:all")).all()
    assert len(seen) == 2 and seen[0].detail == seen[1].detail
    assert set(seen[0].detail.split()) == set(re.findall(r'href="/admin/tickets/(T-\d+)"', listing))
    week = html.split('id="week-sessions"')[1].split("</section>")[0]
    assert "12-02 09:00–13:00" in week and "巴彦图嘎嘎查" in week
    assert "没有法律顾问的村（1）" in html and "新建嘎查" in html
    assert "律师未绑定消息账号的村（3）" in html and "blocked" in html
    everywhere = client_for(seeded, "admin").get("/admin").text
    assert stat(everywhere, "failed-messages") == "1" and "律师未绑定消息账号的村（9）" in everywhere


def test_dashboard_counts_all_it_lists_only_the_first_of(seeded, data, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(dashboard, "LIST_LIMIT", 1)
    html = client_for(seeded, "county").get("/admin").text
    unbound = html.split("律师未绑定消息账号的村（3）")[1].split("</section>")[0]
    assert "只列出前1个" in unbound
    assert stat(html, "open-count") == "2" and stat(html, "failed-deliveries") == "1"
    assert "律师未绑定消息账号的村（9）" in client_for(seeded, "admin").get("/admin").text


def test_lawyer_web_login_sees_only_their_villages(seeded, data):  # type: ignore[no-untyped-def]
    lawyer = client_for(seeded, "lawyer")
    html = lawyer.get("/admin").text
    assert stat(html, "open-count") == "1" and "T-0006" not in html
    page = lawyer.get(f"/admin/stats?period={NOV}")
    assert stat(page.text, "ticket-total") == "2"
    assert lawyer.get(f"/admin/stats?period={NOV}&county={data['abaga']}").status_code == 403
    assert lawyer.get("/admin/audit").status_code == 403
    nav = re.findall(r"<nav>(.*?)</nav>", html, re.S)[0]
    assert "村与律师" not in nav and "审计日志" not in nav


def test_a_lawyers_web_login_reads_but_cannot_act(seeded, data):  # type: ignore[no-untyped-def]
    """A lawyer answers in their own messenger; the console is their read-only view."""
    from core.models import Ticket

    lawyer = client_for(seeded, "lawyer")
    listing = lawyer.get("/admin/tickets?view=all").text
    code = re.findall(r'href="/admin/tickets/(T-\d+)"', listing)[0]
    page = lawyer.get(f"/admin/tickets/{code}")
    assert page.status_code == 200
    token = csrf_of(page.text)
    with seeded.session_factory() as s:
        before = s.scalars(select(Ticket).where(Ticket.code == code)).one()
        state = (before.status, before.lawyer_id, before.first_response_at)
    for action, form in (("answer", {"text": "我是律师，在网页上答复"}), ("close", {}), ("assign", {"lawyer_id": "1"})):
        r = lawyer.post(f"/admin/tickets/{code}/{action}", data=form | {"csrf": token}, follow_redirects=False)
        assert r.status_code == 403 and "无权限" in r.text, (action, r.status_code)  # the role's refusal
    from tests.test_admin_kb import _fields

    r = lawyer.post("/admin/kb/save", data=_fields(csrf=token), follow_redirects=False)
    assert r.status_code == 403
    with seeded.session_factory() as s:
        after = s.scalars(select(Ticket).where(Ticket.code == code)).one()
        assert (after.status, after.lawyer_id, after.first_response_at) == state


# ---------------------------------------------------------------------- knowledge gaps


def test_gaps_cluster_questions_and_prefill_a_new_article(seeded, data):  # type: ignore[no-untyped-def]
    client = client_for(seeded, "county")
    html = client.get(f"/admin/gaps?period={NOV}").text
    clusters = html.split('class="card cluster"')[1:]
    first = clusters[0]
    assert "老板拖欠工资三个月怎么办" in first and "包工头拖欠工资不给怎么办" in first and "3次" in first
    assert "借钱不还" in "".join(clusters[1:]) and "邻居打人了" not in html  # 正蓝旗
    link = re.search(r'href="(/admin/kb/new\?[^"]+)" class="create-article"', first)
    assert link
    form = client.get(link.group(1).replace("&amp;", "&")).text
    assert 'value="老板拖欠工资三个月怎么办"' in form and "包工头拖欠工资不给怎么办</textarea>" in form
    assert '<option value="labor" selected>' in form
    with seeded.session_factory() as s:
        viewed = s.scalar(select(AuditEvent).where(AuditEvent.action == "tickets_viewed"))
    assert viewed is not None and "T-0001" in (viewed.detail or "")


def test_lawyer_answer_becomes_a_draft_never_published(seeded, data):  # type: ignore[no-untyped-def]
    client = client_for(seeded, "county")
    html = client.get(f"/admin/gaps?period={NOV}").text
    token = csrf_of(html)
    r = client.post(
        "/admin/gaps/draft",
        data={
            "csrf": token,
            "ticket_id": data["t1"],
            "questions": "包工头拖欠工资不给怎么办\n老板拖欠工资三个月怎么办",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/admin/kb/draft-ticket-{data['t1']}"
    with seeded.session_factory() as s:
        article = s.scalar(select(KbArticle).where(KbArticle.slug == f"draft-ticket-{data['t1']}"))
        assert article is not None
        assert article.status == "draft" and article.intent == "labor" and article.reviewed_by == "待审核"
        assert article.questions[:2] == ["老板拖欠工资三个月怎么办", "包工头拖欠工资不给怎么办"]
        assert article.citations == [{"law": "劳动合同法", "article": 30}]
        assert "139****0199" in article.answer and "13904790199" not in article.answer
        assert s.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "kb_draft_proposed")) == 1
    page = client.get(r.headers["location"]).text
    assert "已根据律师答复生成草稿" in page and '<option value="draft" selected>' in page
    again = client.post("/admin/gaps/draft", data={"csrf": token, "ticket_id": data["t1"]}, follow_redirects=False)
    assert again.status_code == 303  # the existing draft, not a second one
    with seeded.session_factory() as s:
        open_ticket = s.scalar(select(KbArticle.id).where(KbArticle.slug.like("draft-ticket-%")))
        assert s.scalar(select(func.count(KbArticle.id)).where(KbArticle.slug.like("draft-ticket-%"))) == 1
        assert open_ticket is not None
        t3 = s.scalar(select(func.min(console_data.Ticket.id)).where(console_data.Ticket.code == "T-0003"))
        t4 = s.scalar(select(func.min(console_data.Ticket.id)).where(console_data.Ticket.code == "T-0004"))
    assert client.post("/admin/gaps/draft", data={"csrf": token, "ticket_id": t3}).status_code == 409  # not closed
    assert client.post("/admin/gaps/draft", data={"csrf": token, "ticket_id": t4}).status_code == 404  # 正蓝旗
    assert client.post("/admin/gaps/draft", data={"csrf": "wrong", "ticket_id": t3}).status_code == 403
    clerk = client_for(seeded, "clerk")
    clerk_token = csrf_of(clerk.get(f"/admin/gaps?period={NOV}").text)
    assert clerk.post("/admin/gaps/draft", data={"csrf": clerk_token, "ticket_id": data["t1"]}).status_code == 403


# ---------------------------------------------------------------------- audit log


def test_audit_log_filters_pages_and_keeps_to_the_county(seeded, data):  # type: ignore[no-untyped-def]
    import datetime as dt

    with transaction(seeded.session_factory) as s:
        for i in range(120):
            s.add(
                AuditEvent(
                    at=dt.datetime(2026, 11, 1) + dt.timedelta(hours=i),
                    actor="admin:clerk",
                    action="kb_exported",
                    target=f"n{i}",
                )
            )
        s.add(AuditEvent(at=dt.datetime(2026, 11, 2), actor="admin:clerk2", action="kb_exported", target="other"))
    county = client_for(seeded, "county")
    page = county.get("/admin/audit?action=kb_exported").text
    assert page.count("<tr>") == 51 and "n119" in page and "other" not in page
    older = re.search(r'href="/admin/audit\?([^"]+)" id="older"', page)
    assert older
    second = county.get("/admin/audit?" + older.group(1).replace("&amp;", "&")).text
    assert "n69" in second and "n119" not in second
    third = county.get(
        "/admin/audit?" + re.search(r'href="/admin/audit\?([^"]+)" id="older"', second).group(1).replace("&amp;", "&")
    ).text  # type: ignore[union-attr]
    assert third.count("<tr>") == 21 and 'id="older"' not in third
    day = county.get("/admin/audit?action=kb_exported&date_from=2026-11-02&date_to=2026-11-02").text
    assert day.count("<tr>") == 1 + 24  # 08:00 local on the 2nd … the 24 events of that local day
    assert "other" in client_for(seeded, "admin").get("/admin/audit?actor=clerk2").text
    assert county.get("/admin/audit?date_from=yesterday").status_code == 400


# ---------------------------------------------------------------------- village cards


def test_village_card_pdf_and_png(seeded, data):  # type: ignore[no-untyped-def]
    from PIL import Image

    from admin import cards

    county = client_for(seeded, "county")
    listing = county.get("/admin/cards").text
    assert "巴彦图嘎嘎查" in listing and "红星村" not in listing and "未指定" in listing  # 新建嘎查
    pdf = county.get("/admin/cards/ab01.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and b"STSong-Light" in pdf.content
    if cards.find_font(seeded.settings) is None:
        assert county.get("/admin/cards/ab01.png").status_code == 503
    else:
        png = county.get("/admin/cards/ab01.png")
        image = Image.open(io.BytesIO(png.content))
        assert png.status_code == 200 and image.size == (1165, 1654)  # A5 at 200 dpi
    assert county.get("/admin/cards/zl01.pdf").status_code == 404
    with seeded.session_factory() as s:
        assert s.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "card_downloaded")) >= 1
        village = s.scalar(select(console_data.Village).where(console_data.Village.code == "ab01"))
        card = cards.card_data(
            s,
            seeded.settings.model_copy(update={"telegram_bot_username": "@villagelaw_bot"}),
            village,
            now=seeded.router.clock(),
            wechat=lambda scene: f"http://weixin.qq.com/q/{scene}",
        )
        assert card.lawyers == [("乌日娜", "锡林浩特草原律师事务所", "13904790101")]
        assert card.sessions[0].startswith("12月2日（周三） 09:00–13:00")
        assert [q.url for q in card.qrs] == ["http://weixin.qq.com/q/vab01", "https://t.me/villagelaw_bot?start=vab01"]
        assert not any(q.placeholder for q in card.qrs)
        placeholder = cards.card_data(s, seeded.settings, village, now=seeded.router.clock())
        assert all(q.placeholder and q.url.startswith("https://example.invalid/") for q in placeholder.qrs)
        texts_on_card = [op.text for op in cards.layout(placeholder) if isinstance(op, cards.Text)]
        assert "尚未配置微信公众号" in texts_on_card and "12348 公共法律服务热线" in texts_on_card


# ---------------------------------------------------------------------- monthly report CLI


def test_monthly_report_cli_writes_the_same_figures(seeded, data, db_url, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from admin.cli import app
    from core.config import get_settings

    monkeypatch.setenv("DATABASE_URL", db_url)
    get_settings.cache_clear()
    out = tmp_path / "report.xlsx"
    try:
        result = CliRunner().invoke(app, ["report", "--month", NOV, "--county", "阿巴嘎旗", "--out", str(out)])
        missing = CliRunner().invoke(app, ["report", "--month", NOV, "--county", "不存在旗", "--out", str(out)])
        bad = CliRunner().invoke(app, ["report", "--month", "2026-13"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "咨询7" in result.output and "知识库直接答复42.9%" in result.output and "平均满意度4.0" in result.output
    book = load_workbook(out)
    assert book["说明"]["B3"].value == "阿巴嘎旗" and book["说明"]["B2"].value == "2026年11月"
    lawyers = list(book["律师办理情况（首次答复、超时、满意度）"].values)
    assert ("张建国", 2, 1, 30, 2, 2, 1, 3) in lawyers
    assert list(book["每周咨询量（按类别）"].values)[-1] == ("合计", 2, 2, 1, 1, 1, 7)
    assert missing.exit_code == 1 and bad.exit_code != 0
    with seeded.session_factory() as s:
        assert s.scalar(select(AuditEvent.actor).where(AuditEvent.action == "report_exported")) == "cli"


def test_excel_export_never_turns_text_into_a_formula() -> None:
    import datetime as dt

    result = figures.Figures(
        period=figures.month_period(2026, 11), area_label="测试", generated_at=dt.datetime(2026, 11, 1)
    )
    result.tables.append(figures.Table("lawyers", "律师办理情况", ["律师", "工单"], [['=HYPERLINK("http://x")', 1]]))
    cell = load_workbook(io.BytesIO(figures.to_workbook(result)))["律师办理情况"]["A2"]
    assert cell.data_type == "s" and cell.value == '=HYPERLINK("http://x")'


def test_a_serving_process_imports_openpyxl_only_to_read_or_write_a_workbook() -> None:
    """openpyxl (with lxml) costs a process about 35 MB, and serving workers have a memory budget:
    building the whole app must not import it. Checked in a fresh interpreter."""
    import subprocess
    import sys
    from pathlib import Path

    script = """
import sys
from admin.app import create_app
from core.config import Settings
create_app(Settings(env="test", database_url="sqlite://", _env_file=None))
print("admin.directory_pages" in sys.modules, "admin.worklog" in sys.modules, "openpyxl" in sys.modules)
"""
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "False"], out.stderr
