"""The legal-aid check: a short interview (buttons or typed answers) that ends in a reasoned
pre-assessment under 法律援助法 and an offer to let the village lawyer help with the application.

The rules are in handlers.legal_aid_rules; this module asks, reads answers and renders results.
The answers live in the LegalAidCheck row and the step in the conversation, so an interview
survives a restart and resumes at the same question.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import select

from core.messages import Button, OutgoingMessage
from core.models import LegalAidCheck, Message, Ticket
from handlers import answer, handoff, onboarding, texts, tickets
from handlers import legal_aid_rules as rules
from handlers import typed_answers as typed
from handlers.context import Context
from handlers.ids import parse_id
from handlers.intents import LEGAL_TOPICS
from knowledge_base import service as kb

FLOW = "legal_aid"
PREFIX = "la:"
OFFER_STEP = "offer"  # the result was shown; a "yes" hands over to the lawyer
BACK_WORDS = frozenset({"返回", "上一步", "上一题", "上一个", "后退", "改一下", "back"})
MORE_WORDS = frozenset({"更多", "更多事项", "其他事项", "还有别的"})
HANDOVER_WORDS = ("申请", "律师", "帮我")
HOUSEHOLD_BUTTONS = 6  # 1…5 and "6口及以上"
#: How far back the article a "法律援助自查" button was shown under is used to guess the matter.
RECENT_TOPIC = dt.timedelta(hours=1)

# Words that name a matter, most specific first (the first match wins): "工伤事故" is a work
# injury, not a traffic accident; a divorce with domestic violence is a domestic-violence matter.
MATTER_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("acquitted", ("改判无罪",)),
    ("hero", ("英雄", "烈士")),
    ("samaritan", ("见义勇为", "救人")),
    ("abuse", ("家暴", "家庭暴力", "虐待", "遗弃", "打老婆", "老公打", "丈夫打")),
    ("work_injury", ("工伤",)),
    ("labour_relation", ("劳动关系", "劳动合同")),
    ("wages", ("工钱", "工资", "欠薪", "讨薪", "劳动报酬", "包工头", "血汗钱")),
    ("support", ("赡养", "抚养", "扶养", "养老费", "生活费")),
    ("pension", ("抚恤",)),
    ("state_comp", ("国家赔偿",)),
    ("welfare", ("低保", "社保", "社会保险", "养老保险", "医保", "救助", "特困", "五保")),
    ("environment", ("污染", "环境", "生态", "排污")),
    ("capacity", ("行为能力",)),
    ("accident", ("车祸", "交通事故", "撞", "医疗事故", "医疗纠纷", "食品", "药品", "假药")),
    ("retrial", ("再审", "申诉", "抗诉")),
    ("criminal", ("刑事", "判刑", "坐牢", "被抓", "刑拘", "拘留", "逮捕", "犯罪", "嫌疑人", "公诉", "自诉", "辩护")),
    (
        "other",
        (
            "离婚",
            "土地",
            "承包",
            "宅基地",
            "草场",
            "借钱",
            "欠钱",
            "欠条",
            "合同",
            "房子",
            "拆迁",
            "彩礼",
            "继承",
            "其他",
            "其它",
            "别的",
        ),
    ),
)
ROLE_KEYWORDS = (
    ("victim", ("被害", "受害", "自诉", "附带民事", "原告")),
    ("defendant", ("嫌疑人", "被告", "被抓", "抓了", "拘留", "逮捕", "判刑", "坐牢", "犯罪")),
)
SPECIAL_KEYWORDS = (
    ("minor", ("未成年", "不满18", "不到18", "孩子", "小孩", "学生")),
    ("sensory", ("盲", "聋", "哑", "视力", "听力", "言语", "看不见", "听不见", "不会说话")),
    ("mental", ("精神", "智力", "痴呆", "辨认", "傻")),
    ("severe", ("无期", "死刑")),
    ("none", ("都不是", "都没有", "不是")),
)
GROUP_KEYWORDS = (
    ("judicial", ("司法救助",)),
    ("assistance", ("低保", "特困", "五保", "社会救助", "救助")),
    ("entitled", ("优抚", "烈属", "军属", "退役", "军人", "伤残军人")),
    ("no_income", ("没有固定", "没固定", "老人", "未成年", "残疾", "孤儿")),
    ("none", ("都不是", "都没有", "不是")),
)
MIGRANT_WORDS = ("农民工", "打工", "务工")
AGE = re.compile(r"([0-9零〇一二两三四五六七八九十]+)(?:周)?岁")
ADULT_AGE = 18


# ---------------------------------------------------------------------- entry


def start(
    ctx: Context,
    arg: str = "",
    *,
    about: str | None = None,
    asked: str = "",
    before: tuple[OutgoingMessage, ...] = (),
) -> list[OutgoingMessage]:
    """/aid, a typed "法律援助", the "法律援助自查" button under an article, a legal_aid question.

    ``about``: text that may name the matter, to save the first question; ``asked``: the
    villager's own question, passed on to the lawyer at the hand-over."""
    if ctx.is_lawyer:
        return [OutgoingMessage(texts.AID_FOR_VILLAGERS)]
    villager = ctx.villager
    if villager is None or villager.village_id is None:
        # Where to apply and whom to hand over to depend on the village: choose it, then start.
        return onboarding.start(ctx, intro=texts.AID_NEED_VILLAGE, pending_text=texts.AID_KEYWORD)
    if about is None and ctx.incoming.payload:
        about = _recent_topic(ctx)
    matter = arg if arg in rules.MATTER_BY_KEY else guess_matter(about or "")
    answers: dict[str, Any] = {"matter": matter} if matter else {}
    check = LegalAidCheck(account_id=ctx.sender.id, village_id=villager.village_id, started_at=ctx.now, answers=answers)
    ctx.session.add(check)
    ctx.session.flush()
    question = rules.next_question(answers) or "matter"
    history = ["matter"] if matter else []
    ctx.enter(FLOW, question, check_id=check.id, history=history, retries=0, more=False, asked=asked[:300])
    ctx.answered_by = ctx.answered_by or "legal_aid"
    intro = [texts.AID_INTRO]
    if matter:
        intro.append(texts.AID_GUESSED.format(matter=texts.AID_OPTIONS["matter"][matter]))
    first = _question(ctx, question, answers, history)
    return [*before, OutgoingMessage("\n".join(intro) + "\n\n" + first.text, first.buttons)]


