"""Telegram through python-telegram-bot 22: translate updates in, render messages out.

The PTB ``Application`` is built without an updater and fed from our own route
``POST /telegram/webhook`` (PTB's custom-webhook pattern), or, for development and hosts without
a public URL, from PTB's polling ``Updater`` running inside the web process. Either way one
handler turns the update into an ``IncomingMessage`` for the Router with ``push_replies=True``:
the replies are outbox rows, delivered by ``TelegramChannel.send`` through PTB's
``AIORateLimiter``. No conversation rule lives here.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hmac
import json
import logging
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram import Message as TgMessage
from telegram.constants import ChatMemberStatus, ChatType, InlineKeyboardButtonLimit, MessageLimit
from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, RetryAfter, TelegramError
from telegram.ext import AIORateLimiter, Application, ContextTypes, TypeHandler, Updater

from bot.limits import read_limited
from core.config import Settings
from core.messages import Attachment, Button, IncomingMessage, Kind, OutgoingMessage
from core.models import ChannelAccount
from core.ports import PermanentDeliveryError, SendReceipt, TransientDeliveryError
from core.threads import in_thread
from handlers import texts

if TYPE_CHECKING:
    from admin.container import Container

log = logging.getLogger(__name__)

CHANNEL = "telegram"
WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: Updates are small (a 4096-character message plus the one it replies to); anything bigger is not Telegram.
MAX_BODY_BYTES = 256 * 1024
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
MAX_TEXT = MessageLimit.MAX_TEXT_LENGTH
MAX_CALLBACK_BYTES = InlineKeyboardButtonLimit.MAX_CALLBACK_DATA
#: How long the webhook waits for a bot that is still starting before asking Telegram to retry.
WEBHOOK_READY_SECONDS = 10.0
#: How long a send waits for a bot that is still starting before the outbox retries it.
SEND_READY_SECONDS = 5.0
#: How long startup waits for the Bot API before going on and retrying in the background.
STARTUP_WAIT_SECONDS = 5.0
MAX_START_DELAY_SECONDS = 300.0
POLL_INTERVAL_SECONDS = 0.2
#: Two buttons a row when every label is this short, else one: village names stay readable.
SHORT_LABEL = 8

# Set by the webhook route around one update, so a failure to store it reaches the route (5xx,
# Telegram redelivers) instead of stopping in PTB's error handling.
_failures: ContextVar[list[BaseException] | None] = ContextVar("telegram_update_failures", default=None)


# ---------------------------------------------------------------------- updates in


def to_incoming(update: Update) -> IncomingMessage | None:
    """One Telegram update as our channel-neutral message; ``None`` for what we do not serve
    (edits, group chats, channel posts)."""
    if update.callback_query is not None:
        query = update.callback_query
        if not query.data:
            return None
        return IncomingMessage(
            channel=CHANNEL,
            user_id=str(query.from_user.id),
            message_id=_key(update.update_id, query.from_user.id, query.id),
            payload=query.data,
            display_name=query.from_user.full_name or None,
        )
    if update.my_chat_member is not None:
        member = update.my_chat_member
        if member.chat.type != ChatType.PRIVATE or member.new_chat_member.status != ChatMemberStatus.BANNED:
            return None
        # The user blocked the bot: stop sending rather than fail every message.
        return IncomingMessage(
            channel=CHANNEL,
            user_id=str(member.from_user.id),
            message_id=_key(update.update_id, member.from_user.id, "blocked"),
            kind=Kind.EVENT,
            payload="evt:unsubscribe",
        )
    message = update.message
    if message is None or message.from_user is None or message.chat.type != ChatType.PRIVATE:
        return None
    kind, attachment = _content(message)
    replied = message.reply_to_message
    return IncomingMessage(
        channel=CHANNEL,
        user_id=str(message.from_user.id),
        message_id=_key(update.update_id, message.from_user.id, message.message_id),
        text=message.text or message.caption or "",
        kind=kind,
        display_name=message.from_user.full_name or None,
        reply_to=str(replied.message_id) if replied is not None else None,
        attachment=attachment,
    )


def _key(update_id: int, user_id: int, item: object) -> str:
    # update_id alone identifies a redelivery, but Telegram restarts update ids at random after
    # a quiet week; with the user and their message id an old id can never swallow a new message.
    return f"{update_id}:{user_id}:{item}"


def _content(message: TgMessage) -> tuple[Kind, str | None]:
    if message.text is not None:
        return Kind.TEXT, None
    if message.photo:
        return Kind.IMAGE, message.photo[-1].file_id  # the largest size
    if message.document is not None:
        return Kind.FILE, message.document.file_id
    if message.voice is not None:
        return Kind.VOICE, message.voice.file_id
    if message.audio is not None:
        return Kind.VOICE, message.audio.file_id
    if message.video is not None or message.video_note is not None or message.animation is not None:
        media = message.video or message.video_note or message.animation
        return Kind.VIDEO, media.file_id if media else None
    if message.sticker is not None:
        return Kind.STICKER, message.sticker.file_id
    if message.location is not None or message.venue is not None:
        return Kind.LOCATION, None
    # Contacts, polls, dice …: as unreadable to us as a sticker, and answered the same way.
    return Kind.STICKER, None


# ---------------------------------------------------------------------- messages out


def keyboard(buttons: tuple[Button, ...]) -> InlineKeyboardMarkup | None:
    usable = []
    for button in buttons:
        size = len(button.payload.encode())
        if not 0 < size <= MAX_CALLBACK_BYTES:
            # A cut payload would do something else when tapped; leave the button out and say so.
            log.error("button %r left out: payload is %d bytes, Telegram allows 1-64", button.label, size)
            continue
        usable.append(InlineKeyboardButton(button.label, callback_data=button.payload))
    if not usable:
        return None
    width = 2 if all(len(b.text) <= SHORT_LABEL for b in usable) else 1
    return InlineKeyboardMarkup([usable[i : i + width] for i in range(0, len(usable), width)])


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Telegram refuses messages over 4096 characters: cut at line ends where possible."""
    chunks: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        cut = cut if cut > limit // 2 else limit
        chunks.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    chunks.append(rest)
    return chunks


