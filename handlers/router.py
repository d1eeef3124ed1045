"""From one inbound message to the replies: store first, then route.

Order of precedence for a message: redelivery → media → button → command → lawyer account →
emergency (safety first, whatever else is going on) → the active flow step → an open ticket
(the lawyer answers, not the bot) → no village yet (onboarding) → the intent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Engine,
    Integer,
    Select,
    Table,
    Text,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy import text as sql_text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from core.config import Settings
from core.db import insert_once, is_postgres, transaction
from core.direct import Direct, autocommitting, driver_of
from core.messages import Button, IncomingMessage, Kind, OutgoingMessage
from core.models import ChannelAccount, Conversation, Message, Villager
from handlers import commands, flows, onboarding, texts, tickets
from handlers.context import Context, Inbound, Sender, Services
from handlers.intents import dispatch_intent, is_emergency
from handlers.notify import buttons_from_json, buttons_to_json, enqueue, release_held
from nlu.normalize import is_meaningless, normalize, strip_controls

log = logging.getLogger(__name__)

MAX_PROCESSING_ATTEMPTS = 3
#: Status of a message stored but not processed: its account was over the rate limit.
THROTTLED = "throttled"
UNSUBSCRIBE = "evt:unsubscribe"
MAX_ID_CHARS = 128
MAX_PAYLOAD_CHARS = 200
#: Namespace of the per-account advisory locks taken while processing (PostgreSQL).
ACCOUNT_LOCK_SPACE = 7301


@dataclass(frozen=True)
class Stored:
    message_id: int
    status: str
    #: False when the message was there already (a redelivery).
    new: bool


@dataclass(frozen=True)
class HandleResult:
    message_id: int
    replies: list[OutgoingMessage]
    #: True when this message id was seen before: the stored replies are returned, nothing re-runs.
    duplicate: bool = False


class Router:
    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        settings: Settings,
        services: Services,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.session_factory = session_factory
        self.settings = settings
        self.services = services
        self.clock = clock

    def handle(self, incoming: IncomingMessage, *, push_replies: bool = False) -> HandleResult:
        """Store the message (committed), then process it in a second transaction.

        ``push_replies``: the channel cannot answer in the response (Telegram), so replies are
        written to the outbox in the same transaction as the state change.
        """
        stored = self._store(incoming, push_replies=push_replies)
        if stored.status == THROTTLED and stored.new:
            return HandleResult(stored.message_id, [OutgoingMessage(texts.RATE_LIMITED)])
        if stored.status != "received":
            return HandleResult(stored.message_id, self.stored_replies(stored.message_id), duplicate=True)
        return self.process(stored.message_id, push_replies=push_replies)

    # ------------------------------------------------------------------ storage

    def store(self, incoming: IncomingMessage) -> tuple[int, bool]:
        """Commit the message; returns its id and whether it is already dealt with (a redelivery,
        or held back by the rate limit) rather than waiting to be processed."""
        stored = self._store(incoming, push_replies=False)
        return stored.message_id, stored.status != "received"

    def _store(self, incoming: IncomingMessage, *, push_replies: bool) -> Stored:
        """On PostgreSQL one statement in the common case (``_store_at_once``). Otherwise a
        transaction: note the message on its account (which counts it against the rate limit),
        insert it unless its id is known, and whatever else it needs (a new account, a notice
        that it came too fast, held messages released)."""
        now = self.clock()
        incoming = storable(incoming)
        counted = False
        if self._postgres is not None:
            with autocommitting(self._postgres) as driver:
                stored, counted = self._store_at_once(driver, incoming, now=now)
                if stored is None and not counted:  # a new sender: their account first, then as usual
                    _ACCOUNT_ONCE.rows(driver, _account_fields(incoming, now=now))
                    stored, counted = self._store_at_once(driver, incoming, now=now)
            if stored is not None:
                return stored
        with transaction(self.session_factory) as session:
            noted = self._note_inbound(session, incoming, now=now, count=not counted)
            if noted is None:
                get_or_create_account(session, incoming, now=now)
                noted = self._note_inbound(session, incoming, now=now)
                assert noted is not None
            throttled = self._over_rate_limit(noted, incoming)
            status = THROTTLED if throttled else "received"
            message_id = _insert_inbound(session, account_id=noted.id, incoming=incoming, status=status, now=now)
            if message_id is None:  # a redelivery: the first delivery owns processing
                existing = session.execute(
                    select(Message.id, Message.status).where(
                        Message.channel == incoming.channel,
                        Message.external_id == incoming.message_id,
                        Message.direction == "in",
                    )
                ).one()
                return Stored(existing.id, existing.status, new=False)
            # Writing to us proves they can be reached again (a Telegram user who unblocked the
            # bot, a WeChat user back inside the 48-hour window): what was held goes out now.
            reachable = incoming.payload != UNSUBSCRIBE
            if reachable and (noted.unreachable or noted.unreachable_reason):
                session.execute(_MARK_REACHABLE, {"account_id": noted.id})
            if (reachable and noted.holds_messages) or throttled:
                account = session.get_one(ChannelAccount, noted.id)
                if reachable:
                    release_held(session, account, now=now)
                if throttled:
                    self._answer_throttled(
                        session, account, message_id, channel=incoming.channel, now=now, push_replies=push_replies
                    )
            return Stored(message_id, status, new=True)

    @functools.cached_property
    def _postgres(self) -> Engine | None:
        """The engine, when it is PostgreSQL's: ``_store_at_once`` is for PostgreSQL."""
        engine: Engine = self.session_factory.kw["bind"]
        return engine if engine.dialect.name == "postgresql" else None

    def _store_at_once(self, driver: Any, incoming: IncomingMessage, *, now: dt.datetime) -> tuple[Stored | None, bool]:
        """The common case in one round trip (``_STORE_AT_ONCE``): a known account within the rate
        limit, a new message, nothing held back or to release. Otherwise (None, whether the message
        was counted on its account), and ``_store`` does the rest in a transaction of its own —
        lawyers and channel events over the count too, which ``_over_rate_limit`` lets through.
        ``driver``: a psycopg connection in autocommit (the statement is its own transaction)."""
        params = self._note_params(incoming, now=now, count=True) | {
            f"in_{name}": value for name, value in _message_fields(incoming).items()
        }
        params["limit"] = self.settings.villager_rate_limit_messages
        rows = _STORE_AT_ONCE.rows(driver, params)
        if not rows or rows[0]["message_id"] is None:
            return None, bool(rows)
        return Stored(rows[0]["message_id"], "received", new=True), True

    def _note_inbound(
        self, session: Session, incoming: IncomingMessage, *, now: dt.datetime, count: bool = True
    ) -> Any:
        """Count the message on its account (unless ``count`` is False: it was, by
        ``_store_at_once``) and stamp the time; the account's row as it is now, or None when the
        account does not exist yet. The UPDATE's row lock puts two messages of one account one
        after the other here, so a flood cannot slip past the rate limit."""
        return session.execute(_NOTE_INBOUND, self._note_params(incoming, now=now, count=count)).one_or_none()

    def _note_params(self, incoming: IncomingMessage, *, now: dt.datetime, count: bool) -> dict[str, Any]:
        window = dt.timedelta(seconds=self.settings.villager_rate_limit_window_seconds)
        return {
            "sender_channel": incoming.channel,
            "sender_id": incoming.user_id,
            "now": now,
            "since": now - window,
            "sender_name": incoming.display_name,
            "step": 1 if count else 0,
        }

    def _over_rate_limit(self, noted: Any, incoming: IncomingMessage) -> bool:
        """More messages in the account's window than the limit: this one is kept but not
        processed. Lawyers and channel events (unsubscribe) are never limited."""
        if noted.lawyer_id is not None or incoming.kind == Kind.EVENT:
            return False
        return bool(noted.rate_window_count > self.settings.villager_rate_limit_messages)

    def _answer_throttled(
        self,
        session: Session,
        account: ChannelAccount,
        message_id: int,
        *,
        channel: str,
        now: object,
        push_replies: bool,
    ) -> None:
        notice = OutgoingMessage(texts.RATE_LIMITED)
        session.add(
            Message(
                **REPLY_COLUMNS,
                account_id=account.id,
                channel=channel,
                text=notice.text,
                in_reply_to_id=message_id,
                created_at=now,
            )
        )
        if push_replies:
            # One notice per account and window, however many messages the flood holds.
            window = int(now.timestamp() // self.settings.villager_rate_limit_window_seconds)  # type: ignore[attr-defined]
            enqueue(
                session,
                account=account,
                message=notice,
                purpose="reply",
                dedup_key=f"throttled:{account.id}:{window}",
                now=now,  # type: ignore[arg-type]
            )

    def stored_replies(self, message_id: int) -> list[OutgoingMessage]:
        with transaction(self.session_factory) as session:
            return self._replies_in(session, message_id)

    # ------------------------------------------------------------------ processing

    def process(
        self, message_id: int, *, push_replies: bool = False, hold_replies_until: dt.datetime | None = None
    ) -> HandleResult:
        """Process a stored message once. ``hold_replies_until``: pushed replies are not due before
        then (the WeChat adapter may still deliver them in its passive reply)."""
        now = self.clock()
        try:
            with transaction(self.session_factory) as session:
                # on PostgreSQL a concurrent redelivery waits here, for the account's lock
                inbound = self._inbound(session, message_id)
                if inbound.status != "received":
                    return HandleResult(message_id, self._replies_in(session, message_id), duplicate=True)
                ctx = self._context(session, inbound, now)
                replies = dispatch(ctx)
                if self.settings.test_processing_delay_seconds:
                    # Tests only: a process killed now dies mid-transaction, its work uncommitted.
                    time.sleep(self.settings.test_processing_delay_seconds)
                self._record(ctx, replies, push_replies=push_replies, hold_until=hold_replies_until)
                return HandleResult(message_id, replies)
        except Exception as exc:
            log.exception("processing message %s failed", message_id)
            self._record_failure(message_id, exc)
            return HandleResult(message_id, [OutgoingMessage(texts.PROCESSING_ERROR)])

    @staticmethod
    def _inbound(session: Session, message_id: int) -> Inbound:
        statement = _INBOUND_LOCKED if is_postgres(session) else _INBOUND
        found = statement.rows_in(session, {"id": message_id})
        if not found:
            raise LookupError(f"message {message_id} vanished")
        return Inbound(**found[0])

    def _context(self, session: Session, inbound: Inbound, now: object) -> Context:
        (found,) = _SENDER.rows_in(session, {"account_id": inbound.account_id})
        active_ticket_id = found.pop("active_ticket_id")
        sender = Sender(**found)
        incoming = IncomingMessage(
            channel=inbound.channel,
            user_id=sender.external_id,
            message_id=inbound.external_id,
            text=inbound.text,
            payload=inbound.payload,
            kind=Kind(inbound.kind),
            display_name=sender.display_name,
            reply_to=(inbound.meta or {}).get("reply_to"),
            attachment=(inbound.meta or {}).get("attachment"),
        )
        return Context(
            session=session,
            settings=self.settings,
            services=self.services,
            sender=sender,
            inbound=inbound,
            incoming=incoming,
            now=now,  # type: ignore[arg-type]
            may_have_open_ticket=active_ticket_id is not None,
        )

    def _record(
        self,
        ctx: Context,
        replies: list[OutgoingMessage],
        *,
        push_replies: bool,
        hold_until: dt.datetime | None = None,
    ) -> None:
        """Mark the message processed and store its replies. Plain statements rather than ORM
        objects: in the common case nothing else changed and the commit has nothing to flush."""
        session, inbound, intent = ctx.session, ctx.inbound, ctx.intent
        session.flush()  # what the handlers added (a ticket …) exists before rows refer to it
        marked = {
            "message_id": inbound.id,
            "mark_processed_at": ctx.now,
            "mark_attempts": inbound.attempts + 1,
            "mark_intent": intent.intent if intent is not None else inbound.intent,
            "mark_confidence": round(intent.confidence, 4) if intent is not None else inbound.confidence,
            "mark_answered_by": ctx.answered_by,
            "mark_kb_slug": ctx.kb_slug,
            "mark_kb_score": ctx.kb_score,
            "mark_ticket_id": inbound.ticket_id,
        }
        if replies and is_postgres(session):  # one round trip for both
            _MARK_PROCESSED_AND_REPLY.rows(
                driver_of(session),
                marked
                | {
                    "reply_account_id": ctx.sender.id,
                    "reply_channel": inbound.channel,
                    "reply_texts": json.dumps([reply.text for reply in replies], ensure_ascii=False),
                    "reply_buttons": json.dumps(
                        [buttons_to_json(reply.buttons) for reply in replies], ensure_ascii=False
                    ),
                },
            )
        else:
            session.execute(_MARK_PROCESSED, marked)
            if replies:
                session.execute(
                    _INSERT_MESSAGE,
                    [
                        {
                            **REPLY_COLUMNS,
                            "account_id": ctx.sender.id,
                            "channel": inbound.channel,
                            "text": reply.text,
                            "buttons": buttons_to_json(reply.buttons),
                            "in_reply_to_id": inbound.id,
                            "created_at": ctx.now,
                        }
                        for reply in replies
                    ],
                )
        if push_replies:
            for index, reply in enumerate(replies):
                enqueue(
                    session,
                    account=ctx.addressee,
                    message=reply,
                    purpose="reply",
                    dedup_key=reply_key(inbound.id, index),
                    now=ctx.now,
                    not_before=hold_until,
                )

    def _record_failure(self, message_id: int, exc: Exception) -> None:
        try:
            with transaction(self.session_factory) as session:
                inbound = session.get(Message, message_id)
                if inbound is None:
                    return
                inbound.attempts += 1
                inbound.error = f"{type(exc).__name__}: {exc}"[:2000]
                if inbound.attempts >= MAX_PROCESSING_ATTEMPTS:
                    inbound.status = "failed"  # shown on the console's dashboard, never dropped
        except Exception:
            log.exception("could not record the failure of message %s", message_id)

    @staticmethod
    def _replies_in(session: Session, message_id: int) -> list[OutgoingMessage]:
        rows = session.scalars(
            select(Message).where(Message.in_reply_to_id == message_id, Message.direction == "out").order_by(Message.id)
        ).all()
        return [OutgoingMessage(r.text, buttons_from_json(r.buttons)) for r in rows]


def reply_key(message_id: int, index: int) -> str:
    """Outbox dedup key of the ``index``-th reply to inbound message ``message_id`` (push_replies)."""
    return f"reply:{message_id}:{index}"


def reply_keys(message_id: int, count: int) -> list[str]:
    """The dedup keys of a message's first ``count`` pushed replies, in order."""
    return [reply_key(message_id, index) for index in range(count)]


def storable(incoming: IncomingMessage) -> IncomingMessage:
    """What the database can hold: PostgreSQL refuses NUL characters and over-long strings, and
    a message it refuses would be refused again on every redelivery."""

    def bounded(value: str | None, limit: int) -> str | None:
        if value is None or len(value) <= limit:
            return value
        return "sha256:" + hashlib.sha256(value.encode()).hexdigest()  # still unique, still stable

    return dataclasses.replace(
        incoming,
        user_id=bounded(strip_controls(incoming.user_id), MAX_ID_CHARS) or "",
        message_id=bounded(incoming.message_id and strip_controls(incoming.message_id), MAX_ID_CHARS),
        text=strip_controls(incoming.text),
        payload=incoming.payload and strip_controls(incoming.payload)[:MAX_PAYLOAD_CHARS],
        display_name=incoming.display_name and strip_controls(incoming.display_name)[:100],
        reply_to=incoming.reply_to and strip_controls(incoming.reply_to)[:MAX_ID_CHARS],
        attachment=incoming.attachment and strip_controls(incoming.attachment)[:1000],
    )


def _meta(incoming: IncomingMessage) -> dict[str, str] | None:
    meta = {"reply_to": incoming.reply_to, "attachment": incoming.attachment}
    return {k: v for k, v in meta.items() if v} or None


# ---------------------------------------------------------------------- statements of every message
# Built once: constructing a SQLAlchemy statement costs about as much Python as running it, and
# every message runs each of these.

#: The predicate of the partial unique index uq_messages_inbound_external (core/models.py).
INBOUND_WITH_ID = sql_text("direction = 'in' AND external_id IS NOT NULL")
_messages: Table = Message.__table__  # type: ignore[assignment]
_accounts: Table = ChannelAccount.__table__  # type: ignore[assignment]

#: The sender's account, by ``identity(incoming)``.
ACCOUNT = select(ChannelAccount).where(
    ChannelAccount.channel == bindparam("channel"), ChannelAccount.external_id == bindparam("external_id")
)
#: A window starts with the first message after the last one ended (a fixed window, not a sliding
#: one: a counter on the account's row instead of counting its messages on every message).
_WINDOW_OVER = or_(_accounts.c.rate_window_start.is_(None), _accounts.c.rate_window_start <= bindparam("since"))
_NOTE_INBOUND = (
    update(_accounts)
    .where(_accounts.c.channel == bindparam("sender_channel"), _accounts.c.external_id == bindparam("sender_id"))
    .values(
        last_inbound_at=bindparam("now"),
        display_name=func.coalesce(func.nullif(_accounts.c.display_name, ""), bindparam("sender_name")),
        rate_window_start=case((_WINDOW_OVER, bindparam("now")), else_=_accounts.c.rate_window_start),
        rate_window_count=case(
            (_WINDOW_OVER, bindparam("step", type_=Integer)),
            else_=_accounts.c.rate_window_count + bindparam("step", type_=Integer),
        ),
    )
    .returning(
        _accounts.c.id,
        _accounts.c.lawyer_id,
        _accounts.c.unreachable,
        _accounts.c.unreachable_reason,
        _accounts.c.holds_messages,
        _accounts.c.rate_window_count,
    )
)
#: PostgreSQL: a new sender's account, unless a concurrent first message made it already.
_ACCOUNT_ONCE = Direct(
    postgresql.insert(_accounts)
    .values({name: bindparam(name) for name in ("channel", "external_id", "display_name", "created_at")})
    .on_conflict_do_nothing(index_elements=["channel", "external_id"])
)
_MARK_REACHABLE = (
    update(_accounts)
    .where(_accounts.c.id == bindparam("account_id"))
    .values(unreachable=False, unreachable_reason=None)
)
_INSERT_INBOUND = insert(_messages).returning(_messages.c.id)
_INSERT_INBOUND_ONCE = insert_once(
    _messages, _messages.c.id, index_elements=["channel", "external_id"], index_where=INBOUND_WITH_ID
)


def _one_statement_store() -> Select[Any]:
    """PostgreSQL: ``_NOTE_INBOUND`` and the insert of a message not held back, in one statement
    (data-modifying WITHs): its account's id, and the message's — None when it was not inserted
    (a redelivery; over the count; an account to mark reachable or with messages to release)."""
    noted = _NOTE_INBOUND.cte("noted")
    passed = ("external_id", "kind", "text", "payload", "meta")  # _message_fields, as in_<name>
    source = select(
        noted.c.id,
        literal("in"),
        bindparam("sender_channel", type_=_messages.c.channel.type),
        *(bindparam(f"in_{name}", type_=_messages.c[name].type) for name in passed),
        literal("received"),
        literal(0),
        bindparam("now", type_=_messages.c.created_at.type),
    ).where(
        ~noted.c.unreachable,
        noted.c.unreachable_reason.is_(None),
        ~noted.c.holds_messages,
        noted.c.rate_window_count <= bindparam("limit", type_=Integer),
    )
    columns = ["account_id", "direction", "channel", *passed, "status", "attempts", "created_at"]
    stored = (
        postgresql.insert(_messages)
        .from_select(columns, source)
        .on_conflict_do_nothing(index_elements=["channel", "external_id"], index_where=INBOUND_WITH_ID)
        .returning(_messages.c.id)
        .cte("stored")
    )
    return select(noted.c.id.label("account_id"), stored.c.id.label("message_id")).outerjoin(stored, true())


_STORE_AT_ONCE = Direct(_one_statement_store())
_INBOUND_COLUMNS = select(*(_messages.c[field.name] for field in dataclasses.fields(Inbound))).where(
    _messages.c.id == bindparam("id")
)
_INBOUND = Direct(_INBOUND_COLUMNS)
#: PostgreSQL: the message, read under its account's advisory lock and its own row lock. One
#: message of an account at a time: two quick taps must not both read the same flow step (or both
#: create the conversation). An advisory lock, not the account's row lock, so that storing the
#: account's next message does not wait for this one to be processed. The lock is taken in the
#: scan, below the row lock: when a transaction that held it changed this message, the row lock
#: reads the message again as that one committed it, and every later statement sees its work.
_INBOUND_LOCKED = Direct(
    _INBOUND_COLUMNS.where(
        func.pg_advisory_xact_lock(ACCOUNT_LOCK_SPACE, cast(_messages.c.account_id % 2_147_483_647, Integer)).is_not(
            None
        )
    ).with_for_update(of=_messages)
)
_conversations: Table = Conversation.__table__  # type: ignore[assignment]
_villagers: Table = Villager.__table__  # type: ignore[assignment]
#: The sender (``handlers.context.Sender``) and its active ticket's id, in one plain query: its
#: account, its villager's village, its conversation.
_SENDER = Direct(
    select(
        _accounts.c.id,
        _accounts.c.channel,
        _accounts.c.external_id,
        _accounts.c.display_name,
        _accounts.c.lawyer_id,
        _accounts.c.unreachable,
        _accounts.c.villager_id,
        _villagers.c.village_id,
        _conversations.c.id.is_not(None).label("has_conversation"),
        _conversations.c.flow,
        _conversations.c.step,
        _conversations.c.data,
        tickets.ACTIVE_TICKET_ID.label("active_ticket_id"),
    )
    .select_from(_accounts)
    .outerjoin(_villagers, _villagers.c.id == _accounts.c.villager_id)
    .outerjoin(_conversations, _conversations.c.account_id == _accounts.c.id)
    .where(_accounts.c.id == bindparam("account_id"))
)
_MARK_PROCESSED = (
    update(_messages)
    .where(_messages.c.id == bindparam("message_id"))
    .values(
        status="processed",
        # named apart from the columns: in the WITH of an INSERT (``_MARK_PROCESSED_AND_REPLY``) a
        # parameter named like a column would be taken for that column's value
        **{
            name: bindparam(f"mark_{name}")
            for name in (
                "processed_at",
                "attempts",
                "intent",
                "confidence",
                "answered_by",
                "kb_slug",
                "kb_score",
                "ticket_id",
            )
        },
    )
)
_INSERT_MESSAGE = insert(_messages)
#: What every reply row has in common, however it is inserted.
REPLY_COLUMNS = {"direction": "out", "kind": "text", "status": "sent", "attempts": 0}
#: PostgreSQL: ``_MARK_PROCESSED`` and the replies' INSERT in one statement, the replies' texts
#: and buttons as two JSON arrays, taken apart side by side in their order (and so their ids').
#: JSON texts rather than arrays: psycopg dumps a list element by element in Python, and that
#: was a quarter of this statement's CPU.
_MARK_PROCESSED_AND_REPLY = Direct(
    postgresql.insert(_messages)
    .from_select(
        [*REPLY_COLUMNS, "account_id", "channel", "text", "buttons", "in_reply_to_id", "created_at"],
        select(
            *(literal(value) for value in REPLY_COLUMNS.values()),
            bindparam("reply_account_id", type_=_messages.c.account_id.type),
            bindparam("reply_channel", type_=_messages.c.channel.type),
            func.json_array_elements_text(cast(bindparam("reply_texts", type_=Text), postgresql.JSON)),
            func.json_array_elements(cast(bindparam("reply_buttons", type_=Text), postgresql.JSON)),
            bindparam("message_id", type_=_messages.c.id.type),
            bindparam("mark_processed_at", type_=_messages.c.created_at.type),
        ),
    )
    .add_cte(_MARK_PROCESSED.returning(_messages.c.id).cte("marked"))
)


def _insert_inbound(
    session: Session, *, account_id: int, incoming: IncomingMessage, status: str, now: object
) -> int | None:
    """Insert the inbound row; None when the channel's id for it is already stored (a redelivery).
    ON CONFLICT DO NOTHING answers both the check and the race in one statement."""
    values = {
        "account_id": account_id,
        "direction": "in",
        "channel": incoming.channel,
        **_message_fields(incoming),
        "status": status,
        "created_at": now,
    }
    if incoming.message_id is None:
        return session.scalar(_INSERT_INBOUND, values)
    return session.scalar(_INSERT_INBOUND_ONCE(session), values)


def _message_fields(incoming: IncomingMessage) -> dict[str, Any]:
    """The inbound row's columns that come from the message itself."""
    return {
        "external_id": incoming.message_id,
        "kind": incoming.kind.value,
        "text": incoming.text,
        "payload": incoming.payload,
        "meta": _meta(incoming),
    }


def identity(incoming: IncomingMessage) -> dict[str, str]:
    """The parameters of ``ACCOUNT``: who sent the message, on which channel."""
    return {"channel": incoming.channel, "external_id": incoming.user_id}


def _account_fields(incoming: IncomingMessage, *, now: object) -> dict[str, Any]:
    """A new account's columns (``_ACCOUNT_ONCE``; ``get_or_create_account``)."""
    return {
        "channel": incoming.channel,
        "external_id": incoming.user_id,
        "display_name": (incoming.display_name or None) and incoming.display_name[:100],
        "created_at": now,
    }


def get_or_create_account(session: Session, incoming: IncomingMessage, *, now: object) -> ChannelAccount:
    account: ChannelAccount | None = session.scalar(ACCOUNT, identity(incoming))
    if account is not None:
        return account
    account = ChannelAccount(**_account_fields(incoming, now=now))
    try:
        with session.begin_nested():
            session.add(account)
    except IntegrityError:
        account = session.scalar(ACCOUNT, identity(incoming))
        assert account is not None
    return account


# ---------------------------------------------------------------------- routing


def dispatch(ctx: Context) -> list[OutgoingMessage]:
    incoming = ctx.incoming
    if incoming.kind == Kind.EVENT:
        return commands.on_event(ctx)
    if incoming.kind != Kind.TEXT:
        return flows.on_media(ctx)
    if incoming.payload:
        return commands.on_payload(ctx, incoming.payload)
    raw = incoming.text.strip()
    command = commands.parse(raw)
    if command is not None:
        return commands.run(ctx, *command)
    if ctx.is_lawyer:
        return flows.on_lawyer_text(ctx, raw)
    if not raw:
        return [OutgoingMessage(texts.EMPTY_MESSAGE)]
    if is_meaningless(raw):
        return [OutgoingMessage(texts.EMOJI_ONLY, (Button(texts.BUTTON_ASK_LAWYER, "cmd:lawyer"),))]
    ctx.text = normalize(raw)[: ctx.settings.max_message_chars]
    ctx.intent = ctx.services.classifier.parse(ctx.text)
    if is_emergency(ctx):
        return dispatch_intent(ctx, "emergency")
    if ctx.flow:
        handled = flows.on_flow_text(ctx, raw)
        if handled is not None:
            return handled
    relayed = flows.relay_to_open_ticket(ctx, raw)
    if relayed is not None:
        return relayed
    return answer_text(ctx, raw)


def answer_text(ctx: Context, raw: str) -> list[OutgoingMessage]:
    """Answer a villager's free text by its intent (also used for a question kept during onboarding)."""
    if ctx.intent is None or ctx.text != normalize(raw)[: ctx.settings.max_message_chars]:
        ctx.text = normalize(raw)[: ctx.settings.max_message_chars]
        ctx.intent = ctx.services.classifier.parse(ctx.text)
    if is_emergency(ctx):
        return dispatch_intent(ctx, "emergency")
    if ctx.village_id is None:
        if ctx.intent.intent in ("greet", "thanks_bye"):
            return onboarding.start(ctx, intro=texts.GREETING)
        return onboarding.start(ctx, intro=texts.GREETING, pending_text=raw)
    return dispatch_intent(ctx, ctx.intent.intent)