def on_intent(ctx: Context) -> list[OutgoingMessage]:
    """A question classified as legal_aid: a short knowledge-base answer when one fits, then the check."""
    if typed.clean(ctx.text) == texts.AID_KEYWORD:  # the bare keyword, e.g. kept while the village was chosen
        return start(ctx)
    article = _strong_article(ctx)
    before = (_article_text(ctx, article),) if article is not None else ()
    return start(ctx, about=ctx.text, asked=ctx.text, before=before)


def guess_matter(text: str) -> str | None:
    for key, words in MATTER_KEYWORDS:
        if any(word in text for word in words):
            return key
    return None


def _recent_topic(ctx: Context) -> str:
    """What the article the button was shown under was about (its question, title and tags)."""
    row = ctx.session.scalar(
        select(Message)
        .where(
            Message.account_id == ctx.sender.id,
            Message.direction == "in",
            Message.kb_slug.is_not(None),
            Message.id != ctx.inbound.id,
            Message.created_at >= ctx.now - RECENT_TOPIC,
        )
        .order_by(Message.id.desc())
        .limit(1)
    )
    if row is None or row.kb_slug is None:
        return ""
    article = kb.get_published(ctx.session, row.kb_slug)
    parts = [row.text or ""]
    if article is not None:
        parts += [article.title, *(str(t) for t in article.tags or ())]
    return " ".join(parts)


def _strong_article(ctx: Context) -> kb.ShownArticle | None:
    if not ctx.text:
        return None
    hits = ctx.services.retriever.search(ctx.text, intent="legal_aid", limit=1)
    if not hits:
        return None
    ctx.kb_score = round(hits[0].score, 4)
    if hits[0].score < ctx.settings.kb_answer_score:
        return None
    return kb.get_published(ctx.session, hits[0].slug)


def _article_text(ctx: Context, article: kb.ShownArticle) -> OutgoingMessage:
    # Without the article's buttons: the interview that follows is the next step.
    return OutgoingMessage(answer.render_article(ctx, article).text)


