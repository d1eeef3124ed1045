"""Answering a legal question from the knowledge base, honestly: general information, the statute
cited, and the village lawyer one tap away."""

from __future__ import annotations

from typing import Any

from core.messages import Button, OutgoingMessage
from handlers import texts
from handlers.context import Context
from knowledge_base import service as kb

PREFIX = "kb:"
# Topics where the villager may qualify for free legal aid (法律援助法 第31、32条).
AID_HINT_TAGS = frozenset({"欠薪", "工伤", "抚养费", "赡养费", "家暴", "家庭暴力", "法律援助"})


def answer_question(ctx: Context, intent: str | None) -> list[OutgoingMessage]:
    scores = {s.intent: s.confidence for s in ctx.intent.ranking} if ctx.intent else None
    hits = ctx.services.retriever.search(ctx.text, intent=intent, intent_scores=scores, limit=3)
    best = hits[0] if hits else None
    if best is not None:
        ctx.kb_score = round(best.score, 4)
    if best is not None and best.score >= ctx.settings.kb_answer_score:
        article = kb.get_published(ctx.session, best.slug)
        if article is not None:
            reply = render_article(ctx, article)
            others = [h for h in hits[1:] if h.score >= ctx.settings.kb_suggest_score]
            intent_unsure = ctx.intent is not None and ctx.intent.confidence < ctx.settings.intent_high_confidence
            if others and intent_unsure:
                reply = reply.with_buttons(*(Button(_short(h.title), PREFIX + h.slug) for h in others[:2]))
            return [reply]
    suggestions = [h for h in hits if h.score >= ctx.settings.kb_suggest_score]
    if suggestions:
        ctx.answered_by = "suggest"
        buttons = [Button(_short(h.title), PREFIX + h.slug) for h in suggestions[:3]]
        buttons.append(Button(texts.BUTTON_NONE_OF_THESE, "cmd:lawyer"))
        return [OutgoingMessage(texts.DID_YOU_MEAN, tuple(buttons))]
    ctx.answered_by = "unsure"
    return [
        OutgoingMessage(
            texts.NOT_SURE,
            (Button(texts.BUTTON_ASK_LAWYER, "cmd:lawyer:keep"), Button(texts.BUTTON_NO, "cmd:cancel")),
        )
    ]


def on_button(ctx: Context, payload: str) -> list[OutgoingMessage]:
    """kb:<slug> — the villager picked one of the suggested articles."""
    article = kb.get_published(ctx.session, payload[len(PREFIX) :])
    if article is None:
        return [OutgoingMessage(texts.LOW_CONFIDENCE_OFFER, (Button(texts.BUTTON_ASK_LAWYER, "cmd:lawyer"),))]
    return [render_article(ctx, article)]


def article_text(*, title: str, answer: str, citations: list[Any]) -> str:
    """What a villager reads: the answer, the law it rests on, and that it is not a lawyer's advice."""
    cited = kb.citations_text(citations)
    return f"【{title}】\n{answer.strip()}\n{texts.CITATIONS_PREFIX}{cited}\n{texts.DISCLAIMER}"


def render_article(ctx: Context, article: kb.ShownArticle) -> OutgoingMessage:
    ctx.answered_by = "kb"
    ctx.kb_slug = article.slug
    text = article_text(title=article.title, answer=article.answer, citations=article.citations)
    buttons = [Button(texts.BUTTON_ASK_LAWYER, "cmd:lawyer")]
    if AID_HINT_TAGS.intersection(article.tags or ()) or article.intent == "legal_aid":
        buttons.append(Button(texts.BUTTON_LEGAL_AID_CHECK, "cmd:aid"))
    return OutgoingMessage(text, tuple(buttons))


def _short(title: str, limit: int = 20) -> str:
    return title if len(title) <= limit else title[: limit - 1] + "…"
