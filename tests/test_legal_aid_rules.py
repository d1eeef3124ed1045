"""The legal-aid rules (法律援助法), one case per rule path and per boundary of the income threshold.

Pure functions, no database: each case is the answers a villager gave, the questions the
interview must have asked to get them, and the result with the articles it rests on.
"""

from __future__ import annotations

from typing import Any

import pytest

from handlers import legal_aid_rules as rules
from handlers import texts
from handlers.legal_aid import guess_matter, parse_answer
from handlers.legal_aid_rules import Outcome
from tests.conftest import SHARED

T = 1200.0  # the example threshold (元 per person per month)
NO = {"lawyer": "no"}
NO_GROUP = {"group": "none"}


def one(income: float | str, household: int = 1) -> dict[str, Any]:
    return {"group": "none", "household": household, "income": income}


# (id, answers, questions asked in order, outcome, articles, reason codes that must appear)
CASES: list[tuple[str, dict[str, Any], list[str], Outcome, tuple[int, ...], set[str]]] = [
    # ---- Art. 31 + Art. 42(3): migrant workers claiming wages or work-injury damages
    (
        "wages-migrant",
        {"matter": "wages", **NO, "migrant": "yes", "deadline": "none"},
        ["matter", "lawyer", "migrant", "deadline"],
        Outcome.LIKELY,
        (31, 42),
        {"listed_matter", "exempt_migrant"},
    ),
    (
        "wages-migrant-urgent-art44",
        {"matter": "wages", **NO, "migrant": "yes", "deadline": "urgent"},
        ["matter", "lawyer", "migrant", "deadline"],
        Outcome.LIKELY,
        (31, 42, 44),
        {"exempt_migrant"},
    ),
    (
        "work-injury-migrant",
        {"matter": "work_injury", **NO, "migrant": "yes", "deadline": "later"},
        ["matter", "lawyer", "migrant", "deadline"],
        Outcome.LIKELY,
        (31, 42),
        {"exempt_migrant"},
    ),
    (
        "wages-not-migrant-below",
        {"matter": "wages", **NO, "migrant": "no", **one(800), "deadline": "none"},
        ["matter", "lawyer", "migrant", "group", "household", "income", "deadline"],
        Outcome.LIKELY,
        (31, 34),
        {"below_amount"},
    ),
    (
        "wages-not-migrant-above",
        {"matter": "wages", **NO, "migrant": "no", **one(5000), "deadline": "none"},
        ["matter", "lawyer", "migrant", "group", "household", "income", "deadline"],
        Outcome.UNLIKELY,
        (31, 34),
        {"above_amount", "threshold_note"},
    ),
    # confirming a labour relation alone is Art. 31(5) but not in Art. 42(3): no migrant question
    (
        "labour-relation-no-migrant-exemption",
        {"matter": "labour_relation", **NO, **one("below"), "deadline": "none"},
        ["matter", "lawyer", "group", "household", "income", "deadline"],
        Outcome.LIKELY,
        (31, 34),
        {"below_band"},
    ),
    # ---- Art. 31 items with the hardship test (Art. 34) or an Art. 42 group
    (
        "accident-below",
        {"matter": "accident", **NO, **one(1000), "deadline": "none"},
        ["matter", "lawyer", "group", "household", "income", "deadline"],
        Outcome.LIKELY,
        (31, 34),
        {"listed_matter", "below_amount"},
    ),
    (
        "accident-above-urgent-no-art44",
        {"matter": "accident", **NO, **one(3000), "deadline": "urgent"},
        ["matter", "lawyer", "group", "household", "income", "deadline"],
        Outcome.UNLIKELY,
        (31, 34),
        {"above_amount"},
    ),
    (
        "accident-above",
        {"matter": "accident", **NO, **one(3000), "deadline": "none"},
        ["matter", "lawyer", "group", "household", "income", "deadline"],
        Outcome.UNLIKELY,
        (31, 34),
        {"above_amount"},
    ),
    (
        "support-unknown-income-art41",
        {"matter": "support", **NO, **one("unknown", 4), "deadline": "none"},
        ["matter", "lawyer", "group", "household", "income", "deadline"],
        Outcome.MAYBE,
        (31, 34, 41),
        {"unknown_income"},
    ),
    (
        "welfare-elderly-without-income-art42-1",
        {"matter": "welfare", **NO, "group": "no_income", "deadline": "none"},
        ["matter", "lawyer", "group", "deadline"],
        Outcome.LIKELY,
        (31, 42),
        {"exempt_group"},
    ),
    (
        "pension-judicial-assistance-art42-2",
        {"matter": "pension", **NO, "group": "judicial", "deadline": "none"},
        ["matter", "lawyer", "group", "deadline"],
        Outcome.LIKELY,
        (31, 42),
        {"exempt_group"},
    ),
    (
        "state-compensation-special-care-art42-2",
        {"matter": "state_comp", **NO, "group": "entitled", "deadline": "none"},
        ["matter", "lawyer", "group", "deadline"],
        Outcome.LIKELY,
        (31, 42),
        {"exempt_group"},
    ),
    (
        "environment-no-income",
        {"matter": "environment", **NO, **one(0, 3), "deadline": "none"},
        ["matter", "lawyer", "group", "household", "income", "deadline"],
        Outcome.LIKELY,
        (31, 34),
        {"below_amount"},
    ),
    (
        "capacity-social-assistance",
        {"matter": "capacity", **NO, "group": "assistance", "deadline": "none"},
        ["matter", "lawyer", "group", "deadline"],
        Outcome.LIKELY,
        (31, 42),
        {"exempt_group"},
    ),
    (
        "migrant-worker-can-still-use-a-group",
        {"matter": "work_injury", **NO, "migrant": "no", "group": "assistance", "deadline": "none"},
        ["matter", "lawyer", "migrant", "group", "deadline"],
        Outcome.LIKELY,
        (31, 42),
        {"exempt_group"},
    ),
    # ---- Art. 32: no means test, whatever the income
    (
        "domestic-violence",
        {"matter": "abuse", **NO, "deadline": "none"},
        ["matter", "lawyer", "deadline"],
        Outcome.LIKELY,
        (32,),
        {"no_means_test"},
    ),
    (
        "acquitted-state-compensation",
        {"matter": "acquitted", **NO, "deadline": "none"},
        ["matter", "lawyer", "deadline"],
        Outcome.LIKELY,
        (32,),
        {"no_means_test"},
    ),
    (
        "good-samaritan",
        {"matter": "samaritan", **NO, "deadline": "urgent"},
        ["matter", "lawyer", "deadline"],
        Outcome.LIKELY,
        (32, 44),
        {"no_means_test"},
    ),
    (
        "hero-relatives",
        {"matter": "hero", **NO, "deadline": "none"},
        ["matter", "lawyer", "deadline"],
        Outcome.LIKELY,
        (32,),
        {"no_means_test"},
    ),
    # ---- already represented: nothing to apply for
    (
        "abuse-has-lawyer",
        {"matter": "abuse", "lawyer": "yes"},
        ["matter", "lawyer"],
        Outcome.UNLIKELY,
        (32,),
        {"has_lawyer"},
    ),
    (
        "wages-has-lawyer",
        {"matter": "wages", "lawyer": "yes"},
        ["matter", "lawyer"],
        Outcome.UNLIKELY,
        (31,),
        {"has_lawyer"},
    ),
    # ---- Art. 31(9): matters outside the list need a local rule, so never better than "maybe"
    (
        "divorce-below",
        {"matter": "other", **NO, **one(900), "deadline": "none"},
        ["matter", "lawyer", "group", "household", "income", "deadline"],
        Outcome.MAYBE,
        (31, 34),
        {"other_matter", "below_amount"},
    ),
    (
        "divorce-above",
        {"matter": "other", **NO, **one(12000, 3), "deadline": "none"},
        ["matter", "lawyer", "group", "household", "income", "deadline"],
        Outcome.UNLIKELY,
        (31, 34),
        {"other_matter", "above_amount", "abuse_hint"},
    ),
    (
        "divorce-social-assistance",
        {"matter": "other", **NO, "group": "assistance", "deadline": "none"},
        ["matter", "lawyer", "group", "deadline"],
        Outcome.MAYBE,
        (31, 42),
        {"other_matter", "exempt_group"},
    ),
    (
        "divorce-unknown-income",
        {"matter": "other", **NO, **one("unknown"), "deadline": "none"},
        ["matter", "lawyer", "group", "household", "income", "deadline"],
        Outcome.MAYBE,
        (31, 34, 41),
        {"unknown_income"},
    ),
    # ---- Art. 33: retrial decided or protested, on hardship
    (
        "retrial-below",
        {"matter": "retrial", **NO, **one(700), "deadline": "none"},
        ["matter", "lawyer", "group", "household", "income", "deadline"],
        Outcome.LIKELY,
        (33, 34),
        {"retrial"},
    ),
    (
        "retrial-above",
        {"matter": "retrial", **NO, **one(2000), "deadline": "none"},
        ["matter", "lawyer", "group", "household", "income", "deadline"],
        Outcome.UNLIKELY,
        (33, 34),
        {"retrial", "above_amount"},
    ),
    # ---- Art. 29: victims, private prosecutors, civil plaintiffs in criminal cases, on hardship
    (
        "criminal-victim-below",
        {"matter": "criminal", "role": "victim", **NO, **one(1000, 2), "deadline": "none"},
        ["matter", "role", "lawyer", "group", "household", "income", "deadline"],
        Outcome.LIKELY,
        (29, 34),
        {"victim", "below_amount"},
    ),
    (
        "criminal-victim-above",
        {"matter": "criminal", "role": "victim", **NO, **one(3000), "deadline": "none"},
        ["matter", "role", "lawyer", "group", "household", "income", "deadline"],
        Outcome.UNLIKELY,
        (29, 34),
        {"victim", "above_amount"},
    ),
    (
        "criminal-victim-social-assistance",
        {"matter": "criminal", "role": "victim", **NO, "group": "assistance", "deadline": "none"},
        ["matter", "role", "lawyer", "group", "deadline"],
        Outcome.LIKELY,
        (29, 42),
        {"victim", "exempt_group"},
    ),
    # ---- Art. 25: the authority must have a lawyer appointed, whatever the means (Art. 36: 3 days)
    *[
        (
            f"defendant-appointed-{special}",
            {"matter": "criminal", "role": "defendant", **NO, "special": special},
            ["matter", "role", "lawyer", "special"],
            Outcome.APPOINT,
            (25, 36),
            {"appoint", "appoint_ask"},
        )
        for special in ("minor", "sensory", "mental", "severe")
    ],
    # ---- Art. 24: other defendants apply on hardship "或者其他原因"; Art. 30 duty lawyer
    (
        "defendant-below",
        {"matter": "criminal", "role": "defendant", **NO, "special": "none", **one(500), "deadline": "none"},
        ["matter", "role", "lawyer", "special", "group", "household", "income", "deadline"],
        Outcome.LIKELY,
        (24, 34),
        {"defendant_hardship", "below_amount"},
    ),
    (
        "defendant-above-other-reasons",
        {"matter": "criminal", "role": "defendant", **NO, "special": "none", **one(5000), "deadline": "none"},
        ["matter", "role", "lawyer", "special", "group", "household", "income", "deadline"],
        Outcome.MAYBE,
        (24, 30, 34),
        {"defendant_other", "duty_lawyer"},
    ),
    (
        "defendant-unknown-income",
        {"matter": "criminal", "role": "defendant", **NO, "special": "none", **one("unknown"), "deadline": "none"},
        ["matter", "role", "lawyer", "special", "group", "household", "income", "deadline"],
        Outcome.MAYBE,
        (24, 30, 34),
        {"defendant_other", "unknown_income"},
    ),
    (
        "defendant-elderly-without-income",
        {"matter": "criminal", "role": "defendant", **NO, "special": "none", "group": "no_income", "deadline": "none"},
        ["matter", "role", "lawyer", "special", "group", "deadline"],
        Outcome.LIKELY,
        (24, 42),
        {"defendant_hardship", "exempt_group"},
    ),
    (
        "defendant-has-defender",
        {"matter": "criminal", "role": "defendant", "lawyer": "yes"},
        ["matter", "role", "lawyer"],
        Outcome.UNLIKELY,
        (24,),
        {"has_defender"},
    ),
]