# ---------------------------------------------------------------------- questions


def _question(
    ctx: Context, question: str, answers: dict[str, Any], history: list[str], *, more: bool = False
) -> OutgoingMessage:
    if question == "matter":
        matters = [m for m in rules.MATTERS if m.more == more]
        buttons = [_answer_button(question, m.key, texts.AID_OPTIONS["matter"][m.key]) for m in matters]
        if not more:
            buttons.append(Button(texts.BUTTON_AID_MORE, f"{PREFIX}more"))
        prompt = texts.AID_QUESTIONS["matter_more" if more else "matter"]
        return OutgoingMessage(prompt, (*buttons, *_back_button(bool(history) or more)))
    if question == "household":
        buttons = [
            _answer_button(question, str(n), texts.AID_HOUSEHOLD_LABEL.format(n=n)) for n in range(1, HOUSEHOLD_BUTTONS)
        ]
        buttons.append(
            _answer_button(question, str(HOUSEHOLD_BUTTONS), texts.AID_HOUSEHOLD_MORE.format(n=HOUSEHOLD_BUTTONS))
        )
        return OutgoingMessage(texts.AID_QUESTIONS[question], (*buttons, *_back_button(history)))
    if question == "income":
        threshold, _ = _threshold(ctx)
        amount = _yuan(threshold * int(answers.get("household") or 1))
        labels = texts.AID_OPTIONS["income"]
        buttons = [
            _answer_button(question, "0", labels["0"]),
            _answer_button(question, "below", labels["below"].format(amount=amount)),
            _answer_button(question, "above", labels["above"].format(amount=amount)),
            _answer_button(question, "unknown", labels["unknown"]),
        ]
        return OutgoingMessage(texts.AID_QUESTIONS[question], (*buttons, *_back_button(history)))
    prompt_key = "defender" if question == "lawyer" and rules.is_defendant(answers) else question
    buttons = [_answer_button(question, key, label) for key, label in texts.AID_OPTIONS[question].items()]
    return OutgoingMessage(texts.AID_QUESTIONS[prompt_key], (*buttons, *_back_button(history)))


def _answer_button(question: str, value: str, label: str) -> Button:
    return Button(label, f"{PREFIX}a:{question}:{value}")


def _back_button(shown: bool | list[str]) -> tuple[Button, ...]:
    return (Button(texts.BUTTON_AID_BACK, f"{PREFIX}back"),) if shown else ()


# ---------------------------------------------------------------------- answers


def on_button(ctx: Context, payload: str) -> list[OutgoingMessage]:
    """la:a:<question>:<value>, la:more, la:back, la:again, la:done, la:handover:<check id>."""
    parts = payload.split(":")
    action = parts[1] if len(parts) > 1 else ""
    check_id = parse_id(parts[2]) if action == "handover" and len(parts) == 3 else None
    if check_id is not None:
        return handover(ctx, check_id)
    if action == "done":
        return done(ctx)
    if ctx.flow != FLOW or _check(ctx) is None:
        return _ended()
    if action == "a" and len(parts) == 4:
        return apply(ctx, parts[2], _coerce(parts[2], parts[3]))
    if action == "more":
        return _more(ctx)
    if action == "back":
        return back(ctx)
    return _ask_again(ctx)


def on_text(ctx: Context, raw: str) -> list[OutgoingMessage] | None:
    """A typed answer. None: the text is not an answer but a new question, to be routed as usual."""
    check = _check(ctx)
    if check is None:
        ctx.leave()
        return None
    word = typed.clean(raw)
    if word in BACK_WORDS:
        return _consumed(ctx, back(ctx))
    step = ctx.step or "matter"
    if step == OFFER_STEP:
        yes = typed.parse_yes_no(raw)
        if yes is True or (yes is None and any(w in word for w in HANDOVER_WORDS) and len(word) <= 8):
            return _consumed(ctx, handover(ctx, check.id))
        if yes is False:
            return _consumed(ctx, done(ctx))
        ctx.leave()
        return None
    if step == "matter" and word in MORE_WORDS:
        return _consumed(ctx, _more(ctx))
    value = parse_answer(step, raw)
    if value is not None:
        return _consumed(ctx, apply(ctx, step, value))
    return _unclear(ctx, raw, check)


