"""NLU_BACKEND=rasa: Rasa's /model/parse answers mapped to our intents, and every way Rasa can fail
falls back to the embedded classifier without the villager noticing.

The Rasa answers are recorded from a real Rasa 3.6 server running nlu/rasa/config.yml on our data
(tests/data/rasa_parse_recorded.json, written by `python -m bench.rasa_compare --record`), replayed
at the one network boundary: httpx's transport, or a real local HTTP server for timeouts.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from admin.container import Container, build
from core.config import Settings
from core.ports import IntentResult, IntentScore
from nlu.rasa import RasaClassifier, RasaUnusable, to_intent_result
from nlu.training_data import INTENTS
from tests.fakes import FrozenClock, KeywordClassifier
from tests.helpers import Chat

RECORDED = json.loads((Path(__file__).parent / "data" / "rasa_parse_recorded.json").read_text(encoding="utf-8"))
RESPONSES: dict[str, dict] = RECORDED["responses"]
LAND_QUESTION = "俺家承包地被村里收回去了 给别人种了 咋办"
WAGES_QUESTION = "包工头欠了我们三个月工钱不给"
EMERGENCY = "他又拿刀要砍我 快来人"
FALLBACK_TEXTS = [t for t, body in RESPONSES.items() if t and body["intent"]["name"] == "nlu_fallback"]
UNSURE_WITH_EMERGENCY = "家裡人被公安帶走了 也不說什麼事 我們該怎麼辦"  # nlu_fallback; emergency ranked second


class Embedded:
    """Stands in for the embedded classifier: records that it was asked."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def parse(self, text: str) -> IntentResult:
        self.calls.append(text)
        return IntentResult("labor", 0.8, (IntentScore("labor", 0.8),), "embedded")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def replay(*, status: int = 200, body: bytes | None = None) -> Callable[[httpx.Request], httpx.Response]:
    """A transport handler answering like the recorded server (or with a fixed status/body)."""

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.method == "POST" and request.url.path == "/model/parse"
        text = json.loads(request.content)["text"]
        if body is not None or status != 200:
            return httpx.Response(status, content=body or b'{"code": 500}')
        return httpx.Response(200, json=RESPONSES[text])

    return handler


def rasa(handler: Callable[[httpx.Request], httpx.Response], **kwargs) -> tuple[RasaClassifier, Embedded]:  # type: ignore[no-untyped-def]
    embedded = Embedded()
    transport = httpx.MockTransport(handler)
    return RasaClassifier("http://rasa:5005/", fallback=embedded, timeout=1.0, transport=transport, **kwargs), embedded


def test_recordings_come_from_a_model_trained_on_our_intents():  # type: ignore[no-untyped-def]
    for body in RESPONSES.values():
        names = {body["intent"]["name"]} | {i["name"] for i in body["intent_ranking"]}
        assert names <= set(INTENTS) | {"nlu_fallback"}
    assert len(FALLBACK_TEXTS) >= 3, "the recording should contain nlu_fallback answers"


def test_recorded_answers_map_to_our_intent_and_ranking():  # type: ignore[no-untyped-def]
    classifier, embedded = rasa(replay())
    result = classifier.parse(LAND_QUESTION)
    body = RESPONSES[LAND_QUESTION]
    assert result.intent == body["intent"]["name"] == "land"
    assert result.confidence == pytest.approx(body["intent"]["confidence"])
    assert result.backend == "rasa"
    assert [s.intent for s in result.ranking] == [i["name"] for i in body["intent_ranking"][:5]]
    assert all(a.confidence >= b.confidence for a, b in zip(result.ranking, result.ranking[1:], strict=False))
    assert classifier.parse(WAGES_QUESTION).intent == "labor"
    assert classifier.parse(EMERGENCY).intent == "emergency"
    assert classifier.parse("你好").intent == "greet"
    assert classifier.parse("律师啥时候来我们嘎查").intent == "duty_schedule"
    assert classifier.parse("今天天气咋样 要下雨不").intent == "out_of_scope"
    assert embedded.calls == []


