"""Duty days in the messenger: the lawyer's /duty and /done, the villager's /remind on|off.

/done is a short flow kept in the conversation row: pick a session (or tap 完成了/没去成 on the
record prompt the scheduler sends after each session) → hours → people served; or → the reason it
was missed. Button payloads: ``dt:rec:<id>`` pick, ``dt:ok:<id>`` done, ``dt:miss:<id>`` missed,
``dt:h:<id>:<hours>`` hours.
"""

from __future__ import annotations

import re

from core.clock import local_date_label, local_time_label
from core.messages import Button, OutgoingMessage
from core.models import DutySession
from handlers import onboarding, schedule, texts
from handlers.context import Context
from handlers.ids import parse_id
from scheduling import calendar
from scheduling.reminders import record_buttons

FLOW = "duty_record"
HOUR_CHOICES = (4, 3, 2)
_NUMBER = re.compile(r"^\s*(\d{1,4}(?:\.\d{1,2})?)\s*(?:小时|个小时|h|人|人次|个人)?\s*$", re.IGNORECASE)


def _lawyer_id(ctx: Context) -> int:
    assert ctx.account.lawyer_id is not None
    return ctx.account.lawyer_id


def _labels(duty: DutySession) -> dict[str, str]:
    return {
        "date": local_date_label(duty.starts_at),
        "start": local_time_label(duty.starts_at),
        "end": local_time_label(duty.ends_at),
        "village": duty.village.name,
        "place": duty.place,
        "kind": texts.SESSION_KINDS.get(duty.kind, duty.kind),
    }


# ---------------------------------------------------------------------- lawyer


def list_duty(ctx: Context, _arg: str = "") -> list[OutgoingMessage]:
    """/duty: the lawyer's coming sessions, and a nudge about unrecorded ones."""
    upcoming = calendar.lawyer_upcoming(ctx.session, _lawyer_id(ctx), now=ctx.now)
    lines = [texts.LAWYER_DUTY_HEADER, *(texts.LAWYER_DUTY_LINE.format(**_labels(d)) for d in upcoming)]
    if not upcoming:
        lines = [texts.LAWYER_DUTY_NONE]
    unrecorded = calendar.lawyer_unrecorded(ctx.session, _lawyer_id(ctx), now=ctx.now)
    buttons: tuple[Button, ...] = ()
    if unrecorded:
        lines.append(texts.LAWYER_DUTY_UNRECORDED.format(count=len(unrecorded)))
        buttons = (Button("/done", "cmd:done"),)
    return [OutgoingMessage("\n".join(lines), buttons)]


def done(ctx: Context, _arg: str = "") -> list[OutgoingMessage]:
    """/done: pick which session to record."""
    rows = calendar.lawyer_unrecorded(ctx.session, _lawyer_id(ctx), now=ctx.now)
    if not rows:
        return [OutgoingMessage(texts.LAWYER_DONE_NONE)]
    buttons = tuple(Button(f"{local_date_label(d.starts_at)} {d.village.name}", f"dt:rec:{d.id}") for d in rows)
    return [OutgoingMessage(texts.LAWYER_DONE_PICK, buttons)]


def _own_session(ctx: Context, raw_id: str) -> DutySession | None:
    ident = parse_id(raw_id)
    duty = ctx.session.get(DutySession, ident) if ident is not None else None
    if duty is None or duty.lawyer_id != _lawyer_id(ctx):
        return None
    return duty


def on_button(ctx: Context, rest: str) -> list[OutgoingMessage]:
    action, _, args = rest.partition(":")
    raw_id, _, value = args.partition(":")
    duty = _own_session(ctx, raw_id)
    if duty is None:
        return [OutgoingMessage(texts.LAWYER_DUTY_NOT_FOUND)]
    labels = _labels(duty)
    if duty.starts_at > ctx.now:
        return [OutgoingMessage(texts.LAWYER_DUTY_NOT_STARTED.format(**labels))]
    if duty.status == "cancelled" or (action == "miss" and duty.status != "planned"):
        state = texts.DUTY_STATUS.get(duty.status, duty.status)
        return [OutgoingMessage(texts.LAWYER_DUTY_ALREADY.format(state=state, **labels))]
    if action == "rec":
        return [OutgoingMessage(texts.LAWYER_DONE_WHICH.format(**labels), record_buttons(duty.id))]
    if action == "ok":
        ctx.enter(FLOW, "hours", duty_id=duty.id)
        planned = round((duty.ends_at - duty.starts_at).total_seconds() / 3600, 1)
        choices = dict.fromkeys((planned, *HOUR_CHOICES))
        buttons = tuple(Button(texts.BUTTON_HOURS.format(hours=f"{h:g}"), f"dt:h:{duty.id}:{h:g}") for h in choices)
        return [OutgoingMessage(texts.LAWYER_DONE_ASK_HOURS.format(**labels), buttons)]
    if action == "h":
        return _hours(ctx, duty, value)
    if action == "miss":
        ctx.enter(FLOW, "reason", duty_id=duty.id)
        return [OutgoingMessage(texts.LAWYER_MISSED_ASK_REASON.format(**labels))]
    return [OutgoingMessage(texts.UNKNOWN_COMMAND)]


