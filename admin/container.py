"""The composition root: one place where settings become engine, ports, router and channels."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.outbox import OutboxWorker
from core.config import Settings
from core.db import make_engine, make_session_factory
from core.ports import Channel, IntentClassifier
from handlers.context import Services
from handlers.router import Router
from knowledge_base.retrieval import KnowledgeRetriever
from nlu.factory import build_classifier

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


def build(
    settings: Settings,
    *,
    classifier: IntentClassifier | None = None,
    engine: Engine | None = None,
) -> Container:
    engine = engine or make_engine(settings.database_url)
    factory = make_session_factory(engine)
    retriever = KnowledgeRetriever(factory)
    services = Services(classifier=classifier or build_classifier(settings), retriever=retriever)
    router = Router(session_factory=factory, settings=settings, services=services)
    container = Container(settings, engine, factory, services, router, retriever)
    from bot.webchat import WebchatChannel

    container.channels["webchat"] = WebchatChannel()
    if settings.wechat_enabled:
        from bot.wechat import WeChatChannel

        # The router's clock, read at each send, so tests that move it move the 48-hour window too.
        container.channels["wechat"] = WeChatChannel(settings, factory, clock=lambda: router.clock())
    return container
