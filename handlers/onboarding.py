"""Which village does this villager belong to? Chosen step by step with buttons or typed by name."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table, bindparam, insert, update

from core.direct import Direct
from core.messages import Button, OutgoingMessage
from core.models import ChannelAccount, Village, Villager
from handlers import directory, texts
from handlers.context import Context
from handlers.directory import LawyerContact, Place
from handlers.ids import parse_id

FLOW = "onboarding"
PREFIX = "ob:"


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
    return set_village(ctx, ident)


def on_text(ctx: Context, text: str) -> list[OutgoingMessage]:
    matches = directory.match_village(ctx.session, text)
    village = directory.clear_match(matches)
    if village is not None:
        return set_village(ctx, village.id)
    if matches:
        buttons = tuple(Button(_label(m.village), f"{PREFIX}v:{m.village.id}") for m in matches)
        return [OutgoingMessage(texts.VILLAGE_CANDIDATES, (*buttons, _restart()))]
    return [OutgoingMessage(texts.VILLAGE_NOT_FOUND.format(name=text[:20]), _first_level(ctx) or ())]


def set_village(ctx: Context, village_id: int) -> list[OutgoingMessage]:
    """Register the sender in the village and tell them who their lawyer is. Plain statements, not
    ORM objects: two hundred villagers who start together all choose their village together, and
    this message cost 1.8 times a question (docs/PERFORMANCE.md, "choosing the village")."""
    found = directory.place_with_lawyers(ctx.session, village_id, on=ctx.now.date())
    if found is None:  # gone from the directory since its button was sent
        return start(ctx, intro=texts.ASK_VILLAGE_AGAIN)
    place, lawyers = found
    _register(ctx, place.id)
    pending = ctx.leave().get("pending_text") if ctx.flow == FLOW else None
    lines = [
        texts.VILLAGE_SET.format(village=place.full_name),
        *lawyer_lines(place, lawyers),
        texts.VILLAGE_CHANGE_HINT,
    ]
    replies = [OutgoingMessage("\n".join(lines))]
    if pending:
        from handlers.router import answer_text  # the question they asked before choosing

        replies.extend(answer_text(ctx, pending))
    else:
        replies.append(OutgoingMessage(texts.WHAT_IS_YOUR_QUESTION))
    return replies


def lawyer_lines(place: Place, lawyers: Sequence[LawyerContact]) -> list[str]:
    if not lawyers:
        return [texts.NO_LAWYER_ASSIGNED.format(village=place.name, township=place.township)]
    if len(lawyers) == 1:
        lw = lawyers[0]
        return [texts.VILLAGE_LAWYER.format(village=place.name, name=lw.name, firm=lw.firm, phone=lw.phone)]
    return [texts.VILLAGE_LAWYERS_HEADER.format(village=place.name)] + [
        texts.VILLAGE_LAWYER_LINE.format(name=lw.name, firm=lw.firm, phone=lw.phone) for lw in lawyers
    ]


_villagers: Table = Villager.__table__  # type: ignore[assignment]
_accounts: Table = ChannelAccount.__table__  # type: ignore[assignment]
_NEW_VILLAGER = Direct(
    insert(_villagers)
    .values(display_name=bindparam("display_name"), village_id=bindparam("village_id"), created_at=bindparam("now"))
    .returning(_villagers.c.id)
)
_ACCOUNT_VILLAGER = Direct(
    update(_accounts).where(_accounts.c.id == bindparam("account_id")).values(villager_id=bindparam("villager_id"))
)
_MOVE_VILLAGER = Direct(
    update(_villagers).where(_villagers.c.id == bindparam("villager_id")).values(village_id=bindparam("village_id"))
)


def _register(ctx: Context, village_id: int) -> None:
    """The sender's villager lives in ``village_id`` now; a new villager is made for an account
    without one."""
    villager_id = ctx.villager_id
    if villager_id is None:
        (row,) = _NEW_VILLAGER.rows_in(
            ctx.session, {"display_name": ctx.sender.display_name, "village_id": village_id, "now": ctx.now}
        )
        villager_id = row["id"]
        _ACCOUNT_VILLAGER.rows_in(ctx.session, {"account_id": ctx.sender.id, "villager_id": villager_id})
    else:
        _MOVE_VILLAGER.rows_in(ctx.session, {"villager_id": villager_id, "village_id": village_id})
    ctx.written_directly(villager_id=villager_id, village_id=village_id)


def _label(village: Village) -> str:
    return f"{village.township.name}·{village.name}"


def _restart() -> Button:
    return Button(texts.BUTTON_RESTART_VILLAGE, f"{PREFIX}restart")


def village_choice_buttons(ctx: Context) -> Sequence[Button]:
    return _first_level(ctx) or ()
