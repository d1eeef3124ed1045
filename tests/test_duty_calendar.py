"""The duty calendar: RRULE rules expanded into sessions, idempotently; one session moved or cancelled alone."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete, select

from core.clock import to_local
from core.db import transaction
from core.models import DutyRule, DutySession, Village
from scheduling import calendar
from tests.conftest import T0
from tests.scheduling_helpers import (
    lawyer_named,
    local,
    seeded_without_kb,  # noqa: F401  (overrides `seeded`: no KB)
)

RULE = "FREQ=MONTHLY;BYDAY=+2TU,+4TU"  # 每月第2、4个周二


def _village(container, code: str) -> Village:  # type: ignore[no-untyped-def]
    with container.session_factory() as s:
        village = s.scalar(select(Village).where(Village.code == code))
        assert village is not None
        return village


def _add_rule(container, *, rrule: str = RULE, code: str = "ab03", name: str = "乌日娜") -> tuple[int, int]:  # type: ignore[no-untyped-def]
    lawyer = lawyer_named(container, name)
    with transaction(container.session_factory) as s:
        rule, planned = calendar.create_rule(
            s,
            settings=container.settings,
            lawyer=lawyer,
            village=s.scalar(select(Village).where(Village.code == code)),
            rrule=rrule,
            start_time="09:00",
            duration_minutes=240,
            place="",
            kind="onsite",
            now=T0,
            actor="test",
        )
        return rule.id, planned


@pytest.fixture
def free(seeded):  # type: ignore[no-untyped-def]
    """The demo calendar without 乌日娜's hand-planned sessions, so her rule has every slot to itself."""
    with transaction(seeded.session_factory) as s:
        s.execute(delete(DutySession).where(DutySession.lawyer_id == lawyer_named(seeded, "乌日娜").id))
    return seeded


def _rule_sessions(container, rule_id: int) -> list[DutySession]:  # type: ignore[no-untyped-def]
    with container.session_factory() as s:
        return list(
            s.scalars(select(DutySession).where(DutySession.rule_id == rule_id).order_by(DutySession.starts_at))
        )


def test_second_and_fourth_tuesday_9_to_13_local_stored_as_utc(free):  # type: ignore[no-untyped-def]
    rule_id, planned = _add_rule(free)
    sessions = _rule_sessions(free, rule_id)
    assert planned == len(sessions) == 6  # Dec, Jan, Feb: three months ahead
    assert [to_local(s.starts_at).date() for s in sessions[:4]] == [
        dt.date(2026, 12, 8),
        dt.date(2026, 12, 22),
        dt.date(2027, 1, 12),
        dt.date(2027, 1, 26),
    ]
    first = sessions[0]
    assert first.starts_at == dt.datetime(2026, 12, 8, 1, 0) and first.ends_at == dt.datetime(2026, 12, 8, 5, 0)
    assert first.place == "嘎查党群服务中心"  # the village's duty place when none is given
    assert calendar.describe_rrule(RULE) == "每月第2、4个周二"


def test_expansion_skips_a_slot_where_the_lawyer_is_already_on_duty(seeded):  # type: ignore[no-untyped-def]
    # 巴彦图嘎嘎查 (ab01) already has 乌日娜 on 12-08 and 12-22 09:00–13:00, the 2nd and 4th Tuesdays.
    rule_id, planned = _add_rule(seeded, code="ab01")
    assert planned == 4
    assert dt.date(2026, 12, 8) not in [to_local(s.starts_at).date() for s in _rule_sessions(seeded, rule_id)]


def test_expansion_is_idempotent_and_rolls_forward(free):  # type: ignore[no-untyped-def]
    rule_id, _ = _add_rule(free)
    assert calendar.expand_rules(free.session_factory, free.settings, now=T0) == 0
    assert calendar.expand_rules(free.session_factory, free.settings, now=T0 + dt.timedelta(hours=1)) == 0
    later = T0 + dt.timedelta(days=40)  # a month on, the horizon moved: March's sessions appear
    assert calendar.expand_rules(free.session_factory, free.settings, now=later) == 2
    starts = [s.starts_at for s in _rule_sessions(free, rule_id)]
    assert len(starts) == len(set(starts)) == 8


