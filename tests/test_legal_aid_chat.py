"""The legal-aid check as villagers meet it in the web chat, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from admin.container import build
from core.db import transaction
from core.models import ChannelAccount, Conversation, Lawyer, LegalAidCheck, OutboxMessage, Ticket
from handlers import roster, texts
from tests.fakes import KeywordClassifier
from tests.helpers import Chat


def _checks(container) -> list[LegalAidCheck]:  # type: ignore[no-untyped-def]
    with container.session_factory() as s:
        return list(s.scalars(select(LegalAidCheck).order_by(LegalAidCheck.id)))


def _conversation(container, user: str) -> Conversation:  # type: ignore[no-untyped-def]
    with container.session_factory() as s:
        account = s.scalar(select(ChannelAccount).where(ChannelAccount.external_id == user))
        assert account is not None
        conv = s.scalar(select(Conversation).where(Conversation.account_id == account.id))
        assert conv is not None
        return conv


def _tickets(container) -> list[Ticket]:  # type: ignore[no-untyped-def]
    with container.session_factory() as s:
        return list(s.scalars(select(Ticket).order_by(Ticket.id)))


def _villager(container, user: str = "u1") -> Chat:  # type: ignore[no-untyped-def]
    chat = Chat(container, user)
    chat.choose_village("正蓝旗", "上都镇", "红星村")
    return chat


def test_migrant_worker_owed_wages_is_likely_eligible_and_handed_to_the_lawyer(seeded):  # type: ignore[no-untyped-def]
    chat = _villager(seeded)
    chat.say("老板欠我三个月工钱不给")
    chat.tap("法律援助自查")  # the button under the wage article
    assert "讨要工钱" in chat.text  # the matter is taken from the article, not asked again
    assert "已经请了律师" in chat.text
    chat.tap("还没有")
    assert "进城务工人员" in chat.text
    chat.say("是，在城里工地打工")
    assert "7天之内" in chat.text
    chat.tap("没有或不清楚")
    result = chat.text
    assert "【法律援助自查结果：很可能符合】" in result
    assert "依据：法律援助法第31条、第42条" in result
    assert "不用再核查家里的经济情况" in result
    assert "身份证明" in result and "进城务工人员的材料" in result and "欠条" in result
    assert "正蓝旗法律援助中心" in result and "12348" in result
    assert "⚠️" not in result  # no deadline, no alarm
    assert "收入" not in result  # the migrant exemption spares the income questions
    chat.tap("请律师帮我申请")
    assert "T-0001" in chat.text
    [check] = _checks(seeded)
    assert check.outcome == "likely" and check.completed_at is not None
    assert check.answers == {"matter": "wages", "lawyer": "no", "migrant": "yes", "deadline": "none"}
    [ticket] = _tickets(seeded)
    assert check.ticket_id == ticket.id and ticket.intent == "legal_aid"
    assert "很可能符合" in ticket.question and "进城务工人员：是" in ticket.question
    assert "第31条、第42条" in (ticket.summary or "")
    assert _conversation(seeded, "u1").flow is None


def test_domestic_violence_victim_needs_no_means_test(seeded):  # type: ignore[no-untyped-def]
    chat = _villager(seeded)
    chat.say("我被家暴了，能申请法律援助吗")
    assert "家庭暴力、虐待、遗弃" in chat.text  # guessed from the question
    asked = [chat.text]
    chat.tap("还没有")
    asked.append(chat.text)
    chat.tap("没有或不清楚")
    result = chat.text
    assert "【法律援助自查结果：很可能符合】" in result
    assert "不看经济条件" in result and "依据：法律援助法第32条" in result
    assert not any("收入" in a or "几口人" in a for a in asked)
    assert "报警回执" in result and "经济困难情况的说明" not in result
    [check] = _checks(seeded)
    assert check.outcome == "likely" and check.answers["matter"] == "abuse"


def test_divorce_above_the_threshold_is_unlikely_with_alternatives(seeded):  # type: ignore[no-untyped-def]
    chat = _villager(seeded)
    chat.say("/aid")
    chat.tap("离婚、土地、借钱")
    chat.tap("还没有")
    chat.tap("都不是")
    chat.tap("3口人")
    assert "少于3600元" in chat.buttons()  # the threshold times the household, as a button
    chat.say("一万二")  # typed: 12000 / 3 = 4000 per person
    chat.say("没有")
    result = chat.text
    assert "【法律援助自查结果：暂不符合】" in result
    assert "4000元" in result and "1200元" in result and "内蒙古自治区" in result
    assert "人民调解" in result and "12348" in result
    assert "请律师帮我看看" in chat.buttons()
    [check] = _checks(seeded)
    assert check.outcome == "unlikely" and check.answers["income"] == 12000 and check.answers["household"] == 3


def test_urgent_deadline_is_said_first(seeded):  # type: ignore[no-untyped-def]
    chat = _villager(seeded)
    chat.say("法律援助")
    chat.tap("家庭暴力")
    chat.tap("还没有")
    chat.say("3天后开庭")
    assert chat.last[-1].text.startswith("⚠️ 期限不到7天")
    assert "第44条" in chat.text
    chat.tap("请律师帮我申请")
    [ticket] = _tickets(seeded)
    assert ticket.question.splitlines()[1].startswith("⚠️")  # the lawyer sees it first too


def test_urgent_but_unlikely_does_not_promise_aid(seeded):  # type: ignore[no-untyped-def]
    chat = _villager(seeded)
    chat.say("法律援助")
    chat.tap("车祸")
    chat.tap("还没有")
    chat.tap("都不是")
    chat.tap("1口人")
    chat.tap("1200元或更多")  # exactly at the threshold is not below it
    chat.say("明天开庭")
    assert chat.text.startswith(texts.AID_URGENT_NO_AID)
    assert "暂不符合" in chat.text and "第44条" not in chat.text


def test_interview_resumes_after_a_restart(seeded, clock):  # type: ignore[no-untyped-def]
    chat = _villager(seeded, "restart")
    chat.say("法律援助")
    chat.tap("赡养费")
    chat.tap("还没有")
    assert _conversation(seeded, "restart").step == "group"
    seeded.engine.dispose()
    # a new process: a new container and router on the same database
    again = build(seeded.settings, classifier=KeywordClassifier())
    again.router.clock = clock
    try:
        resumed = Chat(again, "restart")
        resumed.say("都不是")
        assert "几口人" in resumed.text
        assert _conversation(again, "restart").step == "household"
        resumed.say("2")
        resumed.say("一千五")
        resumed.say("没有")
        assert "很可能符合" in resumed.text and "750元" in resumed.text
        [check] = _checks(again)
        assert check.answers == {
            "matter": "support",
            "lawyer": "no",
            "group": "none",
            "household": 2,
            "income": 1500,
            "deadline": "none",
        }
    finally:
        again.engine.dispose()


def test_typed_answers_back_and_cancel(seeded):  # type: ignore[no-untyped-def]
    chat = _villager(seeded)
    chat.say("法律援助")
    chat.say("讨工资")
    assert "已经请了律师" in chat.text
    chat.say("返回")
    assert "哪方面的事" in chat.text
    chat.say("工伤")
    chat.say("没")
    chat.say("不是")  # not a migrant worker
    assert "低保、特困等社会救助对象" in chat.buttons()
    chat.say("返回")
    assert "进城务工人员" in chat.text
    chat.say("对")
    assert "7天之内" in chat.text
    chat.say("取消")
    assert texts.CANCELLED in chat.text
    assert _conversation(seeded, "u1").flow is None
    [check] = _checks(seeded)
    assert check.completed_at is None and check.outcome is None
    assert check.answers == {"matter": "work_injury", "lawyer": "no", "migrant": "yes"}
    # an old button after leaving: a clear message and a way to start again, nothing lost
    chat.say(payload="la:a:deadline:none")
    assert texts.AID_ENDED in chat.text and "重新自查" in chat.buttons()


def test_more_matters_and_back_from_the_second_page(seeded):  # type: ignore[no-untyped-def]
    chat = _villager(seeded)
    chat.say("/aid")
    chat.tap("更多事项")
    assert "见义勇为" in chat.buttons() and "讨要工钱" not in chat.buttons()
    chat.tap("返回")
    assert "讨要工钱" in chat.buttons()
    chat.tap("更多事项")
    chat.tap("见义勇为")
    chat.tap("还没有")
    chat.tap("没有或不清楚")
    assert "很可能符合" in chat.text and "第32条" in chat.text


def test_unclear_answer_is_asked_again_once_then_the_lawyer_is_offered(seeded):  # type: ignore[no-untyped-def]
    chat = _villager(seeded)
    chat.say("/aid")
    chat.tap("刑事案件")
    chat.say("嗯……这个嘛")
    assert texts.AID_UNCLEAR in chat.text and "犯罪嫌疑人、被告人" in chat.buttons()
    chat.say("哪个都说不上")
    assert texts.AID_UNCLEAR_AGAIN in chat.text
    assert {"请律师帮我看看", "继续自查", "退出"} <= set(chat.buttons())
    chat.tap("请律师帮我看看")
    [ticket] = _tickets(seeded)
    assert "未做完" in ticket.question and "事项：刑事案件" in ticket.question
    [check] = _checks(seeded)
    assert check.ticket_id == ticket.id and check.completed_at is None


def test_defendant_who_must_be_appointed_a_lawyer_is_told_to_ask_the_authority(seeded):  # type: ignore[no-untyped-def]
    chat = _villager(seeded)
    chat.say("/aid")
    chat.tap("刑事案件")
    chat.say("我儿子被抓了")
    chat.say("没有")
    chat.say("他才16岁")
    assert "公安机关、检察院或法院" in chat.text and "第25条" in chat.text
    [check] = _checks(seeded)
    assert check.outcome == "appoint"


def test_changing_an_earlier_answer_from_an_older_message(seeded):  # type: ignore[no-untyped-def]
    chat = _villager(seeded)
    chat.say("/aid")
    chat.tap("车祸")
    first_question = chat.last
    chat.tap("还没有")
    chat.tap("都不是")
    chat.last = first_question  # the villager scrolls up and taps the other answer
    chat.tap("已经请了")
    assert "暂不符合" in chat.text and "已经请了律师" in chat.text
    [check] = _checks(seeded)
    assert check.answers == {"matter": "accident", "lawyer": "yes"} and check.outcome == "unlikely"


def test_a_new_question_mid_interview_is_answered_normally(seeded):  # type: ignore[no-untyped-def]
    chat = _villager(seeded)
    chat.say("/aid")
    chat.tap("赡养费")
    chat.say("我家的承包地被村里收回去了怎么办")
    assert "法律依据" in chat.text or "您是想问" in chat.text  # the knowledge base answered
    assert _conversation(seeded, "u1").flow is None


def test_ask_lawyer_mid_interview_hands_over_with_the_answers(seeded):  # type: ignore[no-untyped-def]
    chat = _villager(seeded)
    chat.say("/aid")
    chat.tap("赡养费")
    chat.tap("还没有")
    chat.say("找律师")
    [ticket] = _tickets(seeded)
    assert "事项：赡养费、抚养费、扶养费" in ticket.question and "已请律师：还没有" in ticket.question
    assert _conversation(seeded, "u1").flow is None


def test_aid_without_a_village_asks_for_it_then_starts(seeded):  # type: ignore[no-untyped-def]
    chat = Chat(seeded, "new")
    chat.say("/aid")
    assert texts.AID_NEED_VILLAGE in chat.text
    chat.say("红星村")
    assert "哪方面的事" in chat.text and "讨要工钱" in chat.buttons()
    assert _conversation(seeded, "new").flow == "legal_aid"


def test_yes_after_the_result_opens_the_ticket_and_bound_lawyer_is_notified(seeded, clock):  # type: ignore[no-untyped-def]
    with transaction(seeded.session_factory) as s:
        lawyer = s.scalar(select(Lawyer).where(Lawyer.name == "巴特尔"))
        assert lawyer is not None
        code = roster.issue_bind_code(s, settings=seeded.settings, lawyer=lawyer, now=clock(), actor="test").code
    Chat(seeded, "lawyer-batu").say(f"/bind {code}")
    chat = _villager(seeded)
    chat.say("法律援助")
    chat.tap("家庭暴力")
    chat.tap("还没有")
    chat.tap("没有或不清楚")
    chat.say("好")
    assert "巴特尔律师" in chat.text
    with seeded.session_factory() as s:
        notes = [o.text for o in s.scalars(select(OutboxMessage).where(OutboxMessage.purpose != "reply"))]
    assert any("法律援助自查：很可能符合" in n and "事项：家庭暴力、虐待、遗弃" in n for n in notes)
    # a second tap on the old button does not open a second ticket
    chat.say(payload=f"la:handover:{_checks(seeded)[0].id}")
    assert len(_tickets(seeded)) == 1 and "T-0001" in chat.text


def test_answers_join_an_already_open_ticket(seeded):  # type: ignore[no-untyped-def]
    chat = _villager(seeded)
    chat.say("找律师 老板欠我工钱不给")
    [ticket] = _tickets(seeded)
    chat.say("法律援助")
    chat.tap("讨要工钱")
    chat.tap("还没有")
    chat.tap("是")
    chat.tap("没有或不清楚")
    chat.tap("请律师帮我申请")
    assert ticket.code in chat.text
    assert len(_tickets(seeded)) == 1
    assert _checks(seeded)[0].ticket_id == ticket.id


def test_regional_threshold_from_settings(seeded):  # type: ignore[no-untyped-def]
    seeded.router.settings = seeded.settings.model_copy(update={"legal_aid_thresholds": {"锡林郭勒盟": 2000}})
    chat = _villager(seeded)
    chat.say("/aid")
    chat.tap("车祸")
    chat.tap("还没有")
    chat.tap("都不是")
    chat.tap("1口人")
    assert "少于2000元" in chat.buttons()
    chat.say("1500元")
    chat.tap("没有或不清楚")
    assert "很可能符合" in chat.text and "锡林郭勒盟" in chat.text and "2000元" in chat.text


def test_bare_keyword_starts_the_check_without_an_article(seeded):  # type: ignore[no-untyped-def]
    chat = _villager(seeded)
    replies = chat.say("法律援助")
    assert len(replies) == 1 and replies[0].text.startswith(texts.AID_INTRO)


def test_legal_aid_centre_is_configured_per_county_from_the_cli(seeded, db_url, monkeypatch):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from admin.cli import app
    from core.config import get_settings

    monkeypatch.setenv("DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            app,
            [
                "county",
                "legal-aid",
                "正蓝旗",
                "--centre",
                "正蓝旗法律援助工作站（上都镇司法所）",
                "--phone",
                "0479-4221234",
            ],
        )
        missing = CliRunner().invoke(app, ["county", "legal-aid", "不存在旗"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert missing.exit_code == 1
    chat = _villager(seeded)
    chat.say("法律援助")
    chat.tap("家庭暴力")
    chat.tap("还没有")
    chat.tap("没有或不清楚")
    assert "正蓝旗法律援助工作站（上都镇司法所），电话 0479-4221234" in chat.text


def test_a_legal_aid_question_starts_the_check_with_the_real_model(seeded, real_classifier):  # type: ignore[no-untyped-def]
    seeded.router.services.classifier = real_classifier
    chat = _villager(seeded)
    chat.say("没钱请律师怎么办，能不能申请免费的法律援助")
    assert texts.AID_INTRO in chat.text and "讨要工钱" in chat.buttons()
    chat.tap("讨要工钱")
    chat.say("还没请")
    chat.say("是的")
    chat.say("没有")
    assert "很可能符合" in chat.text
