"""End to end over real HTTP: our app in polling mode against the Telegram Bot API emulator
(../shared/tools/tg-emulator, the npm package telegram-test-api). A villager onboards with
buttons and gets a knowledge-base answer; a lawyer binds and answers a ticket.

Skips when node/npm or the emulator folder are absent, or when ``npm ci`` cannot install.
``VILLAGELAW_TG_EMULATOR`` points at the emulator folder when ../shared is elsewhere."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from admin.app import create_app
from admin.container import build
from core.clock import utcnow
from core.config import Settings
from core.db import transaction
from core.models import Lawyer, Ticket
from handlers import roster, texts
from tests.conftest import SHARED

pytestmark = pytest.mark.slow

EMULATOR = Path(os.environ.get("VILLAGELAW_TG_EMULATOR") or SHARED / "tools" / "tg-emulator")
TOKEN = "123456:TESTTOKEN"
WAIT_SECONDS = 30.0


@pytest.fixture(scope="session")
def emulator_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (EMULATOR / "serve.js").is_file():
        pytest.skip(f"Telegram emulator not present at {EMULATOR}")
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm not installed")
    work = tmp_path_factory.mktemp("tg-emulator")
    for item in EMULATOR.iterdir():  # the shared folder is read-only: copy the files, not the modes
        if item.is_file():
            shutil.copyfile(item, work / item.name)
    try:
        result = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=work, capture_output=True, text=True, timeout=300
        )
    except subprocess.TimeoutExpired:
        pytest.skip("npm ci timed out (no network?)")
    if result.returncode != 0:
        pytest.skip(f"npm ci failed (no network?): {result.stderr[-300:]}")
    return work


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def emulator(emulator_dir: Path) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "TG_PORT": str(port), "TG_HOST": "127.0.0.1", "TG_COMPAT": "all"}
    process = subprocess.Popen(
        ["node", "serve.js"], cwd=emulator_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.post(f"{url}/bot{TOKEN}/getMe", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read() if process.stdout else ""
                pytest.fail(f"emulator did not start: {output[-500:]}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


class TelegramUser:
    """A person in the Telegram app, played through the emulator's client endpoints."""

    def __init__(self, http: httpx.Client, user_id: int, name: str) -> None:
        self.http = http
        self.id = user_id
        self.name = name
        self.received: list[dict[str, Any]] = []
        self.cursor = 0  # records before this were matched already

    def _person(self) -> dict[str, Any]:
        return {
            "from": {"id": self.id, "is_bot": False, "first_name": self.name},
            "chat": {"id": self.id, "type": "private", "first_name": self.name},
        }

    def send(self, text: str, *, reply_to: dict[str, Any] | None = None) -> None:
        body: dict[str, Any] = {"botToken": TOKEN, "date": int(time.time()), "text": text, **self._person()}
        endpoint = "/sendMessage"
        if text.startswith("/"):
            endpoint = "/sendCommand"
            body["entities"] = [{"offset": 0, "length": len(text.split()[0]), "type": "bot_command"}]
        if reply_to is not None:
            body["reply_to_message"] = {
                "message_id": reply_to["messageId"],
                "date": int(time.time()),
                "chat": self._person()["chat"],
                "text": reply_to["message"]["text"],
            }
        self.http.post(endpoint, json=body).raise_for_status()

    def tap(self, label: str) -> None:
        for record in reversed(self.received):
            markup = record["message"].get("reply_markup") or {}
            for row in markup.get("inline_keyboard", []):
                for button in row:
                    if label in button["text"]:
                        self.http.post(
                            "/sendCallback",
                            json={
                                "botToken": TOKEN,
                                "from": self._person()["from"],
                                "data": button["callback_data"],
                                "chat_instance": f"ci-{self.id}",
                                "message": {
                                    "message_id": record["messageId"],
                                    "date": int(time.time()),
                                    "chat": self._person()["chat"],
                                    "text": record["message"]["text"],
                                },
                            },
                        ).raise_for_status()
                        return
        raise AssertionError(f"no button {label!r} in what {self.name} received")

    def wait_for(self, words: str) -> dict[str, Any]:
        """Poll the bot's messages to this chat until one contains ``words``."""
        return self.wait_until(lambda r: words in r["message"].get("text", ""), words)

    def wait_until(self, check: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            response = self.http.post("/getUpdates", json={"token": TOKEN, "chatId": self.id})
            self.received.extend(response.json()["result"])
            for index in range(self.cursor, len(self.received)):
                if check(self.received[index]):
                    self.cursor = index + 1
                    return self.received[index]
            time.sleep(0.1)
        texts_seen = [r["message"].get("text", "")[:60] for r in self.received]
        raise AssertionError(f"{self.name} never got {what!r}; got {texts_seen}")


@pytest.fixture
def live_app(emulator: str, settings: Settings, real_classifier) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    from admin.seed import seed_demo

    live = settings.model_copy(
        update={
            "telegram_bot_token": TOKEN,
            "telegram_webhook_secret": "e2e-secret",
            "telegram_api_base_url": f"{emulator}/bot",
            "telegram_polling": True,
            "run_background_workers": True,
        }
    )
    container = build(live, classifier=real_classifier)
    with transaction(container.session_factory) as session:
        seed_demo(session, settings=live, now=utcnow())
    with TestClient(create_app(live, container=container)):  # the lifespan polls and runs the outbox
        yield container
    container.engine.dispose()


def test_villager_and_lawyer_end_to_end_through_the_bot_api(emulator, live_app):  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=emulator, timeout=5) as http:
        villager = TelegramUser(http, 1001, "巴特尔")
        lawyer = TelegramUser(http, 2002, "乌日娜")

        # A villager starts the bot and picks the village with buttons.
        villager.send("/start")
        greeting = villager.wait_for(texts.GREETING)
        assert greeting["message"]["reply_markup"]["inline_keyboard"]  # the county buttons
        villager.tap("阿巴嘎旗")
        villager.wait_for(texts.PICK_TOWNSHIP)
        villager.tap("别力古台镇")
        villager.wait_for(texts.PICK_VILLAGE)
        villager.tap("巴彦图嘎嘎查")
        villager.wait_for(texts.VILLAGE_SET.format(village="阿巴嘎旗别力古台镇巴彦图嘎嘎查"))
        villager.wait_for(texts.WHAT_IS_YOUR_QUESTION)

        # A land question gets the knowledge-base answer with the statute cited.
        villager.send("把承包地流转给别人要签合同吗")
        answer = villager.wait_for("《农村土地承包法》第四十条")
        assert "书面流转合同" in answer["message"]["text"]

        # The village's lawyer binds their Telegram account with a one-time code.
        with transaction(live_app.session_factory) as session:
            wurina = session.scalar(select(Lawyer).where(Lawyer.name == "乌日娜"))
            assert wurina is not None
            code = roster.issue_bind_code(
                session, settings=live_app.settings, lawyer=wurina, now=utcnow(), actor="test"
            ).code
        lawyer.send(f"/bind {code}")
        lawyer.wait_for("绑定成功")

        # The villager asks for the lawyer: a ticket, and a notification in the lawyer's chat.
        villager.send("/lawyer")
        villager.wait_for("T-0001")
        notification = lawyer.wait_for("【新咨询 T-0001】")
        assert "把承包地流转给别人要签合同吗" in notification["message"]["text"]

        # The lawyer answers with /reply; the villager receives it.
        lawyer.send("/reply T-0001 要签书面合同，写清期限和租金，签前可以拿给我看。")
        lawyer.wait_for(texts.LAWYER_REPLY_SENT.format(code="T-0001"))
        villager.wait_for("签前可以拿给我看")

        # Replying to the notification itself also reaches the villager.
        lawyer.send("补充：合同一式三份，村委会留一份备案。", reply_to=notification)
        villager.wait_for("合同一式三份")

    with live_app.session_factory() as session:
        ticket = session.scalar(select(Ticket).where(Ticket.code == "T-0001"))
        assert ticket is not None and ticket.status == "answered" and ticket.first_response_at is not None