def delivery_error(exc: TelegramError) -> TransientDeliveryError | PermanentDeliveryError:
    """PTB's exceptions in the outbox's terms: retry later, or give up (and whether for good)."""
    if isinstance(exc, RetryAfter):
        return TransientDeliveryError(str(exc), retry_after=_seconds(exc))
    if isinstance(exc, Forbidden):  # blocked by the user, user deactivated
        return PermanentDeliveryError(f"Forbidden: {exc.message}")
    if isinstance(exc, BadRequest):
        gone = any(words in exc.message.lower() for words in ("chat not found", "user not found"))
        # Any other 400 (empty text, bad markup) fails again on retry but says nothing about the user.
        return PermanentDeliveryError(f"BadRequest: {exc.message}", unreachable=gone)
    if isinstance(exc, ChatMigrated):
        return PermanentDeliveryError(f"chat migrated to {exc.new_chat_id}")
    # Timeouts, network errors, 5xx, a token being fixed: worth another try.
    return TransientDeliveryError(f"{type(exc).__name__}: {exc.message}")


def _seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that the int form will become a timedelta
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


# ---------------------------------------------------------------------- the channel


def file_base_url(base_url: str) -> str:
    root = base_url.rstrip("/")
    return root.removesuffix("/bot") + "/file/bot"


def make_bot(settings: Settings) -> Bot:
    """A plain Bot for one-off calls from the command line."""
    assert settings.telegram_bot_token, "TELEGRAM_BOT_TOKEN is not set"
    return Bot(
        settings.telegram_bot_token,
        base_url=settings.telegram_api_base_url,
        base_file_url=file_base_url(settings.telegram_api_base_url),
    )


