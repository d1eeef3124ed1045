"""In a real browser: the web chat page after the server died under a villager's message."""

from __future__ import annotations

import asyncio
import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from admin.workers import recover_unprocessed
from bot.outbox import OutboxWorker
from bot.webchat import parse_request
from core.models import Message
from tests.web import browser_page, live_server

pytestmark = pytest.mark.browser


def test_an_answer_recovered_after_a_crash_is_shown_once(seeded, db_url):  # type: ignore[no-untyped-def]
    """The page's first message is stored and the server dies before answering it (its request
    fails); a new process answers it through the outbox, which the page polls, and the page's
    retry of the same message gets the same answer in its response. The villager sees it once."""
    if not db_url.startswith("sqlite"):
        pytest.skip("one database is enough for the browser walk-through")
    recovered: list[int] = []

    def crash_under_the_first_message(route) -> None:  # type: ignore[no-untyped-def]
        if route.request.method != "POST" or recovered:
            route.continue_()
            return
        incoming = parse_request(route.request.post_data_buffer, max_chars=seeded.settings.max_message_chars)
        message_id, _ = seeded.router.store(incoming)  # committed, then the process died …
        route.abort("connectionreset")
        later = seeded.router.clock() + dt.timedelta(hours=1)
        assert recover_unprocessed(seeded, now=later) == 1  # … and the next one answered it
        outbox = OutboxWorker(seeded.session_factory, seeded.channels, clock=seeded.router.clock)
        with ThreadPoolExecutor(1) as elsewhere:  # Playwright's own event loop runs this handler
            elsewhere.submit(asyncio.run, outbox.deliver_due()).result()
        recovered.append(message_id)

    with live_server(seeded) as base, browser_page() as page:
        page.route("**/api/webchat/messages", crash_under_the_first_message)
        page.goto(f"{base}/")
        page.locator(".msg.bot").first.wait_for()
        polled = 0
        while polled < 2:  # a poll after the retry's answer was shown (the page polls every 4 s)
            with page.expect_response(lambda r: r.request.method == "GET" and "/api/webchat/messages" in r.url) as got:
                pass
            polled += got.value.ok
        shown = page.locator(".msg.bot").all_inner_texts()

    with seeded.session_factory() as s:
        replies = s.scalars(
            select(Message.text).where(Message.in_reply_to_id == recovered[0]).order_by(Message.id)
        ).all()
    assert replies
    assert shown == list(replies)
