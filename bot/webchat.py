"""The web chat: a page at / and a JSON API. The channel that works with no tokens at all.

Replies come back in the response; messages for this visitor from other people (a lawyer's
answer, a reminder) wait in the outbox and the page fetches them with GET /api/webchat/messages.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.limits import read_limited
from core import http_errors
from core.messages import IncomingMessage, Kind, OutgoingMessage
from core.models import ChannelAccount, OutboxMessage
from core.ports import SendReceipt
from handlers.notify import buttons_from_json
from handlers.router import reply_keys
from nlu.normalize import has_control_chars

if TYPE_CHECKING:
    from admin.container import Container

CHANNEL = "webchat"
MESSAGES_PATH = "/api/webchat/messages"
USER_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
MAX_BODY_BYTES = 64 * 1024
MAX_PAYLOAD_CHARS = 64
TOO_LARGE = "消息太长了（请求超过64KB）。请分几次发送。"

router = APIRouter()


class WebchatChannel:
    """Delivery to a web chat visitor is storage: the page polls for what the outbox marked sent."""

    name = CHANNEL

    async def send(self, *, recipient: str, message: OutgoingMessage) -> SendReceipt:
        return SendReceipt(external_id=None)


class BadRequest(HTTPException):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(status_code=status, detail=message)


def reply_json(replies: list[OutgoingMessage], pushed: list[int | None] | None = None) -> dict[str, Any]:
    """The response's replies; a reply that was also pushed (``pushed_ids``) carries the id the
    page's poll knows it by."""
    shown = []
    for r, outbox_id in zip(replies, pushed or [None] * len(replies), strict=True):
        reply: dict[str, Any] = {
            "text": r.text,
            "buttons": [{"label": b.label, "payload": b.payload} for b in r.buttons],
        }
        if outbox_id is not None:
            reply["id"] = outbox_id
        shown.append(reply)
    return {"replies": shown}


def answer(container: Container, incoming: IncomingMessage) -> dict[str, Any]:
    """Handle a message and give the response's body (on a web chat thread)."""
    result = container.router.handle(incoming)
    pushed = pushed_ids(container.session_factory, result.message_id, len(result.replies)) if result.duplicate else None
    return reply_json(result.replies, pushed)


def pushed_ids(session_factory: sessionmaker[Session], message_id: int, count: int) -> list[int | None]:
    """The outbox ids of a message's replies where they were pushed, None where not. A message
    whose processing was recovered after a crash had no request left to answer, so its replies
    went to the outbox and the page's poll fetches them; the page's retry of the same message
    gets them again in its response, and the ids let the page show each reply once."""
    keys = reply_keys(message_id, count)
    with session_factory() as session:
        rows = session.execute(
            select(OutboxMessage.dedup_key, OutboxMessage.id).where(OutboxMessage.dedup_key.in_(keys))
        )
        found = {key: outbox_id for key, outbox_id in rows}
    return [found.get(key) for key in keys]


