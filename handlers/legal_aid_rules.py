"""Who may get free legal aid, and on what condition: 法律援助法 as data and small pure functions.

Every rule of the pre-assessment lives here and nowhere else. The same answers always give the
same result, and every result names the articles it rests on. No words for the villager are made
here: results carry codes, and handlers/texts.py holds the sentences for them.

Checked article by article against ../shared/data/laws/法律援助法.md (2021):
- Art. 24  suspects/defendants without a defender "因经济困难或者其他原因" may apply themselves
           (or their close relatives) — hardship is one reason, not the only one.
- Art. 25  minors; blind, deaf or mute people; adults who cannot fully understand their conduct;
           people facing life imprisonment or death (and death-penalty review): the police,
           procuratorate or court must have a lawyer appointed, whatever their means. Art. 36:
           within 3 days.
- Art. 29  victims of public prosecutions (and their relatives), private prosecutors and civil
           plaintiffs in criminal cases: on economic hardship, without an agent.
- Art. 30  a duty lawyer helps any suspect/defendant without a defender.
- Art. 31  the civil/administrative matters, on economic hardship, without an agent; item 9 is
           "other cases set by laws, regulations, rules" — local rules may add matters.
- Art. 32  no means test: heroes' and martyrs' close relatives, good samaritans, state
           compensation after a retrial acquittal, victims of abuse, abandonment or domestic violence.
- Art. 33  retrial decided by the court or protested by the procuratorate: on hardship.
- Art. 34  each province sets the hardship standard (a setting here, see ``threshold_for``).
- Art. 41  hardship is declared truthfully; checked by data sharing or a personal pledge.
- Art. 42  no hardship check for those with proof of being: minors, elderly or disabled people
           without a fixed income; recipients of social assistance, judicial assistance or special
           care (优抚); migrant workers claiming wages or work-injury damages.
- Art. 44  under 7 days to a limitation period or deadline: aid may be given first, papers later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

LAW = "法律援助法"
#: Art. 44(1): "距法定时效或者期限届满不足七日".
URGENT_DAYS = 7


class Basis(StrEnum):
    MEANS_TESTED = "means_tested"  # Art. 31 (1)–(8): on hardship, without an agent
    NO_MEANS_TEST = "no_means_test"  # Art. 32: "不受经济困难条件的限制"
    CRIMINAL = "criminal"  # Arts. 24, 25, 29: depends on the role in the case
    RETRIAL = "retrial"  # Art. 33
    OTHER = "other"  # Art. 31 (9): only where another law, regulation or rule adds the matter


class Outcome(StrEnum):
    LIKELY = "likely"  # 很可能符合
    MAYBE = "maybe"  # 可能符合，需要核实
    UNLIKELY = "unlikely"  # 暂不符合
    APPOINT = "appoint"  # Art. 25: the authority must have a lawyer appointed (shown as 很可能符合)


class Hardship(StrEnum):
    BELOW = "below"  # per-capita income under the threshold: economic hardship
    ABOVE = "above"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Matter:
    key: str
    basis: Basis
    article: int | None  # None for criminal matters: the role decides (Art. 24 or 29)
    item: int | None = None  # 项 of the article
    #: Art. 42(3): "申请支付劳动报酬或者请求工伤事故人身损害赔偿的进城务工人员".
    migrant_exempt: bool = False
    #: Shown behind "更多" so the first screen stays short.
    more: bool = False


MATTERS: tuple[Matter, ...] = (
    Matter("wages", Basis.MEANS_TESTED, 31, 5, migrant_exempt=True),
    Matter("work_injury", Basis.MEANS_TESTED, 31, 7, migrant_exempt=True),
    Matter("accident", Basis.MEANS_TESTED, 31, 7),  # 交通事故、食品药品安全事故、医疗事故
    Matter("support", Basis.MEANS_TESTED, 31, 4),
    Matter("abuse", Basis.NO_MEANS_TEST, 32, 4),
    Matter("welfare", Basis.MEANS_TESTED, 31, 2),
    Matter("criminal", Basis.CRIMINAL, None),
    Matter("other", Basis.OTHER, 31, 9),
    Matter("labour_relation", Basis.MEANS_TESTED, 31, 5, more=True),  # 确认劳动关系: not in Art. 42(3)
    Matter("pension", Basis.MEANS_TESTED, 31, 3, more=True),
    Matter("state_comp", Basis.MEANS_TESTED, 31, 1, more=True),
    Matter("acquitted", Basis.NO_MEANS_TEST, 32, 3, more=True),
    Matter("environment", Basis.MEANS_TESTED, 31, 8, more=True),
    Matter("capacity", Basis.MEANS_TESTED, 31, 6, more=True),
    Matter("samaritan", Basis.NO_MEANS_TEST, 32, 2, more=True),
    Matter("hero", Basis.NO_MEANS_TEST, 32, 1, more=True),
    Matter("retrial", Basis.RETRIAL, 33, more=True),
)
MATTER_BY_KEY = {m.key: m for m in MATTERS}

ROLES = ("defendant", "victim")  # Art. 24/25 vs Art. 29
#: Art. 25(1) items offered as answers (1 未成年人, 2 视力听力言语残疾人, 3 不能完全辨认自己行为的成年人,
#: 4 可能被判处无期徒刑、死刑的人 — the texts fold in 5 死刑复核). Item 6 (缺席审判) is left to the lawyer.
APPOINTED = {"minor": 1, "sensory": 2, "mental": 3, "severe": 4}
#: Art. 42 groups that need no hardship check, with the item they come from.
EXEMPT_GROUPS = {"no_income": 1, "assistance": 2, "judicial": 2, "entitled": 2}
DEADLINES = ("urgent", "later", "none")
MAX_HOUSEHOLD = 30

#: The questions, in the order they may be asked, and the answers each accepts (None: a number).
QUESTIONS: dict[str, tuple[str, ...] | None] = {
    "matter": tuple(MATTER_BY_KEY),
    "role": ROLES,
    "lawyer": ("yes", "no"),
    "special": (*APPOINTED, "none"),
    "migrant": ("yes", "no"),
    "group": (*EXEMPT_GROUPS, "none"),
    "household": None,
    "income": None,  # yuan per month for the whole household, or "below" / "above" / "unknown"
    "deadline": DEADLINES,
}
INCOME_WORDS = ("below", "above", "unknown")


@dataclass(frozen=True)
class Assessment:
    outcome: Outcome
    #: Codes of the plain-language reasons (texts.AID_REASONS), in reading order.
    reasons: tuple[str, ...]
    #: Articles of 法律援助法 the result rests on, ascending.
    articles: tuple[int, ...]
    #: Codes of the documents to bring (texts.AID_DOCUMENTS).
    documents: tuple[str, ...]
    urgent: bool = False
    hardship: Hardship | None = None
    per_capita: float | None = None
    #: Show the free alternatives (人民调解, 12348): nothing here points to legal aid.
    alternatives: bool = False
    params: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------- the threshold (Art. 34)


def threshold_for(
    *, default: float, overrides: Mapping[str, float], league: str | None = None, county: str | None = None
) -> tuple[float, str | None]:
    """The monthly per-capita income under which a household counts as in hardship, and the place
    whose figure it is: the county's own figure, else its 盟/市's, else (None) the province's default."""
    for place in (county, league):
        if place and place in overrides:
            return float(overrides[place]), place
    return float(default), None