def parse_answer(question: str, raw: str) -> Any:
    """A typed answer to ``question`` as the value a button would send, or None if it is not one."""
    word = typed.clean(raw)
    if not word:
        return None
    if question == "matter":
        return guess_matter(word)
    if question == "role":
        return _keyword(ROLE_KEYWORDS, word)
    if question in ("lawyer", "migrant"):
        if question == "migrant" and any(w in word for w in MIGRANT_WORDS) and not word.startswith(("不", "没")):
            return "yes"
        yes = typed.parse_yes_no(raw)
        return None if yes is None else ("yes" if yes else "no")
    if question == "special" and (age := _age(word)) is not None and age < ADULT_AGE:
        return "minor"
    if question in ("special", "group"):
        found = _keyword(SPECIAL_KEYWORDS if question == "special" else GROUP_KEYWORDS, word)
        return found or ("none" if typed.parse_yes_no(raw) is False else None)
    if question == "household":
        return typed.parse_count(raw, maximum=rules.MAX_HOUSEHOLD)
    if question == "income":
        if typed.is_unsure(raw):
            return "unknown"
        amount = typed.parse_amount(raw)
        return None if amount is None else (int(amount) if amount == int(amount) else amount)
    if question == "deadline":
        return _deadline(raw, word)
    return None


def _deadline(raw: str, word: str) -> str | None:
    days = typed.parse_days(raw)
    if days is not None:
        within = any(w in word for w in ("内", "以内", "之内"))  # "7天内": inside the 7 days
        return "urgent" if rules.is_urgent(days) or (within and days <= rules.URGENT_DAYS) else "later"
    if typed.is_unsure(raw):
        return "none"
    yes = typed.parse_yes_no(raw)
    return None if yes is None else ("urgent" if yes else "none")


def _age(word: str) -> int | None:
    match = AGE.search(word)
    value = typed.parse_number(match.group(1)) if match else None
    return int(value) if value is not None else None


def _keyword(table: tuple[tuple[str, tuple[str, ...]], ...], word: str) -> str | None:
    for key, words in table:
        if any(w in word for w in words):
            return key
    return None


def _coerce(question: str, value: str) -> Any:
    if question in ("household", "income") and value.isascii() and value.isdigit():
        return int(value)
    return value


def _consumed(ctx: Context, replies: list[OutgoingMessage]) -> list[OutgoingMessage]:
    # An answer is not a question: keep it out of the intent statistics and of the "recent
    # questions" a later ticket carries to the lawyer.
    ctx.intent = None
    ctx.answered_by = "legal_aid"
    return replies


def apply(ctx: Context, question: str, value: Any) -> list[OutgoingMessage]:
    check = _check(ctx)
    if check is None:
        return _ended()
    if not rules.valid_answer(question, value):
        return _ask_again(ctx)
    answers = dict(check.answers or {})
    history = [q for q in ctx.data.get("history", []) if q in answers]
    if question != rules.next_question(answers):
        if question not in history:
            return _ask_again(ctx)  # a button from an older message that no longer fits
        # An earlier answer changed (a button tapped further up): ask again from there.
        cut = history.index(question)
        for later in history[cut:]:
            answers.pop(later, None)
        history = history[:cut]
        _reopen(check)
    answers[question] = value
    history.append(question)
    check.answers = answers  # reassign: JSON columns do not track in-place edits
    following = rules.next_question(answers)
    if following is None:
        return _finish(ctx, check, answers, history)
    ctx.goto(following, history=history, retries=0, more=False)
    return [_question(ctx, following, answers, history)]


def back(ctx: Context) -> list[OutgoingMessage]:
    check = _check(ctx)
    if check is None:
        return _ended()
    answers = dict(check.answers or {})
    history = [q for q in ctx.data.get("history", []) if q in answers]
    if ctx.step == "matter" and ctx.data.get("more"):
        ctx.goto("matter", more=False)
        return [_question(ctx, "matter", answers, history)]
    if not history:
        question = rules.next_question(answers) or "matter"
        first = _question(ctx, question, answers, history)
        return [OutgoingMessage(texts.AID_FIRST_QUESTION + "\n" + first.text, first.buttons)]
    answers.pop(history.pop(), None)
    check.answers = answers
    _reopen(check)
    question = rules.next_question(answers) or "matter"
    ctx.goto(question, history=history, retries=0, more=False)
    return [_question(ctx, question, answers, history)]