def test_nlu_fallback_becomes_low_confidence_out_of_scope_with_the_real_ranking():  # type: ignore[no-untyped-def]
    classifier, embedded = rasa(replay())
    for text in FALLBACK_TEXTS:
        body = RESPONSES[text]
        threshold = body["intent"]["confidence"]
        real = [i for i in body["intent_ranking"] if i["name"] != "nlu_fallback"]
        result = classifier.parse(text)
        assert result.backend == "rasa"
        assert "nlu_fallback" not in {s.intent for s in result.ranking}
        assert result.ranking[0].intent == real[0]["name"]
        if real[0]["confidence"] < threshold:
            assert result.intent == "out_of_scope"
            assert result.confidence == pytest.approx(real[0]["confidence"])
            assert result.confidence < Settings(_env_file=None).intent_low_confidence  # type: ignore[call-arg]
        else:  # ambiguous between the top two: keep the best guess, the router's middle band asks
            assert result.intent == real[0]["name"]
    assert embedded.calls == []


def test_nlu_fallback_keeps_a_weak_emergency_in_the_ranking_for_the_safety_check():  # type: ignore[no-untyped-def]
    classifier, _ = rasa(replay())
    result = classifier.parse(UNSURE_WITH_EMERGENCY)
    assert result.intent == "out_of_scope"
    emergency = next(s for s in result.ranking if s.intent == "emergency")
    real = {i["name"]: i["confidence"] for i in RESPONSES[UNSURE_WITH_EMERGENCY]["intent_ranking"]}
    assert emergency.confidence == pytest.approx(real["emergency"])


def test_nlu_fallback_for_empty_text_is_out_of_scope_with_no_confidence():  # type: ignore[no-untyped-def]
    result = to_intent_result(RESPONSES[""])  # Rasa's own answer to "": nlu_fallback and nothing else
    assert (result.intent, result.confidence, result.ranking) == ("out_of_scope", 0.0, ())


def test_ambiguity_fallback_keeps_the_top_real_intent():  # type: ignore[no-untyped-def]
    # FallbackClassifier's other reason (top two closer than ambiguity_threshold), shaped as Rasa 3.6
    # writes it: nlu_fallback with the threshold as confidence, in front of the real ranking.
    body = {
        "text": "x",
        "intent": {"name": "nlu_fallback", "confidence": 0.3},
        "entities": [],
        "intent_ranking": [
            {"name": "nlu_fallback", "confidence": 0.3},
            {"name": "tort", "confidence": 0.46},
            {"name": "traffic_accident", "confidence": 0.41},
        ],
    }
    result = to_intent_result(body)
    assert (result.intent, result.confidence) == ("tort", 0.46)
    assert [s.intent for s in result.ranking] == ["tort", "traffic_accident"]


def test_retrieval_sub_intents_count_as_their_topic_and_unknown_names_are_dropped():  # type: ignore[no-untyped-def]
    body = {
        "intent": {"name": "land/homestead", "confidence": 0.7},
        "intent_ranking": [
            {"name": "land/homestead", "confidence": 0.7},
            {"name": "chitchat", "confidence": 0.2},
            {"name": "land/expropriation", "confidence": 0.05},
            {"name": "tort", "confidence": 0.05},
        ],
    }
    result = to_intent_result(body)
    assert result.intent == "land"
    assert [s.intent for s in result.ranking] == ["land", "tort"]


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"text": "x"},
        {"intent": None},
        {"intent": {"name": "book_flight", "confidence": 0.9}, "intent_ranking": []},
        {"intent": {"name": "land", "confidence": "high"}},
        {"intent": {"name": "land", "confidence": True}},
        {"intent": {"name": "land", "confidence": float("nan")}},
        {"intent": {"name": "land", "confidence": 0.9}, "intent_ranking": {"land": 0.9}},
        {"intent": {"name": "land", "confidence": 0.9}, "intent_ranking": ["land"]},
    ],
)
def test_bodies_we_cannot_use_are_rejected(body):  # type: ignore[no-untyped-def]
    with pytest.raises(RasaUnusable):
        to_intent_result(body)


