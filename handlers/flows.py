"""Messages that belong to something already under way: a flow step, an open ticket, a lawyer's reply."""

from __future__ import annotations

from core.messages import Attachment, Button, Kind, OutgoingMessage
from handlers import duty, handoff, lawyer, legal_aid, onboarding, texts, tickets
from handlers.context import Context
from handlers.intents import LEGAL_TOPICS

MEDIA_NAMES = {Kind.IMAGE: "图片", Kind.FILE: "文件", Kind.VOICE: "语音", Kind.VIDEO: "视频"}


def on_flow_text(ctx: Context, raw: str) -> list[OutgoingMessage] | None:
    flow = ctx.flow
    if flow == onboarding.FLOW:
        return _onboarding_text(ctx, raw)
    if flow in (handoff.FLOW, handoff.RATING_FLOW, handoff.COMPLAIN_FLOW):
        return handoff.on_flow_text(ctx, raw)
    if flow == legal_aid.FLOW:
        return legal_aid.on_text(ctx, raw)
    ctx.leave()  # a flow this version no longer knows: start afresh rather than get stuck
    return None


def _onboarding_text(ctx: Context, raw: str) -> list[OutgoingMessage]:
    intent = ctx.intent.intent if ctx.intent else None
    if intent in ("greet", "thanks_bye") and not onboarding.directory.match_village(ctx.session, raw):
        return onboarding.start(ctx, pending_text=ctx.data.get("pending_text"), intro=texts.GREETING)
    replies = onboarding.on_text(ctx, raw)
    still_choosing = ctx.flow == onboarding.FLOW
    looks_like_question = (
        ctx.intent is not None
        and ctx.intent.intent in LEGAL_TOPICS
        and ctx.intent.confidence >= ctx.settings.intent_low_confidence
        and len(raw.strip()) > 6
    )
    if still_choosing and looks_like_question and not onboarding.directory.match_village(ctx.session, raw):
        # A question, not a village name: keep it and answer it once the village is chosen.
        ctx.goto(ctx.step or "choose", pending_text=raw.strip())
        return [OutgoingMessage(texts.KEEP_QUESTION_CHOOSE_VILLAGE, tuple(onboarding.village_choice_buttons(ctx)))]
    return replies


def relay_to_open_ticket(ctx: Context, raw: str) -> list[OutgoingMessage] | None:
    return handoff.relay_follow_up(ctx, raw)


def on_lawyer_text(ctx: Context, raw: str) -> list[OutgoingMessage]:
    if ctx.flow == duty.FLOW:
        return duty.on_flow_text(ctx, raw)
    return lawyer.on_text(ctx, raw)


def on_media(ctx: Context) -> list[OutgoingMessage]:
    """Photos, voice, stickers …: we read text only; a document sent during a ticket goes to the lawyer."""
    kind = ctx.incoming.kind
    ticket = None if ctx.is_lawyer else tickets.active_for_account(ctx.session, ctx.sender.id)
    if ticket is not None and kind in (Kind.IMAGE, Kind.FILE):
        ctx.inbound.ticket_id = ticket.id
        notice = OutgoingMessage(
            texts.NOTIFY_ATTACHMENT.format(
                code=ticket.code,
                name=tickets.villager_name(ctx.sender.display_name, ticket.villager_id),
                kind=MEDIA_NAMES[kind],
            )
        )
        tickets.relay_to_responsible(ctx.session, ticket, notice, key=f"attachment:{ctx.inbound.id}", now=ctx.now)
        if ctx.incoming.attachment:
            tickets.forward_to_responsible(
                ctx.session,
                ticket,
                Attachment(kind, ctx.incoming.attachment),
                channel=ctx.sender.channel,
                key=f"file:{ctx.inbound.id}",
                now=ctx.now,
            )
        tickets.log(
            ctx.session,
            ticket,
            actor=f"villager:{ticket.villager_id}",
            action="attachment",
            detail=kind.value,
            now=ctx.now,
        )
        return [OutgoingMessage(texts.TEXT_ONLY_FORWARDED.format(lawyer=tickets.responsible_name(ticket, ctx.session)))]
    return [
        OutgoingMessage(
            texts.TEXT_ONLY + "\n" + texts.LAWYER_OFFER_LINE, (Button(texts.BUTTON_ASK_LAWYER, "cmd:lawyer"),)
        )
    ]
