"""The dialogue core: storage before processing, redelivery, onboarding, state across restarts."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from sqlalchemy import func, select

from core.messages import Kind
from core.models import ChannelAccount, Conversation, Message, Villager
from tests.helpers import Chat


def _count(container, model, *where) -> int:  # type: ignore[no-untyped-def]
    with container.session_factory() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_greeting_offers_village_choice(seeded):  # type: ignore[no-untyped-def]
    chat = Chat(seeded)
    chat.say("你好")
    assert "您好" in chat.text and "嘎查" in chat.text
    assert {"正蓝旗", "阿巴嘎旗"} <= set(chat.buttons())


def test_onboarding_by_buttons_step_by_step(seeded):  # type: ignore[no-untyped-def]
    chat = Chat(seeded)
    chat.say("你好")
    chat.tap("阿巴嘎旗")
    assert "苏木" in chat.text and "别力古台镇" in chat.buttons()
    chat.tap("别力古台镇")
    assert "巴彦图嘎嘎查" in chat.buttons()
    chat.tap("巴彦图嘎嘎查")
    assert "阿巴嘎旗别力古台镇巴彦图嘎嘎查" in chat.text
    assert "乌日娜律师" in chat.text  # the village's assigned lawyer is shown
    with seeded.session_factory() as s:
        villager = s.scalar(select(Villager))
        assert villager is not None and villager.village.code == "ab01"


def test_onboarding_by_typed_name_is_fuzzy(seeded):  # type: ignore[no-untyped-def]
    chat = Chat(seeded, "typed")
    chat.say("你好")
    chat.say("红星")  # suffix 村 left out
    assert "正蓝旗上都镇红星村" in chat.text
    other = Chat(seeded, "typo")
    other.say("你好")
    other.say("查干淖儿嘎查")  # 儿 for 尔
    assert "查干淖尔嘎查" in other.text


def test_ambiguous_typed_name_offers_candidates(seeded):  # type: ignore[no-untyped-def]
    chat = Chat(seeded)
    chat.say("你好")
    chat.say("胡舒")  # 哈登胡舒 and 宝日胡舒
    assert {"桑根达来镇·哈登胡舒嘎查", "桑根达来镇·宝日胡舒嘎查"} <= set(chat.buttons())
    chat.tap("宝日胡舒")
    assert "宝日胡舒嘎查" in chat.text


def test_question_before_village_is_answered_after_choosing(seeded):  # type: ignore[no-untyped-def]
    chat = Chat(seeded)
    chat.say("老板欠我工钱不给怎么办")
    assert "嘎查" in chat.text  # asked for the village first
    chat.say("红星村")
    assert "红星村" in chat.text
    assert len(chat.last) >= 2  # the village confirmation, then the kept question handled
    with seeded.session_factory() as s:
        conv = s.scalar(select(Conversation))
        assert conv is not None and conv.flow is None


def test_village_can_be_changed(seeded):  # type: ignore[no-untyped-def]
    chat = Chat(seeded)
    chat.choose_village("阿巴嘎旗", "别力古台镇", "巴彦图嘎嘎查")
    chat.say("换村")
    assert "嘎查" in chat.text
    chat.say("五一村")
    with seeded.session_factory() as s:
        assert s.scalar(select(Villager)).village.code == "zl02"  # type: ignore[union-attr]


def test_redelivered_message_is_answered_once(seeded):  # type: ignore[no-untyped-def]
    chat = Chat(seeded)
    first = chat.say("你好", message_id="tg-1001")
    second = chat.say("你好", message_id="tg-1001")
    assert [r.text for r in first] == [r.text for r in second]
    assert _count(seeded, Message, Message.direction == "in") == 1
    assert _count(seeded, Message, Message.direction == "out") == len(first)
    result = seeded.router.handle(
        __import__("core.messages", fromlist=["IncomingMessage"]).IncomingMessage(
            channel="webchat", user_id="u1", message_id="tg-1001", text="你好"
        )
    )
    assert result.duplicate


def test_a_redelivery_gets_every_reply_as_first_given_in_order_with_its_buttons(seeded):  # type: ignore[no-untyped-def]
    """The replies are stored by one statement on PostgreSQL (their texts and buttons side by side)."""
    chat = Chat(seeded)
    chat.say("老板欠我工钱不给怎么办")
    first = chat.say("红星村", message_id="web-2")
    again = chat.say("红星村", message_id="web-2")
    assert len(first) >= 2 and any(r.buttons for r in first)
    assert [(r.text, r.buttons) for r in again] == [(r.text, r.buttons) for r in first]
    with seeded.session_factory() as s:
        stored = s.scalars(select(Message).where(Message.direction == "out").order_by(Message.id)).all()
        assert [m.text for m in stored[-len(first) :]] == [r.text for r in first]


def test_every_inbound_message_is_stored_before_processing(seeded, monkeypatch):  # type: ignore[no-untyped-def]
    import handlers.router as router_module

    def crash(ctx):  # type: ignore[no-untyped-def]
        raise RuntimeError("worker died")

    monkeypatch.setattr(router_module, "dispatch", crash)
    chat = Chat(seeded)
    replies = chat.say("我的地被占了", message_id="m-crash")
    assert "消息已经保存" in replies[0].text
    with seeded.session_factory() as s:
        stored = s.scalar(select(Message).where(Message.external_id == "m-crash"))
        assert stored is not None and stored.status == "received" and stored.attempts == 1
    monkeypatch.undo()
    # processed later (recovery or a retry of the same id): exactly one answer
    result = seeded.router.process(stored.id)
    assert result.replies and not result.duplicate
    assert seeded.router.process(stored.id).duplicate


def test_media_and_empty_and_emoji_get_clear_messages(seeded):  # type: ignore[no-untyped-def]
    chat = Chat(seeded)
    assert "只能看文字" in chat.say(kind=Kind.IMAGE)[0].text
    assert "只能看文字" in chat.say(kind=Kind.STICKER)[0].text
    assert "没有写字" in chat.say("   ")[0].text
    assert "表情" in chat.say("😀😀👍")[0].text
    assert _count(seeded, Message, Message.direction == "in") == 4


def test_emergency_first_even_before_choosing_a_village(seeded):  # type: ignore[no-untyped-def]
    chat = Chat(seeded)
    replies = chat.say("救命 他在打我")
    assert "110" in replies[0].text and "120" in replies[0].text


def test_lawyer_contact_shows_assigned_lawyer_and_next_duty(seeded):  # type: ignore[no-untyped-def]
    chat = Chat(seeded)
    chat.choose_village("正蓝旗", "上都镇", "红星村")
    chat.say("我们村律师是谁")
    assert "巴特尔律师" in chat.text and "13904790103" in chat.text and "下次来村坐班" in chat.text


def test_conversation_step_survives_a_restart_in_a_new_process(seeded, db_url):  # type: ignore[no-untyped-def]
    chat = Chat(seeded, "restart-user")
    chat.say("你好")
    chat.tap("正蓝旗")  # now at the township step
    seeded.engine.dispose()
    script = textwrap.dedent(
        f"""
        from admin.container import build
        from core.config import Settings
        from core.messages import IncomingMessage
        from tests.fakes import KeywordClassifier
        c = build(Settings(env="test", database_url={db_url!r}, _env_file=None), classifier=KeywordClassifier())
        with c.session_factory() as s:
            from sqlalchemy import select
            from core.models import Conversation, ChannelAccount
            acc = s.scalar(select(ChannelAccount).where(ChannelAccount.external_id == "restart-user"))
            conv = s.scalar(select(Conversation).where(Conversation.account_id == acc.id))
            print("STEP", conv.flow, conv.step)
        r = c.router.handle(IncomingMessage(channel="webchat", user_id="restart-user", message_id="after-restart", text="上都镇"))
        print("REPLY", r.replies[0].text.replace(chr(10), " "))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True).stdout
    assert "STEP onboarding choose" in out
    with seeded.session_factory() as s:
        acc = s.scalar(select(ChannelAccount).where(ChannelAccount.external_id == "restart-user"))
        assert acc is not None
    assert "REPLY" in out


