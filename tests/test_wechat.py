"""WeChat Official Account end to end: requests signed and encrypted by wechatpy itself, our app
behind FastAPI's TestClient, the WeChat API replaced by a local HTTP server (tests/wechat_support)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from wechatpy.crypto import WeChatCrypto

from admin.app import create_app
from admin.container import Container, build
from admin.seed import seed_demo
from bot import wechat, wechat_client
from core.clock import utcnow
from core.config import Settings
from core.db import transaction
from core.messages import OutgoingMessage
from core.models import ChannelAccount, Message, OutboxMessage, Ticket, Villager
from handlers import texts
from handlers.notify import enqueue
from tests.conftest import NLU_CACHE
from tests.fakes import KeywordClassifier
from tests.wechat_support import (
    AES_KEY,
    APP_ID,
    APP_SECRET,
    TEMPLATE_ID,
    TOKEN,
    FakeWeChatAPI,
    WeChatServer,
    deliver,
    event_xml,
    media_xml,
    signed_params,
    text_xml,
    wait_for,
)

LAND_QUESTION = "把承包地流转给别人要签合同吗"


@dataclass
class Bed:
    container: Container
    client: TestClient
    api: FakeWeChatAPI
    wx: WeChatServer

    def count(self, model, *where) -> int:  # type: ignore[no-untyped-def]
        with self.container.session_factory() as s:
            return s.scalar(select(func.count()).select_from(model).where(*where)) or 0

    def account(self, openid: str) -> ChannelAccount:
        with self.container.session_factory() as s:
            account = s.scalar(select(ChannelAccount).where(ChannelAccount.external_id == openid))
            assert account is not None
            return account

    def outbox(self, openid: str) -> list[OutboxMessage]:
        with self.container.session_factory() as s:
            return list(
                s.scalars(
                    select(OutboxMessage)
                    .join(ChannelAccount, ChannelAccount.id == OutboxMessage.account_id)
                    .where(ChannelAccount.external_id == openid)
                    .order_by(OutboxMessage.id)
                )
            )

    def notify(self, openid: str, text: str, key: str) -> None:
        with transaction(self.container.session_factory) as s:
            account = s.scalar(select(ChannelAccount).where(ChannelAccount.external_id == openid))
            assert account is not None
            enqueue(s, account=account, message=OutgoingMessage(text), purpose="relay", dedup_key=key, now=utcnow())

    def age(self, openid: str, **delta: float) -> None:
        """Pretend the user's last message was this long ago."""
        with transaction(self.container.session_factory) as s:
            account = s.scalar(select(ChannelAccount).where(ChannelAccount.external_id == openid))
            assert account is not None
            account.last_inbound_at = utcnow() - dt.timedelta(**delta)

    def villager_of(self, openid: str) -> str | None:
        with self.container.session_factory() as s:
            account = s.scalar(select(ChannelAccount).where(ChannelAccount.external_id == openid))
            assert account is not None and account.villager_id is not None
            villager = s.get(Villager, account.villager_id)
            return villager.village.code if villager and villager.village else None


class SlowClassifier(KeywordClassifier):
    """The real routing with a slow NLU: the answer takes ``delay`` seconds."""

    delay = 0.0

    def parse(self, text: str):  # type: ignore[no-untyped-def]
        time.sleep(self.delay)
        return super().parse(text)


@pytest.fixture
def api() -> Iterator[FakeWeChatAPI]:
    fake = FakeWeChatAPI().start()
    yield fake
    fake.stop()


