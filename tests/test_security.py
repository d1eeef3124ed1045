"""Security of the console (cookies, headers, CSRF on every form, audit) and the villagers' rate limit."""

from __future__ import annotations

import concurrent.futures
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from admin.app import create_app
from core.messages import IncomingMessage
from core.models import AuditEvent, ChannelAccount, Message, OutboxMessage
from handlers import texts
from handlers.router import THROTTLED
from tests.helpers import Chat
from tests.web import csrf_of, logged_in_client


def _count(container, model, *where) -> int:  # type: ignore[no-untyped-def]
    with container.session_factory() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


# ---------------------------------------------------------------------- cookies and headers


def _session_cookie(response) -> str:  # type: ignore[no-untyped-def]
    cookies = [v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith("vl_admin=")]
    assert cookies, "no session cookie set"
    return cookies[-1].lower()


@pytest.mark.parametrize("secure", [False, True])
def test_session_cookie_flags(seeded, secure):  # type: ignore[no-untyped-def]
    settings = seeded.settings.model_copy(update={"cookie_secure": secure})
    with TestClient(create_app(settings, container=seeded), base_url="https://testserver") as client:
        token = csrf_of(client.get("/admin/login").text)
        r = client.post(
            "/admin/login",
            data={"username": "admin", "password": "villagelaw-demo", "csrf": token},
            follow_redirects=False,
        )
    assert r.status_code == 303
    cookie = _session_cookie(r)
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/admin" in cookie
    assert ("; secure" in cookie) is secure
    assert ("strict-transport-security" in r.headers) is secure


def test_console_pages_refuse_framing_and_caching(seeded):  # type: ignore[no-untyped-def]
    client = logged_in_client(seeded)
    for path in ("/admin", "/admin/login", "/admin/kb", "/admin/duty"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert r.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert "script-src" not in r.headers["content-security-policy"]  # default-src 'self': no inline script
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"
        assert r.headers["cache-control"] == "no-store"
    api = client.post("/api/webchat/messages", json={"user_id": "h1", "text": "你好"})
    assert api.headers["x-content-type-options"] == "nosniff" and "x-frame-options" not in api.headers


def test_passwords_are_stored_as_argon2_hashes_only(seeded):  # type: ignore[no-untyped-def]
    from admin.auth import hash_password, verify_password
    from core.models import AdminUser

    with seeded.session_factory() as s:
        admin = s.scalars(select(AdminUser).where(AdminUser.username == "admin")).one()
        hashes = list(s.scalars(select(AdminUser.password_hash)))
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)
    assert not any("villagelaw-demo" in h for h in hashes)
    assert verify_password(admin.password_hash, "villagelaw-demo")
    assert not verify_password(admin.password_hash, "villagelaw-demo ")
    again = hash_password("villagelaw-demo")
    assert again != admin.password_hash and verify_password(again, "villagelaw-demo")  # salted


def _post_routes(app) -> list[tuple[str, dict[str, str], dict[str, tuple[str, bytes]]]]:  # type: ignore[no-untyped-def]
    """Every console form's URL, path parameters filled in, with every field its form requires
    given a value of its type (the OpenAPI schema lists every route and its fields), so that a
    refusal cannot be a missing field's."""
    schema = app.openapi()
    forms = []
    for path, methods in schema["paths"].items():
        if "post" not in methods or not path.startswith("/admin"):
            continue
        fields: dict[str, str] = {}
        files: dict[str, tuple[str, bytes]] = {}
        for content in methods["post"].get("requestBody", {}).get("content", {}).values():
            body = content["schema"]
            if "$ref" in body:
                body = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]
            for name, field in body.get("properties", {}).items():
                kinds = [field, *field.get("anyOf", []), field.get("items", {})]
                if any(k.get("format") in ("binary", "base64") or k.get("contentMediaType") for k in kinds):
                    files[name] = ("a.yml", b"x: 1")
                elif any(k.get("type") in ("integer", "number") for k in kinds):
                    fields[name] = "1"
                elif any(k.get("type") == "boolean" for k in kinds):
                    fields[name] = "true"
                elif any(k.get("format") == "date" for k in kinds):
                    fields[name] = "2026-12-01"
                else:
                    fields[name] = "1" * max([1, *(k.get("minLength", 1) for k in kinds)])
        forms.append((re.sub(r"\{\w+\}", "1", path), fields, files))
    return forms


