"""Telegram adapter, offline: real ``telegram.Update`` JSON posted to our webhook route, real PTB
objects all the way to the HTTP call, a fake Bot API behind ``HTTPXRequest.do_request``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.request import HTTPXRequest

from admin.app import create_app
from admin.container import Container, build
from bot import telegram as tg
from bot.outbox import OutboxWorker
from core.config import Settings
from core.db import transaction
from core.messages import Button
from core.models import ChannelAccount, Lawyer, Message, OutboxMessage, Ticket, Villager
from core.ports import PermanentDeliveryError, TransientDeliveryError
from handlers import roster, texts
from tests.fakes import FrozenClock, KeywordClassifier
from tests.telegram_fakes import FakeBotApi, blocked_update, callback_update, message_update, photo

SECRET = "s3cret-Token_for-tests"
VILLAGER = 1001
LAWYER = 2002


@pytest.fixture
def tg_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "telegram_bot_token": "123456:TEST-TOKEN",
            "telegram_webhook_secret": SECRET,
            "telegram_api_base_url": "https://bot-api.invalid/bot",
        }
    )


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeBotApi:
    fake = FakeBotApi()

    async def do_request(_request: HTTPXRequest, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        return await fake.do_request(*args, **kwargs)

    monkeypatch.setattr(HTTPXRequest, "do_request", do_request)
    return fake


@pytest.fixture
def tg_container(tg_settings: Settings, clock: FrozenClock) -> Iterator[Container]:
    from admin.seed import seed_demo

    c = build(tg_settings, classifier=KeywordClassifier())
    c.router.clock = clock
    with transaction(c.session_factory) as session:
        seed_demo(session, settings=tg_settings, now=clock())
    yield c
    c.engine.dispose()


class Bot:
    """Drives the app like Telegram does, and delivers the outbox the way the worker would."""

    def __init__(self, client: TestClient, container: Container, api: FakeBotApi, clock: FrozenClock) -> None:
        self.client = client
        self.container = container
        self.api = api
        self.clock = clock
        self.worker = OutboxWorker(container.session_factory, container.channels, clock=clock, rng=lambda: 0.5)
        container.outbox = self.worker
        self.update_ids = iter(range(700_000, 800_000))

    def post(self, update: dict[str, Any], *, secret: str | None = SECRET) -> Any:
        headers = {tg.SECRET_HEADER: secret} if secret is not None else {}
        return self.client.post(tg.WEBHOOK_PATH, json=update, headers=headers)

    def say(self, user: int, text: str | None = None, **kw: Any) -> Any:
        response = self.post(message_update(next(self.update_ids), user, text, **kw))
        assert response.status_code == 200, response.text
        self.deliver()
        return response

    def tap(self, user: int, data: str) -> None:
        assert self.post(callback_update(next(self.update_ids), user, data)).status_code == 200
        self.deliver()

    def deliver(self) -> None:
        # One pass sends the oldest row per recipient; the next rows wait for it, as in the worker.
        while self.client.portal.call(self.worker.deliver_due).sent:  # type: ignore[union-attr]
            pass

    def last_buttons(self, chat_id: int) -> list[dict[str, str]]:
        for params in reversed(self.api.called("sendMessage")):
            if int(params["chat_id"]) == chat_id and params.get("reply_markup"):
                return [b for row in params["reply_markup"]["inline_keyboard"] for b in row]
        return []

    def payload(self, chat_id: int, label: str) -> str:
        return next(b["callback_data"] for b in self.last_buttons(chat_id) if label in b["text"])


@pytest.fixture
def bot(tg_container: Container, api: FakeBotApi, clock: FrozenClock) -> Iterator[Bot]:
    app = create_app(tg_container.settings, container=tg_container)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Bot(client, tg_container, api, clock)


def _count(container: Container, model: Any, *where: Any) -> int:
    with container.session_factory() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _bind_lawyer(bot: Bot, name: str = "乌日娜", user: int = LAWYER) -> None:
    with transaction(bot.container.session_factory) as session:
        lawyer = session.scalar(select(Lawyer).where(Lawyer.name == name))
        assert lawyer is not None
        issued = roster.issue_bind_code(
            session, settings=bot.container.settings, lawyer=lawyer, now=bot.clock(), actor="test"
        )
    bot.say(user, f"/bind {issued.code}", name="乌日娜")
    assert "绑定成功" in bot.api.sent_texts(user)[-1]


def _open_ticket(bot: Bot, question: str = "我家承包的草场被邻居占了怎么办") -> str:
    bot.say(VILLAGER, "/start vab01")
    bot.say(VILLAGER, question)
    bot.say(VILLAGER, "/lawyer")
    with bot.container.session_factory() as s:
        ticket = s.scalar(select(Ticket).order_by(Ticket.id.desc()))
        assert ticket is not None
        return ticket.code


# ---------------------------------------------------------------------- the webhook door


def test_webhook_refuses_a_missing_or_wrong_secret(bot):  # type: ignore[no-untyped-def]
    for secret in (None, "", "wrong-secret", SECRET + "x", SECRET[:-1]):
        response = bot.post(message_update(1, VILLAGER, "你好"), secret=secret)
        assert response.status_code == 403, secret
    assert _count(bot.container, Message) == 0


def test_webhook_without_a_configured_secret_refuses_everyone(tg_container, api):  # type: ignore[no-untyped-def]
    settings = tg_container.settings.model_copy(update={"telegram_webhook_secret": None})
    with TestClient(create_app(settings, container=tg_container), raise_server_exceptions=False) as client:
        response = client.post(
            tg.WEBHOOK_PATH, json=message_update(1, VILLAGER, "你好"), headers={tg.SECRET_HEADER: ""}
        )
    assert response.status_code == 403
    assert _count(tg_container, Message) == 0


def test_webhook_rejects_oversized_and_malformed_bodies(bot):  # type: ignore[no-untyped-def]
    headers = {tg.SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    big = b'{"update_id": 1, "x": "' + b"a" * (tg.MAX_BODY_BYTES + 10) + b'"}'
    assert bot.client.post(tg.WEBHOOK_PATH, content=big, headers=headers).status_code == 413
    assert bot.client.post(tg.WEBHOOK_PATH, content=b"not json", headers=headers).status_code == 400
    assert bot.client.post(tg.WEBHOOK_PATH, content=b'{"no": "update_id"}', headers=headers).status_code == 400
    assert _count(bot.container, Message) == 0


def test_storage_failure_answers_5xx_so_telegram_redelivers(bot, monkeypatch):  # type: ignore[no-untyped-def]
    def database_down(*_a, **_k):  # type: ignore[no-untyped-def]
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    monkeypatch.setattr(bot.container.router, "handle", database_down)
    response = bot.post(message_update(9, VILLAGER, "你好"))
    assert response.status_code == 503
    monkeypatch.undo()
    assert bot.post(message_update(9, VILLAGER, "你好")).status_code == 200  # the redelivery is served
    assert _count(bot.container, Message, Message.direction == "in") == 1


# ---------------------------------------------------------------------- updates in


def test_start_command_reaches_the_router_and_replies_with_an_inline_keyboard(bot):  # type: ignore[no-untyped-def]
    response = bot.post(message_update(10, VILLAGER, "/start"))
    assert response.status_code == 200
    assert bot.worker.wake.is_set()  # the outbox worker is kicked at once
    bot.deliver()
    sent = bot.api.called("sendMessage")
    assert sent and int(sent[0]["chat_id"]) == VILLAGER
    assert texts.GREETING in sent[0]["text"]
    labels = [b["text"] for b in bot.last_buttons(VILLAGER)]
    assert {"阿巴嘎旗", "正蓝旗"} <= set(labels)
    assert all(0 < len(b["callback_data"].encode()) <= 64 for b in bot.last_buttons(VILLAGER))
    with bot.container.session_factory() as s:
        account = s.scalar(select(ChannelAccount).where(ChannelAccount.channel == "telegram"))
        assert account is not None and account.external_id == str(VILLAGER) and account.display_name == "巴特尔"
        assert s.scalar(select(Message.external_id).where(Message.direction == "in")) == f"10:{VILLAGER}:10"


def test_callback_query_is_answered_and_becomes_a_button_payload(bot):  # type: ignore[no-untyped-def]
    bot.say(VILLAGER, "/start")
    bot.tap(VILLAGER, bot.payload(VILLAGER, "阿巴嘎旗"))
    assert [p["callback_query_id"] for p in bot.api.called("answerCallbackQuery")] == ["cq-700001"]
    assert "别力古台镇" in [b["text"] for b in bot.last_buttons(VILLAGER)]
    bot.tap(VILLAGER, bot.payload(VILLAGER, "别力古台镇"))
    bot.tap(VILLAGER, bot.payload(VILLAGER, "巴彦图嘎嘎查"))
    assert any("阿巴嘎旗别力古台镇巴彦图嘎嘎查" in t for t in bot.api.sent_texts(VILLAGER))
    with bot.container.session_factory() as s:
        villager = s.scalar(select(Villager))
        assert villager is not None and villager.village is not None and villager.village.code == "ab01"


def test_village_deep_link_binds_the_village_at_once(bot):  # type: ignore[no-untyped-def]
    bot.say(VILLAGER, "/start vab01")
    assert any(
        texts.VILLAGE_SET.format(village="阿巴嘎旗别力古台镇巴彦图嘎嘎查") in t for t in bot.api.sent_texts(VILLAGER)
    )
    with bot.container.session_factory() as s:
        villager = s.scalar(select(Villager))
        assert villager is not None and villager.village is not None and villager.village.code == "ab01"


def test_a_redelivered_update_is_answered_once(bot):  # type: ignore[no-untyped-def]
    update = message_update(42, VILLAGER, "你好")
    assert bot.post(update).status_code == 200
    bot.deliver()
    first = len(bot.api.called("sendMessage"))
    assert first >= 1
    assert bot.post(update).status_code == 200  # Telegram did not see our 200 and sends it again
    bot.deliver()
    assert len(bot.api.called("sendMessage")) == first
    assert _count(bot.container, Message, Message.direction == "in") == 1


def test_media_gets_the_text_only_answer_with_the_lawyer_offer(bot):  # type: ignore[no-untyped-def]
    bot.say(VILLAGER, photo=photo())
    bot.say(VILLAGER, voice={"file_id": "AwAC-voice", "file_unique_id": "v", "duration": 3})
    bot.say(
        VILLAGER,
        sticker={
            "file_id": "CAAC",
            "file_unique_id": "s",
            "width": 1,
            "height": 1,
            "is_animated": False,
            "is_video": False,
            "type": "regular",
        },
    )
    bot.say(VILLAGER, location={"latitude": 43.9, "longitude": 116.0})
    replies = bot.api.sent_texts(VILLAGER)
    assert len(replies) == 4 and all(texts.TEXT_ONLY in t for t in replies)
    assert "找律师" in [b["text"] for b in bot.last_buttons(VILLAGER)]
    with bot.container.session_factory() as s:
        kinds = s.scalars(select(Message.kind).where(Message.direction == "in").order_by(Message.id)).all()
        assert kinds == ["image", "voice", "sticker", "location"]


def test_blocking_the_bot_marks_the_account_unreachable(bot):  # type: ignore[no-untyped-def]
    bot.say(VILLAGER, "你好")
    assert bot.post(blocked_update(50, VILLAGER)).status_code == 200
    with bot.container.session_factory() as s:
        account = s.scalar(select(ChannelAccount).where(ChannelAccount.external_id == str(VILLAGER)))
        assert account is not None and account.unreachable


# ---------------------------------------------------------------------- messages out


def test_bot_blocked_by_the_user_fails_for_good_and_marks_the_account(bot):  # type: ignore[no-untyped-def]
    bot.api.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
    bot.say(VILLAGER, "你好")
    with bot.container.session_factory() as s:
        row = s.scalar(select(OutboxMessage))
        account = s.scalar(select(ChannelAccount).where(ChannelAccount.external_id == str(VILLAGER)))
        assert row is not None and row.status == "failed" and "blocked" in (row.last_error or "")
        assert account is not None and account.unreachable
    bot.clock.advance(hours=1)
    bot.deliver()
    assert len(bot.api.called("sendMessage")) == 1  # not retried


def test_writing_again_after_unblocking_makes_the_account_reachable(bot):  # type: ignore[no-untyped-def]
    bot.api.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
    bot.say(VILLAGER, "你好")
    bot.say(VILLAGER, "/start")
    with bot.container.session_factory() as s:
        account = s.scalar(select(ChannelAccount).where(ChannelAccount.external_id == str(VILLAGER)))
        assert account is not None and not account.unreachable
    assert texts.GREETING in bot.api.sent_texts(VILLAGER)[-1]


def test_flood_control_retry_after_is_honoured(bot):  # type: ignore[no-untyped-def]
    bot.api.fail("sendMessage", 429, "Too Many Requests: retry after 17", retry_after=17)
    bot.say(VILLAGER, "你好")
    with bot.container.session_factory() as s:
        row = s.scalar(select(OutboxMessage))
        assert row is not None and row.status == "pending"
        assert row.next_attempt_at >= bot.clock() + dt.timedelta(seconds=17)
    bot.clock.advance(seconds=18)
    bot.deliver()
    with bot.container.session_factory() as s:
        assert s.scalar(select(OutboxMessage.status)) == "sent"


def test_timeouts_and_server_errors_are_retried(bot):  # type: ignore[no-untyped-def]
    bot.api.raise_on("sendMessage", TimedOut())
    bot.api.fail("sendMessage", 502, "Bad Gateway")
    bot.say(VILLAGER, "你好")
    for _ in range(2):
        bot.clock.advance(minutes=5)
        bot.deliver()
    with bot.container.session_factory() as s:
        row = s.scalar(select(OutboxMessage))
        assert row is not None and row.status == "sent" and row.attempts == 3


@pytest.mark.parametrize(
    ("error", "kind", "unreachable"),
    [
        (RetryAfter(30), TransientDeliveryError, None),
        (TimedOut(), TransientDeliveryError, None),
        (NetworkError("Bad Gateway"), TransientDeliveryError, None),
        (InvalidToken("Unauthorized"), TransientDeliveryError, None),
        (Forbidden("Forbidden: bot was blocked by the user"), PermanentDeliveryError, True),
        (Forbidden("Forbidden: user is deactivated"), PermanentDeliveryError, True),
        (BadRequest("Chat not found"), PermanentDeliveryError, True),
        (BadRequest("Message text is empty"), PermanentDeliveryError, False),
        (ChatMigrated(-100123), PermanentDeliveryError, True),
    ],
)
def test_ptb_errors_map_to_the_outbox_outcomes(error, kind, unreachable):  # type: ignore[no-untyped-def]
    mapped = tg.delivery_error(error)
    assert isinstance(mapped, kind)
    if isinstance(mapped, PermanentDeliveryError):
        assert mapped.unreachable is unreachable
    if isinstance(error, RetryAfter):
        assert isinstance(mapped, TransientDeliveryError) and mapped.retry_after == 30


def test_keyboard_keeps_telegrams_limits():  # type: ignore[no-untyped-def]
    markup = tg.keyboard((Button("短", "cmd:lawyer"), Button("太长", "x" * 65), Button("中文", "kb:" + "地" * 20)))
    assert markup is not None
    data = [b.callback_data for row in markup.inline_keyboard for b in row]
    assert data == ["cmd:lawyer", "kb:" + "地" * 20]  # 65 bytes left out, 63 bytes kept
    assert tg.keyboard((Button("x", "y" * 100),)) is None
    assert tg.split_text("甲" * 3000 + "\n" + "乙" * 3000) == ["甲" * 3000, "乙" * 3000]  # cut at the line end
    unbroken = "字" * 9000
    assert [len(c) for c in tg.split_text(unbroken)] == [4096, 4096, 808]
    assert "".join(tg.split_text(unbroken)) == unbroken


# ---------------------------------------------------------------------- lawyers on Telegram


def test_villager_text_reaches_the_lawyer_as_plain_text(bot):  # type: ignore[no-untyped-def]
    _bind_lawyer(bot)
    evil = '<b>急</b> *草场* [点这里](http://evil.example) <a href="tg://user?id=1">x</a> _被占_'
    _open_ticket(bot, question="我家承包的草场被邻居占了 " + evil)
    to_lawyer = [p for p in bot.api.called("sendMessage") if int(p["chat_id"]) == LAWYER]
    notification = next(p for p in to_lawyer if "新咨询" in p["text"])
    assert evil in notification["text"]  # verbatim, nothing interpreted
    assert all("parse_mode" not in p and "entities" not in p for p in bot.api.called("sendMessage"))


def test_lawyer_answers_by_replying_to_the_notification(bot):  # type: ignore[no-untyped-def]
    _bind_lawyer(bot)
    code = _open_ticket(bot)
    with bot.container.session_factory() as s:
        notified = s.scalar(select(OutboxMessage).where(OutboxMessage.purpose == "notify"))
        assert notified is not None and notified.external_message_id is not None
        reply_to = int(notified.external_message_id)
    bot.say(LAWYER, "可以先找村委会调解，保留好承包合同。", reply_to=reply_to, name="乌日娜")
    assert texts.LAWYER_REPLY_SENT.format(code=code) in bot.api.sent_texts(LAWYER)[-1]
    answer = bot.api.sent_texts(VILLAGER)[-1]
    assert "可以先找村委会调解" in answer and code in answer
    with bot.container.session_factory() as s:
        assert s.scalar(select(Ticket.status).where(Ticket.code == code)) == "answered"


def test_a_photo_sent_during_a_ticket_is_forwarded_to_the_lawyer(bot):  # type: ignore[no-untyped-def]
    _bind_lawyer(bot)
    code = _open_ticket(bot)
    bot.say(VILLAGER, photo=photo("AgAC-contract"), caption="合同照片")
    bot.say(VILLAGER, document={"file_id": "BQAC-doc", "file_unique_id": "d1", "file_name": "合同.pdf"})
    assert f"【{code}】" in next(t for t in bot.api.sent_texts(LAWYER) if "图片" in t)
    assert [(int(p["chat_id"]), p["photo"]) for p in bot.api.called("sendPhoto")] == [(LAWYER, "AgAC-contract")]
    assert [(int(p["chat_id"]), p["document"]) for p in bot.api.called("sendDocument")] == [(LAWYER, "BQAC-doc")]
    assert texts.TEXT_ONLY_FORWARDED.format(lawyer="乌日娜律师") in bot.api.sent_texts(VILLAGER)[-1]
    with bot.container.session_factory() as s:  # a reply to the forwarded file still finds the ticket
        forwarded = s.scalar(select(OutboxMessage).where(OutboxMessage.purpose == "attachment"))
        assert forwarded is not None and forwarded.ticket_id is not None and forwarded.external_message_id


def test_command_menus_are_registered_in_chinese(bot):  # type: ignore[no-untyped-def]
    default = bot.api.called("setMyCommands")[0]
    assert default["scope"] == {"type": "default"}
    assert [c["command"] for c in default["commands"]] == [
        "start",
        "village",
        "lawyer",
        "aid",
        "schedule",
        "remind",
        "cancel",
    ]
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in c["description"]) for c in default["commands"])
    _bind_lawyer(bot)
    count = bot.client.portal.call(
        tg.register_commands, bot.container.channels["telegram"].application.bot, bot.container.session_factory
    )
    assert count == 1
    lawyer_menu = bot.api.called("setMyCommands")[-1]
    assert lawyer_menu["scope"] == {"type": "chat", "chat_id": LAWYER}
    assert [c["command"] for c in lawyer_menu["commands"]] == ["bind", "tickets", "reply", "close", "duty", "done"]


@pytest.fixture
def cli_settings() -> Settings:
    return Settings(
        env="test",
        telegram_bot_token="123456:TEST-TOKEN",
        telegram_webhook_secret=SECRET,
        _env_file=None,  # type: ignore[call-arg]
    )


def test_set_webhook_registers_the_route_with_the_secret(cli_settings, api):  # type: ignore[no-untyped-def]
    import asyncio

    tg_settings = cli_settings
    url = asyncio.run(tg.set_webhook(tg_settings, "https://law.example.cn/"))
    assert url == "https://law.example.cn/telegram/webhook"
    params = api.called("setWebhook")[0]
    assert params["url"] == url and params["secret_token"] == SECRET
    assert set(params["allowed_updates"]) == {"message", "callback_query", "my_chat_member"}
    with pytest.raises(ValueError, match="SECRET"):
        asyncio.run(tg.set_webhook(tg_settings.model_copy(update={"telegram_webhook_secret": None}), "https://x"))


def test_set_webhook_command_line(cli_settings, api, monkeypatch):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from admin import cli

    monkeypatch.setattr(cli, "get_settings", lambda: cli_settings)
    result = CliRunner().invoke(cli.app, ["telegram", "set-webhook", "https://law.example.cn"])
    assert result.exit_code == 0, result.output
    assert "https://law.example.cn/telegram/webhook" in result.output
    api.fail("setWebhook", 400, "Bad Request: bad webhook: HTTPS url must be provided for webhook")
    result = CliRunner().invoke(cli.app, ["telegram", "set-webhook", "http://law.example.cn"])
    assert result.exit_code == 1 and "https url must be provided" in result.output.lower()


def test_a_reply_in_several_messages_goes_out_without_waiting_between_parts(container, clock):  # type: ignore[no-untyped-def]
    import asyncio

    from core.messages import IncomingMessage, OutgoingMessage
    from handlers.notify import enqueue
    from handlers.router import get_or_create_account
    from tests.fakes import RecordingChannel

    channel = RecordingChannel(name="fake")
    with transaction(container.session_factory) as session:
        account = get_or_create_account(session, IncomingMessage("fake", "u1", None), now=clock())
        session.flush()
        for part in ("一", "二", "三"):
            enqueue(session, account=account, message=OutgoingMessage(part), purpose="reply", now=clock())
    worker = OutboxWorker(container.session_factory, {"fake": channel}, clock=clock)

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run_forever(stop, interval=60))
        started = asyncio.get_running_loop().time()
        while len(channel.sent) < 3:
            await asyncio.sleep(0.01)
            assert asyncio.get_running_loop().time() - started < 30, channel.sent
        stop.set()
        await task

    asyncio.run(run())
    assert channel.texts_to("u1") == ["一", "二", "三"]  # in order, not one per 60 s interval
