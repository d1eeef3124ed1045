"""Generated requests against the doors villagers' messages come through — the web chat API, the
Telegram webhook, the WeChat endpoint — and the checks every answer must pass:

- never a 5xx and never an error logged (an exception a handler did not expect);
- a refused request (4xx) stores nothing: no message, no account;
- an accepted message is stored once and processed cleanly (status processed or throttled, no
  recorded error).

Used by tests/test_fuzz.py (a few hundred requests per door) and bench/fuzz.py (10,000 each).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from hypothesis import strategies as st
from sqlalchemy import func, select

from core.models import ChannelAccount, Message, OutboxMessage, Ticket

# ---------------------------------------------------------------------- requests


@dataclass(frozen=True)
class FuzzRequest:
    method: str
    path: str
    content: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


def _json_request(path: str, body: Any, headers: dict[str, str] | None = None) -> FuzzRequest:
    content = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return FuzzRequest("POST", path, content, {"Content-Type": "application/json", **(headers or {})})


#: Text villagers (and attackers) type: Chinese, emoji, control and invisible characters, markup,
#: numbers that look like phone or ID numbers, very long strings.
villager_text = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), max_size=40),
    st.sampled_from(
        [
            "你好",
            "老板不给工钱怎么办",
            "地被占了",
            "/start vab01",
            "/lawyer",
            "/aid",
            "/forget",
            "删除我的信息",
            "/reply T-0001 好的",
            "/bind 123456",
            "/remind on",
            "换村",
            "取消",
            "😀👍",
            "",
            "   ",
            "\x00\x01\x7f",
            "<b>x</b>&amp;",
            "' OR 1=1 --",
            "电话13912345678",
            "1" * 5000,
        ]
    ),
)
payloads = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda prefix, rest: prefix + rest,
        st.sampled_from(["cmd:", "ob:", "ob:c:", "ob:t:", "ob:v:", "kb:", "la:", "tk:", "tk:more:", "rate:", "dt:"]),
        st.text(alphabet="0123456789:-TabcvX", max_size=30),
    ),
)
ident = st.from_regex(r"\A[A-Za-z0-9_\-]{1,64}\Z")
any_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
garbage = st.one_of(st.binary(max_size=300), any_json.map(lambda v: json.dumps(v).encode()))


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(strategy, st.none(), any_json)


# ---------------------------------------------------------------------- web chat

WEBCHAT_PATH = "/api/webchat/messages"


def _webchat_body(user_id: Any, text: Any, payload: Any, client_id: Any, name: Any, drop: set[str]) -> Any:
    body = {"user_id": user_id, "text": text, "payload": payload, "client_id": client_id, "display_name": name}
    return {k: v for k, v in body.items() if k not in drop and not (v is None and k != "text")}


#: Well-typed messages with hostile contents, which reach the conversation logic.
webchat_messages = st.builds(
    lambda user_id, text, payload, client_id: {
        "user_id": user_id,
        **({"payload": payload} if payload is not None else {"text": text}),
        **({"client_id": client_id} if client_id else {}),
    },
    st.sampled_from(["fz1", "fz2", "fz3", "fz4"]),
    villager_text,
    st.one_of(st.none(), st.none(), payloads),
    st.one_of(st.none(), st.sampled_from(["c1", "c2"]), ident),
).map(lambda body: _json_request(WEBCHAT_PATH, body))
webchat_requests = st.one_of(
    webchat_messages,
    webchat_messages,
    webchat_messages,
    st.builds(
        _webchat_body,
        st.one_of(st.sampled_from(["fz1", "fz2", "fz3"]), ident, _maybe(st.text(max_size=70))),
        _maybe(villager_text),
        st.one_of(st.none(), payloads, any_json),
        st.one_of(st.none(), ident, _maybe(st.text(max_size=70))),
        st.one_of(st.none(), st.text(max_size=120)),
        st.sets(st.sampled_from(["user_id", "text", "payload"]), max_size=2),
    ).map(lambda body: _json_request(WEBCHAT_PATH, body)),
    garbage.map(lambda raw: _json_request(WEBCHAT_PATH, raw)),
    st.builds(
        lambda user_id, after: FuzzRequest("GET", WEBCHAT_PATH, params={"user_id": user_id, "after": after}),
        st.one_of(ident, st.text(max_size=70)),
        st.one_of(st.integers(min_value=-10, max_value=10**20).map(str), st.text(max_size=5)),
    ),
)


# ---------------------------------------------------------------------- Telegram

TELEGRAM_SECRET = "fuzz-Secret_token-1"


def _tg_user(user_id: Any, name: Any) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": name}


def _tg_message(update_id: Any, user_id: Any, chat_type: Any, text: Any, name: Any, extra: dict[str, Any]) -> Any:
    message: dict[str, Any] = {
        "message_id": update_id if isinstance(update_id, int) else 1,
        "date": 1796090400,
        "chat": {"id": user_id, "type": chat_type, "first_name": name},
        "from": _tg_user(user_id, name),
        **extra,
    }
    if text is not None:
        message["text"] = text
    return {"update_id": update_id, "message": message}


def _tg_callback(update_id: Any, user_id: Any, data: Any, name: Any) -> Any:
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"cq-{update_id}",
            "from": _tg_user(user_id, name),
            "chat_instance": "ci",
            "data": data,
            "message": {"message_id": 1, "date": 1796090400, "chat": {"id": user_id, "type": "private"}, "text": "…"},
        },
    }


tg_ids = st.one_of(st.integers(min_value=1, max_value=10**6), st.integers(), st.just(2**70))
tg_names = st.one_of(st.text(max_size=130), st.just("巴特尔"))
tg_extra = st.fixed_dictionaries(
    {},
    optional={
        "photo": st.just([{"file_id": "AgAC", "file_unique_id": "u", "width": 1, "height": 1}]),
        "document": st.fixed_dictionaries({"file_id": st.text(max_size=300), "file_unique_id": st.just("d")}),
        "sticker": any_json,
        "entities": st.lists(any_json, max_size=3),
        "reply_to_message": any_json,
        "caption": st.text(max_size=50),
        "location": st.fixed_dictionaries({"latitude": st.floats(-90, 90), "longitude": st.floats(-180, 180)}),
    },
)
#: Private-chat messages and button taps from a few users, with hostile contents.
telegram_well_formed = st.one_of(
    st.builds(
        _tg_message,
        st.integers(min_value=1, max_value=10**9),
        st.sampled_from([1001, 1002, 1003]),
        st.just("private"),
        villager_text,
        st.just("巴特尔"),
        tg_extra,
    ),
    st.builds(
        _tg_callback,
        st.integers(min_value=1, max_value=10**9),
        st.sampled_from([1001, 1002]),
        st.one_of(payloads, st.text(max_size=70)),
        st.just("巴特尔"),
    ),
)
telegram_updates = st.one_of(
    telegram_well_formed,
    telegram_well_formed,
    telegram_well_formed,
    st.builds(
        _tg_message,
        tg_ids,
        tg_ids,
        st.sampled_from(["private", "private", "group", "supergroup", "channel", "nonsense"]),
        _maybe(villager_text),
        tg_names,
        tg_extra,
    ),
    st.builds(_tg_callback, tg_ids, tg_ids, st.one_of(payloads, st.text(max_size=300), st.none()), tg_names),
    any_json,
)
telegram_requests = st.one_of(
    st.builds(
        lambda update, secret: _json_request(
            "/telegram/webhook", update, {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        ),
        telegram_updates,
        st.one_of(
            st.just(TELEGRAM_SECRET),
            st.just(TELEGRAM_SECRET),
            st.none(),
            st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40),
        ),
    ),
    garbage.map(
        lambda raw: _json_request("/telegram/webhook", raw, {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})
    ),
)


# ---------------------------------------------------------------------- WeChat (when bot/wechat.py exists)

WECHAT_TOKEN = "fuzzwechattoken"
WECHAT_PATH = "/wechat"


def wechat_available() -> bool:
    try:
        import bot.wechat  # noqa: F401
    except ImportError:
        return False
    return True


def wechat_signature(token: str, timestamp: str, nonce: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()


def _wechat_xml(openid: str, msg_type: str, content: str, msg_id: Any, event: str, key: str) -> bytes:
    fields = {
        "ToUserName": "gh_fuzz",
        "FromUserName": openid,
        "CreateTime": "1796090400",
        "MsgType": msg_type,
        "Content": content,
        "MsgId": str(msg_id),
        "Event": event,
        "EventKey": key,
        "MediaId": "media-1",
        "PicUrl": "http://example.invalid/p.jpg",
    }
    body = "".join(
        f"<{k}><![CDATA[{v}]]></{k}>" if "]]>" not in v else f"<{k}>{escape(v)}</{k}>" for k, v in fields.items()
    )
    return f"<xml>{body}</xml>".encode()


wechat_xml = st.one_of(
    st.builds(
        _wechat_xml,
        st.one_of(
            st.sampled_from(["oFuzz1", "oFuzz2"]), st.from_regex(r"\Ao[A-Za-z0-9_\-]{5,40}\Z"), st.text(max_size=200)
        ),
        st.sampled_from(["text", "text", "text", "image", "voice", "video", "location", "link", "event", "bogus"]),
        villager_text,
        st.one_of(st.integers(min_value=1), st.text(max_size=30)),
        st.sampled_from(["subscribe", "unsubscribe", "CLICK", "SCAN", "VIEW", "LOCATION", "weird"]),
        st.one_of(st.sampled_from(["qrscene_vab01", "cmd:lawyer", "menu:lawyer"]), st.text(max_size=40)),
    ),
    st.just(
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><xml><Content>&b;</Content></xml>'
    ),
    st.just(b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Content>&e;</Content></xml>'),
    st.just(b"<xml>" + b"<a>" * 5000 + b"</xml>"),
    garbage,
)


def _wechat_request(body: bytes, signed: bool, timestamp: str, nonce: str) -> FuzzRequest:
    signature = wechat_signature(WECHAT_TOKEN, timestamp, nonce) if signed else "0" * 40
    params = {"signature": signature, "timestamp": timestamp, "nonce": nonce, "openid": "oFuzz1"}
    return FuzzRequest("POST", WECHAT_PATH, body, {"Content-Type": "text/xml"}, params)


wechat_requests = st.one_of(
    st.builds(
        _wechat_request,
        wechat_xml,
        st.sampled_from([True, True, True, False]),
        st.one_of(st.just("1796090400"), st.text(alphabet="0123456789", min_size=1, max_size=12)),
        st.text(alphabet="abcdefghij0123456789", min_size=1, max_size=12),
    ),
    st.builds(
        lambda ts, nonce, echo, signed: FuzzRequest(
            "GET",
            WECHAT_PATH,
            params={
                "signature": wechat_signature(WECHAT_TOKEN, ts, nonce) if signed else "bad",
                "timestamp": ts,
                "nonce": nonce,
                "echostr": echo,
            },
        ),
        st.text(alphabet="0123456789", min_size=1, max_size=10),
        st.text(alphabet="abc123", min_size=1, max_size=10),
        st.text(max_size=30),
        st.booleans(),
    ),
)


# ---------------------------------------------------------------------- the checks


class ErrorLog(logging.Handler):
    """Counts error records: a handler's unexpected exception is logged, not raised to the client."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def capture_errors() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


