"""What a handler gets for one inbound message: the unit of work, the sender and their flow state."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session, joinedload

from core.config import Settings
from core.direct import Direct
from core.messages import IncomingMessage, OutgoingMessage
from core.models import ChannelAccount, Conversation, OutboxMessage, Villager
from core.ports import IntentClassifier, IntentResult, Retriever


@dataclass
class Services:
    """The ports the conversation logic uses; tests swap in fakes."""

    classifier: IntentClassifier
    retriever: Retriever


@dataclass
class Inbound:
    """The message being processed, as stored: read by a plain statement under its locks, not as an
    ORM object (every message pays for that). Handlers set ``ticket_id``; ``Router._record`` writes
    it with the processed mark."""

    id: int
    account_id: int
    channel: str
    external_id: str | None
    kind: str
    text: str
    payload: str | None
    meta: dict[str, Any] | None
    status: str
    attempts: int
    intent: str | None
    confidence: float | None
    ticket_id: int | None


#: The sender's account (with its villager) and conversation as ORM objects (``Context._load``).
_ORM_SENDER = (
    select(ChannelAccount, Conversation)
    .outerjoin(Conversation, Conversation.account_id == ChannelAccount.id)
    .options(joinedload(ChannelAccount.villager))
    .where(ChannelAccount.id == bindparam("account_id"))
)
_conversations: Table = Conversation.__table__  # type: ignore[assignment]
#: Leaving a flow, when its conversation was not loaded as an ORM object.
_LEAVE = Direct(
    update(_conversations)
    .where(_conversations.c.account_id == bindparam("leaving"))
    .values(flow=None, step=None, data={}, updated_at=bindparam("now"))
)


@dataclass(frozen=True)
class Sender:
    """Who sent the message, as read with it by a plain statement: what the common path (a
    villager's question) needs to know. A handler that changes the account, the villager or the
    flow gets ORM objects (``Context.account``, ``Context.conversation``), loaded then: loading
    them for every message cost 9 % of its instructions (README, "the sender as a row")."""

    id: int  # the account's
    channel: str
    external_id: str
    display_name: str | None
    lawyer_id: int | None
    unreachable: bool
    villager_id: int | None
    village_id: int | None  # the villager's, when the account has one
    has_conversation: bool
    flow: str | None
    step: str | None
    data: dict[str, Any] | None


@dataclass
class Context:
    session: Session
    settings: Settings
    services: Services
    sender: Sender
    inbound: Inbound
    incoming: IncomingMessage
    now: dt.datetime
    text: str = ""  # normalised text of the inbound message
    intent: IntentResult | None = None
    #: Filled by handlers that answer from the knowledge base, for statistics.
    answered_by: str | None = None
    kb_slug: str | None = None
    kb_score: float | None = None
    extra_replies: list[OutgoingMessage] = field(default_factory=list)
    #: False when the sender had no active ticket as processing began (read with the sender);
    #: True means "ask": a lawyer may be answering them instead of the bot.
    may_have_open_ticket: bool = True
    _account: ChannelAccount | None = field(default=None, init=False, repr=False)
    _conversation: Conversation | None = field(default=None, init=False, repr=False)

    # ---- who is talking

    @property
    def account(self) -> ChannelAccount:
        """The sender's account as an ORM object (with its villager), loaded on first use."""
        if self._account is None:
            self._load()
        assert self._account is not None
        return self._account

    def _load(self) -> None:
        """The account and the conversation as ORM objects, in one query: a handler that changes
        one of them mostly changes the other too (choosing the village ends onboarding)."""
        account, conversation = self.session.execute(_ORM_SENDER, {"account_id": self.sender.id}).one()
        if self._account is None:
            self._account = account
        if self._conversation is None:  # none yet: made by ``conversation`` when a flow needs it
            self._conversation = conversation

    def _new_conversation(self) -> Conversation:
        conversation = Conversation(account_id=self.sender.id, data={})
        self.session.add(conversation)
        return conversation

    @property
    def addressee(self) -> ChannelAccount | Sender:
        """Where replies go: the account as loaded, if a handler loaded (and perhaps changed) it."""
        return self._account if self._account is not None else self.sender

    @property
    def villager(self) -> Villager | None:
        return self.account.villager

    @property
    def villager_id(self) -> int | None:
        return self._account.villager_id if self._account is not None else self.sender.villager_id

    @property
    def village_id(self) -> int | None:
        if self._account is None:
            return self.sender.village_id
        villager = self._account.villager
        return villager.village_id if villager is not None else None

    @property
    def is_lawyer(self) -> bool:
        lawyer_id = self._account.lawyer_id if self._account is not None else self.sender.lawyer_id
        return lawyer_id is not None

    # ---- flow state (lives in the database, so it survives restarts)

    @property
    def conversation(self) -> Conversation:
        """The sender's flow state as an ORM object, loaded (or created) on first use."""
        if self._conversation is None and self.sender.has_conversation:
            self._load()
        if self._conversation is None:
            self._conversation = self._new_conversation()
        return self._conversation

    @property
    def flow(self) -> str | None:
        return self._conversation.flow if self._conversation is not None else self.sender.flow

    @property
    def step(self) -> str | None:
        return self._conversation.step if self._conversation is not None else self.sender.step

    @property
    def data(self) -> dict[str, Any]:
        data = self._conversation.data if self._conversation is not None else self.sender.data
        return dict(data or {})

    def enter(self, flow: str, step: str, **data: Any) -> None:
        conversation = self.conversation
        conversation.flow = flow
        conversation.step = step
        conversation.data = data

    def goto(self, step: str, **updates: Any) -> None:
        merged = self.data
        merged.update(updates)
        conversation = self.conversation
        conversation.step = step
        conversation.data = merged  # reassign: JSON columns do not track in-place edits

    def leave(self) -> dict[str, Any]:
        """End the flow; what it had gathered. A plain UPDATE unless the conversation was loaded
        as an ORM object (choosing the village ends onboarding this way: README, "choosing the
        village")."""
        data = self.data
        if self._conversation is not None:
            conversation = self._conversation
            conversation.flow = None
            conversation.step = None
            conversation.data = {}
        elif self.sender.flow is not None or self.sender.step is not None or self.sender.data:
            _LEAVE.rows_in(self.session, {"leaving": self.sender.id, "now": self.now})
            self.sender = dataclasses.replace(self.sender, flow=None, step=None, data={})
        return data

    def written_directly(self, **changed: Any) -> None:
        """The sender's rows were changed by plain statements (``changed``: the Sender's fields as
        they are now). The ORM objects a handler loaded are read again when next used."""
        self.sender = dataclasses.replace(self.sender, **changed)
        for loaded in (self._account, self._account.villager if self._account is not None else None):
            if loaded is not None:
                self.session.expire(loaded)

    def flush_pending(self) -> None:
        """Write what ORM objects hold before a plain statement (which does not flush them)."""
        if self.session.new or self.session.dirty or self.session.deleted:
            self.session.flush()

    # ---- messages to other people go through the outbox, in this transaction

    def notify(
        self,
        account: ChannelAccount,
        message: OutgoingMessage,
        *,
        purpose: str,
        dedup_key: str | None = None,
        ticket_id: int | None = None,
    ) -> OutboxMessage:
        from handlers.notify import enqueue

        return enqueue(
            self.session,
            account=account,
            message=message,
            purpose=purpose,
            dedup_key=dedup_key,
            ticket_id=ticket_id,
            now=self.now,
        )
