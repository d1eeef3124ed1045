"""Fakes for the ports, one per external boundary (see core.ports)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from core.messages import OutgoingMessage
from core.ports import IntentResult, IntentScore, PermanentDeliveryError, SendReceipt, TransientDeliveryError


class KeywordClassifier:
    """Deterministic intents for routing tests: the first rule whose keyword occurs wins."""

    def __init__(
        self, rules: Iterable[tuple[str, str]] = (), *, default: str = "out_of_scope", confidence: float = 0.9
    ):
        self.rules = list(rules) or DEFAULT_RULES
        self.default = default
        self.confidence = confidence

    def parse(self, text: str) -> IntentResult:
        for keyword, intent in self.rules:
            if keyword in text:
                return IntentResult(intent, self.confidence, (IntentScore(intent, self.confidence),), "fake")
        return IntentResult(self.default, 0.5, (IntentScore(self.default, 0.5),), "fake")


DEFAULT_RULES = [
    ("救命", "emergency"),
    ("打我", "emergency"),
    ("你好", "greet"),
    ("谢谢", "thanks_bye"),
    ("律师是谁", "lawyer_contact"),
    ("什么时候来", "duty_schedule"),
    ("找律师", "ask_lawyer"),
    ("上访", "collective_dispute"),
    ("工钱", "labor"),
    ("工资", "labor"),
    ("流转", "land"),
    ("承包", "land"),
    ("离婚", "marriage_family"),
    ("借", "debt_contract"),
    ("援助", "legal_aid"),
    ("天气", "out_of_scope"),
]


class FrozenClock:
    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


@dataclass
class Sent:
    recipient: str
    message: OutgoingMessage


@dataclass
class RecordingChannel:
    """A fake messenger: records every send; ``failures`` scripts errors for the next sends."""

    name: str = "fake"
    sent: list[Sent] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)
    counter: int = 0

    async def send(self, *, recipient: str, message: OutgoingMessage) -> SendReceipt:
        if self.failures:
            raise self.failures.pop(0)
        self.counter += 1
        self.sent.append(Sent(recipient, message))
        return SendReceipt(external_id=f"m{self.counter}")

    def texts_to(self, recipient: str) -> list[str]:
        return [s.message.text for s in self.sent if s.recipient == recipient]


def transient(message: str = "503 Service Unavailable", retry_after: float | None = None) -> TransientDeliveryError:
    return TransientDeliveryError(message, retry_after=retry_after)


def blocked() -> PermanentDeliveryError:
    return PermanentDeliveryError("Forbidden: bot was blocked by the user")
