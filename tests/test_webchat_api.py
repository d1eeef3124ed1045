"""The web chat's HTTP API: the acceptance check, and bad input answered with a clear 4xx."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from admin.app import create_app


@pytest.fixture
def client(seeded):  # type: ignore[no-untyped-def]
    app = create_app(seeded.settings, container=seeded)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_hello_returns_chinese_greeting_offering_village_choice(client):  # type: ignore[no-untyped-def]
    r = client.post("/api/webchat/messages", json={"user_id": "v1", "text": "你好"})
    assert r.status_code == 200
    replies = r.json()["replies"]
    assert "您好" in replies[0]["text"]
    labels = [b["label"] for b in replies[0]["buttons"]]
    assert "阿巴嘎旗" in labels
    assert all(len(b["payload"].encode()) <= 64 for b in replies[0]["buttons"])


def test_button_payload_continues_the_conversation(client):  # type: ignore[no-untyped-def]
    first = client.post("/api/webchat/messages", json={"user_id": "v2", "text": "你好"}).json()
    payload = next(b["payload"] for b in first["replies"][0]["buttons"] if b["label"] == "正蓝旗")
    second = client.post("/api/webchat/messages", json={"user_id": "v2", "payload": payload}).json()
    assert "上都镇" in [b["label"] for b in second["replies"][0]["buttons"]]


def test_retry_with_same_client_id_gets_the_same_answer_once(client, seeded):  # type: ignore[no-untyped-def]
    body = {"user_id": "v3", "text": "你好", "client_id": "c-1"}
    a = client.post("/api/webchat/messages", json=body).json()
    b = client.post("/api/webchat/messages", json=body).json()
    assert a == b
    from sqlalchemy import func, select

    from core.models import Message

    with seeded.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Message).where(Message.direction == "in")) == 1


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"not json", 400, "JSON"),
        (b"[1,2]", 400, "JSON"),
        (json.dumps({"text": "你好"}).encode(), 422, "user_id"),
        (json.dumps({"user_id": "v1"}).encode(), 422, "text"),
        (json.dumps({"user_id": "v1", "text": 5}).encode(), 422, "text"),
        (json.dumps({"user_id": "bad id!", "text": "hi"}).encode(), 422, "user_id"),
        (json.dumps({"user_id": "v1", "text": "你好\x00\x07"}).encode(), 422, "控制字符"),
        (json.dumps({"user_id": "v1", "payload": "x" * 200}).encode(), 422, "payload"),
        (json.dumps({"user_id": "v1", "text": "长" * 3000}, ensure_ascii=False).encode(), 413, "太长"),
        (json.dumps({"user_id": "v1", "text": "字" * 100_000}, ensure_ascii=False).encode(), 413, "太长"),
        (b"\xff\xfe\x00garbage", 400, "JSON"),
    ],
)
def test_bad_input_gets_a_clear_4xx(client, seeded, body, status, words):  # type: ignore[no-untyped-def]
    r = client.post("/api/webchat/messages", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status
    assert words in r.json()["error"]
    from sqlalchemy import func, select

    from core.models import Message

    with seeded.session_factory() as s:  # nothing stored for a rejected request
        assert s.scalar(select(func.count()).select_from(Message)) == 0


def test_health_and_pages(client):  # type: ignore[no-untyped-def]
    assert client.get("/healthz").json()["status"] == "ok"
    page = client.get("/")
    assert page.status_code == 200 and "村律通" in page.text
    admin = client.get("/admin", follow_redirects=False)
    assert admin.status_code == 303 and "/admin/login" in admin.headers["location"]


def test_health_reports_degraded_when_database_is_down(seeded):  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine

    seeded.engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1})
    app = create_app(seeded.settings, container=seeded)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/healthz")
    assert r.status_code == 503 and r.json()["status"] == "degraded"


def test_pushed_messages_are_fetched_by_the_page(client, seeded):  # type: ignore[no-untyped-def]
    from core.db import transaction
    from core.messages import IncomingMessage, OutgoingMessage
    from handlers.notify import enqueue
    from handlers.router import get_or_create_account

    with transaction(seeded.session_factory) as s:
        account = get_or_create_account(
            s, IncomingMessage(channel="webchat", user_id="v9", message_id=None), now=seeded.router.clock()
        )
        s.flush()
        row = enqueue(s, account=account, message=OutgoingMessage("律师回复您"), purpose="relay")
        row.status = "sent"
    got = client.get("/api/webchat/messages", params={"user_id": "v9"}).json()["messages"]
    assert [m["text"] for m in got] == ["律师回复您"]
    assert client.get("/api/webchat/messages", params={"user_id": "v9", "after": got[0]["id"]}).json()["messages"] == []


def test_no_more_messages_are_processed_at_once_than_webchat_threads(seeded, monkeypatch):  # type: ignore[no-untyped-def]
    """A crowd of villagers waits its turn on the event loop; every one of them is answered."""
    import asyncio
    import threading
    import time

    import httpx

    settings = seeded.settings.model_copy(update={"webchat_threads": 2})
    app = create_app(settings, container=seeded)
    handle, lock = seeded.router.handle, threading.Lock()
    running, most = 0, 0

    def slow_handle(incoming):  # type: ignore[no-untyped-def]
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            time.sleep(0.1)
            return handle(incoming)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(seeded.router, "handle", slow_handle)

    async def crowd() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://chat") as client:
            return await asyncio.gather(
                *(client.post("/api/webchat/messages", json={"user_id": f"crowd{i}", "text": "你好"}) for i in range(6))
            )

    responses = asyncio.run(crowd())
    assert [r.status_code for r in responses] == [200] * 6
    assert all("您好" in r.json()["replies"][0]["text"] for r in responses)
    assert most == 2