def _more(ctx: Context) -> list[OutgoingMessage]:
    check = _check(ctx)
    if check is None or ctx.step != "matter":
        return _ask_again(ctx)
    ctx.goto("matter", more=True)
    return [_question(ctx, "matter", dict(check.answers or {}), ctx.data.get("history", []), more=True)]


def _ask_again(ctx: Context) -> list[OutgoingMessage]:
    check = _check(ctx)
    if check is None:
        return _ended()
    answers = dict(check.answers or {})
    question = rules.next_question(answers)
    if question is None:
        return [_result_message(ctx, check, answers)]
    ctx.goto(question, retries=0)
    return [_question(ctx, question, answers, ctx.data.get("history", []), more=bool(ctx.data.get("more")))]


def _unclear(ctx: Context, raw: str, check: LegalAidCheck) -> list[OutgoingMessage] | None:
    intent = ctx.intent
    asks_something = (
        intent is not None
        and intent.intent in LEGAL_TOPICS
        and intent.confidence >= ctx.settings.intent_high_confidence
        and len(raw.strip()) > 6
    )
    answers = dict(check.answers or {})
    question = ctx.step or "matter"
    current = _question(ctx, question, answers, ctx.data.get("history", []), more=bool(ctx.data.get("more")))
    if asks_something and intent is not None and intent.intent == "legal_aid":
        article = _strong_article(ctx)
        if article is not None:  # a question about legal aid in the middle: answer it, then go on
            return [_article_text(ctx, article), current]
    elif asks_something:
        ctx.leave()  # a new question on another matter: the check stops here, the question is answered
        return None
    retries = int(ctx.data.get("retries", 0)) + 1
    if retries < 2:
        ctx.goto(question, retries=retries)
        return [OutgoingMessage(texts.AID_UNCLEAR + "\n" + current.text, current.buttons)]
    ctx.goto(question, retries=0)
    return [
        OutgoingMessage(
            texts.AID_UNCLEAR_AGAIN,
            (
                Button(texts.BUTTON_AID_ADVICE, f"{PREFIX}handover:{check.id}"),
                Button(texts.BUTTON_AID_CONTINUE, f"{PREFIX}again"),
                Button(texts.BUTTON_AID_EXIT, "cmd:cancel"),
            ),
        )
    ]


# ---------------------------------------------------------------------- the result


def _finish(ctx: Context, check: LegalAidCheck, answers: dict[str, Any], history: list[str]) -> list[OutgoingMessage]:
    threshold, _ = _threshold(ctx)
    assessment = rules.assess(answers, threshold=threshold)
    check.outcome = assessment.outcome.value
    check.completed_at = ctx.now
    ctx.goto(OFFER_STEP, history=history, retries=0, more=False)
    return [_result_message(ctx, check, answers, assessment)]


def _reopen(check: LegalAidCheck) -> None:
    check.outcome = None
    check.completed_at = None


def _result_message(
    ctx: Context, check: LegalAidCheck, answers: dict[str, Any], assessment: rules.Assessment | None = None
) -> OutgoingMessage:
    threshold, region = _threshold(ctx)
    a = assessment or rules.assess(answers, threshold=threshold)
    params = _params(ctx, answers, a, threshold=threshold, region=region)
    lines: list[str] = []
    if a.urgent:
        lines.append(texts.AID_URGENT_NO_AID if a.outcome is rules.Outcome.UNLIKELY else texts.AID_URGENT)
    lines.append(texts.AID_RESULT_HEADER.format(label=texts.AID_OUTCOMES[a.outcome.value]))
    lines.append(texts.AID_REASONS_HEADER)
    lines.extend("· " + texts.AID_REASONS[code].format(**params) for code in a.reasons)
    lines.append(texts.AID_CITED.format(articles=_articles(a.articles)))
    applying = a.outcome in (rules.Outcome.LIKELY, rules.Outcome.MAYBE)
    if applying:
        lines.append(texts.AID_DOCUMENTS_HEADER)
        lines.extend("· " + _document(code, answers, params) for code in a.documents)
        lines.append(_where(ctx))
    if a.alternatives:
        lines.append(texts.AID_ALTERNATIVES)
    lines.append(texts.AID_HOTLINE)
    lines.append(texts.AID_NOT_FINAL)
    lines.append(texts.AID_OFFER if applying else texts.AID_OFFER_ADVICE)
    label = texts.BUTTON_AID_HANDOVER if applying else texts.BUTTON_AID_ADVICE
    buttons = (
        Button(label, f"{PREFIX}handover:{check.id}"),
        Button(texts.BUTTON_AID_NO, f"{PREFIX}done"),
        Button(texts.BUTTON_AID_BACK, f"{PREFIX}back"),
    )
    return OutgoingMessage("\n".join(lines), buttons)


