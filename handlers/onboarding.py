"""Which village does this villager belong to? Chosen step by step with buttons or typed by name."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import joinedload

from core.messages import Button, OutgoingMessage
from core.models import Township, Village, Villager
from handlers import directory, texts
from handlers.context import Context
from handlers.ids import parse_id

FLOW = "onboarding"
PREFIX = "ob:"
_FULL_NAME = (joinedload(Village.township).joinedload(Township.county),)


def start(ctx: Context, *, pending_text: str | None = None, intro: str | None = None) -> list[OutgoingMessage]:
    """Ask for the village. A question asked before the village was known is kept and answered after."""
    data = {"pending_text": pending_text} if pending_text else {}
    ctx.enter(FLOW, "choose", **data)
    first = _first_level(ctx)
    prompt = "\n".join(p for p in (intro, texts.ASK_VILLAGE) if p)
    if first is None:
        return [OutgoingMessage(texts.NO_VILLAGES_CONFIGURED)]
    return [OutgoingMessage(prompt, first)]


def _first_level(ctx: Context) -> tuple[Button, ...] | None:
    counties = directory.counties(ctx.session)
    if not counties:
        return None
    if len(counties) > 1:
        return tuple(Button(c.name, f"{PREFIX}c:{c.id}") for c in counties)
    return _township_buttons(ctx, counties[0].id)


def _township_buttons(ctx: Context, county_id: int) -> tuple[Button, ...]:
    townships = directory.townships(ctx.session, county_id)
    if len(townships) == 1:
        return _village_buttons(ctx, townships[0].id)
    return tuple(Button(t.name, f"{PREFIX}t:{t.id}") for t in townships)


def _village_buttons(ctx: Context, township_id: int) -> tuple[Button, ...]:
    return tuple(Button(v.name, f"{PREFIX}v:{v.id}") for v in directory.villages(ctx.session, township_id))


def on_button(ctx: Context, payload: str) -> list[OutgoingMessage]:
    """ob:c:<county>, ob:t:<township>, ob:v:<village>, ob:restart."""
    parts = payload.split(":")
    level = parts[1] if len(parts) > 1 else ""
    ident = parse_id(parts[2]) if len(parts) == 3 else None
    if level == "restart" or ident is None:
        return start(ctx, pending_text=ctx.data.get("pending_text"), intro=texts.ASK_VILLAGE_AGAIN)
    if ctx.flow != FLOW:
        ctx.enter(FLOW, "choose")
    if level == "c":
        return [OutgoingMessage(texts.PICK_TOWNSHIP, (*_township_buttons(ctx, ident), _restart()))]
    if level == "t":
        return [OutgoingMessage(texts.PICK_VILLAGE, (*_village_buttons(ctx, ident), _restart()))]
    # with its township and county: the reply names all three
    village = ctx.session.get(Village, ident, options=_FULL_NAME)
    if village is None:
        return start(ctx, intro=texts.ASK_VILLAGE_AGAIN)
    return set_village(ctx, village)


def on_text(ctx: Context, text: str) -> list[OutgoingMessage]:
    matches = directory.match_village(ctx.session, text)
    village = directory.clear_match(matches)
    if village is not None:
        return set_village(ctx, village)
    if matches:
        buttons = tuple(Button(_label(m.village), f"{PREFIX}v:{m.village.id}") for m in matches)
        return [OutgoingMessage(texts.VILLAGE_CANDIDATES, (*buttons, _restart()))]
    return [OutgoingMessage(texts.VILLAGE_NOT_FOUND.format(name=text[:20]), _first_level(ctx) or ())]


def set_village(ctx: Context, village: Village) -> list[OutgoingMessage]:
    villager = ensure_villager(ctx, village)
    villager.village_id = village.id
    villager.village = village
    pending = ctx.leave().get("pending_text") if ctx.flow == FLOW else None
    lines = [texts.VILLAGE_SET.format(village=village.full_name)]
    lines.extend(lawyer_lines(ctx, village))
    lines.append(texts.VILLAGE_CHANGE_HINT)
    replies = [OutgoingMessage("\n".join(lines))]
    if pending:
        from handlers.router import answer_text  # the question they asked before choosing

        replies.extend(answer_text(ctx, pending))
    else:
        replies.append(OutgoingMessage(texts.WHAT_IS_YOUR_QUESTION))
    return replies


def lawyer_lines(ctx: Context, village: Village) -> list[str]:
    lawyers = directory.village_lawyers(ctx.session, village.id, on=ctx.now.date())
    if not lawyers:
        return [texts.NO_LAWYER_ASSIGNED.format(village=village.name, township=village.township.name)]
    if len(lawyers) == 1:
        lw = lawyers[0]
        return [texts.VILLAGE_LAWYER.format(village=village.name, name=lw.name, firm=lw.firm, phone=lw.phone)]
    return [texts.VILLAGE_LAWYERS_HEADER.format(village=village.name)] + [
        texts.VILLAGE_LAWYER_LINE.format(name=lw.name, firm=lw.firm, phone=lw.phone) for lw in lawyers
    ]


def ensure_villager(ctx: Context, village: Village) -> Villager:
    """The sender's villager; a new one is made of ``village`` (one INSERT, no UPDATE after it)."""
    account = ctx.account
    if account.villager is None:
        account.villager = Villager(display_name=account.display_name, village=village, created_at=ctx.now)
        ctx.session.add(account.villager)
    return account.villager


def _label(village: Village) -> str:
    return f"{village.township.name}·{village.name}"


def _restart() -> Button:
    return Button(texts.BUTTON_RESTART_VILLAGE, f"{PREFIX}restart")


def village_choice_buttons(ctx: Context) -> Sequence[Button]:
    return _first_level(ctx) or ()
