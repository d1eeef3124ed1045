"""When does the lawyer come? Answers from the duty calendar."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from core.clock import local_date_label, local_time_label
from core.messages import Button, OutgoingMessage
from core.models import DutySession
from handlers import onboarding, texts
from handlers.context import Context


def upcoming_sessions(session: Session, village_id: int, *, after, limit: int = 2) -> Sequence[DutySession]:  # type: ignore[no-untyped-def]
    return session.scalars(
        select(DutySession)
        .options(joinedload(DutySession.lawyer))
        .where(
            DutySession.village_id == village_id,
            DutySession.status == "planned",
            DutySession.ends_at > after,
        )
        .order_by(DutySession.starts_at)
        .limit(limit)
    ).all()


def session_line(s: DutySession) -> str:
    return texts.SESSION_LINE.format(
        date=local_date_label(s.starts_at),
        start=local_time_label(s.starts_at),
        end=local_time_label(s.ends_at),
        place=s.place,
        lawyer=s.lawyer.name,
        kind=texts.SESSION_KINDS.get(s.kind, s.kind),
    )


def next_session_lines(ctx: Context, village_id: int, *, limit: int = 1) -> list[str]:
    sessions = upcoming_sessions(ctx.session, village_id, after=ctx.now, limit=limit)
    return [
        texts.NEXT_SESSION_LINE.format(
            date=local_date_label(s.starts_at),
            start=local_time_label(s.starts_at),
            end=local_time_label(s.ends_at),
            place=s.place,
        )
        for s in sessions
    ]


def duty_schedule(ctx: Context) -> list[OutgoingMessage]:
    villager = ctx.villager
    if villager is None or villager.village is None:
        return onboarding.start(ctx, intro=texts.NEED_VILLAGE_FIRST)
    village = villager.village
    sessions = upcoming_sessions(ctx.session, village.id, after=ctx.now, limit=2)
    if not sessions:
        return [
            OutgoingMessage(
                texts.NO_SESSIONS.format(village=village.name),
                (Button(texts.BUTTON_LEAVE_MESSAGE, "cmd:lawyer"),),
            )
        ]
    lines = [texts.NEXT_SESSIONS_HEADER.format(village=village.name), *(session_line(s) for s in sessions)]
    return [OutgoingMessage("\n".join(lines))]