def per_capita(income: float, household: int) -> float:
    return float(income) / max(int(household), 1)


def hardship(*, income: float | str | None, household: int | None, threshold: float) -> Hardship:
    """Strictly below the threshold counts as hardship; at the threshold it does not."""
    if income is None or income == "unknown":
        return Hardship.UNKNOWN
    if income in ("below", "above"):
        return Hardship(income)
    return Hardship.BELOW if per_capita(float(income), household or 1) < threshold else Hardship.ABOVE


# ---------------------------------------------------------------------- the interview


def valid_answer(question: str, value: Any) -> bool:
    if question not in QUESTIONS:
        return False
    allowed = QUESTIONS[question]
    if allowed is not None:
        return value in allowed
    if question == "household":
        return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_HOUSEHOLD
    if isinstance(value, str):
        return value in INCOME_WORDS
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def matter_of(answers: Mapping[str, Any]) -> Matter | None:
    return MATTER_BY_KEY.get(answers.get("matter", ""))


def is_defendant(answers: Mapping[str, Any]) -> bool:
    matter = matter_of(answers)
    return matter is not None and matter.basis is Basis.CRIMINAL and answers.get("role") == "defendant"


def exemption(answers: Mapping[str, Any]) -> str | None:
    """Why no hardship check is needed (Art. 42): "migrant" or an exempt group, else None."""
    matter = matter_of(answers)
    if matter is not None and matter.migrant_exempt and answers.get("migrant") == "yes":
        return "migrant"
    group = answers.get("group")
    return group if group in EXEMPT_GROUPS else None