@pytest.mark.parametrize(
    ("handler", "reason"),
    [
        (replay(status=500), "HTTP 500"),
        (replay(status=503), "HTTP 503"),
        (replay(status=404), "HTTP 404"),
        (replay(body=b"<html>502 Bad Gateway</html>"), "not JSON"),
        (replay(body=b'{"intent": {"name": "land", "conf'), "not JSON"),
        (replay(body=b'{"version": "3.6.21"}'), "no intent object"),
        (lambda request: (_ for _ in ()).throw(httpx.ConnectError("refused", request=request)), "ConnectError"),
        (lambda request: (_ for _ in ()).throw(httpx.ReadTimeout("slow", request=request)), "ReadTimeout"),
    ],
)
def test_failures_answer_from_the_embedded_classifier_and_log_without_the_text(handler, reason, caplog):  # type: ignore[no-untyped-def]
    classifier, embedded = rasa(handler)
    with caplog.at_level(logging.WARNING, logger="nlu.rasa"):
        result = classifier.parse(WAGES_QUESTION)
    assert result.backend == "embedded" and result.intent == "labor"
    assert embedded.calls == [WAGES_QUESTION]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and reason in warnings[0].getMessage()
    assert "工钱" not in caplog.text and "包工头" not in caplog.text


def test_circuit_breaker_skips_a_dead_server_then_tries_again():  # type: ignore[no-untyped-def]
    calls: list[str] = []
    healthy = False

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(json.loads(request.content)["text"])
        if not healthy:
            raise httpx.ConnectError("refused", request=request)
        return replay()(request)

    clock = Clock()
    classifier, embedded = rasa(handler, cooldown=30.0, clock=clock)
    assert classifier.parse(WAGES_QUESTION).backend == "embedded"
    assert len(calls) == 1
    for _ in range(5):  # within the pause Rasa is not even tried
        clock.now += 5
        assert classifier.parse(LAND_QUESTION).backend == "embedded"
    assert len(calls) == 1 and len(embedded.calls) == 6
    healthy = True
    clock.now += 5.1  # 30.1 s after the failure
    result = classifier.parse(LAND_QUESTION)
    assert (result.backend, result.intent) == ("rasa", "land")
    assert len(calls) == 2
    healthy = False  # a new failure opens the breaker again
    assert classifier.parse(LAND_QUESTION).backend == "embedded"
    clock.now += 29
    classifier.parse(LAND_QUESTION)
    assert len(calls) == 3


def test_empty_text_never_reaches_rasa():  # type: ignore[no-untyped-def]
    classifier, _ = rasa(lambda request: pytest.fail("Rasa was called"))
    assert classifier.parse("  ").backend == "embedded"


# --- a real HTTP server on a local port: real sockets, real timeouts