def test_every_console_form_refuses_a_request_without_the_csrf_token(seeded):  # type: ignore[no-untyped-def]
    client = logged_in_client(seeded)
    forms = _post_routes(client.app)
    assert {"/admin/login", "/admin/logout", "/admin/kb/save", "/admin/duty/new"} <= {path for path, _, _ in forms}
    audit_before = _count(seeded, AuditEvent)
    for path, fields, files in forms:
        for token in ("", "forged-token"):
            form = fields | {"csrf": token, "username": "admin", "password": "villagelaw-demo"}
            r = client.post(path, data=form, files=files or None, follow_redirects=False)
            assert r.status_code == 403, (path, r.status_code, r.text[:200])
    assert _count(seeded, AuditEvent) == audit_before  # nothing was done, not even a login
    assert client.get("/admin").status_code == 200  # still logged in: logout was refused too


def test_exports_are_audited(seeded):  # type: ignore[no-untyped-def]
    client = logged_in_client(seeded)
    assert client.get("/admin/compliance.xlsx", params={"month": "2026-12"}).status_code == 200
    assert client.get("/admin/kb/io/export").status_code == 200
    with seeded.session_factory() as s:
        actions = {(e.actor, e.action) for e in s.scalars(select(AuditEvent))}
    assert {("admin:admin", "compliance_exported"), ("admin:admin", "kb_exported")} <= actions


# ---------------------------------------------------------------------- rate limit


def _statuses(container, user: str) -> list[str]:  # type: ignore[no-untyped-def]
    with container.session_factory() as s:
        return list(
            s.scalars(
                select(Message.status)
                .join(ChannelAccount, ChannelAccount.id == Message.account_id)
                .where(ChannelAccount.external_id == user, Message.direction == "in")
                .order_by(Message.id)
            )
        )


def test_a_flood_is_stored_but_only_the_limit_is_processed(seeded, clock):  # type: ignore[no-untyped-def]
    limit = seeded.settings.villager_rate_limit_messages
    chat = Chat(seeded, "flooder")
    answers = [chat.say(f"第{i}次：老板不给工钱") for i in range(limit + 20)]
    statuses = _statuses(seeded, "flooder")
    assert len(statuses) == limit + 20  # every message kept
    assert statuses.count("processed") == limit and statuses.count(THROTTLED) == 20
    assert all(a[0].text == texts.RATE_LIMITED for a in answers[limit:])
    assert all(a[0].text != texts.RATE_LIMITED for a in answers[:limit])
    with seeded.session_factory() as s:  # limited messages were not classified or answered from the KB
        assert (
            s.scalar(select(func.count(Message.id)).where(Message.status == THROTTLED, Message.intent.is_not(None)))
            == 0
        )
    # a redelivery of a limited message gets the same notice, and is still not processed
    with seeded.session_factory() as s:
        limited_id = s.scalar(select(Message.external_id).where(Message.status == THROTTLED).limit(1))
    again = seeded.router.handle(IncomingMessage("webchat", "flooder", limited_id, text="老板不给工钱"))
    assert again.duplicate and [r.text for r in again.replies] == [texts.RATE_LIMITED]
    assert _statuses(seeded, "flooder").count(THROTTLED) == 20
    # the window slides: a minute later the villager is answered again
    clock.advance(seconds=seeded.settings.villager_rate_limit_window_seconds + 1)
    assert chat.say("老板不给工钱怎么办")[0].text != texts.RATE_LIMITED
    # nobody else is slowed down by one account's flood
    assert Chat(seeded, "neighbour").say("你好")[0].text != texts.RATE_LIMITED


def test_a_push_channel_gets_one_notice_per_window_not_one_per_message(seeded):  # type: ignore[no-untyped-def]
    limit = seeded.settings.villager_rate_limit_messages
    for i in range(limit + 50):
        seeded.router.handle(IncomingMessage("telegram", "777", f"u{i}", text=f"问题{i}"), push_replies=True)
    with seeded.session_factory() as s:
        notices = s.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.text == texts.RATE_LIMITED))
    assert notices == 1
    assert _statuses(seeded, "777").count(THROTTLED) == 50