def next_question(answers: Mapping[str, Any]) -> str | None:
    """The next thing to ask, or None when there is enough for a result. Only what the rules need
    is asked: a migrant worker owed wages answers three questions, a divorce six."""
    matter = matter_of(answers)
    if matter is None:
        return "matter"
    if matter.basis is Basis.CRIMINAL and "role" not in answers:
        return "role"
    if "lawyer" not in answers:
        return "lawyer"
    if answers["lawyer"] == "yes":
        return None
    if is_defendant(answers):
        if "special" not in answers:
            return "special"
        if answers["special"] != "none":
            return None
    if matter.basis is not Basis.NO_MEANS_TEST and (question := _hardship_question(answers, matter)):
        return question
    return None if "deadline" in answers else "deadline"


def _hardship_question(answers: Mapping[str, Any], matter: Matter) -> str | None:
    if matter.migrant_exempt and "migrant" not in answers:
        return "migrant"
    if exemption(answers) == "migrant":
        return None
    if "group" not in answers:
        return "group"
    if answers["group"] != "none":
        return None
    if "household" not in answers:
        return "household"
    if "income" not in answers:
        return "income"
    return None


# ---------------------------------------------------------------------- the result


def assess(answers: Mapping[str, Any], *, threshold: float) -> Assessment:
    """The pre-assessment for complete answers (``next_question(answers) is None``)."""
    matter = matter_of(answers)
    if matter is None:
        raise ValueError("no matter chosen")
    urgent = answers.get("deadline") == "urgent"
    if answers.get("lawyer") == "yes":
        code = "has_defender" if is_defendant(answers) else "has_lawyer"
        return _result(Outcome.UNLIKELY, (code,), (_base_article(answers, matter),), ("identity",), urgent=urgent)
    if is_defendant(answers):
        return _defendant(answers, threshold=threshold, urgent=urgent)
    if matter.basis is Basis.NO_MEANS_TEST:
        return _result(Outcome.LIKELY, ("no_means_test",), (32,), ("identity", "case"), urgent=urgent)
    return _means_tested(answers, matter, threshold=threshold, urgent=urgent)


def _base_article(answers: Mapping[str, Any], matter: Matter) -> int:
    if matter.basis is Basis.CRIMINAL:
        return 24 if answers.get("role") == "defendant" else 29
    assert matter.article is not None
    return matter.article


def _matter_reason(answers: Mapping[str, Any], matter: Matter) -> str:
    if matter.basis is Basis.CRIMINAL:
        return "victim"
    return {Basis.RETRIAL: "retrial", Basis.OTHER: "other_matter"}.get(matter.basis, "listed_matter")


