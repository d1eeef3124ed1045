"""Duty reminders, computed from the database on every pass (never one in-memory job per reminder).

For each planned session a reminder *kind* has a due time; a pass sends it when
``due <= now < due + grace`` (and, for reminders before the session, before it starts). A process
that was down at 18:00 therefore catches up within the grace window, and one that comes back days
later sends nothing stale. Each send is an outbox row keyed by session, version, kind and
recipient, so a second pass, a restart or a second process never sends it twice; moving a session
bumps its version, which makes its reminders due again at the new time.

Kinds (times are Asia/Shanghai; the numbers are settings):
- lawyer ``eve``: 18:00 the evening before; ``soon``: 2 hours before; ``after``: when the session
  ends, a prompt to record it (this one stays useful for a day, not just the grace window);
- villager ``advance``: 3 days before (same time of day); ``morning``: 07:00 on the day.
Villager reminders go to villagers of the session's village who opted in, one account each
(the most recently used reachable one), for on-site consultations and lectures (a mediation is
a private matter and is not announced).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.clock import LOCAL_TZ, local_date_label, local_time_label, to_local, to_utc
from core.config import Settings
from core.db import is_postgres, transaction
from core.messages import Button, OutgoingMessage
from core.models import ChannelAccount, DutySession, OutboxMessage, Villager
from handlers import directory, texts
from handlers.notify import enqueue

LAWYER_KINDS = ("eve", "soon", "after")
VILLAGER_KINDS = ("advance", "morning")
KINDS = LAWYER_KINDS + VILLAGER_KINDS
#: A record prompt is not stale an hour later: the session still needs recording.
RECORD_PROMPT_WINDOW = dt.timedelta(hours=24)
KEY_CHUNK = 500
BATCH = 200  # recipients written per transaction


@dataclass(frozen=True)
class Snapshot:
    """What people were told about a session, for the notice when it changes."""

    lawyer_id: int
    village_id: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    place: str
    version: int

    @classmethod
    def of(cls, duty: DutySession) -> Snapshot:
        return cls(duty.lawyer_id, duty.village_id, duty.starts_at, duty.ends_at, duty.place, duty.version)


# ---------------------------------------------------------------------- timing


def _local_at(day: dt.date, hhmm: str) -> dt.datetime:
    hour, minute = (int(p) for p in hhmm.split(":"))
    return to_utc(dt.datetime.combine(day, dt.time(hour, minute), tzinfo=LOCAL_TZ))


def window(kind: str, duty: DutySession, settings: Settings) -> tuple[dt.datetime, dt.datetime]:
    """[due, end) of one reminder kind for one session, naive UTC."""
    grace = dt.timedelta(hours=settings.reminder_grace_hours)
    day = to_local(duty.starts_at).date()
    if kind == "after":
        return duty.ends_at, duty.ends_at + RECORD_PROMPT_WINDOW
    if kind == "eve":
        due = _local_at(day - dt.timedelta(days=1), settings.lawyer_evening_reminder_time)
    elif kind == "soon":
        due = duty.starts_at - dt.timedelta(hours=settings.lawyer_reminder_hours_before)
    elif kind == "advance":
        due = duty.starts_at - dt.timedelta(days=settings.villager_reminder_days_before)
    elif kind == "morning":
        due = min(_local_at(day, settings.villager_morning_reminder_time), duty.starts_at)
    else:
        raise ValueError(kind)
    return due, min(due + grace, duty.starts_at)


def expires(kind: str, duty: DutySession) -> dt.datetime:
    """When one kind of reminder would mislead (naive UTC): its delivery may be retried through a
    messenger's outage, and "明日" read on the day itself or "今天" the day after is wrong. Eve (明日):
    the session's local day begins; soon (in N hours) and advance (a date, to plan by): the
    session starts; morning (今天): it ends; a record prompt: its window ends."""
    if kind == "eve":
        return _local_at(to_local(duty.starts_at).date(), "00:00")
    if kind in ("soon", "advance"):
        return duty.starts_at
    if kind == "morning":
        return duty.ends_at
    if kind == "after":
        return duty.ends_at + RECORD_PROMPT_WINDOW
    raise ValueError(kind)


def due_kinds(duty: DutySession, settings: Settings, *, now: dt.datetime) -> list[str]:
    due = []
    for kind in KINDS:
        if kind in VILLAGER_KINDS and duty.kind not in texts.DUTY_VILLAGER_ACTIVITY:
            continue
        start, end = window(kind, duty, settings)
        if start <= now < end:
            due.append(kind)
    return due


def _lookahead(settings: Settings) -> dt.timedelta:
    return dt.timedelta(days=settings.villager_reminder_days_before + 2)


# ---------------------------------------------------------------------- keys and recipients


def key(duty_id: int, version: int, kind: str, recipient: str) -> str:
    """``recipient`` is ``a<account id>`` for a lawyer's account, ``p<villager id>`` for a villager."""
    return f"duty:{duty_id}:v{version}:{kind}:{recipient}"


