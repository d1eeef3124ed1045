"""The knowledge-base console over HTTP: login, CSRF, editing, preview, try, import errors, export."""

from __future__ import annotations

import io
import zipfile

from sqlalchemy import select

from core.models import AuditEvent, KbArticle
from tests.web import csrf_of, logged_in_client


def _form(client, slug):  # type: ignore[no-untyped-def]
    page = client.get(f"/admin/kb/{slug}")
    assert page.status_code == 200
    return page, csrf_of(page.text)


def _fields(**overrides):  # type: ignore[no-untyped-def]
    base = {
        "slug": "land-transfer-written-contract",
        "intent": "land",
        "title": "把承包地流转（出租）给别人要签合同吗",
        "questions": "我家的地租给别人种要不要写合同\n承包地流转给合作社需要签啥手续\n口头说好把地转给亲戚种行不行",
        "answer": "要签书面合同。这是修改后的回答：流转要签书面合同，写清期限、用途、价款，并到村委会备案。",
        "citations": "农村土地承包法 40\n农村土地承包法 36",
        "tags": "流转、出租",
        "reviewed_by": "测试律师",
        "reviewed_at": "2026-11-26",
        "status": "published",
    }
    base.update(overrides)
    return base


def test_console_requires_login_and_csrf(seeded):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from admin.app import create_app

    anonymous = TestClient(create_app(seeded.settings, container=seeded))
    assert anonymous.get("/admin/kb", follow_redirects=False).status_code == 303
    client = logged_in_client(seeded)
    r = client.post("/admin/kb/save", data=_fields(csrf="forged"))
    assert r.status_code == 403


def test_wrong_password_is_refused_and_repeated_failures_lock(seeded):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from admin.app import create_app

    client = TestClient(create_app(seeded.settings, container=seeded))
    for _ in range(seeded.settings.login_max_failures):
        token = csrf_of(client.get("/admin/login").text)
        r = client.post("/admin/login", data={"username": "admin", "password": "wrong", "csrf": token})
        assert r.status_code == 401
    token = csrf_of(client.get("/admin/login").text)
    r = client.post("/admin/login", data={"username": "admin", "password": "villagelaw-demo", "csrf": token})
    assert r.status_code == 401 and "锁定" in r.text
    with seeded.session_factory() as s:
        assert s.scalar(select(AuditEvent).where(AuditEvent.action == "login_locked")) is not None


def test_edit_saves_a_revision_and_is_audited(seeded):  # type: ignore[no-untyped-def]
    client = logged_in_client(seeded)
    _page, token = _form(client, "land-transfer-written-contract")
    r = client.post("/admin/kb/save", data=_fields(csrf=token), follow_redirects=False)
    assert r.status_code == 303
    with seeded.session_factory() as s:
        row = s.scalar(select(KbArticle).where(KbArticle.slug == "land-transfer-written-contract"))
        assert row is not None and row.version == 2 and "修改后的回答" in row.answer
        assert s.scalar(select(AuditEvent).where(AuditEvent.action == "kb_article_saved")) is not None
    revisions = client.get("/admin/kb/land-transfer-written-contract/revisions").text
    assert "第2版" in revisions and "修改后的回答" in revisions

    # undoing it is a third version, audited too, and the bot answers with the first text again
    r = client.post(
        "/admin/kb/land-transfer-written-contract/revert",
        data={"version": "1", "csrf": csrf_of(revisions)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    with seeded.session_factory() as s:
        row = s.scalar(select(KbArticle).where(KbArticle.slug == "land-transfer-written-contract"))
        assert row is not None and row.version == 3 and "修改后的回答" not in row.answer
        reverted = s.scalar(select(AuditEvent).where(AuditEvent.action == "kb_article_reverted"))
        assert reverted is not None and reverted.target == "land-transfer-written-contract"


def test_invalid_edit_shows_errors_and_changes_nothing(seeded):  # type: ignore[no-untyped-def]
    client = logged_in_client(seeded)
    _page, token = _form(client, "land-transfer-written-contract")
    r = client.post(
        "/admin/kb/save", data=_fields(csrf=token, answer="太短", citations="农村土地承包法 9999\n乱写的引用")
    )
    assert r.status_code == 422
    assert "引用格式不对" in r.text and "answer" in r.text
    with seeded.session_factory() as s:
        row = s.scalar(select(KbArticle).where(KbArticle.slug == "land-transfer-written-contract"))
        assert row is not None and row.version == 1


def test_preview_renders_what_the_villager_reads(seeded):  # type: ignore[no-untyped-def]
    client = logged_in_client(seeded)
    _page, token = _form(client, "land-transfer-written-contract")
    data = client.post("/admin/kb/preview", data=_fields(csrf=token)).json()
    assert data["errors"] == []
    assert "《农村土地承包法》第四十条" in data["text"] and "不是律师意见" in data["text"]


def test_try_box_shows_intent_and_top_articles(seeded):  # type: ignore[no-untyped-def]
    client = logged_in_client(seeded)
    token = csrf_of(client.get("/admin/kb").text)
    data = client.post("/admin/kb/try", data={"question": "土地流转要签合同吗", "csrf": token}).json()
    assert data["intent"] == "land"
    assert data["articles"][0]["slug"] == "land-transfer-written-contract"
    assert len(data["articles"]) == 3


def test_import_reports_errors_per_file_and_line_and_imports_nothing(seeded):  # type: ignore[no-untyped-def]
    client = logged_in_client(seeded)
    token = csrf_of(client.get("/admin/kb").text)
    export = client.get("/admin/kb/io/export")
    assert export.status_code == 200
    with zipfile.ZipFile(io.BytesIO(export.content)) as zf:
        names = zf.namelist()
        good = zf.read(names[0])
    assert len(names) >= 100
    bad = b"slug: bad-one\nintent: land\ntitle: ok title\nquestions: [a, b\n"
    files = [("files", ("good.yml", good, "text/yaml")), ("files", ("bad.yml", bad, "text/yaml"))]
    r = client.post("/admin/kb/io/import", data={"csrf": token}, files=files)
    assert r.status_code == 422 and "bad.yml" in r.text and "没有导入任何文章" in r.text
    changed = good.replace(b"status: published", b"status: draft")
    r = client.post("/admin/kb/io/import", data={"csrf": token}, files=[("files", ("good.yml", changed, "text/yaml"))])
    assert r.status_code == 200 and "更新 1 篇" in r.text
    with seeded.session_factory() as s:  # the import that changed something is in the audit log
        imported = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "kb_imported")))
    assert [e.detail for e in imported] == ["created 0 updated 1"]


def test_township_clerk_cannot_edit(seeded):  # type: ignore[no-untyped-def]
    from admin.auth import hash_password
    from core.db import transaction
    from core.models import AdminUser, Township

    with transaction(seeded.session_factory) as s:
        township = s.scalar(select(Township))
        s.add(
            AdminUser(
                username="clerk",
                password_hash=hash_password("pw-clerk-123"),
                role="township_clerk",
                township_id=township.id,
            )
        )
    client = logged_in_client(seeded, "clerk", "pw-clerk-123")
    _page, token = _form(client, "land-transfer-written-contract")
    assert client.post("/admin/kb/save", data=_fields(csrf=token)).status_code == 403