class _Server:
    def __init__(self) -> None:
        self.delay = 0.0
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.requests += 1
                text = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["text"]
                time.sleep(outer.delay)
                payload = json.dumps(RESPONSES[text]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    thread = threading.Thread(target=s.httpd.serve_forever, daemon=True)
    thread.start()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def test_real_server_answer_and_timeout(server):  # type: ignore[no-untyped-def]
    embedded = Embedded()
    classifier = RasaClassifier(server.url, fallback=embedded, timeout=0.3)
    assert classifier.parse(LAND_QUESTION).backend == "rasa"
    server.delay = 1.0
    started = time.perf_counter()
    result = classifier.parse(LAND_QUESTION)
    assert result.backend == "embedded"
    assert time.perf_counter() - started < 0.9  # gave up at the timeout, did not wait for Rasa
    started = time.perf_counter()
    assert classifier.parse(LAND_QUESTION).backend == "embedded"
    assert time.perf_counter() - started < 0.1  # breaker open: no second wait
    assert server.requests == 2
    classifier.close()


def test_nobody_listening_falls_back():  # type: ignore[no-untyped-def]
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    classifier = RasaClassifier(f"http://127.0.0.1:{port}", fallback=Embedded(), timeout=0.5)
    assert classifier.parse(WAGES_QUESTION).backend == "embedded"


# --- through the factory and the router


def test_factory_builds_rasa_with_the_embedded_model_as_fallback(real_classifier, monkeypatch):  # type: ignore[no-untyped-def]
    import nlu.factory
    from nlu.factory import build_classifier

    monkeypatch.setattr(nlu.factory, "load_or_train", lambda *args, **kwargs: real_classifier)
    settings = Settings(
        env="test", nlu_backend="rasa", rasa_url="http://127.0.0.1:9", rasa_timeout_seconds=0.2, _env_file=None
    )  # type: ignore[call-arg]
    classifier = build_classifier(settings)
    assert isinstance(classifier, RasaClassifier)
    assert classifier.fallback is real_classifier
    result = classifier.parse(WAGES_QUESTION)  # port 9 (discard) is closed: the embedded model answers
    assert result.backend == "embedded" and result.intent == "labor"


@pytest.fixture
def rasa_app(settings: Settings, clock: FrozenClock) -> Iterator[tuple[Container, dict[str, bool]]]:
    from admin.seed import seed_demo
    from core.db import transaction

    state = {"up": True}

    def handler(request: httpx.Request) -> httpx.Response:
        if not state["up"]:
            return httpx.Response(500, text="Internal Server Error")
        return replay()(request)

    classifier = RasaClassifier(
        "http://rasa:5005", fallback=KeywordClassifier(), timeout=1.0, transport=httpx.MockTransport(handler)
    )
    c = build(settings, classifier=classifier)
    c.router.clock = clock
    with transaction(c.session_factory) as session:
        seed_demo(session, settings=c.settings, now=clock())
    yield c, state
    c.engine.dispose()


def test_villager_is_served_by_rasa_and_unaffected_by_its_outage(rasa_app):  # type: ignore[no-untyped-def]
    container, state = rasa_app
    chat = Chat(container)
    chat.choose_village("阿巴嘎旗", "别力古台镇", "巴彦图嘎嘎查")
    chat.say(EMERGENCY)  # Rasa says emergency; the fake fallback knows no rule for this text
    assert "110" in chat.text
    state["up"] = False
    chat.say("我男人又打我")  # Rasa is down: the fallback's rule 打我 → emergency, no error shown
    assert "110" in chat.text
    from sqlalchemy import select

    from core.models import Message

    with container.session_factory() as s:
        stored = s.scalars(select(Message).where(Message.direction == "in").order_by(Message.id)).all()
    assert [m.intent for m in stored][-2:] == ["emergency", "emergency"]


# --- the Rasa pipeline and the compose service that trains it


def test_rasa_config_is_the_chinese_pipeline_and_agrees_with_our_thresholds():  # type: ignore[no-untyped-def]
    import yaml

    from tests.conftest import ROOT

    config = yaml.safe_load((ROOT / "nlu" / "rasa" / "config.yml").read_text(encoding="utf-8"))
    assert config["language"] == "zh"
    names = [c["name"] for c in config["pipeline"]]
    assert names[0] == "JiebaTokenizer" and names[-2:] == ["DIETClassifier", "FallbackClassifier"]
    analyzers = {c.get("analyzer", "word") for c in config["pipeline"] if c["name"] == "CountVectorsFeaturizer"}
    assert analyzers == {"word", "char_wb"}
    fallback = config["pipeline"][-1]
    # nlu.rasa relies on this: a below-threshold nlu_fallback lands under the router's low bar.
    assert fallback["threshold"] == Settings(_env_file=None).intent_low_confidence  # type: ignore[call-arg]


def test_compose_rasa_service_trains_our_config_and_data():  # type: ignore[no-untyped-def]
    import yaml

    from tests.conftest import ROOT

    service = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]["rasa"]
    assert service["entrypoint"] == ["sh", "-c"]  # the image's entrypoint is `rasa`
    script = " ".join(service["command"])
    assert "./nlu:/app/nlu:ro" in service["volumes"]
    for path in ("nlu/rasa/config.yml", "nlu/data"):
        assert path in script and (ROOT / path).exists()
    assert "--enable-api" in script
