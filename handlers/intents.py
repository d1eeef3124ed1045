"""What to do for each intent, and how confident the classifier must be to do it."""

from __future__ import annotations

from collections.abc import Callable

from core.intents import LEGAL_TOPICS
from core.messages import Button, OutgoingMessage
from handlers import answer, directory, onboarding, safety, schedule, texts
from handlers.context import Context

Handler = Callable[[Context], list[OutgoingMessage]]


def is_emergency(ctx: Context) -> bool:
    """Safety first: emergency wins whenever it is a serious candidate, not only the top one."""
    return ctx.intent is not None and ctx.intent.may_be_emergency(ctx.settings.emergency_min_confidence)


def dispatch_intent(ctx: Context, intent: str) -> list[OutgoingMessage]:
    if intent == "emergency":
        return safety.emergency(ctx)
    confidence = ctx.intent.confidence if ctx.intent else 1.0
    if intent == "legal_aid" and confidence >= ctx.settings.intent_high_confidence:
        from handlers import legal_aid  # the check is the answer to a legal-aid question

        return legal_aid.on_intent(ctx)
    if intent in LEGAL_TOPICS or confidence < ctx.settings.intent_low_confidence:
        # The knowledge base decides: a strong article match is good evidence even when the
        # classifier hesitates, and a weak one leads to the lawyer offer.
        return answer.answer_question(ctx, intent if intent in LEGAL_TOPICS else None)
    handler = SERVICE_HANDLERS.get(intent)
    if handler is None:
        return answer.answer_question(ctx, None)
    return handler(ctx)


def greet(ctx: Context) -> list[OutgoingMessage]:
    if ctx.village_id is None:
        return onboarding.start(ctx, intro=texts.GREETING)
    return [OutgoingMessage(texts.GREET_BACK)]


def thanks(ctx: Context) -> list[OutgoingMessage]:
    return [OutgoingMessage(texts.THANKS_BACK)]


def out_of_scope(ctx: Context) -> list[OutgoingMessage]:
    return [OutgoingMessage(texts.OUT_OF_SCOPE, (Button(texts.BUTTON_ASK_LAWYER, "cmd:lawyer"),))]


def lawyer_contact(ctx: Context) -> list[OutgoingMessage]:
    village_id = ctx.village_id
    found = directory.place_with_lawyers(ctx.session, village_id, on=ctx.now.date()) if village_id is not None else None
    if found is None:
        return onboarding.start(ctx, intro=texts.NEED_VILLAGE_FIRST)
    place, lawyers = found
    lines = onboarding.lawyer_lines(place, lawyers)
    lines.extend(schedule.next_session_lines(ctx, place.id, limit=1))
    return [OutgoingMessage("\n".join(lines), (Button(texts.BUTTON_ASK_LAWYER, "cmd:lawyer"),))]


def _handoff(ctx: Context) -> list[OutgoingMessage]:
    from handlers import handoff

    return handoff.offer_or_open(ctx)


def _major_event(ctx: Context) -> list[OutgoingMessage]:
    return safety.major_event(ctx)


SERVICE_HANDLERS: dict[str, Handler] = {
    "greet": greet,
    "thanks_bye": thanks,
    "out_of_scope": out_of_scope,
    "lawyer_contact": lawyer_contact,
    "duty_schedule": schedule.duty_schedule,
    "ask_lawyer": _handoff,
    "collective_dispute": _major_event,
}