def test_moving_or_cancelling_one_session_leaves_the_rest_and_is_not_replanned(free):  # type: ignore[no-untyped-def]
    rule_id, _ = _add_rule(free)
    first, second, *rest = _rule_sessions(free, rule_id)
    lawyer = lawyer_named(free, "乌日娜")
    with transaction(free.session_factory) as s:
        calendar.update_session(
            s,
            s.get(DutySession, first.id),
            lawyer=lawyer,
            starts_at=local(2026, 12, 9, 9, 0),
            ends_at=local(2026, 12, 9, 13, 0),
            place="",
            kind="onsite",
            now=T0,
            actor="test",
        )
        calendar.cancel_session(s, s.get(DutySession, second.id), reason="节假日", now=T0, actor="test")
    calendar.expand_rules(free.session_factory, free.settings, now=T0 + dt.timedelta(days=1))
    after = _rule_sessions(free, rule_id)
    assert len(after) == 6  # the old slot of the moved session was not planned again
    by_id = {s.id: s for s in after}
    assert to_local(by_id[first.id].starts_at).date() == dt.date(2026, 12, 9) and by_id[first.id].version == 2
    assert by_id[second.id].status == "cancelled"
    assert all(by_id[s.id].status == "planned" and by_id[s.id].starts_at == s.starts_at for s in rest)


def test_stopping_a_rule_cancels_its_future_sessions(free):  # type: ignore[no-untyped-def]
    rule_id, _ = _add_rule(free)
    with transaction(free.session_factory) as s:
        assert calendar.deactivate_rule(s, s.get(DutyRule, rule_id), now=T0, actor="test") == 6
    assert {s.status for s in _rule_sessions(free, rule_id)} == {"cancelled"}
    assert calendar.expand_rules(free.session_factory, free.settings, now=T0 + dt.timedelta(days=60)) == 0


@pytest.mark.parametrize(
    ("rrule", "words"),
    [
        ("", "请填写"),
        ("FREQ=DAILY", "每周"),
        ("FREQ=MONTHLY;BYDAY=XX", "写得不对"),
        ("FREQ=WEEKLY;UNTIL=20200101T000000Z", "不会产生"),
    ],
)
def test_bad_rules_are_refused_with_a_clear_message(seeded, rrule, words):  # type: ignore[no-untyped-def]
    with pytest.raises(calendar.CalendarError, match=words):
        _add_rule(seeded, rrule=rrule)


def test_rules_and_sessions_need_the_lawyer_to_advise_the_village(seeded):  # type: ignore[no-untyped-def]
    with pytest.raises(calendar.CalendarError, match="不是红星村的法律顾问"):
        _add_rule(seeded, code="zl01", name="乌日娜")
    lawyer = lawyer_named(seeded, "乌日娜")
    with transaction(seeded.session_factory) as s, pytest.raises(calendar.CalendarError, match="法律顾问"):
        calendar.create_session(
            s,
            lawyer=lawyer,
            village=s.scalar(select(Village).where(Village.code == "zl01")),
            starts_at=local(2026, 12, 9, 9),
            ends_at=local(2026, 12, 9, 12),
            place=None,
            kind="onsite",
            now=T0,
            actor="test",
        )


def test_a_lawyer_cannot_be_in_two_places_at_once(seeded):  # type: ignore[no-untyped-def]
    lawyer = lawyer_named(seeded, "乌日娜")
    with transaction(seeded.session_factory) as s, pytest.raises(calendar.CalendarError, match="同一时间已有坐班"):
        calendar.create_session(
            s,
            lawyer=lawyer,
            village=s.scalar(select(Village).where(Village.code == "ab02")),
            starts_at=local(2026, 12, 8, 11),  # overlaps 巴彦图嘎嘎查 09:00–13:00
            ends_at=local(2026, 12, 8, 15),
            place=None,
            kind="lecture",
            now=T0,
            actor="test",
        )


def test_describe_common_rules():  # type: ignore[no-untyped-def]
    assert calendar.describe_rrule("FREQ=WEEKLY;BYDAY=WE") == "每周三"
    assert calendar.describe_rrule("FREQ=WEEKLY;INTERVAL=2;BYDAY=FR") == "每2周的周五"
    assert calendar.describe_rrule("FREQ=MONTHLY;BYDAY=-1FR") == "每月最后一个周五"
    assert calendar.describe_rrule("FREQ=MONTHLY;BYMONTHDAY=5,20") == "每月5日、20日"