def lawyer_recipients(session: Session, lawyer_id: int) -> list[tuple[str, ChannelAccount]]:
    return [(f"a{a.id}", a) for a in directory.lawyer_accounts(session, lawyer_id) if not a.unreachable]


def villager_recipients(
    session: Session, village_id: int, *, opted_in_only: bool = True
) -> list[tuple[str, ChannelAccount]]:
    """One reachable account per villager of the village, the most recently used one."""
    query = (
        select(ChannelAccount)
        .join(Villager, ChannelAccount.villager_id == Villager.id)
        .where(
            Villager.village_id == village_id,
            Villager.forgotten_at.is_(None),
            ChannelAccount.lawyer_id.is_(None),
            ChannelAccount.unreachable.is_(False),
        )
        .order_by(ChannelAccount.villager_id, ChannelAccount.last_inbound_at.desc().nulls_last(), ChannelAccount.id)
    )
    if opted_in_only:
        query = query.where(Villager.reminders_opt_in.is_(True))
    chosen: dict[int, ChannelAccount] = {}
    for account in session.scalars(query):
        assert account.villager_id is not None
        chosen.setdefault(account.villager_id, account)
    return [(f"p{villager_id}", account) for villager_id, account in chosen.items()]


def existing_keys(session: Session, keys: Sequence[str]) -> set[str]:
    """Which of these dedup keys are already in the outbox (checked in index-friendly chunks)."""
    found: set[str] = set()
    for i in range(0, len(keys), KEY_CHUNK):
        chunk = list(keys[i : i + KEY_CHUNK])
        found.update(session.scalars(select(OutboxMessage.dedup_key).where(OutboxMessage.dedup_key.in_(chunk))))
    return found


# ---------------------------------------------------------------------- messages


def _fields(duty: DutySession | Snapshot, session: Session) -> dict[str, str]:
    from core.models import Lawyer, Village

    village = session.get(Village, duty.village_id)
    lawyer = session.get(Lawyer, duty.lawyer_id)
    return {
        "date": local_date_label(duty.starts_at),
        "start": local_time_label(duty.starts_at),
        "end": local_time_label(duty.ends_at),
        "place": duty.place,
        "village": village.name if village else "",
        "lawyer": lawyer.name if lawyer else "",
    }


def reminder_message(session: Session, duty: DutySession, kind: str, settings: Settings) -> OutgoingMessage:
    fields = _fields(duty, session)
    fields["kind"] = texts.SESSION_KINDS.get(duty.kind, duty.kind)
    if kind == "eve":
        return OutgoingMessage(texts.DUTY_REMIND_LAWYER_EVE.format(**fields))
    if kind == "soon":
        hours = f"{settings.lawyer_reminder_hours_before:g}"
        return OutgoingMessage(texts.DUTY_REMIND_LAWYER_SOON.format(hours=hours, **fields))
    if kind == "after":
        return OutgoingMessage(texts.DUTY_RECORD_PROMPT.format(**fields), record_buttons(duty.id))
    template = texts.DUTY_REMIND_VILLAGER_ADVANCE if kind == "advance" else texts.DUTY_REMIND_VILLAGER_MORNING
    return OutgoingMessage(template.format(activity=texts.DUTY_VILLAGER_ACTIVITY[duty.kind], **fields))


def record_buttons(duty_id: int) -> tuple[Button, ...]:
    return (
        Button(texts.BUTTON_DUTY_DONE, f"dt:ok:{duty_id}"),
        Button(texts.BUTTON_DUTY_MISSED, f"dt:miss:{duty_id}"),
    )


# ---------------------------------------------------------------------- the pass


def _locked_planned(session: Session, duty_id: int) -> DutySession | None:
    # The row lock orders this against a concurrent cancel/move: either the change commits first
    # (and we see it), or it waits for our reminders and then notifies their recipients.
    query = select(DutySession).where(DutySession.id == duty_id, DutySession.status == "planned")
    if is_postgres(session):
        query = query.with_for_update(of=DutySession)
    return session.scalar(query)


def send_due(
    factory: sessionmaker[Session],
    settings: Settings,
    *,
    now: dt.datetime,
    keep_alive: Callable[[], None] = lambda: None,
) -> Counter[str]:
    """Send every reminder due at ``now``; returns how many rows were written per kind."""
    sent: Counter[str] = Counter()
    with factory() as session:
        candidates = session.scalars(
            select(DutySession)
            .where(
                DutySession.status == "planned",
                DutySession.starts_at < now + _lookahead(settings),
                DutySession.ends_at > now - RECORD_PROMPT_WINDOW,
            )
            .order_by(DutySession.starts_at)
        ).all()
        work = [(d.id, kinds) for d in candidates if (kinds := due_kinds(d, settings, now=now))]
    for duty_id, kinds in work:
        for kind in kinds:
            sent[kind] += _send(factory, duty_id, kind, settings, now=now, keep_alive=keep_alive)
    return sent