@contextlib.contextmanager
def make_bed(
    db_url: str, api: FakeWeChatAPI, *, safe_mode: bool = False, seed: bool = True, **overrides: object
) -> Iterator[Bed]:
    values: dict[str, object] = {
        "env": "test",
        "database_url": db_url,
        "run_background_workers": False,
        "nlu_model_dir": NLU_CACHE,
        "secret_key": "test-secret-key-for-sessions-only",
        "wechat_token": TOKEN,
        "wechat_app_id": APP_ID,
        "wechat_app_secret": APP_SECRET,
        "wechat_aes_key": AES_KEY if safe_mode else None,
        "wechat_api_base_url": api.base_url,
        "wechat_template_id": TEMPLATE_ID,
        **overrides,
    }
    settings = Settings(_env_file=None, **values)  # type: ignore[arg-type, call-arg]
    container = build(settings, classifier=SlowClassifier())
    if seed:
        with transaction(container.session_factory) as session:
            seed_demo(session, settings=settings)
        container.retriever.index()  # build the index (and load jieba) now, not inside a reply budget
    app = create_app(settings, container=container)
    with TestClient(app, raise_server_exceptions=False) as client:
        crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID) if safe_mode else None
        yield Bed(container, client, api, WeChatServer(client, crypto))
    container.engine.dispose()


@pytest.fixture
def bed(db_url: str, api: FakeWeChatAPI) -> Iterator[Bed]:
    with make_bed(db_url, api) as b:
        yield b


@pytest.fixture
def bare(db_url: str, api: FakeWeChatAPI) -> Iterator[Bed]:
    """No directory or knowledge base: for requests that must be refused before any of it matters."""
    with make_bed(db_url, api, seed=False) as b:
        yield b


def option_number(reply: str, label: str) -> str:
    """The number WeChat users type to pick ``label`` in a reply with numbered options."""
    match = re.search(rf"^(\d+)\. {re.escape(label)}$", reply, re.MULTILINE)
    assert match, f"no option {label!r} in {reply!r}"
    return match.group(1)


def join_village(bed: Bed, openid: str, code: str = "zl01") -> str:
    """Follow through a village's parametric QR code: the village is bound at once."""
    reply = bed.wx.event(openid, "subscribe", f"qrscene_v{code}")
    assert reply is not None
    return reply


# --------------------------------------------------------------------------- verification and safety


def test_url_verification_echoes_echostr_only_when_signed(bare):  # type: ignore[no-untyped-def]
    ok = bare.client.get("/wechat", params={**signed_params(), "echostr": "1234567890"})
    assert ok.status_code == 200 and ok.text == "1234567890"
    forged = bare.client.get("/wechat", params={**signed_params("not-our-token"), "echostr": "1"})
    assert forged.status_code == 403
    assert bare.client.get("/wechat", params={"echostr": "1"}).status_code == 403


def test_forged_signature_is_refused_and_nothing_is_stored(bare):  # type: ignore[no-untyped-def]
    response = bare.wx.post(text_xml("o-forger", "你好"), params=signed_params("guessed-token"))
    assert response.status_code == 403
    tampered = {**signed_params(), "nonce": "other"}
    assert bare.wx.post(text_xml("o-forger", "你好"), params=tampered).status_code == 403
    assert bare.count(Message) == 0


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">]>
<xml><ToUserName>gh</ToUserName><FromUserName>o-attacker</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&e;</Content><MsgId>1</MsgId></xml>"""
XXE = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>gh</ToUserName><FromUserName>o-attacker</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&secret;</Content><MsgId>2</MsgId></xml>"""


@pytest.mark.parametrize("safe_mode", [False, True], ids=["plaintext", "safe-mode"])
@pytest.mark.parametrize("payload", [BILLION_LAUGHS, XXE], ids=["billion-laughs", "xxe"])
def test_entity_attacks_are_rejected_and_nothing_is_stored(db_url, api, safe_mode, payload):  # type: ignore[no-untyped-def]
    with make_bed(db_url, api, safe_mode=safe_mode, seed=False) as bed:
        response = bed.wx.post(payload)  # correctly signed (and encrypted): only the XML is hostile
        assert response.status_code == 400
        assert bed.count(Message) == 0


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"<xml><MsgType>text</MsgType", 400),  # malformed
        (b"not xml at all", 400),
        (b"<root><MsgType>text</MsgType></root>", 400),  # not WeChat's envelope
        (b"<xml><FromUserName>o1</FromUserName><Content>hi</Content></xml>", 400),  # no MsgType
        (b"<xml><MsgType>text</MsgType><Content>hi</Content><MsgId>5</MsgId></xml>", 400),  # no sender
        (b"<xml>" + b"<Content>" + b"x" * 40_000 + b"</Content></xml>", 413),
    ],
)
def test_bad_xml_gets_a_4xx_and_nothing_is_stored(bare, body, status):  # type: ignore[no-untyped-def]
    response = bare.client.post("/wechat", params=signed_params(), content=body)
    assert response.status_code == status
    assert bare.count(Message) == 0