def on_flow_text(ctx: Context, raw: str) -> list[OutgoingMessage]:
    duty = _own_session(ctx, str(ctx.data.get("duty_id", "")))
    if duty is None:
        ctx.leave()
        return [OutgoingMessage(texts.LAWYER_DUTY_NOT_FOUND)]
    if ctx.step == "hours":
        return _hours(ctx, duty, raw)
    if ctx.step == "people":
        match = _NUMBER.match(raw)
        if match is None or "." in match.group(1):
            return [OutgoingMessage(texts.LAWYER_DONE_BAD_PEOPLE)]
        return _finish_done(ctx, duty, float(ctx.data.get("hours", 0)), int(match.group(1)))
    if ctx.step == "reason":
        return _finish_missed(ctx, duty, raw)
    ctx.leave()
    return [OutgoingMessage(texts.LAWYER_HELP)]


def _hours(ctx: Context, duty: DutySession, raw: str) -> list[OutgoingMessage]:
    match = _NUMBER.match(raw)
    hours = float(match.group(1)) if match else 0.0
    if not 0 < hours <= calendar.MAX_HOURS:
        ctx.enter(FLOW, "hours", duty_id=duty.id)
        return [OutgoingMessage(texts.LAWYER_DONE_BAD_HOURS)]
    ctx.enter(FLOW, "people", duty_id=duty.id, hours=hours)
    return [OutgoingMessage(texts.LAWYER_DONE_ASK_PEOPLE)]


def _finish_done(ctx: Context, duty: DutySession, hours: float, people: int) -> list[OutgoingMessage]:
    ctx.leave()
    try:
        calendar.record_done(
            ctx.session, duty, hours=hours, people=people, now=ctx.now, actor=f"lawyer:{_lawyer_id(ctx)}"
        )
    except calendar.CalendarError as exc:
        return [OutgoingMessage(texts.LAWYER_DUTY_ERROR.format(error=exc))]
    labels = _labels(duty)
    return [
        OutgoingMessage(
            texts.LAWYER_DONE_OK.format(
                date=labels["date"], village=labels["village"], hours=f"{hours:g}", people=people
            )
        )
    ]


def _finish_missed(ctx: Context, duty: DutySession, raw: str) -> list[OutgoingMessage]:
    reason = raw.strip()
    if not reason:
        return [OutgoingMessage(texts.LAWYER_MISSED_ASK_REASON.format(**_labels(duty)))]
    ctx.leave()
    try:
        calendar.record_missed(ctx.session, duty, reason=reason, now=ctx.now, actor=f"lawyer:{_lawyer_id(ctx)}")
    except calendar.CalendarError as exc:
        return [OutgoingMessage(texts.LAWYER_DUTY_ERROR.format(error=exc))]
    labels = _labels(duty)
    return [
        OutgoingMessage(texts.LAWYER_MISSED_OK.format(date=labels["date"], village=labels["village"], reason=reason))
    ]


# ---------------------------------------------------------------------- villager


def remind(ctx: Context, arg: str) -> list[OutgoingMessage]:
    """/remind on|off, 提醒我, 取消提醒: duty-day reminders for the villager's village."""
    if ctx.is_lawyer:
        return [OutgoingMessage(texts.REMIND_LAWYER)]
    villager = ctx.villager
    if villager is None or villager.village is None:
        return onboarding.start(ctx, intro=texts.REMIND_NEED_VILLAGE)
    village = villager.village.name
    days = ctx.settings.villager_reminder_days_before
    choice = arg.strip().lower()
    if choice in ("on", "开", "开启"):
        villager.reminders_opt_in = True
        lines = [texts.REMIND_ON.format(village=village, days=days)]
        lines.extend(schedule.next_session_lines(ctx, villager.village.id, limit=1))
        return [OutgoingMessage("\n".join(lines))]
    if choice in ("off", "关", "关闭"):
        villager.reminders_opt_in = False
        return [OutgoingMessage(texts.REMIND_OFF)]
    if choice:
        return [OutgoingMessage(texts.REMIND_USAGE)]
    if villager.reminders_opt_in:
        return [
            OutgoingMessage(
                texts.REMIND_STATUS_ON.format(village=village), (Button(texts.BUTTON_REMIND_OFF, "cmd:remind:off"),)
            )
        ]
    return [
        OutgoingMessage(
            texts.REMIND_STATUS_OFF.format(village=village, days=days),
            (Button(texts.BUTTON_REMIND_ON, "cmd:remind:on"),),
        )
    ]