def _params(
    ctx: Context, answers: dict[str, Any], a: rules.Assessment, *, threshold: float, region: str
) -> dict[str, Any]:
    matter = rules.matter_of(answers)
    group = a.params.get("group")
    return {
        "matter": texts.AID_OPTIONS["matter"].get(answers.get("matter", ""), ""),
        "article": matter.article if matter and matter.article else "",
        "group": texts.AID_OPTIONS["group"].get(group or "", ""),
        "special": texts.AID_OPTIONS["special"].get(answers.get("special", ""), ""),
        "threshold": _yuan(threshold),
        "per_capita": _yuan(a.per_capita) if a.per_capita is not None else "",
        "region": region,
    }


def _document(code: str, answers: dict[str, Any], params: dict[str, Any]) -> str:
    if code == "case":
        docs = texts.AID_CASE_DOCUMENTS.get(answers.get("matter", ""), texts.AID_CASE_DOCUMENTS_DEFAULT)
        return texts.AID_CASE_LINE.format(docs=docs)
    return texts.AID_DOCUMENTS[code].format(**params)


def _where(ctx: Context) -> str:
    villager = ctx.villager
    county = villager.village.township.county if villager and villager.village else None
    centre = (county.legal_aid_centre if county else None) or texts.AID_WHERE_DEFAULT_CENTRE
    phone = (county.legal_aid_phone if county else None) or "12348"
    return texts.AID_WHERE.format(centre=centre, phone=phone)


def _threshold(ctx: Context) -> tuple[float, str]:
    villager = ctx.villager
    county = villager.village.township.county if villager and villager.village else None
    amount, place = rules.threshold_for(
        default=ctx.settings.legal_aid_income_threshold,
        overrides=ctx.settings.legal_aid_thresholds,
        league=county.league if county else None,
        county=county.name if county else None,
    )
    return amount, place or ctx.settings.legal_aid_region


def _articles(numbers: tuple[int, ...]) -> str:
    return "、".join(texts.AID_ARTICLE.format(n=n) for n in numbers)


def _yuan(amount: float) -> str:
    return f"{amount:.0f}"


# ---------------------------------------------------------------------- hand-over


def handover(ctx: Context, check_id: int) -> list[OutgoingMessage]:
    """The villager accepts the lawyer's help: a ticket carrying the interview answers."""
    check = ctx.session.get(LegalAidCheck, check_id)
    if check is None or check.account_id != ctx.sender.id:
        return _ended()
    asked = ""
    if ctx.flow == FLOW and ctx.data.get("check_id") == check.id:
        asked = str(ctx.data.get("asked") or "")
        ctx.leave()
    if check.ticket_id is not None:
        ticket = ctx.session.get(Ticket, check.ticket_id)
        if ticket is not None:
            who = tickets.responsible_name(ticket, ctx.session)
            return [OutgoingMessage(texts.AID_SENT_TO_OPEN_TICKET.format(who=who, code=ticket.code))]
    threshold, _ = _threshold(ctx)
    question = ticket_text(check, threshold=threshold, asked=asked)
    existing = tickets.active_for_account(ctx.session, ctx.sender.id)
    if existing is not None:
        # One conversation with the lawyer at a time: the answers join the open ticket.
        message = OutgoingMessage(
            texts.NOTIFY_FOLLOW_UP.format(
                code=existing.code,
                name=tickets.villager_name(ctx.sender.display_name, existing.villager_id),
                text=question,
            ),
            (Button(texts.BUTTON_REPLY, f"tk:reply:{existing.code}"),),
        )
        tickets.relay_to_responsible(ctx.session, existing, message, key=f"legal_aid:{check.id}", now=ctx.now)
        tickets.log(
            ctx.session,
            existing,
            actor=f"villager:{existing.villager_id}",
            action="legal_aid_check",
            detail=question,
            now=ctx.now,
        )
        check.ticket_id = existing.id
        who = tickets.responsible_name(existing, ctx.session)
        return [OutgoingMessage(texts.AID_SENT_TO_OPEN_TICKET.format(who=who, code=existing.code))]
    reply = handoff.open_with(ctx, question, summary=ticket_summary(check, threshold=threshold), intent="legal_aid")
    opened = tickets.active_for_account(ctx.session, ctx.sender.id)
    if opened is not None:
        check.ticket_id = opened.id
    return [reply]