class TelegramChannel:
    """``core.ports.Channel`` for Telegram, and the owner of the PTB Application that receives.

    The Application is created in ``start`` so that it belongs to the running event loop."""

    name = CHANNEL

    def __init__(self, settings: Settings) -> None:
        assert settings.telegram_bot_token, "TELEGRAM_BOT_TOKEN is not set"
        self.settings = settings
        self.application: Application[Any, Any, Any, Any, Any, Any] | None = None
        self.container: Container | None = None
        self._ready: asyncio.Event | None = None
        self._updater: Updater | None = None
        self._starter: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    def _build(self) -> Application[Any, Any, Any, Any, Any, Any]:
        base = self.settings.telegram_api_base_url
        application = (
            Application.builder()
            .token(self.settings.telegram_bot_token or "")
            .base_url(base)
            .base_file_url(file_base_url(base))
            .rate_limiter(AIORateLimiter())  # 30 messages/s overall, 20/min per group; 429 comes back to us
            .updater(None)
            .job_queue(None)  # timed work is the scheduler's, in our database
            .build()
        )
        application.add_handler(TypeHandler(Update, self._on_update))
        application.add_error_handler(self._on_error)
        return application

    async def start(self, container: Container, *, polling: bool) -> None:
        """Start receiving; never blocks startup for long: an unreachable Bot API is retried in
        the background while the rest of the app (web chat, console) serves."""
        self.container = container
        self.application = self._build()
        self._ready = asyncio.Event()
        self._starter = asyncio.create_task(self._start_when_reachable(polling=polling), name="telegram-start")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), STARTUP_WAIT_SECONDS)

    async def _start_when_reachable(self, *, polling: bool) -> None:
        assert self.application is not None and self._ready is not None
        delay = 1.0
        while True:
            try:
                await self.application.initialize()
                break
            except InvalidToken:
                log.error("the Bot API rejected TELEGRAM_BOT_TOKEN; Telegram stays off until it is fixed")
                return
            except TelegramError as exc:
                log.warning("Telegram Bot API unreachable (%s); retrying in %.0f s", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_START_DELAY_SECONDS)
        try:
            await register_commands(self.application.bot, self._session_factory())
        except TelegramError as exc:
            log.warning("could not register the command menu: %s", exc)
        if polling:
            self._updater = Updater(bot=self.application.bot, update_queue=self.application.update_queue)
            await self._updater.initialize()
            # start_polling removes a registered webhook first: one process receives.
            await self._updater.start_polling(
                poll_interval=POLL_INTERVAL_SECONDS, allowed_updates=ALLOWED_UPDATES, bootstrap_retries=-1
            )
        await self.application.start()
        self._ready.set()
        log.info("Telegram bot @%s receiving by %s", self.application.bot.username, "polling" if polling else "webhook")

    async def stop(self) -> None:
        if self._starter is not None and not self._starter.done():
            self._starter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starter
        if self._updater is not None and self._updater.running:
            await self._updater.stop()
            await self._updater.shutdown()
        application = self.application
        if application is not None:
            if application.running:
                await application.stop()
            with contextlib.suppress(RuntimeError):  # never initialized
                await application.shutdown()
        if self._ready is not None:
            self._ready.clear()

    async def wait_ready(self, timeout: float) -> bool:
        if self._ready is None:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout)
        return self._ready.is_set()

    def _session_factory(self) -> sessionmaker[Session]:
        assert self.container is not None
        return self.container.session_factory

    # ------------------------------------------------------------------ receiving

    async def feed(self, update: Update) -> None:
        """Process one webhook update through the Application; raise if it could not be stored."""
        assert self.application is not None
        failures: list[BaseException] = []
        token = _failures.set(failures)
        try:
            await self.application.process_update(update)
        finally:
            _failures.reset(token)
        if failures:
            raise failures[0]

    async def _on_update(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.callback_query is not None:
            with contextlib.suppress(TelegramError):  # only stops the spinner; a redelivery is too old for it
                await update.callback_query.answer()
        incoming = to_incoming(update)
        if incoming is None:
            return
        container = self.container
        assert container is not None
        try:
            await in_thread(container.router.handle, incoming, push_replies=True)
        except Exception as exc:
            sink = _failures.get()
            if sink is None:
                raise
            sink.append(exc)
            return
        if container.outbox is not None:
            container.outbox.wake.set()  # the replies are in the outbox: send them now

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        # PTB's default logs the whole update, message text included; keep personal data out of logs.
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("Telegram update %s failed", update_id, exc_info=context.error)

    # ------------------------------------------------------------------ sending

    async def send(self, *, recipient: str, message: OutgoingMessage) -> SendReceipt:
        if not await self.wait_ready(SEND_READY_SECONDS):
            raise TransientDeliveryError("Telegram bot not started yet")
        assert self.application is not None
        bot = self.application.bot
        chat_id = int(recipient)
        try:
            if message.attachment is not None:
                sent = await _send_attachment(bot, chat_id, message.attachment)
            else:
                chunks = split_text(message.text)
                for index, chunk in enumerate(chunks):
                    last = index == len(chunks) - 1
                    # Plain text, no parse_mode: a villager's words shown to a lawyer can never
                    # turn into markup or links.
                    sent = await bot.send_message(
                        chat_id=chat_id, text=chunk, reply_markup=keyboard(message.buttons) if last else None
                    )
        except TelegramError as exc:
            raise delivery_error(exc) from exc
        return SendReceipt(external_id=str(sent.message_id))


async def _send_attachment(bot: Bot, chat_id: int, attachment: Attachment) -> TgMessage:
    senders: dict[Kind, Callable[..., Any]] = {
        Kind.IMAGE: lambda: bot.send_photo(chat_id=chat_id, photo=attachment.ref),
        Kind.VOICE: lambda: bot.send_voice(chat_id=chat_id, voice=attachment.ref),
        Kind.VIDEO: lambda: bot.send_video(chat_id=chat_id, video=attachment.ref),
        Kind.STICKER: lambda: bot.send_sticker(chat_id=chat_id, sticker=attachment.ref),
    }
    send = senders.get(attachment.kind, lambda: bot.send_document(chat_id=chat_id, document=attachment.ref))
    return await send()


# ---------------------------------------------------------------------- set-up calls


async def register_commands(bot: Bot, session_factory: sessionmaker[Session]) -> int:
    """The Chinese command menu: villager commands for everyone, lawyer commands in the chats of
    bound lawyers. Returns how many lawyer chats got theirs."""
    villager = [BotCommand(name, text) for name, text in texts.TELEGRAM_VILLAGER_COMMANDS]
    lawyer = [BotCommand(name, text) for name, text in texts.TELEGRAM_LAWYER_COMMANDS]
    await bot.set_my_commands(villager, scope=BotCommandScopeDefault())
    chats = await in_thread(_lawyer_chats, session_factory)
    for chat_id in chats:
        with contextlib.suppress(BadRequest, Forbidden):  # a lawyer who blocked the bot
            await bot.set_my_commands(lawyer, scope=BotCommandScopeChat(chat_id))
    return len(chats)


def _lawyer_chats(session_factory: sessionmaker[Session]) -> list[int]:
    with session_factory() as session:
        ids = session.scalars(
            select(ChannelAccount.external_id).where(
                ChannelAccount.channel == CHANNEL,
                ChannelAccount.lawyer_id.is_not(None),
                ChannelAccount.unreachable.is_(False),
            )
        ).all()
    return [int(i) for i in ids if i.lstrip("-").isdigit()]


def webhook_url(url: str) -> str:
    """Accept the site's base URL as well as the full webhook URL."""
    url = url.strip()
    return url if url.rstrip("/").endswith(WEBHOOK_PATH) else url.rstrip("/") + WEBHOOK_PATH


async def set_webhook(settings: Settings, url: str) -> str:
    """Tell Telegram where to POST updates, with the secret it must send back."""
    if not settings.telegram_webhook_secret:
        raise ValueError("TELEGRAM_WEBHOOK_SECRET is not set: the webhook would accept anyone's requests")
    full = webhook_url(url)
    async with make_bot(settings) as bot:
        await bot.set_webhook(url=full, secret_token=settings.telegram_webhook_secret, allowed_updates=ALLOWED_UPDATES)
    return full


async def delete_webhook(settings: Settings) -> None:
    async with make_bot(settings) as bot:
        await bot.delete_webhook()


async def set_commands(settings: Settings, session_factory: sessionmaker[Session]) -> int:
    async with make_bot(settings) as bot:
        return await register_commands(bot, session_factory)


# ---------------------------------------------------------------------- the web app


def webhook_routes(settings: Settings) -> APIRouter:
    router = APIRouter()
    secret = (settings.telegram_webhook_secret or "").encode()

    @router.post(WEBHOOK_PATH)
    async def telegram_webhook(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        # Without a configured secret nobody can prove to be Telegram: refuse everything.
        if not secret or not hmac.compare_digest(given, secret):
            raise HTTPException(403, "forbidden")
        body = await read_limited(request, MAX_BODY_BYTES)
        channel = request.app.state.container.channels.get(CHANNEL)
        if not isinstance(channel, TelegramChannel) or not await channel.wait_ready(WEBHOOK_READY_SECONDS):
            raise HTTPException(503, "telegram bot is starting")  # Telegram redelivers later
        assert channel.application is not None
        try:
            update = Update.de_json(json.loads(body), channel.application.bot)
        except Exception:
            raise HTTPException(400, "not a Telegram update") from None
        try:
            await channel.feed(update)
        except (TypeError, ValueError, AttributeError):
            # Well-formed JSON with the wrong types (a text that is a number …): it would fail
            # the same way on every redelivery. Database errors still answer 503 (redeliver).
            raise HTTPException(400, "not a Telegram update") from None
        return Response(status_code=200)

    return router


def running(container: Container, *, polling: bool) -> AbstractAsyncContextManager[None]:
    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        channel = container.channels.get(CHANNEL)
        if not isinstance(channel, TelegramChannel):
            yield
            return
        await channel.start(container, polling=polling)
        try:
            yield
        finally:
            await channel.stop()

    return lifespan()


def install(app: FastAPI, settings: Settings) -> None:
    """The webhook route, and the bot's start/stop in the app's lifespan (polling when asked)."""
    app.include_router(webhook_routes(settings))
    app.state.channel_lifespans.append(lambda container: running(container, polling=settings.telegram_polling))