@dataclass
class Harness:
    """Sends one request and checks the outcome against the database."""

    client: Any  # a TestClient
    session_factory: Callable[[], Any]
    errors: ErrorLog
    statuses: dict[int, int] = field(default_factory=dict)

    def _high_water(self) -> tuple[int, ...]:
        """The highest id of every table a request could write to, in one statement."""
        tables = (Message, ChannelAccount, OutboxMessage, Ticket)
        with self.session_factory() as s:
            row = s.execute(select(*(select(func.max(t.id)).scalar_subquery() for t in tables))).one()
        return tuple(value or 0 for value in row)

    def check(self, request: FuzzRequest) -> None:
        before = self._high_water()
        seen_errors = len(self.errors.records)
        response = self.client.request(
            request.method,
            request.path,
            content=request.content or None,
            headers=request.headers,
            params=request.params,
        )
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, f"{response.status_code} for {request!r}: {response.text[:300]}"
        new_errors = self.errors.records[seen_errors:]
        assert not new_errors, f"error logged for {request!r}: {new_errors[0].getMessage()} {new_errors[0].exc_info}"
        if response.status_code >= 400:
            assert self._high_water() == before, f"refused ({response.status_code}) but stored: {request!r}"
            return
        for _ in range(100):  # a channel may finish processing just after answering (WeChat's budget)
            with self.session_factory() as s:
                stored = s.scalars(select(Message).where(Message.id > before[0], Message.direction == "in")).all()
            if all(m.status != "received" for m in stored):
                break
            time.sleep(0.05)
        for message in stored:
            assert message.status in ("processed", "throttled"), (message.status, message.error, request)
            assert message.error is None, (message.error, request)