def test_lawyers_are_not_rate_limited(seeded):  # type: ignore[no-untyped-def]
    from tests.test_privacy import _lawyer_chat

    lawyer_chat = _lawyer_chat(seeded)
    for _ in range(seeded.settings.villager_rate_limit_messages + 5):
        lawyer_chat.say("/tickets")
    assert THROTTLED not in _statuses(seeded, "lawyer-1")


def test_concurrent_flood_cannot_slip_past_the_limit(seeded):  # type: ignore[no-untyped-def]
    limit = seeded.settings.villager_rate_limit_messages

    def send(i: int) -> None:
        seeded.router.handle(IncomingMessage("webchat", "racer", f"racer-{i}", text=f"欠钱不还{i}"))

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(send, range(limit * 2)))
    statuses = _statuses(seeded, "racer")
    assert len(statuses) == limit * 2
    assert statuses.count("processed") == limit


def test_each_message_counts_once_against_the_limit_whichever_way_it_is_stored(seeded):  # type: ignore[no-untyped-def]
    """On PostgreSQL the common message is stored in one statement; one that needs more (its
    account is marked unreachable) falls back to a transaction, and must not be counted twice."""
    from sqlalchemy import update

    chat = Chat(seeded, "counted")
    chat.say("你好")  # a new account: the transaction
    chat.say("老板不给工钱")  # the common case

    def counted() -> tuple[int, bool]:
        with seeded.session_factory() as s:
            account = s.scalars(select(ChannelAccount).where(ChannelAccount.external_id == "counted")).one()
            return account.rate_window_count, account.unreachable

    assert counted() == (2, False)
    with seeded.session_factory.begin() as s:
        s.execute(update(ChannelAccount).where(ChannelAccount.external_id == "counted").values(unreachable=True))
    assert chat.say("欠钱不还")[0].text != texts.RATE_LIMITED
    assert counted() == (3, False)  # reachable again, and counted once
    assert _statuses(seeded, "counted") == ["processed"] * 3


def test_limited_messages_are_not_picked_up_by_recovery(seeded, clock):  # type: ignore[no-untyped-def]
    import datetime as dt

    from admin.workers import recover_unprocessed

    limit = seeded.settings.villager_rate_limit_messages
    chat = Chat(seeded, "flooder2")
    for i in range(limit + 3):
        chat.say(f"消息{i}")
    assert recover_unprocessed(seeded, now=clock() + dt.timedelta(hours=1)) == 0
    assert _statuses(seeded, "flooder2").count(THROTTLED) == 3


def test_throttled_notice_is_in_the_web_chat_response(seeded):  # type: ignore[no-untyped-def]
    limit = seeded.settings.villager_rate_limit_messages
    with TestClient(create_app(seeded.settings, container=seeded)) as client:
        bodies = [
            client.post("/api/webchat/messages", json={"user_id": "web-flood", "text": f"问{i}", "client_id": f"c{i}"})
            for i in range(limit + 1)
        ]
    assert all(b.status_code == 200 for b in bodies)
    assert bodies[-1].json()["replies"][0]["text"] == texts.RATE_LIMITED


def test_web_chat_reads_no_more_than_its_limit(seeded):  # type: ignore[no-untyped-def]
    from bot.webchat import MAX_BODY_BYTES

    sent = 0

    def endless():  # type: ignore[no-untyped-def]
        nonlocal sent
        while sent < 50 * MAX_BODY_BYTES:  # a client that never stops, without a Content-Length
            sent += 16 * 1024
            yield b"x" * (16 * 1024)

    with TestClient(create_app(seeded.settings, container=seeded)) as client:
        streamed = client.post("/api/webchat/messages", content=endless())
        declared = client.post(
            "/api/webchat/messages", content=b"{}", headers={"Content-Length": str(MAX_BODY_BYTES + 1)}
        )
    assert streamed.status_code == 413 and "太长" in streamed.json()["error"]
    assert declared.status_code == 413
    assert _count(seeded, Message) == 0
