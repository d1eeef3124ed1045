"""The Telegram edge for offline tests: real Update JSON in, a fake Bot API behind PTB's one
network choke point (``HTTPXRequest.do_request``) out. Everything between is real PTB code."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

BOT_USER = {"id": 666000, "is_bot": True, "first_name": "村律通", "username": "cunlvtong_bot"}
DATE = 1796090400  # 2026-12-01 02:00 UTC


def _user(user_id: int, name: str) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": name, "language_code": "zh-hans"}


def _chat(user_id: int, name: str) -> dict[str, Any]:
    return {"id": user_id, "type": "private", "first_name": name}


def message_update(
    update_id: int,
    user_id: int,
    text: str | None = None,
    *,
    name: str = "巴特尔",
    message_id: int | None = None,
    reply_to: int | None = None,
    **content: Any,
) -> dict[str, Any]:
    """A private-chat message as Telegram posts it; ``content`` adds photo=…, document=… ."""
    message: dict[str, Any] = {
        "message_id": message_id or update_id,
        "date": DATE,
        "chat": _chat(user_id, name),
        "from": _user(user_id, name),
        **content,
    }
    if text is not None:
        message["text"] = text
        if text.startswith("/"):
            message["entities"] = [{"offset": 0, "length": len(text.split()[0]), "type": "bot_command"}]
    if reply_to is not None:
        message["reply_to_message"] = {
            "message_id": reply_to,
            "date": DATE,
            "chat": _chat(user_id, name),
            "from": BOT_USER,
            "text": "【新咨询】…",
        }
    return {"update_id": update_id, "message": message}


def callback_update(update_id: int, user_id: int, data: str, *, name: str = "巴特尔") -> dict[str, Any]:
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"cq-{update_id}",
            "from": _user(user_id, name),
            "chat_instance": "ci-1",
            "data": data,
            "message": {"message_id": 1, "date": DATE, "chat": _chat(user_id, name), "from": BOT_USER, "text": "…"},
        },
    }


def photo(file_id: str = "AgAC-large") -> list[dict[str, Any]]:
    return [
        {"file_id": "AgAC-thumb", "file_unique_id": "t1", "width": 90, "height": 60},
        {"file_id": file_id, "file_unique_id": "l1", "width": 1280, "height": 960},
    ]


def blocked_update(update_id: int, user_id: int) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "my_chat_member": {
            "chat": _chat(user_id, "巴特尔"),
            "from": _user(user_id, "巴特尔"),
            "date": DATE,
            "old_chat_member": {"status": "member", "user": BOT_USER},
            "new_chat_member": {"status": "kicked", "user": BOT_USER, "until_date": 0},
        },
    }


@dataclass
class Call:
    method: str
    params: dict[str, Any]


@dataclass
class FakeBotApi:
    """Answers Bot API methods like Telegram does; ``fail(method, status, description)`` scripts errors."""

    calls: list[Call] = field(default_factory=list)
    scripted: dict[str, list[tuple[int, dict[str, Any]] | Exception]] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(5001))

    def fail(self, method: str, status: int, description: str, **parameters: Any) -> None:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        self.scripted.setdefault(method, []).append((status, body))

    def raise_on(self, method: str, exc: Exception) -> None:
        self.scripted.setdefault(method, []).append(exc)

    def called(self, method: str) -> list[dict[str, Any]]:
        return [c.params for c in self.calls if c.method == method]

    def sent_texts(self, chat_id: int) -> list[str]:
        return [p["text"] for p in self.called("sendMessage") if int(p["chat_id"]) == chat_id]

    async def do_request(self, url: str, method: str, request_data: Any = None, **_: Any) -> tuple[int, bytes]:
        name = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data is not None else {}
        self.calls.append(Call(name, params))
        script = self.scripted.get(name)
        if script:
            outcome = script.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            status, body = outcome
            return status, json.dumps(body).encode()
        return 200, json.dumps({"ok": True, "result": self._result(name, params)}).encode()

    def _result(self, name: str, params: dict[str, Any]) -> Any:
        if name == "getMe":
            return {**BOT_USER, "can_join_groups": False, "can_read_all_group_messages": False}
        if name.startswith("send"):
            chat = {"id": int(params["chat_id"]), "type": "private", "first_name": "x"}
            message: dict[str, Any] = {"message_id": next(self.ids), "date": DATE, "chat": chat, "from": BOT_USER}
            if name == "sendMessage":
                message["text"] = params["text"]
            if name == "sendPhoto":
                message["photo"] = [{"file_id": params["photo"], "file_unique_id": "p", "width": 1, "height": 1}]
            if name == "sendDocument":
                message["document"] = {"file_id": params["document"], "file_unique_id": "d"}
            return message
        if name == "getUpdates":
            return []
        return True
