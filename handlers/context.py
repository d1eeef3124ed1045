"""What a handler gets for one inbound message: the unit of work, the sender and their flow state."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from core.config import Settings
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


@dataclass
class Context:
    session: Session
    settings: Settings
    services: Services
    account: ChannelAccount
    conversation: Conversation
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

    # ---- who is talking

    @property
    def villager(self) -> Villager | None:
        return self.account.villager

    @property
    def is_lawyer(self) -> bool:
        return self.account.lawyer_id is not None

    # ---- flow state (lives in the database, so it survives restarts)

    @property
    def flow(self) -> str | None:
        return self.conversation.flow

    @property
    def step(self) -> str | None:
        return self.conversation.step

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.conversation.data or {})

    def enter(self, flow: str, step: str, **data: Any) -> None:
        self.conversation.flow = flow
        self.conversation.step = step
        self.conversation.data = data

    def goto(self, step: str, **updates: Any) -> None:
        merged = self.data
        merged.update(updates)
        self.conversation.step = step
        self.conversation.data = merged  # reassign: JSON columns do not track in-place edits

    def leave(self) -> dict[str, Any]:
        data = self.data
        self.conversation.flow = None
        self.conversation.step = None
        self.conversation.data = {}
        return data

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
