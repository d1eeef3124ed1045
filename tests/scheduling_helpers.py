"""Small helpers shared by the scheduler tests: local times, a bound lawyer, opted-in villagers, passes."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import select

from admin.container import Container
from bot.outbox import OutboxWorker
from core.clock import LOCAL_TZ, to_local, to_utc
from core.db import transaction
from core.models import ChannelAccount, DutySession, Lawyer, OutboxMessage, Village
from handlers import roster
from scheduling.runner import PassReport, run_pass
from tests.fakes import FrozenClock
from tests.helpers import Chat


@pytest.fixture(name="seeded")
def seeded_without_kb(container: Container, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch) -> Container:
    """conftest's ``seeded`` (demo directory, duty calendar, admin) without loading the knowledge
    base: these tests never answer from it, and parsing its YAML is most of the seeding time.
    Test modules import this to override ``seeded``."""
    from admin import seed
    from knowledge_base.service import ImportReport

    monkeypatch.setattr(seed.kb, "import_directory", lambda *_a, **_k: ImportReport())
    with transaction(container.session_factory) as session:
        seed.seed_demo(session, settings=container.settings, now=clock())
    return container


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    """Asia/Shanghai wall time → naive UTC, as stored."""
    return to_utc(dt.datetime(year, month, day, hour, minute, tzinfo=LOCAL_TZ))


def lawyer_named(container: Container, name: str) -> Lawyer:
    with container.session_factory() as s:
        lawyer = s.scalar(select(Lawyer).where(Lawyer.name == name))
        assert lawyer is not None
        return lawyer


def bind_lawyer(container: Container, name: str, user: str) -> Chat:
    """A lawyer's messenger account, bound with a one-time code as in production."""
    clock = container.router.clock
    with transaction(container.session_factory) as s:
        lawyer = s.scalar(select(Lawyer).where(Lawyer.name == name))
        assert lawyer is not None
        issued = roster.issue_bind_code(s, settings=container.settings, lawyer=lawyer, now=clock(), actor="test")  # type: ignore[arg-type]
    chat = Chat(container, user, name=f"{name}律师")
    chat.say(f"/bind {issued.code}")
    assert "绑定成功" in chat.text, chat.text
    return chat


def villager(container: Container, user: str, village_code: str, *, opt_in: bool = True) -> Chat:
    chat = Chat(container, user, name=f"村民{user}")
    chat.say(f"/start v{village_code}")
    if opt_in:
        chat.say("提醒我")
        assert "已开启" in chat.text, chat.text
    return chat


def session_on(container: Container, village_code: str, day: dt.date) -> DutySession:
    """The seeded session of a village on a local date."""
    with container.session_factory() as s:
        village = s.scalar(select(Village).where(Village.code == village_code))
        assert village is not None
        for duty in s.scalars(select(DutySession).where(DutySession.village_id == village.id)):
            if to_local(duty.starts_at).date() == day:
                return duty
    raise AssertionError(f"no session in {village_code} on {day}")


def run(container: Container, at: dt.datetime) -> PassReport:
    report = run_pass(container.session_factory, container.settings, now=at)
    assert report.errors == [], report.errors
    return report


def outbox_for(container: Container, user: str, *, purpose: str | None = "reminder") -> list[OutboxMessage]:
    with container.session_factory() as s:
        query = (
            select(OutboxMessage)
            .join(ChannelAccount, OutboxMessage.account_id == ChannelAccount.id)
            .where(ChannelAccount.external_id == user)
            .order_by(OutboxMessage.id)
        )
        if purpose is not None:
            query = query.where(OutboxMessage.purpose == purpose)
        return list(s.scalars(query))


def texts_for(container: Container, user: str, *, purpose: str | None = "reminder") -> list[str]:
    return [row.text for row in outbox_for(container, user, purpose=purpose)]


def deliver(container: Container, at: dt.datetime) -> None:
    """Run the outbox worker once, so rows become 'sent' as in production."""
    worker = OutboxWorker(container.session_factory, container.channels, clock=FrozenClock(at))
    asyncio.run(worker.deliver_due())
