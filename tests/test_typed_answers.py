"""Typed answers: amounts of money, counts, yes/no and days, as villagers write them."""

from __future__ import annotations

import pytest

from handlers.typed_answers import parse_amount, parse_count, parse_days, parse_number, parse_yes_no


@pytest.mark.parametrize(
    ("typed", "amount"),
    [
        ("1500", 1500),
        ("1500元", 1500),
        ("1,500块", 1500),
        ("一千五", 1500),
        ("一千五百元", 1500),
        ("1千5", 1500),
        ("1.2万", 12000),
        ("一万二", 12000),
        ("一万五千", 15000),
        ("2w", 20000),
        ("3千块", 3000),
        ("三千二", 3200),
        ("两千多", 2000),
        ("一千零五", 1005),
        ("五百", 500),
        ("十二", 12),
        ("二十五", 25),
        ("一百二十", 120),
        ("每月大概2000左右", 2000),
        ("一个月三千块钱", 3000),
        ("全家一共4000", 4000),
        ("没有收入", 0),
        ("没有", 0),
        ("０", 0),  # full-width digit
        ("3000到4000", None),
        ("很多", None),
        ("", None),
    ],
)
def test_amounts(typed, amount):  # type: ignore[no-untyped-def]
    assert parse_amount(typed) == amount


@pytest.mark.parametrize(
    ("typed", "count"),
    [
        ("3", 3),
        ("三口人", 3),
        ("5个人", 5),
        ("我家一共四口", 4),
        ("就我自己", 1),
        ("0", None),
        ("40", None),
        ("许多", None),
    ],
)
def test_counts(typed, count):  # type: ignore[no-untyped-def]
    assert parse_count(typed) == count


@pytest.mark.parametrize(
    ("typed", "answer"),
    [
        ("是", True),
        ("是的", True),
        ("对", True),
        ("对的啊", True),
        ("嗯", True),
        ("好", True),
        ("没有", False),
        ("没", False),
        ("不是", False),
        ("还没请呢", False),
        ("不用了", False),
        ("不知道", None),
        ("说不清", None),
        ("随便聊聊天吧", None),
    ],
)
def test_yes_no(typed, answer):  # type: ignore[no-untyped-def]
    assert parse_yes_no(typed) is answer


@pytest.mark.parametrize(
    ("typed", "days"),
    [
        ("3天后开庭", 3),
        ("三天", 3),
        ("明天", 1),
        ("今天下午", 0),
        ("十天", 10),
        ("两个月", 60),
        ("一周", 7),
        ("没有", None),
    ],
)
def test_days(typed, days):  # type: ignore[no-untyped-def]
    assert parse_days(typed) == days


def test_number_rejects_other_characters():  # type: ignore[no-untyped-def]
    assert parse_number("12a") is None
    assert parse_number("万") == 10000
