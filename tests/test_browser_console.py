"""In a real browser: a county admin reads the overview, opens the statistics, downloads an Excel
export, turns knowledge-gap clusters into draft articles; a township clerk is kept to their own
township. Screenshots of every page land in build/screenshots for a reviewer."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from core.db import transaction
from core.models import KbArticle
from tests import console_data
from tests.console_data import PASSWORD
from tests.web import browser_page, live_server, screenshot

pytestmark = pytest.mark.browser


def _login(page, base: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.context.clear_cookies()
    page.goto(f"{base}/admin/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/admin")


def test_county_admin_walks_through_the_console(seeded, db_url):  # type: ignore[no-untyped-def]
    if not db_url.startswith("sqlite"):
        pytest.skip("one database is enough for the browser walk-through")
    with transaction(seeded.session_factory) as session:
        ids = console_data.build(session)
    with live_server(seeded) as base, browser_page() as page:
        _login(page, base, "county")
        assert page.inner_text("#open-count") == "2" and page.inner_text("#overdue-count") == "1"
        assert "T-0006" in page.inner_text("#urgent")
        assert page.locator("nav a").all_inner_texts() == [
            "概览",
            "咨询工单",
            "知识库",
            "村与律师",
            "坐班日历",
            "统计报表",
            "审计日志",
        ]
        screenshot(page, "console-dashboard")

        page.click("nav >> text=统计报表")
        page.fill("input[name=period]", "2026-11")
        page.click("#filters button[type=submit]")
        page.wait_for_selector("#consultations")
        assert page.inner_text("#consultations") == "7" and page.inner_text("#kb-share") == "42.9%"
        assert page.locator("svg.chart").count() >= 6
        screenshot(page, "console-stats")
        with page.expect_download() as download:
            page.click("a[data-export=lawyers]")
        assert download.value.suggested_filename == "villagelaw-lawyers-2026-11.xlsx"
        book = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()))
        rows = list(book[book.sheetnames[1]].values)
        assert rows[0][0] == "律师" and ("张建国", 2, 1, 30, 2, 2, 1, 3) in rows

        page.click("text=知识库缺口 →")
        page.wait_for_selector(".cluster")
        first = page.locator(".cluster").first
        assert "老板拖欠工资三个月怎么办" in first.inner_text() and "3次" in first.inner_text()
        screenshot(page, "console-kb-gaps")
        # A cluster whose ticket a lawyer answered: the answer becomes a draft in one click.
        first.locator("button.propose-cluster").click()
        page.wait_for_selector("text=已根据律师答复生成草稿")
        assert page.url.endswith(f"/admin/kb/draft-ticket-{ids['t1']}")
        assert page.input_value("#status") == "draft"
        screenshot(page, "console-draft-from-answer")
        # Any cluster: the new-article form arrives filled with its questions.
        page.go_back()
        page.reload()
        debt = page.locator(".cluster", has_text="借钱不还")
        debt.locator("a.create-article").click()
        page.wait_for_selector("#kb-form")
        assert "借钱不还怎么要回来" in page.input_value("textarea[name=questions]")
        assert page.input_value("select[name=intent]") == "debt_contract"
        page.fill("input[name=slug]", "debt-not-repaid-gap")
        page.fill("textarea[name=questions]", "借钱不还怎么要回来\n借钱不还怎么办\n朋友借钱不还可以起诉吗")
        page.fill(
            "#answer", "借款到期不还，先保留好借条、转账记录和聊天记录，可以协商或请村调解；协商不成可以到法院起诉。"
        )
        page.fill("textarea[name=citations]", "民法典 675")
        page.click("#save")
        page.wait_for_selector("text=已保存")
        screenshot(page, "console-kb-from-gap")

        page.click("nav >> text=审计日志")
        page.wait_for_selector("#audit")
        audit = page.inner_text("#audit")
        assert "stats_exported" in audit and "kb_draft_proposed" in audit and "tickets_viewed" in audit
        screenshot(page, "console-audit")

        page.goto(f"{base}/admin/cards")
        assert "巴彦图嘎嘎查" in page.inner_text("#cards")
        screenshot(page, "console-cards")
        response = page.goto(f"{base}/admin/cards/ab01.png")
        if response is not None and response.status == 200:
            screenshot(page, "village-card")

        # A township clerk of 上都镇 sees their township only.
        _login(page, base, "clerk2")
        assert page.inner_text("#open-count") == "0" and "T-0006" not in page.content()
        assert "审计日志" not in page.locator("nav").inner_text()
        page.goto(f"{base}/admin/stats?period=2026-11")
        assert page.inner_text("#consultations") == "2" and "阿巴嘎旗" not in page.inner_text("h1")
        screenshot(page, "console-stats-township")
        denied = page.goto(f"{base}/admin/stats?period=2026-11&township={ids['bieligutai']}")
        assert denied is not None and denied.status == 403
        page.goto(f"{base}/admin/gaps?period=2026-11")
        assert "拖欠工资" not in page.content() and not re.search("提议为文章草稿", page.content())

    with seeded.session_factory() as s:
        drafts = {
            a.slug: a.status
            for a in s.scalars(select(KbArticle).where(KbArticle.slug.like("%gap%") | KbArticle.slug.like("draft-%")))
        }
    assert drafts == {f"draft-ticket-{ids['t1']}": "draft", "debt-not-repaid-gap": "draft"}