def test_a_first_message_the_classifier_does_not_place_is_kept_for_after_onboarding(seeded):  # type: ignore[no-untyped-def]
    chat = Chat(seeded, "kept")
    chat.say("我家那口子的事想问问")  # the fake classifier says out_of_scope
    with seeded.session_factory() as s:
        conv = s.scalar(select(Conversation))
        assert conv is not None and conv.data.get("pending_text") == "我家那口子的事想问问"


def test_held_messages_are_released_by_the_next_message_and_only_then_is_the_outbox_touched(seeded):  # type: ignore[no-untyped-def]
    from sqlalchemy import event

    from core.messages import OutgoingMessage
    from core.models import OutboxMessage
    from handlers.notify import enqueue

    chat = Chat(seeded, "away")
    chat.say("你好")
    with seeded.session_factory() as s, s.begin():
        account = s.scalar(select(ChannelAccount).where(ChannelAccount.external_id == "away"))
        assert account is not None and not account.holds_messages
        account.unreachable = True  # e.g. they blocked the bot, then the lawyer answered
        enqueue(
            s, account=account, message=OutgoingMessage("律师答复：可以。"), purpose="relay", dedup_key="relay:held"
        )

    statements: list[str] = []

    def remember(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(seeded.engine, "before_cursor_execute", remember)
    try:
        chat.say("我回来了")
        released = [s for s in statements if s.startswith("UPDATE outbox")]
        statements.clear()
        chat.say("还在吗")
        again = [s for s in statements if s.startswith("UPDATE outbox")]
    finally:
        event.remove(seeded.engine, "before_cursor_execute", remember)
    assert len(released) == 1 and again == []
    with seeded.session_factory() as s:
        row = s.scalar(select(OutboxMessage).where(OutboxMessage.dedup_key == "relay:held"))
        account = s.scalar(select(ChannelAccount).where(ChannelAccount.external_id == "away"))
        assert row is not None and row.status == "pending"
        assert account is not None and not account.unreachable and not account.holds_messages


def test_village_matching_ranks_by_likeness_and_keeps_the_best_few(seeded):  # type: ignore[no-untyped-def]
    from handlers import directory

    with seeded.session_factory() as s:
        both = directory.match_village(s, "胡舒")
        assert [m.village.name for m in both[:2]] == ["哈登胡舒嘎查", "宝日胡舒嘎查"]  # a tie: by name
        assert both[0].score == both[1].score > 0.8
        assert both[1].village.township.name == "桑根达来镇"  # loaded with its township, for the buttons
        assert [m.village.name for m in directory.match_village(s, "胡舒", limit=1)] == ["哈登胡舒嘎查"]
        assert directory.match_village(s, "红星村")[0].village.name == "红星村"
        assert directory.match_village(s, "无关的字") == []


def test_a_new_senders_first_message_makes_their_account_as_the_model_would(seeded):  # type: ignore[no-untyped-def]
    """On PostgreSQL a new sender's account is made by one autocommitted INSERT before the
    message is stored; it must hold what the ORM would have made (the defaults included)."""
    Chat(seeded, "brand-new", name="其木格").say("你好")
    with seeded.session_factory() as s:
        account = s.scalar(select(ChannelAccount).where(ChannelAccount.external_id == "brand-new"))
        assert account is not None
        assert (account.channel, account.display_name) == ("webchat", "其木格")
        assert (account.unreachable, account.holds_messages, account.lawyer_id) == (False, False, None)
        assert account.rate_window_count == 1  # this first message counted once, not twice
        assert account.created_at is not None and account.last_inbound_at is not None


def test_first_messages_of_one_new_sender_at_once_make_one_account(seeded):  # type: ignore[no-untyped-def]
    import threading

    from core.messages import IncomingMessage

    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def first(i: int) -> None:
        start.wait()
        try:
            seeded.router.handle(IncomingMessage("webchat", "racer", f"racer:{i}", text="你好"))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=first, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _count(seeded, ChannelAccount, ChannelAccount.external_id == "racer") == 1
    assert _count(seeded, Message, Message.direction == "in", Message.external_id.like("racer:%")) == 4


def _reads_during(container, action) -> list[str]:  # type: ignore[no-untyped-def]
    """The SELECTs sent while ``action`` runs."""
    from sqlalchemy import event

    sent: list[str] = []

    def note(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        sent.append(statement)

    event.listen(container.engine, "before_cursor_execute", note)
    try:
        action()
    finally:
        event.remove(container.engine, "before_cursor_execute", note)
    return [s for s in sent if s.lstrip().startswith("SELECT")]


def _loads_orm_sender(statement: str) -> bool:
    # an ORM load reads every column: these two are read by no plain query of the hot path
    return "unreachable_reason" in statement or "conversations.updated_at" in statement


def test_a_villagers_question_reads_the_sender_without_loading_orm_objects(seeded):  # type: ignore[no-untyped-def]
    """The common message reads who sent it by one plain statement (handlers.context.Sender);
    the account, villager and conversation are loaded only for a handler that changes them."""
    chat = Chat(seeded, "asker")
    chat.say("你好")
    chat.tap("阿巴嘎旗")
    chat.tap("别力古台镇")
    chat.tap("巴彦图嘎嘎查")
    reads = _reads_during(seeded, lambda: chat.say("老板拖欠工资不给怎么办"))
    assert chat.text
    assert not any(_loads_orm_sender(s) for s in reads), reads
    with seeded.session_factory() as s:  # the village chosen by the buttons was kept, and the flow left
        conversation = s.scalar(select(Conversation).join(ChannelAccount).where(ChannelAccount.external_id == "asker"))
        assert conversation is not None and conversation.flow is None


def test_choosing_the_village_registers_the_villager_by_plain_statements(seeded):  # type: ignore[no-untyped-def]
    """The message that chooses the village (two hundred villagers who start together send it
    together) writes the villager, the account and the flow by plain statements: no ORM load."""
    chat = Chat(seeded, "settler", name="其其格")
    chat.say("你好")
    chat.tap("阿巴嘎旗")
    chat.tap("别力古台镇")
    reads = _reads_during(seeded, lambda: chat.tap("巴彦图嘎嘎查"))
    assert "阿巴嘎旗别力古台镇巴彦图嘎嘎查" in chat.text and "乌日娜律师" in chat.text
    assert not any(_loads_orm_sender(s) for s in reads), reads
    with seeded.session_factory() as s:
        account = s.scalar(select(ChannelAccount).where(ChannelAccount.external_id == "settler"))
        assert account is not None and account.villager is not None
        assert account.villager.village is not None and account.villager.village.code == "ab01"
        assert account.villager.display_name == "其其格"
        conversation = s.scalar(select(Conversation).where(Conversation.account_id == account.id))
        assert conversation is not None and (conversation.flow, conversation.step, conversation.data) == (
            None,
            None,
            {},
        )


def test_an_old_village_button_moves_the_villager_it_does_not_make_another(seeded):  # type: ignore[no-untyped-def]
    """A village's button tapped outside onboarding: the flow is entered (its ORM objects loaded),
    then the villager moved by plain statements."""
    from core.models import Village

    chat = Chat(seeded, "mover")
    chat.choose_village("阿巴嘎旗", "别力古台镇", "巴彦图嘎嘎查")
    with seeded.session_factory() as s:
        red_star = s.scalar(select(Village).where(Village.code == "zl01"))
        assert red_star is not None
    chat.say(payload=f"ob:v:{red_star.id}")
    assert "正蓝旗上都镇红星村" in chat.text and "巴特尔律师" in chat.text
    chat.say("我们村律师是谁")
    assert "巴特尔律师" in chat.text and "乌日娜" not in chat.text
    assert _count(seeded, Villager) == 1
    with seeded.session_factory() as s:
        villager = s.scalar(select(Villager))
        assert villager is not None and villager.village_id == red_star.id
        assert s.scalar(select(Conversation.flow)) is None


def test_a_handler_that_loaded_the_account_sees_the_village_it_chose(seeded):  # type: ignore[no-untyped-def]
    """The villager is registered by plain statements; an account a handler had loaded as an ORM
    object before is read again afterwards, not left saying the villager has no village."""
    from core.db import transaction
    from core.messages import IncomingMessage
    from core.models import Village
    from handlers import onboarding

    router = seeded.router
    message_id, _ = router.store(IncomingMessage(channel="webchat", user_id="loaded", message_id="l-1", text="你好"))
    with transaction(seeded.session_factory) as session:
        village_id = session.scalar(select(Village.id).where(Village.code == "ab02"))
        ctx = router._context(session, router._inbound(session, message_id), router.clock())
        assert ctx.account.villager is None and ctx.village_id is None  # loaded before the choice
        onboarding.set_village(ctx, village_id)
        assert ctx.village_id == village_id and ctx.villager_id is not None
        assert ctx.villager is not None and ctx.villager.village_id == village_id
        assert ctx.account.villager_id == ctx.villager_id


def test_a_village_lists_only_the_lawyers_serving_it_today_in_assignment_order(seeded, clock):  # type: ignore[no-untyped-def]
    """``directory.place_with_lawyers`` (one plain query, the onboarding reply) gives the lawyers
    ``directory.village_lawyers`` (the ORM query tickets use) gives: ended assignments and inactive
    lawyers left out."""
    import datetime as dt

    from core.models import Assignment, Lawyer, Village
    from handlers import directory

    today = clock().date()
    with seeded.session_factory() as s:
        village = s.scalar(select(Village).where(Village.code == "zl02"))
        assert village is not None
        later = Lawyer(name="后来者", firm="甲所", phone="13900000001")
        gone = Lawyer(name="已停用", firm="乙所", phone="13900000002", active=False)
        ended = Lawyer(name="已期满", firm="丙所", phone="13900000003")
        earlier = Lawyer(name="先来者", firm="丁所", phone="13900000004")
        s.add_all([later, gone, ended, earlier])
        s.flush()
        s.add_all(
            [
                Assignment(lawyer_id=later.id, village_id=village.id, start_date=today),
                Assignment(lawyer_id=gone.id, village_id=village.id, start_date=dt.date(2000, 1, 1)),
                Assignment(
                    lawyer_id=ended.id,
                    village_id=village.id,
                    start_date=dt.date(2000, 1, 1),
                    end_date=today - dt.timedelta(days=1),
                ),
                Assignment(lawyer_id=earlier.id, village_id=village.id, start_date=dt.date(2000, 1, 1)),
            ]
        )
        s.commit()
        found = directory.place_with_lawyers(s, village.id, on=today)
        assert found is not None
        place, lawyers = found
        assert place.full_name == village.full_name == "正蓝旗上都镇五一村"
        assert [lw.name for lw in lawyers] == ["先来者", "巴特尔", "后来者"]
        assert [lw.name for lw in lawyers] == [lw.name for lw in directory.village_lawyers(s, village.id, on=today)]
        assert directory.place_with_lawyers(s, -1, on=today) is None
    chat = Chat(seeded)
    chat.choose_village("正蓝旗", "上都镇", "五一村")
    assert "先来者" in chat.text and "后来者" in chat.text and "13904790103" in chat.text
    assert "已停用" not in chat.text and "已期满" not in chat.text
