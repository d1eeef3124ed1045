"""A local stand-in for the WeChat API and a WeChat server that signs and encrypts like the real one.

``FakeWeChatAPI`` is a small threaded HTTP server on 127.0.0.1 (given to the app as
``WECHAT_API_BASE_URL``): it hands out access tokens and records customer-service and template
sends; ``fail`` scripts WeChat error codes or HTTP failures for the next calls. ``WeChatServer``
builds the requests WeChat would send, signed and (in safe mode) encrypted with wechatpy's own
``WeChatSigner``/``WeChatCrypto``, and reads the passive replies back.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import xmltodict
from fastapi.testclient import TestClient
from httpx import Response
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner, check_signature

from bot.outbox import OutboxWorker, PassResult

TOKEN = "villagelaw-test-token"
APP_ID = "wx5f1a2b3c4d5e6f70"
APP_SECRET = "test-app-secret"
AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")  # 43 characters, as WeChat issues
TEMPLATE_ID = "TPL-reply-to-see"
ACCOUNT = "gh_villagelaw"


@dataclass
class Call:
    path: str
    body: dict[str, Any]
    access_token: str | None


@dataclass
class FakeWeChatAPI:
    expires_in: int = 7200
    calls: list[Call] = field(default_factory=list)
    token_fetches: int = 0
    #: Like WeChat, a new token does not end the old one at once (it stays valid for a while).
    valid_tokens: set[str] = field(default_factory=set)
    #: Scripted outcomes for the next message sends: an int errcode, or "http500".
    failures: list[int | str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> FakeWeChatAPI:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = parse_qs(url.query)
                if url.path != "/cgi-bin/token":
                    return self._json(404, {"errcode": 404, "errmsg": "not found"})
                if query.get("appid") != [APP_ID] or query.get("secret") != [APP_SECRET]:
                    return self._json(200, {"errcode": 40125, "errmsg": "invalid appsecret"})
                with api.lock:
                    api.token_fetches += 1
                    token = f"TOKEN-{api.token_fetches}"
                    api.valid_tokens.add(token)
                self._json(200, {"access_token": token, "expires_in": api.expires_in})

            def do_POST(self) -> None:
                url = urlparse(self.path)
                token = parse_qs(url.query).get("access_token", [None])[0]
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                with api.lock:
                    if token not in api.valid_tokens:
                        return self._json(200, {"errcode": 40001, "errmsg": "invalid credential"})
                    failure = api.failures.pop(0) if api.failures else None
                    if failure is None:
                        api.calls.append(Call(url.path, body, token))
                        msgid = len(api.calls)
                if failure == "http500":
                    return self._json(500, {"error": "internal"})
                if failure is not None:
                    return self._json(200, {"errcode": failure, "errmsg": f"scripted {failure}"})
                if url.path.endswith("/qrcode/create"):
                    return self._json(200, {"ticket": f"TICKET-{msgid}", "url": "http://weixin.qq.com/q/x"})
                self._json(200, {"errcode": 0, "errmsg": "ok", "msgid": msgid})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def revoke_tokens(self) -> None:
        with self.lock:
            self.valid_tokens.clear()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/cgi-bin/"

    def customer_service(self, openid: str | None = None) -> list[str]:
        with self.lock:
            return [
                c.body["text"]["content"]
                for c in self.calls
                if c.path.endswith("/message/custom/send") and openid in (None, c.body["touser"])
            ]

    def templates(self, openid: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                c.body
                for c in self.calls
                if c.path.endswith("/message/template/send") and openid in (None, c.body["touser"])
            ]


_msg_ids = itertools.count(24_000_000_000_000_000)
_times = itertools.count(int(time.time()))


def text_xml(openid: str, content: str, *, msg_id: int | None = None) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{next(_times)}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id or next(_msg_ids)}</MsgId></xml>"
    )


def event_xml(openid: str, event: str, key: str | None = None, *, create_time: int | None = None) -> str:
    key_xml = f"<EventKey><![CDATA[{key}]]></EventKey>" if key is not None else ""
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{create_time or next(_times)}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[{event}]]></Event>{key_xml}</xml>"
    )


def media_xml(openid: str, msg_type: str, fields: str) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{next(_times)}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>{fields}"
        f"<MsgId>{next(_msg_ids)}</MsgId></xml>"
    )


def signed_params(token: str = TOKEN) -> dict[str, str]:
    timestamp, nonce = str(int(time.time())), f"n{next(_msg_ids)}"
    signer = WeChatSigner()
    signer.add_data(token, timestamp, nonce)
    check_signature(token, signer.signature, timestamp, nonce)  # wechatpy's own check accepts it
    return {"signature": signer.signature, "timestamp": timestamp, "nonce": nonce}


@dataclass
class WeChatServer:
    """What WeChat's servers do: POST signed (and in safe mode encrypted) XML to /wechat."""

    client: TestClient
    crypto: WeChatCrypto | None = None

    def post(self, xml: str, *, params: dict[str, str] | None = None) -> Response:
        query = params or signed_params()
        if self.crypto is None:
            return self.client.post("/wechat", params=query, content=xml.encode())
        envelope = xmltodict.parse(self.crypto.encrypt_message(xml, query["nonce"], query["timestamp"]))["xml"]
        body = (
            f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>"
        )
        query = {**query, "encrypt_type": "aes", "msg_signature": envelope["MsgSignature"]}
        return self.client.post("/wechat", params=query, content=body.encode())

    def reply(self, response: Response) -> str | None:
        """The passive reply's text, or None for "success"."""
        assert response.status_code == 200, response.text
        if response.text == "success":
            return None
        xml = response.text
        if self.crypto is not None:
            outer = xmltodict.parse(xml)["xml"]
            xml = self.crypto.decrypt_message(xml, outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"])
        message = xmltodict.parse(xml)["xml"]
        assert message["MsgType"] == "text"
        return str(message["Content"])

    def say(self, openid: str, content: str, *, msg_id: int | None = None) -> str | None:
        return self.reply(self.post(text_xml(openid, content, msg_id=msg_id)))

    def event(self, openid: str, event: str, key: str | None = None) -> str | None:
        return self.reply(self.post(event_xml(openid, event, key)))


def deliver(container: Any) -> PassResult:
    """One outbox pass, as the background worker would run it."""
    return asyncio.run(OutboxWorker(container.session_factory, container.channels).deliver_due())


def wait_for(predicate: Any, *, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)