# --------------------------------------------------------------------------- conversations


def test_subscribe_through_a_village_qr_code_binds_the_village(bed):  # type: ignore[no-untyped-def]
    reply = join_village(bed, "o-qr", "zl02")
    assert texts.GREETING in reply and "五一村" in reply
    assert bed.villager_of("o-qr") == "zl02"


def test_plain_subscribe_asks_for_the_village_with_numbered_options(bed):  # type: ignore[no-untyped-def]
    reply = bed.wx.event("o-plain", "subscribe")
    assert reply is not None and texts.WECHAT_OPTIONS_HEADER in reply
    assert {option_number(reply, "阿巴嘎旗"), option_number(reply, "正蓝旗")} == {"1", "2"}


def test_typing_a_number_picks_that_option(bed):  # type: ignore[no-untyped-def]
    first = bed.wx.say("o-num", "你好")
    assert first is not None
    number = option_number(first, "正蓝旗")
    second = bed.wx.say("o-num", chr(ord(number) + 0xFEE0))  # full-width digits count too
    assert second is not None and "上都镇" in second
    with bed.container.session_factory() as s:
        picked = s.scalars(select(Message).where(Message.direction == "in").order_by(Message.id)).all()[-1]
        assert (
            picked.text == chr(ord(number) + 0xFEE0) and picked.payload is not None and picked.payload.startswith("ob:")
        )
    # options are used up by the next message: a number now is just text again
    third = bed.wx.say("o-num", "99")
    assert third is not None
    with bed.container.session_factory() as s:
        last = s.scalars(select(Message).where(Message.direction == "in").order_by(Message.id)).all()[-1]
        assert last.payload is None


def test_question_gets_the_knowledge_base_answer_passively(bed):  # type: ignore[no-untyped-def]
    join_village(bed, "o-land")
    reply = bed.wx.say("o-land", LAND_QUESTION)
    assert reply is not None and "【" in reply and texts.CITATIONS_PREFIX in reply
    assert f"1. {texts.BUTTON_ASK_LAWYER}" in reply
    deliver(bed.container)
    assert bed.api.customer_service() == []  # answered in the response, not a second time
    assert {r.status for r in bed.outbox("o-land")} == {"sent"}


def test_menu_click_runs_the_command(bed):  # type: ignore[no-untyped-def]
    join_village(bed, "o-menu")
    assert bed.wx.event("o-menu", "CLICK", "help") == texts.HELP


def test_voice_uses_recognition_or_asks_for_text(bed):  # type: ignore[no-untyped-def]
    join_village(bed, "o-voice")
    recognised = media_xml(
        "o-voice", "voice", f"<MediaId>m1</MediaId><Format>amr</Format><Recognition>{LAND_QUESTION}。</Recognition>"
    )
    reply = bed.wx.reply(bed.wx.post(recognised))
    assert reply is not None and "【" in reply
    silent = media_xml("o-voice", "voice", "<MediaId>m2</MediaId><Format>amr</Format><Recognition></Recognition>")
    reply = bed.wx.reply(bed.wx.post(silent))
    assert reply is not None and texts.TEXT_ONLY in reply


def test_image_is_stored_with_its_media_id(bed):  # type: ignore[no-untyped-def]
    join_village(bed, "o-img")
    response = bed.wx.post(media_xml("o-img", "image", "<PicUrl>http://x/y.jpg</PicUrl><MediaId>MEDIA-42</MediaId>"))
    assert texts.TEXT_ONLY in (bed.wx.reply(response) or "")
    with bed.container.session_factory() as s:
        image = s.scalar(select(Message).where(Message.kind == "image"))
        assert image is not None and image.meta == {"attachment": "MEDIA-42"}


