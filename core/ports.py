"""The small interfaces the conversation logic depends on; every one has a fake in tests/fakes.py."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from core.messages import OutgoingMessage


@dataclass(frozen=True)
class IntentScore:
    intent: str
    confidence: float


@dataclass(frozen=True)
class IntentResult:
    intent: str
    confidence: float
    ranking: tuple[IntentScore, ...] = field(default_factory=tuple)
    backend: str = "embedded"

    def may_be_emergency(self, bar: float) -> bool:
        """Safety first: emergency is a serious candidate at ``bar``, not only when it is the top one."""
        return any(s.intent == "emergency" and s.confidence >= bar for s in self.ranking) or (
            self.intent == "emergency" and self.confidence >= bar
        )


class IntentClassifier(Protocol):
    def parse(self, text: str) -> IntentResult: ...


@dataclass(frozen=True)
class Hit:
    slug: str
    title: str
    score: float
    intent: str


class Retriever(Protocol):
    def search(
        self,
        text: str,
        *,
        intent: str | None = None,
        intent_scores: Mapping[str, float] | None = None,
        limit: int = 3,
    ) -> list[Hit]: ...


class DeliveryError(Exception):
    """Base for failures reported by a channel's send."""


class TransientDeliveryError(DeliveryError):
    """Worth retrying later: timeouts, 5xx, connection refused, rate limits."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """Retrying will never help: the user blocked the bot, the account does not exist."""

    def __init__(self, message: str, *, unreachable: bool = True) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class HeldDeliveryError(DeliveryError):
    """The recipient can be reached again only once they write to us (WeChat allows customer-service
    messages for 48 h after the user's last message): keep the message held until then."""


@dataclass(frozen=True)
class SendReceipt:
    #: The channel's id for the message it delivered (used to match replies to notifications).
    external_id: str | None = None


class Channel(Protocol):
    name: str

    async def send(self, *, recipient: str, message: OutgoingMessage) -> SendReceipt: ...
