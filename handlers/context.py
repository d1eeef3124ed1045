"""What a handler gets for one inbound message: the unit of work, the sender and their flow state."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, bindparam, insert, update
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


_conversations: Table = Conversation.__table__  # type: ignore[assignment]
#: The flow state, written by plain statements (``Context._write_flow``). Named apart from the
#: columns: an UPDATE's parameter named like one of its columns would be taken for that column's.
_FLOW_STATE: dict[str, Any] = {name: bindparam(f"new_{name}") for name in ("flow", "step", "data", "updated_at")}
_NEW_CONVERSATION = Direct(insert(_conversations).values(account_id=bindparam("new_account_id"), **_FLOW_STATE))
_SET_CONVERSATION = Direct(
    update(_conversations).where(_conversations.c.account_id == bindparam("of_account")).values(**_FLOW_STATE)
)


@dataclass(frozen=True)
class Sender:
    """Who sent the message, as read with it by a plain statement: what the common path (a
    villager's question) needs to know. A handler that changes the account gets it as an ORM
    object (``Context.account``), loaded then: loading the account and the conversation for every
    message cost 9 % of its instructions (docs/PERFORMANCE.md, "the sender as a row"). The flow
    state is kept here and written by plain statements (``Context.enter``, ``goto``, ``leave``)."""

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

    # ---- who is talking

    @property
    def account(self) -> ChannelAccount:
        """The sender's account as an ORM object (with its villager), loaded on first use."""
        if self._account is None:
            self._account = self.session.get_one(
                ChannelAccount, self.sender.id, options=(joinedload(ChannelAccount.villager),)
            )
        return self._account

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
    def flow(self) -> str | None:
        return self.sender.flow

    @property
    def step(self) -> str | None:
        return self.sender.step

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.sender.data or {})

    def enter(self, flow: str, step: str, **data: Any) -> None:
        self._write_flow(flow, step, data)

    def goto(self, step: str, **updates: Any) -> None:
        self._write_flow(self.flow, step, self.data | updates)

    def leave(self) -> dict[str, Any]:
        """End the flow; what it had gathered."""
        data = self.data
        if self.flow is not None or self.step is not None or data:
            self._write_flow(None, None, {})
        return data

    def _write_flow(self, flow: str | None, step: str | None, data: dict[str, Any]) -> None:
        """The flow state by one plain statement, the conversation made with the first flow: as
        ORM objects, the conversation's load and flush made choosing the village 1.8 times as
        costly as a question (docs/PERFORMANCE.md, "choosing the village"). Messages of one
        account are processed one at a time (``Router._inbound``'s lock), so the row read with the
        sender is still the row."""
        state = {"new_flow": flow, "new_step": step, "new_data": data, "new_updated_at": self.now}
        if self.sender.has_conversation:
            _SET_CONVERSATION.rows_in(self.session, state | {"of_account": self.sender.id})
        else:
            _NEW_CONVERSATION.rows_in(self.session, state | {"new_account_id": self.sender.id})
        self.sender = dataclasses.replace(self.sender, has_conversation=True, flow=flow, step=step, data=data)

    def written_directly(self, **changed: Any) -> None:
        """The sender's rows were changed by plain statements (``changed``: the Sender's fields as
        they are now). The ORM objects a handler loaded are read again when next used."""
        self.sender = dataclasses.replace(self.sender, **changed)
        for loaded in (self._account, self._account.villager if self._account is not None else None):
            if loaded is not None:
                self.session.expire(loaded)

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