def _defendant(answers: Mapping[str, Any], *, threshold: float, urgent: bool) -> Assessment:
    if answers.get("special") in APPOINTED:
        return _result(Outcome.APPOINT, ("appoint", "appoint_ask"), (25, 36), ("identity", "case"), urgent=urgent)
    exempt = exemption(answers)
    if exempt is not None:
        return _result(
            Outcome.LIKELY,
            ("defendant_hardship", "exempt_group"),
            (24, 42),
            ("identity", "proof_group", "case"),
            urgent=urgent,
            params={"group": exempt},
        )
    level = hardship(income=answers.get("income"), household=answers.get("household"), threshold=threshold)
    pc = _per_capita(answers)
    if level is Hardship.BELOW:
        return _result(
            Outcome.LIKELY,
            ("defendant_hardship", _income_reason(level, pc)),
            (24, 34),
            ("identity", "hardship", "case"),
            urgent=urgent,
            hardship=level,
            per_capita=pc,
        )
    # Art. 24 also covers "其他原因": not being poor enough does not rule a defendant out.
    reasons = ("defendant_other", _income_reason(level, pc), "duty_lawyer")
    return _result(
        Outcome.MAYBE,
        reasons,
        (24, 30, 34),
        ("identity", "hardship", "case"),
        urgent=urgent,
        hardship=level,
        per_capita=pc,
    )


def _means_tested(answers: Mapping[str, Any], matter: Matter, *, threshold: float, urgent: bool) -> Assessment:
    base = _base_article(answers, matter)
    matter_reason = _matter_reason(answers, matter)
    other = matter.basis is Basis.OTHER
    # A matter outside the national list needs a local rule (Art. 31(9)): never better than "maybe".
    best = Outcome.MAYBE if other else Outcome.LIKELY
    exempt = exemption(answers)
    if exempt is not None:
        code = "exempt_migrant" if exempt == "migrant" else "exempt_group"
        proof = "proof_migrant" if exempt == "migrant" else "proof_group"
        return _result(
            best,
            (matter_reason, code),
            (base, 42),
            ("identity", proof, "case"),
            urgent=urgent,
            params={"group": exempt},
        )
    level = hardship(income=answers.get("income"), household=answers.get("household"), threshold=threshold)
    pc = _per_capita(answers)
    if level is Hardship.BELOW:
        return _result(
            best,
            (matter_reason, _income_reason(level, pc)),
            (base, 34),
            ("identity", "hardship", "case"),
            urgent=urgent,
            hardship=level,
            per_capita=pc,
        )
    if level is Hardship.UNKNOWN:
        return _result(
            Outcome.MAYBE,
            (matter_reason, "unknown_income"),
            (base, 34, 41),
            ("identity", "hardship", "case"),
            urgent=urgent,
            hardship=level,
        )
    reasons: tuple[str, ...] = (matter_reason, _income_reason(level, pc), "threshold_note")
    if other:
        reasons += ("abuse_hint",)
    return _result(
        Outcome.UNLIKELY,
        reasons,
        (base, 34),
        ("identity", "case"),
        urgent=urgent,
        hardship=level,
        per_capita=pc,
        alternatives=True,
    )


def _per_capita(answers: Mapping[str, Any]) -> float | None:
    income = answers.get("income")
    if isinstance(income, int | float) and not isinstance(income, bool):
        return round(per_capita(income, answers.get("household") or 1), 2)
    return None


def _income_reason(level: Hardship, pc: float | None) -> str:
    if level is Hardship.UNKNOWN:
        return "unknown_income"
    return f"{level.value}_amount" if pc is not None else f"{level.value}_band"


def _result(
    outcome: Outcome,
    reasons: tuple[str, ...],
    articles: tuple[int, ...],
    documents: tuple[str, ...],
    *,
    urgent: bool,
    hardship: Hardship | None = None,
    per_capita: float | None = None,
    alternatives: bool = False,
    params: dict[str, Any] | None = None,
) -> Assessment:
    if urgent and outcome is not Outcome.UNLIKELY:
        articles = (*articles, 44)  # the centre may give aid first and take the papers later
    return Assessment(
        outcome=outcome,
        reasons=reasons,
        articles=tuple(sorted(set(articles))),
        documents=documents,
        urgent=urgent,
        hardship=hardship,
        per_capita=per_capita,
        alternatives=alternatives,
        params=params or {},
    )


def is_urgent(days: int) -> bool:
    """Art. 44(1): fewer than 7 days left."""
    return days < URGENT_DAYS
