"""The IntentClassifier port backed by a Rasa server (``POST /model/parse``), with the embedded
classifier as the safety net.

Mapping of a Rasa 3.x parse result to our IntentResult:

- ``intent.name`` / ``intent_ranking[].name`` must be one of our intents (nlu.training_data.INTENTS);
  a retrieval sub-intent ``topic/detail`` counts as ``topic``. Unknown names in the ranking are
  dropped; an unknown *top* intent means the server runs a model trained on other data, which is
  treated like an outage (below).
- ``nlu_fallback`` (Rasa's FallbackClassifier) is not one of our intents. Rasa 3.x reports it with
  the classifier's threshold as its confidence and puts it in front of the real ranking, so the
  real ranking tells which of its two reasons applied:
  * the top real intent scored below the threshold: we answer ``out_of_scope`` with that (low)
    confidence, so the router takes its low-confidence path (knowledge base, then the lawyer);
  * the top two real intents were too close (ambiguity): we keep the top real intent and its
    confidence; the router's middle band already handles "是不是想问…".
  The ranking we return never contains ``nlu_fallback``, so the emergency check still sees the
  real emergency score.

Failures — timeout, connection error, any non-2xx status, a body that is not the JSON above —
answer from the embedded classifier and log one WARNING (never the message text). A circuit
breaker then skips Rasa for ``cooldown`` seconds, so a dead server does not add the timeout to
every villager's message; the first message after the pause tries Rasa again.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

import httpx

from core.ports import IntentClassifier, IntentResult, IntentScore
from nlu.classifier import RANKING_SIZE
from nlu.training_data import INTENTS

log = logging.getLogger(__name__)

FALLBACK_INTENT = "nlu_fallback"
PARSE_PATH = "/model/parse"
DEFAULT_COOLDOWN_SECONDS = 30.0


class RasaUnusable(Exception):
    """The server answered, but not with something we can use."""


class RasaClassifier:
    def __init__(
        self,
        url: str,
        *,
        fallback: IntentClassifier,
        timeout: float,
        cooldown: float = DEFAULT_COOLDOWN_SECONDS,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fallback = fallback
        self.cooldown = cooldown
        self._clock = clock
        self._skip_until = -math.inf
        # One client for the process: keeps the connection to Rasa alive between messages.
        # trust_env=False: an HTTP(S)_PROXY meant for the internet must not capture calls to our own server.
        self._client = httpx.Client(
            base_url=url.rstrip("/"), timeout=httpx.Timeout(timeout), transport=transport, trust_env=False
        )

    def parse(self, text: str) -> IntentResult:
        if self._clock() < self._skip_until or not text.strip():
            return self.fallback.parse(text)
        try:
            return to_intent_result(self._post(text))
        except (httpx.HTTPError, RasaUnusable) as exc:
            self._skip_until = self._clock() + self.cooldown
            log.warning(
                "Rasa NLU unavailable (%s); using the embedded classifier for %.0f s", _describe(exc), self.cooldown
            )
            return self.fallback.parse(text)

    def close(self) -> None:
        self._client.close()

    def _post(self, text: str) -> Any:
        response = self._client.post(PARSE_PATH, json={"text": text})
        response.raise_for_status()
        try:
            return response.json()
        except ValueError as exc:
            raise RasaUnusable("response is not JSON") from exc


def to_intent_result(body: Any) -> IntentResult:
    """A Rasa ``/model/parse`` body as our IntentResult (see the module docstring)."""
    if not isinstance(body, dict) or not isinstance(body.get("intent"), dict):
        raise RasaUnusable("no intent object in the response")
    top_name = body["intent"].get("name")
    top_confidence = _confidence(body["intent"].get("confidence"))
    raw_ranking = body.get("intent_ranking")
    if raw_ranking is None:
        raw_ranking = [body["intent"]]
    if not isinstance(raw_ranking, list):
        raise RasaUnusable("intent_ranking is not a list")

    ranking: list[IntentScore] = []
    for item in raw_ranking:
        if not isinstance(item, dict):
            raise RasaUnusable("intent_ranking entry is not an object")
        name = _our_intent(item.get("name"))
        if name is not None and all(s.intent != name for s in ranking):
            ranking.append(IntentScore(name, _confidence(item.get("confidence"))))
    ranking.sort(key=lambda s: -s.confidence)
    ranking = ranking[:RANKING_SIZE]

    if top_name == FALLBACK_INTENT:
        if not ranking:
            return IntentResult("out_of_scope", 0.0, (), "rasa")
        best = ranking[0]
        if best.confidence < top_confidence:  # below FallbackClassifier's threshold
            return IntentResult("out_of_scope", best.confidence, tuple(ranking), "rasa")
        return IntentResult(best.intent, best.confidence, tuple(ranking), "rasa")  # ambiguous
    intent = _our_intent(top_name)
    if intent is None:
        raise RasaUnusable(f"unknown intent {top_name!r}: is the server running our model?")
    if all(s.intent != intent for s in ranking):
        ranking.insert(0, IntentScore(intent, top_confidence))
    return IntentResult(intent, top_confidence, tuple(ranking), "rasa")


def _our_intent(name: Any) -> str | None:
    if not isinstance(name, str):
        return None
    base = name.split("/", 1)[0]
    return base if base in INTENTS else None


def _confidence(value: Any) -> float:
    # bool is an int subclass; JSON true is not a confidence.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RasaUnusable("confidence is not a number")
    return min(max(float(value), 0.0), 1.0)


def _describe(exc: Exception) -> str:
    """Why Rasa failed, without anything from the villager's message."""
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, RasaUnusable):
        return str(exc)
    return type(exc).__name__