def _send(
    factory: sessionmaker[Session],
    duty_id: int,
    kind: str,
    settings: Settings,
    *,
    now: dt.datetime,
    keep_alive: Callable[[], None],
) -> int:
    """Write one kind of reminder of one session, a batch of recipients per transaction, so a
    village-wide broadcast never holds SQLite's write lock for long. Each batch locks the session
    and checks again that it is still planned and due: a cancel or move in between stops the rest."""
    with factory() as session:
        duty = session.get(DutySession, duty_id)
        if duty is None:
            return 0
        if kind in LAWYER_KINDS:
            recipients = lawyer_recipients(session, duty.lawyer_id)
        else:
            recipients = villager_recipients(session, duty.village_id)
        targets = [(r, account.id) for r, account in recipients]
    written = 0
    for i in range(0, len(targets), BATCH):
        with transaction(factory) as session:
            locked = _locked_planned(session, duty_id)
            if locked is None or kind not in due_kinds(locked, settings, now=now):
                break
            keyed = {key(duty_id, locked.version, kind, r): account_id for r, account_id in targets[i : i + BATCH]}
            already = existing_keys(session, list(keyed))
            missing = [k for k in keyed if k not in already]
            if missing:
                message = reminder_message(session, locked, kind, settings)
                accounts = {
                    a.id: a
                    for a in session.scalars(select(ChannelAccount).where(ChannelAccount.id.in_(keyed.values())))
                }
                for dedup_key in missing:
                    enqueue(
                        session,
                        account=accounts[keyed[dedup_key]],
                        message=message,
                        purpose="reminder",
                        dedup_key=dedup_key,
                        now=now,
                        expires_at=expires(kind, locked),
                    )
            written += len(missing)
        keep_alive()
    return written


# ---------------------------------------------------------------------- changes


def notify_change(
    session: Session,
    duty: DutySession,
    *,
    before: Snapshot,
    change: str,
    reason: str | None = None,
    now: dt.datetime,
) -> int:
    """Tell everyone already reminded of ``before`` that the session was cancelled or moved.

    Reminders of the old version still waiting in the outbox are withdrawn instead (their
    recipients never heard of the old time). Returns the number of notices written.
    """
    lawyer_accounts = [f"a{a.id}" for a in directory.lawyer_accounts(session, before.lawyer_id)]
    villagers = [f"p{v}" for v in session.scalars(select(Villager.id).where(Villager.village_id == before.village_id))]
    candidates = [(key(duty.id, before.version, kind, r), r) for r in lawyer_accounts for kind in ("eve", "soon")]
    candidates += [(key(duty.id, before.version, kind, r), r) for r in villagers for kind in VILLAGER_KINDS]
    rows = _rows_by_key(session, [k for k, _r in candidates])
    notified: set[str] = set()
    count = 0
    old = _fields(before, session)
    new = _fields(duty, session)
    for dedup_key, recipient in candidates:
        row = rows.get(dedup_key)
        if row is None:
            continue
        if row.status in ("pending", "held"):
            row.status = "cancelled"
            row.last_error = f"session {change}"
            continue
        if row.status != "sent" or recipient in notified:
            continue
        notified.add(recipient)
        if change == "cancelled":
            template = texts.DUTY_CANCELLED_LAWYER if recipient.startswith("a") else texts.DUTY_CANCELLED_VILLAGER
            text = template.format(reason=_reason(reason), **old)
        else:
            text = texts.DUTY_MOVED.format(
                old_date=old["date"],
                old_start=old["start"],
                old_place=old["place"],
                village=old["village"],
                date=new["date"],
                start=new["start"],
                end=new["end"],
                place=new["place"],
                lawyer=new["lawyer"],
            )
        account = session.get(ChannelAccount, row.account_id)
        assert account is not None
        enqueue(
            session,
            account=account,
            message=OutgoingMessage(text),
            purpose="reminder",
            dedup_key=f"duty:{duty.id}:v{before.version}:{change}:{recipient}",
            now=now,
        )
        count += 1
    return count


def _reason(reason: str | None) -> str:
    return texts.DUTY_REASON.format(reason=reason.strip()) if reason and reason.strip() else ""


def _rows_by_key(session: Session, keys: Iterable[str]) -> dict[str, OutboxMessage]:
    keys = list(keys)
    rows: dict[str, OutboxMessage] = {}
    for i in range(0, len(keys), KEY_CHUNK):
        chunk = keys[i : i + KEY_CHUNK]
        for row in session.scalars(select(OutboxMessage).where(OutboxMessage.dedup_key.in_(chunk))):
            assert row.dedup_key is not None
            rows[row.dedup_key] = row
    return rows
