"""Commands (/lawyer, 换村 …), button payloads and channel events, each to its handler."""

from __future__ import annotations

import re
from collections.abc import Callable

from core.messages import OutgoingMessage
from handlers import answer, duty, handoff, lawyer, legal_aid, onboarding, privacy, schedule, texts
from handlers.context import Context
from handlers.ids import parse_id

Command = Callable[[Context, str], list[OutgoingMessage]]

_SLASH = re.compile(r"^/([a-zA-Z_]+)(?:@\w+)?(?:\s+(.*))?$", re.DOTALL)
# Whole-message Chinese equivalents of the slash commands (people rarely type "/").
ALIASES = {
    "换村": "village",
    "换个村": "village",
    "帮助": "help",
    "菜单": "help",
    "取消": "cancel",
    "退出": "cancel",
    "找律师": "lawyer",
    "转人工": "lawyer",
    "投诉": "complain",
    "我要投诉": "complain",
    "法律援助": "aid",
    "法律援助自查": "aid",
    "援助自查": "aid",
    "提醒我": "remind on",
    "开启提醒": "remind on",
    "取消提醒": "remind off",
    "关闭提醒": "remind off",
    "坐班提醒": "remind",
    "删除我的信息": "forget",
    "删除我的数据": "forget",
    "删除我的记录": "forget",
}
PREFIX_ALIASES = {"绑定": "bind"}
LAWYER_ONLY = frozenset({"tickets", "reply", "close", "unbind", "duty", "done"})


def parse(raw: str) -> tuple[str, str] | None:
    text = raw.strip()
    match = _SLASH.match(text)
    if match:
        return match.group(1).lower(), (match.group(2) or "").strip()
    if text in ALIASES:
        name, _, arg = ALIASES[text].partition(" ")
        return name, arg
    for word, name in PREFIX_ALIASES.items():
        if text.startswith(word) and len(text) > len(word):
            return name, text[len(word) :].strip()
    return None


def run(ctx: Context, name: str, arg: str) -> list[OutgoingMessage]:
    handler = COMMANDS.get(name)
    if handler is None or (name in LAWYER_ONLY and not ctx.is_lawyer):
        return [OutgoingMessage(texts.UNKNOWN_COMMAND)]
    return handler(ctx, arg)


def start(ctx: Context, arg: str) -> list[OutgoingMessage]:
    """/start, optionally with a village deep link (t.me/<bot>?start=v<code>)."""
    if ctx.is_lawyer:
        return [OutgoingMessage(texts.LAWYER_HELP)]
    if arg.startswith("v"):
        from handlers import directory

        village = directory.village_by_code(ctx.session, arg[1:])
        if village is not None:
            ctx.leave()
            return [OutgoingMessage(texts.GREETING), *onboarding.set_village(ctx, village.id)]
    villager = ctx.villager
    if villager is None or villager.village_id is None:
        return onboarding.start(ctx, intro=texts.GREETING)
    return [OutgoingMessage(texts.GREETING + "\n" + texts.WHAT_IS_YOUR_QUESTION)]


def cancel(ctx: Context, _arg: str) -> list[OutgoingMessage]:
    if ctx.flow is None:
        return [OutgoingMessage(texts.NOTHING_TO_CANCEL)]
    ctx.leave()
    return [OutgoingMessage(texts.CANCELLED)]


def lawyer_(ctx: Context, _arg: str) -> list[OutgoingMessage]:
    if ctx.flow == legal_aid.FLOW:
        return legal_aid.handover_current(ctx)  # the answers so far go to the lawyer too
    return handoff.offer_or_open(ctx)


def help_(ctx: Context, _arg: str) -> list[OutgoingMessage]:
    return [OutgoingMessage(texts.LAWYER_HELP if ctx.is_lawyer else texts.HELP)]


COMMANDS: dict[str, Command] = {
    "start": start,
    "help": help_,
    "cancel": cancel,
    "village": lambda ctx, _a: onboarding.start(ctx, intro=texts.ASK_VILLAGE_AGAIN.split("。")[0] + "。"),
    "lawyer": lawyer_,
    "aid": legal_aid.start,
    "schedule": lambda ctx, _a: schedule.duty_schedule(ctx),
    "complain": lambda ctx, _a: handoff.start_complaint(ctx),
    "bind": lawyer.bind,
    "unbind": lawyer.unbind,
    "tickets": lawyer.list_tickets,
    "reply": lawyer.reply_command,
    "close": lawyer.close_command,
    "duty": duty.list_duty,
    "done": duty.done,
    "remind": duty.remind,
    "forget": privacy.forget,
}


def on_payload(ctx: Context, payload: str) -> list[OutgoingMessage]:
    """A tapped button. Payloads are short (Telegram allows 64 bytes): ``<prefix>:<args>``."""
    prefix, _, rest = payload.partition(":")
    if prefix == "cmd":
        name, _, arg = rest.partition(":")
        return run(ctx, name, arg)
    if prefix == "ob":
        return onboarding.on_button(ctx, payload)
    if prefix == "kb":
        return answer.on_button(ctx, payload)
    if prefix == "la":
        return legal_aid.on_button(ctx, payload)
    if prefix == "tk":
        action, _, code = rest.partition(":")
        if ctx.is_lawyer and action in ("claim", "reply", "close"):
            return lawyer.on_ticket_button(ctx, action, code)
        if action in ("resolved", "more"):
            return handoff.on_ticket_button(ctx, action, code)
    if prefix == "dt" and ctx.is_lawyer:
        return duty.on_button(ctx, rest)
    if prefix == "rate":
        code, _, score = rest.partition(":")
        rating = parse_id(score)
        if rating is not None:
            return handoff.on_rate(ctx, code, rating)
    return [OutgoingMessage(texts.UNKNOWN_COMMAND)]


def on_event(ctx: Context) -> list[OutgoingMessage]:
    """Channel events arrive as payload ``evt:<name>[:<arg>]``."""
    _, _, rest = (ctx.incoming.payload or "").partition(":")
    name, _, arg = rest.partition(":")
    if name in ("start", "subscribe"):
        code = arg.removeprefix("qrscene_")
        return start(ctx, code if code.startswith("v") else "")
    if name == "unsubscribe":
        ctx.account.unreachable = True
        ctx.account.unreachable_reason = "unsubscribed"
        return []
    if name == "menu":
        command, _, menu_arg = arg.partition(":")
        return run(ctx, command, menu_arg)
    return []