def asked_questions(answers: dict[str, Any]) -> list[str]:
    """Replay the interview: feed the answers one by one in the order they are asked."""
    given: dict[str, Any] = {}
    asked = []
    while (question := rules.next_question(given)) is not None:
        assert question in answers, f"asked {question!r}, which the case does not answer"
        asked.append(question)
        given[question] = answers[question]
    return asked


@pytest.mark.parametrize(
    ("answers", "asked", "outcome", "articles", "reasons"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rule_paths(answers, asked, outcome, articles, reasons):  # type: ignore[no-untyped-def]
    assert asked_questions(answers) == asked
    assert all(rules.valid_answer(q, answers[q]) for q in asked)
    result = rules.assess(answers, threshold=T)
    assert result.outcome is outcome
    assert result.articles == articles
    assert reasons <= set(result.reasons)
    assert result.urgent == (answers.get("deadline") == "urgent")
    # Art. 44 lets the centre give aid before the papers are complete: cited only where aid may follow
    assert (44 in articles) == (result.urgent and outcome is not Outcome.UNLIKELY)
    # every code has words, and every outcome that sends the villager nowhere shows the free alternatives
    assert all(code in texts.AID_REASONS for code in result.reasons)
    assert all(code in texts.AID_DOCUMENTS or code == "case" for code in result.documents)
    if outcome is Outcome.UNLIKELY and "has_lawyer" not in reasons and "has_defender" not in reasons:
        assert result.alternatives


def test_the_case_table_is_big_enough_and_covers_every_matter():  # type: ignore[no-untyped-def]
    assert len(CASES) >= 30
    assert {c[1]["matter"] for c in CASES} == set(rules.MATTER_BY_KEY)
    assert {o for c in CASES for o in [c[3]]} == set(Outcome)


# (household income per month, people, hardship at threshold 1200): strictly below counts
BOUNDARIES = [
    (0, 1, rules.Hardship.BELOW),
    (1199, 1, rules.Hardship.BELOW),
    (1199.99, 1, rules.Hardship.BELOW),
    (1200, 1, rules.Hardship.ABOVE),
    (1201, 1, rules.Hardship.ABOVE),
    (2399, 2, rules.Hardship.BELOW),
    (2400, 2, rules.Hardship.ABOVE),
    (3599, 3, rules.Hardship.BELOW),
    (3600, 3, rules.Hardship.ABOVE),
    (7200, 6, rules.Hardship.ABOVE),
    ("below", 4, rules.Hardship.BELOW),
    ("above", 4, rules.Hardship.ABOVE),
    ("unknown", 2, rules.Hardship.UNKNOWN),
]


@pytest.mark.parametrize(("income", "household", "expected"), BOUNDARIES)
def test_income_threshold_boundaries(income, household, expected):  # type: ignore[no-untyped-def]
    assert rules.hardship(income=income, household=household, threshold=T) is expected


@pytest.mark.parametrize(("income", "outcome"), [(1199, Outcome.LIKELY), (1200, Outcome.UNLIKELY)])
def test_boundary_decides_the_outcome(income, outcome):  # type: ignore[no-untyped-def]
    answers = {"matter": "support", **NO, **one(income), "deadline": "none"}
    assert rules.assess(answers, threshold=T).outcome is outcome


THRESHOLDS = [
    ({}, "锡林郭勒盟", "正蓝旗", (1200.0, None)),
    ({"锡林郭勒盟": 1500}, "锡林郭勒盟", "正蓝旗", (1500.0, "锡林郭勒盟")),
    ({"锡林郭勒盟": 1500, "正蓝旗": 1400}, "锡林郭勒盟", "正蓝旗", (1400.0, "正蓝旗")),
    ({"呼伦贝尔市": 1500}, "锡林郭勒盟", "正蓝旗", (1200.0, None)),
    ({"锡林郭勒盟": 1500}, None, None, (1200.0, None)),
]


@pytest.mark.parametrize(("overrides", "league", "county", "expected"), THRESHOLDS)
def test_threshold_per_region(overrides, league, county, expected):  # type: ignore[no-untyped-def]
    assert rules.threshold_for(default=1200, overrides=overrides, league=league, county=county) == expected


def test_a_regional_threshold_changes_the_result():  # type: ignore[no-untyped-def]
    answers = {"matter": "accident", **NO, **one(1500), "deadline": "none"}
    assert rules.assess(answers, threshold=1200).outcome is Outcome.UNLIKELY
    assert rules.assess(answers, threshold=1600).outcome is Outcome.LIKELY


def test_invalid_answers_are_refused():  # type: ignore[no-untyped-def]
    assert not rules.valid_answer("matter", "divorce")
    assert not rules.valid_answer("household", 0)
    assert not rules.valid_answer("household", 31)
    assert not rules.valid_answer("household", True)
    assert not rules.valid_answer("income", -1)
    assert not rules.valid_answer("income", "lots")
    assert not rules.valid_answer("nonsense", "yes")
    assert rules.valid_answer("income", 0) and rules.valid_answer("income", 1500.5)
    with pytest.raises(ValueError):
        rules.assess({}, threshold=T)


def test_the_interview_stays_short():  # type: ignore[no-untyped-def]
    """Under two minutes: no path asks more than 8 questions, a migrant worker owed wages 4."""
    assert max(len(c[2]) for c in CASES) <= 8
    assert len(asked_questions(CASES[0][1])) == 4


def test_every_option_and_matter_has_a_label():  # type: ignore[no-untyped-def]
    for question, allowed in rules.QUESTIONS.items():
        if allowed is not None:
            assert set(allowed) == set(texts.AID_OPTIONS[question]), question
        assert question in texts.AID_SUMMARY_TITLES and question in texts.AID_QUESTIONS
    assert set(texts.AID_OUTCOMES) == {o.value for o in Outcome}


def test_articles_cited_exist_and_say_what_the_rules_assume():  # type: ignore[no-untyped-def]
    """The rules were written from the statute: spot-check the wording they rest on."""
    law = SHARED / "data" / "laws" / "法律援助法.md"
    if not law.exists():
        pytest.skip("../shared/data/laws not present")
    text = law.read_text(encoding="utf-8")
    for needle in (
        "第二十四条 刑事案件的犯罪嫌疑人、被告人因经济困难或者其他原因没有委托辩护人的",
        "第二十五条 刑事案件的犯罪嫌疑人、被告人属于下列人员之一",
        "（一）未成年人；",
        "（二）视力、听力、言语残疾人；",
        "（三）不能完全辨认自己行为的成年人；",
        "（四）可能被判处无期徒刑、死刑的人；",
        "第二十九条 刑事公诉案件的被害人及其法定代理人或者近亲属",
        "第三十条 值班律师应当依法为没有辩护人的犯罪嫌疑人、被告人提供法律咨询",
        "第三十一条 下列事项的当事人，因经济困难没有委托代理人的",
        "（五）请求确认劳动关系或者支付劳动报酬；",
        "（七）请求工伤事故、交通事故、食品药品安全事故、医疗事故人身损害赔偿；",
        "第三十二条 有下列情形之一，当事人申请法律援助的，不受经济困难条件的限制",
        "（四）遭受虐待、遗弃或者家庭暴力的受害人主张相关权益；",
        "第三十三条 当事人不服司法机关生效裁判或者决定提出申诉或者申请再审",
        "第三十四条 经济困难的标准，由省、自治区、直辖市人民政府",
        "第三十六条 人民法院、人民检察院、公安机关办理刑事案件，发现有本法第二十五条第一款、第二十八条规定情形的，应当在三日内",
        "第四十二条 法律援助申请人有材料证明属于下列人员之一的，免予核查经济困难状况",
        "（三）申请支付劳动报酬或者请求工伤事故人身损害赔偿的进城务工人员；",
        "（一）距法定时效或者期限届满不足七日",
    ):
        assert needle in text, needle


# ---------------------------------------------------------------------- typed answers


@pytest.mark.parametrize(
    ("question", "typed", "expected"),
    [
        ("matter", "讨工资", "wages"),
        ("matter", "老板欠我工钱", "wages"),
        ("matter", "工伤事故", "work_injury"),
        ("matter", "离婚的时候他打我，家暴", "abuse"),
        ("matter", "离婚", "other"),
        ("matter", "儿子被抓了", "criminal"),
        ("matter", "天气", None),
        ("matter", "没签劳动合同", "labour_relation"),
        ("role", "我儿子被抓了", "defendant"),
        ("role", "我是受害人", "victim"),
        ("lawyer", "是", "yes"),
        ("lawyer", "对", "yes"),
        ("lawyer", "请了", "yes"),
        ("lawyer", "没有", "no"),
        ("lawyer", "还没请呢", "no"),
        ("lawyer", "不知道", None),
        ("migrant", "我在城里打工", "yes"),
        ("migrant", "是的", "yes"),
        ("migrant", "不是", "no"),
        ("special", "他才16岁，未成年", "minor"),
        ("special", "没有", "none"),
        ("special", "他才十六岁", "minor"),
        ("special", "40岁了", None),
        ("group", "我家是低保户", "assistance"),
        ("group", "司法救助", "judicial"),
        ("group", "都不是", "none"),
        ("household", "三口人", 3),
        ("household", "5个人", 5),
        ("household", "就我自己", 1),
        ("household", "一百", None),
        ("income", "一千五", 1500),
        ("income", "1.2万", 12000),
        ("income", "3千块", 3000),
        ("income", "2000元", 2000),
        ("income", "没有收入", 0),
        ("income", "说不清", "unknown"),
        ("income", "很多", None),
        ("deadline", "3天后开庭", "urgent"),
        ("deadline", "明天", "urgent"),
        ("deadline", "7天内", "urgent"),
        ("deadline", "7天", "later"),
        ("deadline", "还有一个月", "later"),
        ("deadline", "有", "urgent"),
        ("deadline", "没有", "none"),
        ("deadline", "不清楚", "none"),
    ],
)
def test_typed_answers(question, typed, expected):  # type: ignore[no-untyped-def]
    assert parse_answer(question, typed) == expected


def test_guessing_the_matter_prefers_the_specific():  # type: ignore[no-untyped-def]
    assert guess_matter("工伤事故赔偿") == "work_injury"  # not a traffic accident
    assert guess_matter("再审改判无罪要国家赔偿") == "acquitted"  # not plain state compensation
    assert guess_matter("我想离婚，他经常家暴") == "abuse"  # Art. 32 beats the general list
    assert guess_matter("法律援助") is None