def test_ignored_events_are_acknowledged_without_storing(bare):  # type: ignore[no-untyped-def]
    response = bare.wx.post(event_xml("o-loc", "LOCATION"))
    assert response.text == "success"
    assert bare.count(Message) == 0


# --------------------------------------------------------------------------- retries and the 5-second budget


def test_retry_storm_gets_one_answer(bed):  # type: ignore[no-untyped-def]
    join_village(bed, "o-storm")
    bed.container.services.classifier.delay = 1.0  # type: ignore[attr-defined]
    xml = text_xml("o-storm", LAND_QUESTION)
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        responses = list(pool.map(lambda _: bed.wx.post(xml), range(3)))
    replies = [bed.wx.reply(r) for r in responses]
    answers = [r for r in replies if r is not None]
    assert len(answers) == 1 and "【" in answers[0]
    # and WeChat retrying later again changes nothing
    assert bed.wx.reply(bed.wx.post(xml)) is None
    deliver(bed.container)
    assert bed.api.customer_service() == []
    assert bed.count(Message, Message.direction == "in", Message.kind == "text") == 1


def test_a_burst_of_messages_never_holds_more_connections_than_the_pool_keeps(db_url, api):  # type: ignore[no-untyped-def]
    """Threads beyond the pool would each open a connection and close it again afterwards."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has no connection pool to outgrow")
    with make_bed(db_url, api, db_pool_size=2, webchat_threads=1) as bed:
        openids = [f"o-burst-{n}" for n in range(8)]
        for openid in openids:
            join_village(bed, openid)
        pool = bed.container.engine.pool
        most = [0]

        def count(*_: object) -> None:
            most[0] = max(most[0], pool.checkedout())  # type: ignore[attr-defined]

        event.listen(pool, "checkout", count)
        bed.container.services.classifier.delay = 0.3  # type: ignore[attr-defined]
        with concurrent.futures.ThreadPoolExecutor(len(openids)) as threads:
            replies = list(threads.map(lambda openid: bed.wx.say(openid, LAND_QUESTION), openids))
        event.remove(pool, "checkout", count)
    assert all(reply is not None and "【" in reply for reply in replies)
    assert 1 < most[0] <= 3  # DB_POOL_SIZE + WEBCHAT_THREADS


def test_outbox_worker_leaves_an_answer_in_time_to_the_passive_reply(bed, monkeypatch):  # type: ignore[no-untyped-def]
    join_village(bed, "o-race")
    lease = wechat.lease_passive

    def worker_first(*args, **kwargs):  # type: ignore[no-untyped-def]
        deliver(bed.container)  # the worst moment for a worker pass: replies committed, not yet leased
        return lease(*args, **kwargs)

    monkeypatch.setattr(wechat, "lease_passive", worker_first)
    reply = bed.wx.say("o-race", LAND_QUESTION)
    assert reply is not None and "【" in reply
    deliver(bed.container)
    assert bed.api.customer_service() == []


def test_retry_storm_opens_one_ticket(bed):  # type: ignore[no-untyped-def]
    join_village(bed, "o-ticket")
    xml = text_xml("o-ticket", "/lawyer")
    first = bed.wx.reply(bed.wx.post(xml))
    assert first is not None
    assert bed.wx.reply(bed.wx.post(xml)) is None
    assert bed.wx.reply(bed.wx.post(xml)) is None
    assert bed.count(Ticket) <= 1
    assert bed.count(Message, Message.direction == "in", Message.text == "/lawyer") == 1


def test_late_answer_is_sent_once_by_customer_service_message(db_url, api):  # type: ignore[no-untyped-def]
    with make_bed(db_url, api, run_background_workers=True, wechat_reply_budget_seconds=0.5) as bed:
        join_village(bed, "o-late")
        bed.container.services.classifier.delay = 2.0  # type: ignore[attr-defined]
        xml = text_xml("o-late", LAND_QUESTION)
        started = time.monotonic()
        assert bed.wx.reply(bed.wx.post(xml)) is None  # "success" within the budget
        assert time.monotonic() - started < 1.8
        wait_for(lambda: len(api.customer_service("o-late")) >= 1)
        time.sleep(1.5)  # the worker keeps running: still one message
        sent = api.customer_service("o-late")
        assert len(sent) == 1 and "【" in sent[0] and texts.BUTTON_ASK_LAWYER in sent[0]
        assert bed.count(Message, Message.direction == "in", Message.kind == "text") == 1
        # the late message's buttons are the options a number now picks
        bed.container.services.classifier.delay = 0  # type: ignore[attr-defined]
        reply = bed.wx.say("o-late", "1")
        assert reply is not None
        with bed.container.session_factory() as s:
            last = s.scalars(select(Message).where(Message.direction == "in").order_by(Message.id)).all()[-1]
            assert last.payload and last.payload.startswith("cmd:lawyer")


def test_a_database_lost_after_storing_answers_success_and_the_answer_comes_later(db_url, api, monkeypatch):  # type: ignore[no-untyped-def]
    """The message is stored and answered; only taking the replies for the passive answer fails.
    Not "not saved, send again" (it was saved) and not a 503: "success", and the outbox sends it."""
    from sqlalchemy.exc import OperationalError

    with make_bed(db_url, api, run_background_workers=True, wechat_reply_budget_seconds=0.5) as bed:
        join_village(bed, "o-gone")

        def gone(*args, **kwargs):  # type: ignore[no-untyped-def]
            raise OperationalError("SELECT …", {}, Exception("server closed the connection unexpectedly"))

        monkeypatch.setattr(wechat, "lease_passive", gone)
        assert bed.wx.say("o-gone", LAND_QUESTION) is None
        wait_for(lambda: len(api.customer_service("o-gone")) >= 1)
        sent = api.customer_service("o-gone")
        assert len(sent) == 1 and "【" in sent[0]
        assert bed.count(Message, Message.direction == "in", Message.kind == "text") == 1


def test_retry_while_still_processing_gets_one_answer_in_all(db_url, api):  # type: ignore[no-untyped-def]
    with make_bed(db_url, api, run_background_workers=True, wechat_reply_budget_seconds=0.5) as bed:
        join_village(bed, "o-busy")
        bed.container.services.classifier.delay = 1.5  # type: ignore[attr-defined]
        xml = text_xml("o-busy", LAND_QUESTION)
        assert bed.wx.reply(bed.wx.post(xml)) is None
        started = time.monotonic()
        assert bed.wx.reply(bed.wx.post(xml)) is None  # WeChat retries while we still work
        assert time.monotonic() - started < 1.2  # it waited for the same work, within its own budget
        wait_for(lambda: len(api.customer_service("o-busy")) == 1)
        time.sleep(1.5)
        assert len(api.customer_service("o-busy")) == 1
        assert bed.count(Message, Message.direction == "in", Message.kind == "text") == 1


def test_processing_failure_is_apologised_for_and_retried_later(bed, monkeypatch):  # type: ignore[no-untyped-def]
    import handlers.router as router_module

    join_village(bed, "o-crash")

    def crash(ctx):  # type: ignore[no-untyped-def]
        raise RuntimeError("handler bug")

    monkeypatch.setattr(router_module, "dispatch", crash)
    reply = bed.wx.say("o-crash", LAND_QUESTION)
    assert reply == texts.PROCESSING_ERROR
    monkeypatch.undo()
    from admin.workers import recover_unprocessed

    assert recover_unprocessed(bed.container, now=utcnow() + dt.timedelta(minutes=1)) == 1
    deliver(bed.container)
    sent = bed.api.customer_service("o-crash")
    assert len(sent) == 1 and "【" in sent[0]


# --------------------------------------------------------------------------- the 48-hour window


def test_outside_48_hours_a_template_then_delivery_when_they_write(bed):  # type: ignore[no-untyped-def]
    join_village(bed, "o-away")
    bed.age("o-away", hours=49)
    bed.notify("o-away", "律师答复：合同要写清期限和价款。", "relay:1")
    bed.notify("o-away", "提醒：律师明天来村里。", "reminder:1")
    passes = [deliver(bed.container) for _ in range(3)]  # one row per recipient per pass, in order
    assert sum(p.held for p in passes) == 2
    templates = bed.api.templates("o-away")
    assert len(templates) == 1 and templates[0]["template_id"] == TEMPLATE_ID
    assert "合同" not in str(templates[0])  # a notice only: the content waits for the user
    assert bed.api.customer_service("o-away") == []
    assert [r.status for r in bed.outbox("o-away")][-2:] == ["held", "held"]
    deliver(bed.container)
    assert len(bed.api.templates("o-away")) == 1  # held rows are not retried, nor re-announced

    assert bed.wx.say("o-away", "查看") is not None
    for _ in range(3):
        deliver(bed.container)
    assert bed.api.customer_service("o-away") == ["律师答复：合同要写清期限和价款。", "提醒：律师明天来村里。"]
    assert len(bed.api.templates("o-away")) == 1


def test_wechat_saying_45015_also_holds_and_announces(bed):  # type: ignore[no-untyped-def]
    join_village(bed, "o-45015")
    bed.notify("o-45015", "律师答复：好的。", "relay:2")
    bed.api.failures.append(45015)
    assert deliver(bed.container).held == 1
    assert len(bed.api.templates("o-45015")) == 1


def test_unsubscribe_marks_unreachable_and_coming_back_releases(bed):  # type: ignore[no-untyped-def]
    join_village(bed, "o-gone")
    assert bed.wx.reply(bed.wx.post(event_xml("o-gone", "unsubscribe"))) is None
    assert bed.account("o-gone").unreachable
    bed.notify("o-gone", "律师答复：在吗？", "relay:3")
    assert [r.status for r in bed.outbox("o-gone")][-1] == "held"
    deliver(bed.container)
    assert bed.api.calls == []
    join_village(bed, "o-gone")  # follows again
    assert not bed.account("o-gone").unreachable
    deliver(bed.container)
    assert bed.api.customer_service("o-gone") == ["律师答复：在吗？"]


@pytest.mark.parametrize(
    ("failure", "status", "unreachable"),
    [
        (-1, "pending", False),
        ("http500", "pending", False),
        (45009, "pending", False),
        (43004, "failed", True),
        (40003, "failed", True),
    ],
)
def test_wechat_errors_map_to_retry_or_give_up(bed, failure, status, unreachable):  # type: ignore[no-untyped-def]
    join_village(bed, "o-err")
    bed.notify("o-err", "律师答复：收到。", "relay:4")
    bed.api.failures.append(failure)
    deliver(bed.container)
    row = bed.outbox("o-err")[-1]
    assert row.status == status and row.attempts == 1 and row.last_error
    assert bed.account("o-err").unreachable is unreachable
    if failure == 45009:
        assert row.next_attempt_at >= utcnow() + dt.timedelta(seconds=500)  # WeChat's quota, not our backoff


def test_timeouts_are_transient():  # type: ignore[no-untyped-def]
    import requests

    error = wechat_client.delivery_error(requests.Timeout("read timed out"))
    assert type(error).__name__ == "TransientDeliveryError"


# --------------------------------------------------------------------------- safe mode


def test_encrypted_round_trip(db_url, api):  # type: ignore[no-untyped-def]
    with make_bed(db_url, api, safe_mode=True) as bed:
        reply = join_village(bed, "o-aes")  # decrypted by wechatpy with our key: the real round trip
        assert "红星村" in reply
        answer = bed.wx.say("o-aes", LAND_QUESTION)
        assert answer is not None and "【" in answer
        plain = bed.client.post("/wechat", params=signed_params(), content=text_xml("o-aes", "你好").encode())
        assert plain.status_code == 403  # safe mode accepts encrypted messages only
        other_key = WeChatServer(bed.client, WeChatCrypto(TOKEN, AES_KEY[::-1], APP_ID))
        assert other_key.post(text_xml("o-aes", "你好")).status_code in (400, 403)
        other_app = WeChatServer(bed.client, WeChatCrypto(TOKEN, AES_KEY, "wx-someone-else"))
        assert other_app.post(text_xml("o-aes", "你好")).status_code == 403
        assert bed.count(Message, Message.direction == "in", Message.text == "你好") == 0


# --------------------------------------------------------------------------- access token


def test_access_token_is_shared_across_processes_and_refreshed_before_expiry(bed):  # type: ignore[no-untyped-def]
    join_village(bed, "o-tok")
    other_process = wechat.WeChatChannel(bed.container.settings, bed.container.session_factory)
    for n in range(3):
        bed.container.channels["wechat"].send_now("o-tok", OutgoingMessage(f"a{n}"))  # type: ignore[attr-defined]
        other_process.send_now("o-tok", OutgoingMessage(f"b{n}"))
    assert bed.api.token_fetches == 1
    bed.api.expires_in = 300  # WeChat hands out a token that expires within our refresh margin
    other_process.client.fetch_access_token()
    fetched = bed.api.token_fetches
    other_process.send_now("o-tok", OutgoingMessage("c"))
    assert bed.api.token_fetches == fetched + 1  # refreshed before it expired, not after a failure
    bed.api.expires_in = 7200
    bed.api.revoke_tokens()  # WeChat no longer accepts the token (40001): fetch a new one and retry
    other_process.send_now("o-tok", OutgoingMessage("d"))
    assert bed.api.customer_service("o-tok")[-1] == "d"


def test_concurrent_first_calls_fetch_one_token(bed):  # type: ignore[no-untyped-def]
    join_village(bed, "o-conc")
    bed.api.token_fetches = 0
    clients = [wechat.WeChatChannel(bed.container.settings, bed.container.session_factory) for _ in range(4)]
    barrier = threading.Barrier(4)

    def send(channel):  # type: ignore[no-untyped-def]
        barrier.wait()
        channel.send_now("o-conc", OutgoingMessage("x"))

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(send, clients))
    assert bed.api.token_fetches == 1  # one process fetches, the others wait for its token
    assert len(bed.api.customer_service("o-conc")) == 4


# --------------------------------------------------------------------------- rendering


def test_render_numbers_options_across_replies_and_split_keeps_the_byte_limit():  # type: ignore[no-untyped-def]
    from core.messages import Button

    text, payloads = wechat.render(
        [
            OutgoingMessage("甲", (Button("一", "p1"),)),
            OutgoingMessage("乙"),
            OutgoingMessage("丙", (Button("二", "p2"),)),
        ]
    )
    assert "1. 一" in text and "2. 二" in text and payloads == ["p1", "p2"]
    assert wechat.chosen_option("2", payloads) == "p2" and wechat.chosen_option("3", payloads) is None
    assert wechat.chosen_option("２。", payloads) == "p2"  # full-width, with a full stop
    # not options: a number int() refuses (over 4,300 digits: it raised, a 500), other digit signs
    assert wechat.chosen_option("1" * 5000, payloads) is None
    assert wechat.chosen_option("0" * 10 + "1", payloads) is None
    assert wechat.chosen_option("\u2082", payloads) == "p2"  # subscript two: NFKC makes it "2"
    assert wechat.chosen_option("\U00010a41", payloads) is None  # a Kharoshthi digit: isdigit, not int
    long = "第一段。\n" + "字" * 1500 + "\n最后一段。"
    chunks = wechat.split_text(long)
    assert len(chunks) > 1 and all(len(c.encode()) <= wechat.MAX_TEXT_BYTES for c in chunks)
    assert "".join(chunks).replace("\n", "") == long.replace("\n", "")


def test_passive_reply_takes_only_what_fits_and_leaves_the_rest_to_the_outbox(bed):  # type: ignore[no-untyped-def]
    from handlers.router import reply_key

    join_village(bed, "o-fit")
    with transaction(bed.container.session_factory) as s:
        account = s.scalar(select(ChannelAccount).where(ChannelAccount.external_id == "o-fit"))
        inbound = s.scalars(select(Message).where(Message.direction == "in")).first()
        assert account is not None and inbound is not None
        for index, text in enumerate(["短的回答。", "长" * 700]):  # 700 CJK characters = 2100 bytes
            enqueue(
                s,
                account=account,
                message=OutgoingMessage(text),
                purpose="reply",
                dedup_key=reply_key(inbound.id + 1000, index),
                now=utcnow(),
            )
    passive = wechat.lease_passive(
        bed.container.session_factory,
        message_id=inbound.id + 1000,
        reply_count=2,
        openid="o-fit",
        fallback=[],
        now=utcnow(),
    )
    assert passive is not None and passive.text == "短的回答。" and len(passive.outbox_ids) == 1
    wechat.confirm_passive(bed.container.session_factory, passive.outbox_ids, utcnow)
    deliver(bed.container)
    assert bed.api.customer_service("o-fit") == ["长" * 666, "长" * 34]  # the rest, cut to WeChat's size


def test_long_message_goes_out_in_pieces(bed):  # type: ignore[no-untyped-def]
    join_village(bed, "o-long")
    bed.container.channels["wechat"].send_now("o-long", OutgoingMessage("长" * 1000))  # type: ignore[attr-defined]
    sent = bed.api.customer_service("o-long")
    assert len(sent) == 2 and "".join(sent) == "长" * 1000


# --------------------------------------------------------------------------- operator commands


def test_cli_installs_the_menu_and_prints_village_qr_codes(bed, monkeypatch):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from admin.cli import app
    from core.config import get_settings

    settings = bed.container.settings
    for name in ("database_url", "wechat_token", "wechat_app_id", "wechat_app_secret", "wechat_api_base_url"):
        monkeypatch.setenv(name.upper(), str(getattr(settings, name)))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        assert runner.invoke(app, ["wechat", "menu"]).exit_code == 0
        menu = next(c.body for c in bed.api.calls if c.path.endswith("/menu/create"))
        keys = [b.get("key") for b in menu["button"]] + [
            s["key"] for b in menu["button"] for s in b.get("sub_button", [])
        ]
        assert {"lawyer", "schedule", "village", "help"} <= set(keys)
        assert bed.wx.event("o-menu-cli", "CLICK", "help") == texts.HELP  # the keys are commands
        shown = runner.invoke(app, ["wechat", "qrcode", "zl01"])
        assert shown.exit_code == 0 and "红星村" in shown.stdout and "showqrcode?ticket=TICKET-" in shown.stdout
        scene = next(c.body for c in bed.api.calls if c.path.endswith("/qrcode/create"))
        assert scene["action_info"]["scene"]["scene_str"] == "vzl01"
        assert runner.invoke(app, ["wechat", "qrcode", "nope"]).exit_code == 1
    finally:
        get_settings.cache_clear()


def test_village_card_carries_the_real_wechat_qr_code(bed):  # type: ignore[no-untyped-def]
    from admin.cards import card_data
    from core.models import Village

    resolver = bed.client.app.state.wechat_qr_url
    with bed.container.session_factory() as s:
        village = s.scalar(select(Village).where(Village.code == "zl01"))
        card = card_data(s, bed.container.settings, village, now=bed.container.router.clock(), wechat=resolver)
        s.commit()
    codes = [q for q in card.qrs if "weixin" in q.url]
    assert codes and codes[0].url == "http://weixin.qq.com/q/x" and not codes[0].placeholder
    scene = next(c.body for c in bed.api.calls if c.path.endswith("/qrcode/create"))
    assert scene["action_info"]["scene"]["scene_str"] == "vzl01"
