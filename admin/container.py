"""The composition root: one place where settings become engine, ports, router and channels."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.outbox import OutboxWorker
from core.config import Settings
from core.db import make_engine, make_session_factory, make_side_engine, read_only
from core.ports import Channel, IntentClassifier
from handlers.context import Services
from handlers.router import Router
from knowledge_base import service as kb
from knowledge_base.retrieval import KnowledgeRetriever
from nlu.factory import RetrainingClassifier, file_examples, with_backend
from nlu.training_data import Example

log = logging.getLogger(__name__)


@dataclass
class Container:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    services: Services
    router: Router
    retriever: KnowledgeRetriever
    channels: dict[str, Channel] = field(default_factory=dict)
    outbox: OutboxWorker | None = None


def live_classifier(settings: Settings, factory: sessionmaker[Session]) -> IntentClassifier:
    """The configured classifier, learning from the live knowledge base (files until it is imported)."""
    reader = read_only(factory)

    def stamp() -> object:
        with reader() as session:
            return kb.stamp(session)

    def examples() -> list[Example]:
        with reader() as session:
            rows = kb.published(session)
            if not rows:
                return file_examples()
            return [Example(q, r.intent) for r in rows for q in r.questions or ()]

    return with_backend(settings, RetrainingClassifier(settings=settings, stamp=stamp, examples=examples))


def build(
    settings: Settings,
    *,
    classifier: IntentClassifier | None = None,
    engine: Engine | None = None,
) -> Container:
    # A connection for each thread that may hold one (core/threads.py): the default limiter's and
    # the web chat's. Fewer, and the pool opened and closed connections beyond its size at every peak.
    threads = settings.db_pool_size + settings.webchat_threads
    pool = {} if settings.is_sqlite else {"pool_size": threads, "max_overflow": settings.db_max_overflow}
    engine = engine or make_engine(settings.database_url, connect_timeout=settings.db_connect_timeout_seconds, **pool)
    factory = make_session_factory(engine)
    # "Has the knowledge base changed?" is asked in the middle of processing a message, whose
    # transaction holds a pooled connection: those reads get connections of their own.
    side = make_session_factory(
        make_side_engine(settings.database_url, connect_timeout=settings.db_connect_timeout_seconds)
    )
    retriever = KnowledgeRetriever(side, cache_dir=settings.nlu_model_dir, fit_in_child=settings.fit_models_in_child)
    services = Services(classifier=classifier or live_classifier(settings, side), retriever=retriever)
    router = Router(session_factory=factory, settings=settings, services=services)
    container = Container(settings, engine, factory, services, router, retriever)
    from bot.webchat import WebchatChannel

    container.channels["webchat"] = WebchatChannel()
    if settings.telegram_enabled:
        from bot.telegram import TelegramChannel

        container.channels["telegram"] = TelegramChannel(settings)
    if settings.wechat_enabled:
        from bot.wechat import WeChatChannel

        # The router's clock, read at each send, so tests that move it move the 48-hour window too.
        container.channels["wechat"] = WeChatChannel(settings, factory, clock=lambda: router.clock())
    return container