def _assessment_of(check: LegalAidCheck, *, threshold: float) -> rules.Assessment | None:
    answers = dict(check.answers or {})
    return rules.assess(answers, threshold=threshold) if rules.next_question(answers) is None else None


def ticket_summary(check: LegalAidCheck, *, threshold: float) -> str:
    assessment = _assessment_of(check, threshold=threshold)
    if assessment is None:
        return texts.AID_TICKET_SUMMARY_UNFINISHED
    return texts.AID_TICKET_SUMMARY.format(
        label=texts.AID_OUTCOMES[assessment.outcome.value], articles=_articles(assessment.articles)
    )


def ticket_text(check: LegalAidCheck, *, threshold: float, asked: str = "") -> str:
    """The interview as the lawyer reads it: result, answers, articles."""
    answers = dict(check.answers or {})
    assessment = _assessment_of(check, threshold=threshold)
    label = texts.AID_OUTCOMES[assessment.outcome.value] if assessment else texts.AID_TICKET_UNFINISHED
    lines = []
    if assessment is not None and assessment.urgent:
        lines.append(texts.AID_TICKET_URGENT)
    for question in rules.QUESTIONS:
        if question in answers:
            title = texts.AID_SUMMARY_TITLES[question]
            value = _answer_label(question, answers, threshold=threshold)
            lines.append(texts.AID_SUMMARY_LINE.format(title=title, answer=value))
    if assessment is not None:
        lines.append(texts.AID_TICKET_CITED.format(articles=_articles(assessment.articles)))
    if asked:
        lines.append(texts.AID_TICKET_ASKED.format(text=asked))
    return texts.AID_TICKET_QUESTION.format(label=label, lines="\n".join(lines))


def _answer_label(question: str, answers: dict[str, Any], *, threshold: float) -> str:
    value = answers[question]
    if question == "household":
        return texts.AID_HOUSEHOLD_LABEL.format(n=value)
    if question == "income":
        if isinstance(value, int | float):
            return texts.AID_INCOME_VALUE.format(amount=_yuan(value))
        band = _yuan(threshold * int(answers.get("household") or 1))
        return texts.AID_OPTIONS["income"].get(value, str(value)).format(amount=band)
    return texts.AID_OPTIONS[question].get(str(value), str(value))


def done(ctx: Context) -> list[OutgoingMessage]:
    if ctx.flow == FLOW:
        ctx.leave()
    return [OutgoingMessage(texts.AID_DONE)]


def handover_current(ctx: Context) -> list[OutgoingMessage]:
    """ "找律师" in the middle of the check: hand over with what was answered so far."""
    check = _check(ctx)
    if check is None:
        return handoff.offer_or_open(ctx)
    return handover(ctx, check.id)


def _check(ctx: Context) -> LegalAidCheck | None:
    if ctx.flow != FLOW:
        return None
    check_id = ctx.data.get("check_id")
    check = ctx.session.get(LegalAidCheck, check_id) if isinstance(check_id, int) else None
    return check if check is not None and check.account_id == ctx.sender.id else None


def _ended() -> list[OutgoingMessage]:
    return [OutgoingMessage(texts.AID_ENDED, (Button(texts.BUTTON_AID_RESTART, "cmd:aid"),))]
