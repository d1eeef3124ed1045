"""WeChat Official Account: webhook, passive replies within WeChat's 5 s, customer-service messages.

How an inbound message becomes an answer, and why nothing is answered twice or lost:

1. The query signature is checked (403 otherwise); in safe mode the body is decrypted with
   ``WeChatCrypto`` after its ``msg_signature`` is checked. Every XML document is parsed by
   defusedxml with DTDs forbidden before wechatpy's ``parse_message`` sees it, so entity expansion
   and external entities never reach a parser; the body is capped at ``MAX_BODY_BYTES``.
2. The message is stored (committed) by the Router before anything is acknowledged, keyed by MsgId
   (events: FromUserName, CreateTime and the event itself). Only then may we ever say "success".
3. Processing runs off the event loop with ``push_replies=True``: the replies are outbox rows
   written in the same transaction as the state change, so the outbox is the one record of what
   still has to reach the villager, whether the answer comes in time or not. They are born due
   only at the end of the reply budget (``hold_replies_until``), so the outbox worker leaves them
   to the passive reply while there is still time for one.
4. If processing ends within ``wechat_reply_budget_seconds``, the request *leases* those rows for a
   passive reply: in one transaction (rows locked on PostgreSQL, the write lock on SQLite) rows that
   are still pending and untouched get ``external_message_id = "passive"`` and a next attempt
   ``PASSIVE_LEASE`` ahead, and are sent in the HTTP response; after the response has been written
   they are marked sent. A row a worker claimed first (possible only once the budget is over) is
   left to the worker. Otherwise the request answers "success" and the worker sends the rows as
   customer-service messages as soon as they are committed and due.
5. WeChat retries (same MsgId) find the stored message: in this process they wait on the same
   processing task, in another process on the row lock; the rows can be leased only once, so a
   retry gets "success" unless the first request never got to answer.
   If the process dies after leasing but before the response was written, the lease runs out and
   the worker sends the rows by customer-service message (at-least-once: a villager may, rarely,
   see an answer twice, but never none). If it dies mid-processing, the message stays ``received``
   and the recovery worker processes it, replies again going to the outbox.

Buttons become numbered options ("回复数字选择"); the payloads of the options last shown to an
account live in ``cache_entries`` until that account's next message, which may be a number.

Outgoing messages from the outbox go through ``WeChatChannel`` (customer-service messages inside the
48-hour window, a template message and a held row outside it); the API client, the shared access
token and the mapping of WeChat's error codes are in ``bot.wechat_client``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import hmac
import json
import logging
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy import Table, bindparam, exists, insert, select, update
from sqlalchemy.orm import Session, sessionmaker
from starlette.background import BackgroundTask
from wechatpy import WeChatClient, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.events import (
    BaseEvent,
    ClickEvent,
    ScanEvent,
    SubscribeEvent,
    SubscribeScanEvent,
    UnsubscribeEvent,
)
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.messages import (
    BaseMessage,
    ImageMessage,
    LinkMessage,
    LocationMessage,
    ShortVideoMessage,
    TextMessage,
    VideoMessage,
    VoiceMessage,
)
from wechatpy.replies import create_reply
from wechatpy.utils import WeChatSigner

from bot.outbox import CLAIM_LEASE
from bot.wechat_client import HELD_CODES, OfficialAccountClient, delivery_error, scene_qr_content
from core import cache_entries, http_errors
from core.clock import to_local, utcnow
from core.config import Settings
from core.db import is_postgres, one_statement, read_only, transaction
from core.messages import IncomingMessage, Kind, OutgoingMessage
from core.models import ChannelAccount, DeliveryAttempt, Message, OutboxMessage
from core.ports import (
    HeldDeliveryError,
    PermanentDeliveryError,
    SendReceipt,
    TransientDeliveryError,
)
from core.threads import in_thread
from handlers import texts
from handlers.notify import as_outgoing
from handlers.router import HandleResult, reply_keys

if TYPE_CHECKING:
    from admin.container import Container

log = logging.getLogger(__name__)

CHANNEL = "wechat"
PATH = "/wechat"
SUCCESS = "success"  # WeChat's "received, nothing to say now": no retry, nothing shown
MAX_BODY_BYTES = 32 * 1024  # real messages are a few KB; a text is at most 2048 bytes
MAX_TEXT_BYTES = 2000  # WeChat truncates a text message beyond 2048 bytes
CS_WINDOW = dt.timedelta(hours=48)  # customer-service messages allowed after the user's last action
PASSIVE_LEASE = dt.timedelta(seconds=15)  # longer than writing a response, far shorter than a retry cycle
PASSIVE_MARK = "passive"
HOLD_SLACK = dt.timedelta(seconds=1)  # the clock keeps whole seconds
OPTIONS_TTL = dt.timedelta(hours=48)
UNSUBSCRIBE = "evt:unsubscribe"


# --------------------------------------------------------------------------- rendering


def render(messages: Sequence[OutgoingMessage]) -> tuple[str, list[str]]:
    """One WeChat text for several replies; buttons become options numbered across all of them."""
    parts: list[str] = []
    payloads: list[str] = []
    for message in messages:
        part = message.text.strip()
        if message.buttons:
            lines = [texts.WECHAT_OPTIONS_HEADER]
            for button in message.buttons:
                payloads.append(button.payload)
                lines.append(texts.WECHAT_OPTION_LINE.format(number=len(payloads), label=button.label))
            part = f"{part}\n\n" + "\n".join(lines) if part else "\n".join(lines)
        parts.append(part)
    return "\n\n".join(p for p in parts if p), payloads


def split_text(text: str, limit: int = MAX_TEXT_BYTES) -> list[str]:
    """Pieces of at most ``limit`` UTF-8 bytes, cut at line ends where possible."""
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if len(candidate.encode()) <= limit:
            current = candidate
            continue
        if current:
            chunks.append(current)
        current = ""
        for char in line:  # a single line longer than the limit: cut it by characters
            if len((current + char).encode()) > limit:
                chunks.append(current)
                current = ""
            current += char
    if current or not chunks:
        chunks.append(current)
    return chunks


def _xml_safe(text: str) -> str:
    # wechatpy writes reply text into CDATA unescaped; "]]>" would end it early.
    return text.replace("]]>", "]] >")


# --------------------------------------------------------------------------- numbered options


def _options_key(openid: str) -> str:
    return f"wechat:options:{openid}"[:100]


def remember_options(session: Session, *, openid: str, payloads: list[str], now: dt.datetime) -> None:
    if payloads:
        value = json.dumps(payloads, ensure_ascii=False)
        cache_entries.put(session, _options_key(openid), value, expires_at=now + OPTIONS_TTL)
    else:
        cache_entries.drop(session, _options_key(openid))


def take_options(session: Session, *, openid: str, now: dt.datetime) -> list[str]:
    """The options last shown to this account; they are used up by the message being received."""
    row = cache_entries.take(session, _options_key(openid))
    if row is None or (row.expires_at is not None and row.expires_at <= now):
        return []
    return [p for p in json.loads(row.value) if isinstance(p, str)]


def chosen_option(text: str, payloads: list[str]) -> str | None:
    """The payload of option ``text`` ("2", "２", "2.") if it names one of ``payloads``."""
    number = unicodedata.normalize("NFKC", text).strip().rstrip(".。、")
    # a few digits at most: int() refuses a string of over 4,300 (a 500 the fuzzer found), and
    # isdecimal, unlike isdigit, admits only what int() reads
    if number.isdecimal() and len(number) <= 3 and 1 <= int(number) <= len(payloads):
        return payloads[int(number) - 1]
    return None


# --------------------------------------------------------------------------- inbound translation


class BadRequest(HTTPException):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(status_code=status, detail=message)


def parse_xml(data: bytes | str) -> Element:
    """Parse untrusted XML: no DTD at all (so no entity expansion, no external entities)."""
    try:
        root = safe_fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise BadRequest(400, "XML with a DTD or entities is not accepted") from None
    except ParseError:
        raise BadRequest(400, "malformed XML") from None
    if root.tag != "xml":
        raise BadRequest(400, "not a WeChat message")
    return root


def to_incoming(message: BaseMessage) -> IncomingMessage | None:
    """The channel-neutral message, or None for what we do not act on (location reports, views …)."""
    openid = message.source
    if not openid:
        raise BadRequest(400, "message without FromUserName")
    if isinstance(message, BaseEvent):
        payload = _event_payload(message)
        if payload is None:
            return None
        if not message.time:
            raise BadRequest(400, "event without CreateTime")
        key = event_key(openid, message.time, payload)
        return IncomingMessage(channel=CHANNEL, user_id=openid, message_id=key, payload=payload[:200], kind=Kind.EVENT)
    message_id = str(message.id) if message.id else f"{openid}:{message.time}:{message.type}"
    base = {"channel": CHANNEL, "user_id": openid, "message_id": message_id}
    if isinstance(message, TextMessage):
        return IncomingMessage(**base, text=message.content or "")
    if isinstance(message, VoiceMessage):
        if message.recognition and message.recognition.strip():
            return IncomingMessage(**base, text=message.recognition.strip())
        return IncomingMessage(**base, kind=Kind.VOICE, attachment=message.media_id)
    if isinstance(message, ImageMessage):
        return IncomingMessage(**base, kind=Kind.IMAGE, attachment=message.media_id)
    if isinstance(message, VideoMessage | ShortVideoMessage):
        return IncomingMessage(**base, kind=Kind.VIDEO, attachment=message.media_id)
    if isinstance(message, LocationMessage):
        return IncomingMessage(**base, kind=Kind.LOCATION)
    if isinstance(message, LinkMessage):
        return IncomingMessage(**base, kind=Kind.FILE, attachment=message.url)
    return IncomingMessage(**base, kind=Kind.STICKER)  # anything else we cannot read


def event_key(openid: str, create_time: int, payload: str) -> str:
    """An event's message id. WeChat's retries of an event are identical; the event itself is part
    of the key so two different menu clicks within one second are both kept."""
    return f"{openid}:{create_time}:{payload}"[:128]


def _event_payload(event: BaseEvent) -> str | None:
    if isinstance(event, SubscribeScanEvent):  # wechatpy strips "qrscene_" from the EventKey
        return f"evt:subscribe:qrscene_{event.scene_id}"
    if isinstance(event, SubscribeEvent):
        return "evt:subscribe"
    if isinstance(event, ScanEvent):  # a follower scanned a village's QR code
        return f"evt:start:{event.scene_id}"
    if isinstance(event, UnsubscribeEvent):
        return UNSUBSCRIBE
    if isinstance(event, ClickEvent) and event.key:
        return f"evt:menu:{event.key}"
    return None


# --------------------------------------------------------------------------- the webhook


@dataclass(frozen=True)
class Passive:
    text: str
    outbox_ids: list[int]


def _signature(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BadRequest(413, "body too large")
    size = 0
    chunks: list[bytes] = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(413, "body too large")
        chunks.append(chunk)
    return b"".join(chunks)


class WeChatWebhook:
    def __init__(self, settings: Settings) -> None:
        assert settings.wechat_token and settings.wechat_app_id
        self.settings = settings
        self.token = settings.wechat_token
        self.crypto = (
            WeChatCrypto(settings.wechat_token, settings.wechat_aes_key, settings.wechat_app_id)
            if settings.wechat_aes_key
            else None
        )
        #: Processing tasks by inbound message row: a retry in this process waits on the same task.
        self.inflight: dict[int, asyncio.Future[HandleResult]] = {}

    def routes(self) -> APIRouter:
        api = APIRouter()
        api.add_api_route(PATH, self.verify, methods=["GET"])
        api.add_api_route(PATH, self.receive, methods=["POST"])
        return api

    # ---- HTTP

    async def verify(self, request: Request) -> Response:
        """The console's URL check: echo ``echostr`` when the signature is ours."""
        self._check_signature(request)
        return PlainTextResponse(request.query_params.get("echostr", ""))

    async def receive(self, request: Request) -> Response:
        self._check_signature(request)
        body = await _read_body(request, MAX_BODY_BYTES)
        xml = self._plaintext(request, body)
        parse_xml(xml)
        try:
            message = parse_message(xml)
            incoming = to_incoming(message) if message is not None else None
        except BadRequest:
            raise
        except (KeyError, ValueError, TypeError, AttributeError):
            raise BadRequest(400, "not a WeChat message") from None
        if incoming is None:
            return PlainTextResponse(SUCCESS)
        container = request.app.state.container
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.wechat_reply_budget_seconds
        passive = await self.answer(container, incoming, deadline)
        if passive is None:
            return PlainTextResponse(SUCCESS)
        reply = create_reply(_xml_safe(passive.text), message=message, render=True)
        if self.crypto is not None:
            reply = self.crypto.encrypt_message(reply, request.query_params["nonce"])
        confirm = BackgroundTask(confirm_passive, container.session_factory, passive.outbox_ids, container.router.clock)
        return Response(reply, media_type="application/xml", background=confirm)

    def _check_signature(self, request: Request) -> None:
        q = request.query_params
        signature, timestamp, nonce = q.get("signature", ""), q.get("timestamp", ""), q.get("nonce", "")
        if not (signature and timestamp and nonce) or not _same(signature, _signature(self.token, timestamp, nonce)):
            raise BadRequest(403, "invalid signature")

    def _plaintext(self, request: Request, body: bytes) -> bytes | str:
        """The message XML: the body itself, or in safe mode its decrypted ``Encrypt`` element."""
        if self.crypto is None:
            return body
        q = request.query_params
        if q.get("encrypt_type") != "aes":
            raise BadRequest(403, "safe mode: encrypted messages only")
        envelope = parse_xml(body)
        encrypted = envelope.findtext("Encrypt") or ""
        expected = _signature(self.token, q.get("timestamp", ""), q.get("nonce", ""), encrypted)
        if not encrypted or not _same(q.get("msg_signature", ""), expected):
            raise BadRequest(403, "invalid msg_signature")
        try:
            return str(
                self.crypto.decrypt_message({"Encrypt": encrypted}, expected, q["timestamp"], q["nonce"])
            ).encode()
        except (InvalidSignatureException, InvalidAppIdException):
            raise BadRequest(403, "message not for this account") from None
        except Exception:  # signed with our token but not decryptable with our key (padding, length …)
            raise BadRequest(400, "cannot decrypt message") from None

    # ---- answering within the budget

    async def answer(self, container: Container, incoming: IncomingMessage, deadline: float) -> Passive | None:
        """The passive reply, or None for "success" (the outbox then delivers whatever is due).

        With the database away: a message that could not be stored is answered with a plain
        "not saved, send it again" — WeChat does not resend after an answer, and an error
        status shows the villager only its own "service unavailable". One stored before the
        database went away is answered "success": recovery and the outbox answer it later.
        (Where the database does not even refuse within WeChat's five seconds, WeChat sends the
        message again, twice, with the same MsgId, and then shows its own error.)"""
        try:
            message_id, processed = await in_thread(self._store, container, incoming)
        except http_errors.DATABASE_DOWN as exc:
            # the exception's kind and trace too: DBAPIError also covers a statement of ours gone wrong
            log.warning(
                "database error (%s): a WeChat message was refused, not stored", type(exc).__name__, exc_info=True
            )
            return Passive(http_errors.DB_DOWN, [])
        try:
            return await self._answer_stored(container, incoming, message_id, processed, deadline)
        except http_errors.DATABASE_DOWN as exc:
            log.warning(
                "database error (%s) after WeChat message %s was stored: answered later",
                type(exc).__name__,
                message_id,
                exc_info=True,
            )
            return None

    async def _answer_stored(
        self, container: Container, incoming: IncomingMessage, message_id: int, processed: bool, deadline: float
    ) -> Passive | None:
        if processed:
            replies = await in_thread(container.router.stored_replies, message_id)
            fallback: list[OutgoingMessage] = []
        else:
            task = self.inflight.get(message_id)
            if task is None:
                hold = _now(container) + dt.timedelta(seconds=self.settings.wechat_reply_budget_seconds) + HOLD_SLACK
                process = functools.partial(
                    container.router.process, message_id, push_replies=True, hold_replies_until=hold
                )
                task = asyncio.ensure_future(in_thread(process))
                self.inflight[message_id] = task
                task.add_done_callback(functools.partial(self._finished, message_id))
            remaining = max(deadline - asyncio.get_running_loop().time(), 0.0)
            try:
                result = await asyncio.wait_for(asyncio.shield(task), timeout=remaining)
            except TimeoutError:
                # Too late for a passive reply: the outbox sends the replies as soon as they are
                # committed. (In time, the worker is not woken: the rows are leased for the response.)
                task.add_done_callback(lambda _task: _wake_outbox(container))
                return None
            replies = result.replies
            fallback = [] if result.duplicate else result.replies
        return await in_thread(
            lease_passive,
            container.session_factory,
            message_id=message_id,
            reply_count=len(replies),
            openid=incoming.user_id,
            fallback=fallback,
            now=_now(container),
        )

    def _store(self, container: Container, incoming: IncomingMessage) -> tuple[int, bool]:
        """Commit the message (a number mapped to the option shown), then reopen the account.

        A retry is recognised with a read that takes no lock, so on SQLite it does not queue behind
        the first delivery's processing (which holds the write lock) beyond the reply budget; nor
        does it use up the options its first delivery's answer has just shown.
        """
        factory = container.session_factory
        with read_only(factory)() as session:
            seen = session.execute(
                select(Message.id, Message.status).where(
                    Message.channel == CHANNEL, Message.direction == "in", Message.external_id == incoming.message_id
                )
            ).first()
        if seen is not None:
            return seen.id, seen.status != "received"
        now = _now(container)
        with transaction(one_statement(factory)) as session:
            options = take_options(session, openid=incoming.user_id, now=now)
        payload = chosen_option(incoming.text, options) if incoming.kind == Kind.TEXT and options else None
        if payload is not None:
            incoming = dataclasses.replace(incoming, payload=payload)
        return container.router.store(incoming)

    def _finished(self, message_id: int, task: asyncio.Future[HandleResult]) -> None:
        self.inflight.pop(message_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("processing wechat message %s failed", message_id, exc_info=task.exception())


def _wake_outbox(container: Container) -> None:
    if container.outbox is not None:
        container.outbox.wake.set()


def _now(container: Container) -> dt.datetime:
    now = container.router.clock()
    assert isinstance(now, dt.datetime)
    return now


def lease_passive(
    factory: sessionmaker[Session],
    *,
    message_id: int,
    reply_count: int,
    openid: str,
    fallback: list[OutgoingMessage],
    now: dt.datetime,
) -> Passive | None:
    """Lease the reply rows that nobody has sent or claimed yet, as many as fit in one text."""
    keys = reply_keys(message_id, reply_count)
    with transaction(factory) as session:
        query = select(OutboxMessage).where(OutboxMessage.dedup_key.in_(keys)).order_by(OutboxMessage.id)
        if is_postgres(session):
            query = query.with_for_update()  # the outbox worker's claim skips rows locked here
        rows = session.scalars(query).all() if keys else []
        # Rows are born held until the reply budget ends (hold_replies_until), a few seconds ahead;
        # a worker's claim pushes a row a whole CLAIM_LEASE ahead. So a row further out than half
        # a lease is being sent by a worker right now.
        claimed_beyond = now + CLAIM_LEASE / 2
        leased: list[OutboxMessage] = []
        for row in rows:
            untouched = (
                row.status == "pending"
                and row.attempts == 0
                and row.external_message_id is None
                and row.next_attempt_at < claimed_beyond
            )
            if not untouched or len(render([as_outgoing(r) for r in [*leased, row]])[0].encode()) > MAX_TEXT_BYTES:
                break
            leased.append(row)
        for row in leased:
            row.next_attempt_at = now + PASSIVE_LEASE
            row.external_message_id = PASSIVE_MARK
        # No reply rows at all: processing failed (its apology is shown; the recovery worker
        # processes the message again later) or there was nothing to say.
        messages = [as_outgoing(r) for r in leased] if rows else fallback
        if not messages:
            return None
        text, payloads = render(messages)
        remember_options(session, openid=openid, payloads=payloads, now=now)
        return Passive(text=text, outbox_ids=[r.id for r in leased])


def confirm_passive(factory: sessionmaker[Session], outbox_ids: list[int], clock: Callable[[], Any]) -> None:
    """After the response was written: the leased rows were delivered."""
    if not outbox_ids:
        return
    now = clock()
    with transaction(factory) as session:
        sent = session.scalars(_CONFIRM_PASSIVE, {"ids": outbox_ids, "now": now}).all()
        if sent:
            attempts = [{"outbox_id": i, "at": now, "outcome": "sent", "error": "passive reply"} for i in sent]
            session.execute(_INSERT_ATTEMPT, attempts)


_outbox: Table = OutboxMessage.__table__  # type: ignore[assignment]
#: The rows still leased for the passive reply (not claimed by a worker since) become sent.
_CONFIRM_PASSIVE = (
    update(_outbox)
    .where(
        _outbox.c.id.in_(bindparam("ids", expanding=True)),
        _outbox.c.status == "pending",
        _outbox.c.external_message_id == PASSIVE_MARK,
    )
    .values(status="sent", sent_at=bindparam("now"), attempts=_outbox.c.attempts + 1, last_error=None)
    .returning(_outbox.c.id)
)
_INSERT_ATTEMPT = insert(DeliveryAttempt)


def install(app: FastAPI, settings: Settings) -> None:
    app.include_router(WeChatWebhook(settings).routes())

    def qr_content(scene: str) -> str:
        # the container exists once the app has started; cards are only drawn after that
        return scene_qr_content(OfficialAccountClient(settings, app.state.container.session_factory), scene)

    app.state.wechat_qr_url = qr_content


# --------------------------------------------------------------------------- the outbox channel


class WeChatChannel:
    """Customer-service messages inside the 48-hour window; outside it one template message tells
    the user to write, and the message is held until they do (``reopen`` releases it)."""

    name = CHANNEL

    def __init__(
        self,
        settings: Settings,
        factory: sessionmaker[Session],
        *,
        clock: Callable[[], Any] = utcnow,
        client: WeChatClient | None = None,
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.reader = read_only(factory)
        self.clock = clock
        self.client = client or OfficialAccountClient(settings, factory)

    async def send(self, *, recipient: str, message: OutgoingMessage) -> SendReceipt:
        return await in_thread(self.send_now, recipient, message)

    def send_now(self, recipient: str, message: OutgoingMessage) -> SendReceipt:
        now = self.clock()
        last_inbound, already_told = self._window(recipient)
        if last_inbound is None or now - last_inbound >= CS_WINDOW:
            self._hold(recipient, already_told=already_told, reason=HELD_CODES[45015], now=now)
        text, payloads = render([message])
        result: Any = None
        try:
            for chunk in split_text(text):
                result = self.client.message.send_text(recipient, chunk)
        except Exception as exc:
            error = delivery_error(exc)
            if isinstance(error, HeldDeliveryError):
                self._hold(recipient, already_told=already_told, reason=str(error), now=now)
            raise error from exc
        if payloads:
            try:
                with transaction(self.factory) as session:
                    remember_options(session, openid=recipient, payloads=payloads, now=now)
            except Exception:  # sent is sent: a missing option list only means "1" is read as text
                log.exception("could not remember the options sent to a wechat account")
        msgid = result.get("msgid") if isinstance(result, dict) else None
        return SendReceipt(external_id=str(msgid) if msgid else None)

    def _window(self, openid: str) -> tuple[dt.datetime | None, bool]:
        """The user's last message, and whether a message is already held for them (then they
        have been told to write since that message)."""
        with self.reader() as session:
            account = session.scalar(
                select(ChannelAccount).where(ChannelAccount.channel == CHANNEL, ChannelAccount.external_id == openid)
            )
            if account is None:
                raise PermanentDeliveryError("unknown WeChat account", unreachable=False)
            held = session.scalar(
                select(exists().where(OutboxMessage.account_id == account.id, OutboxMessage.status == "held"))
            )
            return account.last_inbound_at, bool(held)

    def _hold(self, openid: str, *, already_told: bool, reason: str, now: dt.datetime) -> NoReturn:
        template_id = self.settings.wechat_template_id
        if already_told or not template_id:
            raise HeldDeliveryError(f"{reason}; held until the user writes")
        try:
            self.client.message.send_template(openid, template_id, self.template_data(now))
        except Exception as exc:
            error = delivery_error(exc)
            if isinstance(error, TransientDeliveryError) or (
                isinstance(error, PermanentDeliveryError) and error.unreachable
            ):
                raise error from exc
            log.warning("template message refused (%s); the message waits for the user's next message", error)
            raise HeldDeliveryError(f"{reason}; template refused; held until the user writes") from exc
        raise HeldDeliveryError(f"{reason}; template sent; held until the user writes")

    @staticmethod
    def template_data(now: dt.datetime) -> dict[str, dict[str, str]]:
        """Fields of the template (first, keyword1, keyword2, remark): a notice, never the content."""
        return {
            "first": {"value": texts.WECHAT_TEMPLATE_FIRST},
            "keyword1": {"value": texts.WECHAT_TEMPLATE_KIND},
            "keyword2": {"value": to_local(now).strftime("%Y-%m-%d %H:%M")},
            "remark": {"value": texts.WECHAT_TEMPLATE_REMARK},
        }
