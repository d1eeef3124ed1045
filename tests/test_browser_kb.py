"""In a real browser: an editor logs in, edits and publishes an article, and the web chat answers with it."""

from __future__ import annotations

import pytest

from tests.web import browser_page, live_server, screenshot

pytestmark = pytest.mark.browser

NEW_TEXT = "浏览器测试修改：土地流转一定要签书面合同，写清楚期限和租金，并到嘎查村委会备案。"


def test_editor_publishes_and_web_chat_answers_with_new_text(seeded, db_url):  # type: ignore[no-untyped-def]
    if not db_url.startswith("sqlite"):
        pytest.skip("one database is enough for the browser walk-through")
    with live_server(seeded) as base, browser_page() as page:
        blocked: list[str] = []  # the pages must work under their own Content-Security-Policy
        page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
        page.goto(f"{base}/admin")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", "villagelaw-demo")
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/admin")
        screenshot(page, "admin-dashboard")

        page.goto(f"{base}/admin/kb?q=流转")
        page.click("text=把承包地流转（出租）给别人要签合同吗")
        page.fill("#answer", NEW_TEXT)
        page.select_option("#status", "published")
        # a locator, not a JavaScript string: the console's Content-Security-Policy forbids eval
        page.locator("#preview", has_text="浏览器测试修改").wait_for()
        screenshot(page, "kb-edit-preview")
        page.click("#save")
        page.wait_for_selector("text=已保存")

        page.goto(f"{base}/")
        page.click("button:has-text('正蓝旗')")
        page.click("button:has-text('上都镇')")
        page.click("button:has-text('红星村')")
        page.wait_for_selector("text=记下了")
        page.fill("#text", "土地流转要签书面合同吗")
        page.click("#send")
        page.wait_for_selector(f"text={NEW_TEXT[:12]}")
        screenshot(page, "webchat-answer")
    assert blocked == []