def parse_request(body: bytes, *, max_chars: int) -> IncomingMessage:
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest(413, TOO_LARGE)
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadRequest(400, '请求不是有效的JSON。格式：{"user_id": "…", "text": "…"}') from None
    if not isinstance(data, dict):
        raise BadRequest(400, '请求必须是JSON对象：{"user_id": "…", "text": "…"}')
    user_id = data.get("user_id")
    if not isinstance(user_id, str) or not USER_ID_RE.match(user_id):
        raise BadRequest(422, "缺少或无效的 user_id（1–64个字母、数字、-、_）。")
    text, payload = data.get("text"), data.get("payload")
    if text is None and payload is None:
        raise BadRequest(422, "需要 text（文字）或 payload（按钮）之一。")
    if text is not None and not isinstance(text, str):
        raise BadRequest(422, "text 必须是字符串。")
    if payload is not None and (not isinstance(payload, str) or not 0 < len(payload) <= MAX_PAYLOAD_CHARS):
        raise BadRequest(422, "payload 必须是1–64个字符的字符串。")
    if text is not None and len(text) > max_chars:
        raise BadRequest(413, f"消息太长了（{len(text)}字），一次最多{max_chars}字。请分几次发送。")
    for value in (text, payload):
        if value and has_control_chars(value):
            raise BadRequest(422, "消息里有无法识别的控制字符，请只发送普通文字。")
    client_id = data.get("client_id")
    if client_id is not None and (not isinstance(client_id, str) or not CLIENT_ID_RE.match(client_id)):
        raise BadRequest(422, "client_id 无效（1–64个字母、数字、-、_）。")
    name = data.get("display_name")
    display_name = name.strip()[:50] if isinstance(name, str) and name.strip() else None
    if display_name and has_control_chars(display_name):
        display_name = None
    return IncomingMessage(
        channel=CHANNEL,
        user_id=user_id,
        message_id=f"{user_id}:{client_id}" if client_id else None,
        text=text or "",
        payload=payload,
        kind=Kind.TEXT,
        display_name=display_name,
    )


class MessagesLane:
    """ASGI middleware that answers ``POST /api/webchat/messages`` itself; every other request goes
    on to the app. Every villager's message takes this path, and FastAPI's routing and request
    handling around one endpoint — a dozen layers of coroutines, each entered and then resumed
    when the thread's answer comes back — cost 6 % of a serving process's instructions for a
    message (5.95 → 5.61 M, counted as ``python -m bench instructions`` does). Installed inside
    the app's other middleware: the security headers and the 500 for an unexpected error stay
    theirs; the errors the route's exception handlers would give are given here, by the same
    functions."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == MESSAGES_PATH and scope["method"] == "POST":
            response = await answer_message(Request(scope, receive))
            await response(scope, receive, send)
        else:
            await self.app(scope, receive, send)


async def answer_message(request: Request) -> Response:
    try:
        return await post_message(request)
    except HTTPException as exc:
        return http_errors.http_error(exc)
    except http_errors.DATABASE_DOWN as exc:
        return http_errors.database_down(exc)


async def post_message(request: Request) -> JSONResponse:
    container = request.app.state.container
    body = await read_limited(request, MAX_BODY_BYTES, message=TOO_LARGE)
    incoming = parse_request(body, max_chars=container.settings.max_message_chars)
    # a few messages at a time (admin/app.py says why), on threads of their own
    threads = request.app.state.webchat_threads
    return JSONResponse(await asyncio.get_running_loop().run_in_executor(threads, answer, container, incoming))


@router.get(MESSAGES_PATH)
def poll_messages(
    request: Request,
    user_id: str = Query(..., min_length=1, max_length=64),
    after: int = Query(0, ge=0, le=2**63 - 1),  # a BIGINT: a larger number is a bad request, not a 503
) -> JSONResponse:
    """Messages for this visitor from other people (lawyer answers, reminders) since ``after``."""
    if not USER_ID_RE.match(user_id):
        raise BadRequest(422, "无效的 user_id")
    container = request.app.state.container
    with container.session_factory() as session:
        rows = session.scalars(
            select(OutboxMessage)
            .join(ChannelAccount, ChannelAccount.id == OutboxMessage.account_id)
            .where(
                ChannelAccount.channel == CHANNEL,
                ChannelAccount.external_id == user_id,
                OutboxMessage.status == "sent",
                OutboxMessage.id > after,
            )
            .order_by(OutboxMessage.id)
            .limit(50)
        ).all()
        messages = [
            {
                "id": r.id,
                "text": r.text,
                "buttons": [{"label": b.label, "payload": b.payload} for b in buttons_from_json(r.buttons)],
            }
            for r in rows
        ]
    return JSONResponse({"messages": messages})


def page_routes(templates: Jinja2Templates) -> APIRouter:
    pages = APIRouter()

    @pages.get("/", response_class=HTMLResponse)
    def chat_page(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "chat.html", {})

    return pages