# ---------------------------------------------------------------------- the apps under fuzz

ENDPOINTS = {"webchat": webchat_requests, "telegram": telegram_requests, "wechat": wechat_requests}


@contextlib.contextmanager
def fuzz_app(
    endpoint: str, database_url: str, *, classifier: Any = None, nlu_model_dir: Any = None
) -> Iterator[Harness]:
    """The real app on ``database_url`` (migrated, seeded with the demo directory) with the one
    channel under fuzz switched on; the Telegram Bot API is faked at PTB's network call."""
    from fastapi.testclient import TestClient

    from admin.app import create_app
    from admin.container import build
    from admin.seed import is_empty, seed_demo
    from core.config import Settings
    from core.db import read_only, transaction
    from tests.fakes import KeywordClassifier

    extra: dict[str, Any] = {}
    if endpoint == "telegram":
        extra = {
            "telegram_bot_token": "123456:FUZZ-TOKEN",
            "telegram_webhook_secret": TELEGRAM_SECRET,
            "telegram_api_base_url": "https://bot-api.invalid/bot",
        }
    if endpoint == "wechat":
        extra = {"wechat_token": WECHAT_TOKEN, "wechat_app_id": "wxfuzz00000000000", "wechat_app_secret": "fuzz-secret"}
    settings = Settings(
        env="test",
        database_url=database_url,
        run_background_workers=False,
        secret_key="fuzz-secret-key-for-sessions",
        villager_rate_limit_messages=10**6,  # the fuzzer is one very busy villager; the limit has its own tests
        _env_file=None,  # type: ignore[call-arg]
        **({"nlu_model_dir": nlu_model_dir} if nlu_model_dir else {}),
        **extra,
    )
    container = build(settings, classifier=classifier or KeywordClassifier())
    with transaction(container.session_factory) as session:
        if is_empty(session):
            seed_demo(session, settings=settings)
    app = create_app(settings, container=container)
    with _fake_bot_api(), capture_errors() as errors, TestClient(app, raise_server_exceptions=False) as client:
        yield Harness(client, read_only(container.session_factory), errors)
    container.engine.dispose()


@contextlib.contextmanager
def _fake_bot_api() -> Iterator[None]:
    from telegram.request import HTTPXRequest

    from tests.telegram_fakes import FakeBotApi

    fake = FakeBotApi()
    original = HTTPXRequest.do_request

    async def do_request(_request: HTTPXRequest, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        fake.calls.clear()  # ten thousand requests: keep no history
        return await fake.do_request(*args, **kwargs)

    HTTPXRequest.do_request = do_request  # type: ignore[method-assign]
    try:
        yield
    finally:
        HTTPXRequest.do_request = original  # type: ignore[method-assign]
