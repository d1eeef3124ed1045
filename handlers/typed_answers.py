"""Reading short typed answers: yes/no, amounts of money ("一千五", "1.2万", "3千块"), counts, days.

Villagers answer a flow's question by typing as often as by tapping; these small pure functions
turn the usual ways of writing an answer into a value, or ``None`` when the text is not one.
"""

from __future__ import annotations

import re

from nlu.normalize import normalize

# "." is kept: it is the decimal point of "1.2万".
_PUNCT = re.compile(r"[\s,，。!！?？、~～…;；:：\"'“”‘’()（）【】]+")
_TRAILING_PARTICLES = "啊呀吧的呢嘛哈哦噢了啦"

YES_WORDS = frozenset(
    {
        "是",
        "对",
        "有",
        "嗯",
        "好",
        "要",
        "行",
        "可以",
        "需要",
        "是是",
        "对对",
        "嗯嗯",
        "好好",
        "请了",
        "已经请了",
        "请过",
        "有请",
        "当然",
        "没错",
        "yes",
        "y",
        "ok",
    }
)
NO_WORDS = frozenset(
    {
        "不",
        "否",
        "无",
        "没",
        "没有",
        "不是",
        "不对",
        "不用",
        "不要",
        "不需要",
        "没请",
        "还没",
        "还没有",
        "还没请",
        "都不是",
        "都没有",
        "no",
        "n",
    }
)
UNSURE_WORDS = frozenset({"不知道", "不清楚", "不确定", "说不清", "说不好", "不好说", "不晓得", "不懂", "不记得"})
# A negation at the start decides: "没请律师", "不是农民工".
_NO_PREFIXES = ("没", "不", "还没", "无")

_DIGITS = dict(zip("零一二三四五六七八九", range(10), strict=True)) | {"〇": 0, "两": 2, "俩": 2}
_SMALL_UNITS = {"十": 10, "百": 100, "千": 1000, "k": 1000}
_BIG_UNITS = {"万": 10_000, "w": 10_000}
# Words around an amount that do not change it. Longest first, so "一个月" goes before "一" is read.
_AMOUNT_FILLERS = tuple(
    sorted(
        (
            "人民币",
            "块钱",
            "元钱",
            "元",
            "块",
            "钱",
            "左右",
            "上下",
            "大概",
            "大约",
            "差不多",
            "将近",
            "不到",
            "最多",
            "顶多",
            "约",
            "每个月",
            "一个月",
            "每月",
            "个月",
            "月收入",
            "收入",
            "家里",
            "全家",
            "一家",
            "总共",
            "一共",
            "加起来",
            "能挣",
            "挣",
            "赚",
            "多",
            "来",
            "有",
            "是",
            "就",
            "我们",
            "我",
            "月",
        ),
        key=len,
        reverse=True,
    )
)
_COUNT_FILLERS = tuple(
    sorted(
        ("一共", "总共", "我们家", "我家", "家里", "全家", "有", "是", "就", "口人", "个人", "口", "人", "个", "位"),
        key=len,
        reverse=True,
    )
)
ZERO_INCOME_WORDS = frozenset({"没有", "没", "无", "零", "没收入", "没有收入", "无收入", "没钱", "一分没有", "0"})


def clean(text: str, *, particles: bool = True) -> str:
    """Normalised, without punctuation, spaces or (``particles``) trailing particles ("是的啊" → "是")."""
    out = _PUNCT.sub("", normalize(text)).strip(".")
    while particles and len(out) > 1 and out[-1] in _TRAILING_PARTICLES:
        out = out[:-1]
    return out


def parse_yes_no(text: str) -> bool | None:
    word = clean(text)
    if not word or word in UNSURE_WORDS:
        return None
    for form in (clean(text, particles=False), word):  # "请了" is an answer, its "了" is not a particle
        if form in NO_WORDS:
            return False
        if form in YES_WORDS:
            return True
    if word.startswith(_NO_PREFIXES) and len(word) <= 8:
        return False
    return None


def is_unsure(text: str) -> bool:
    return clean(text) in UNSURE_WORDS


def parse_number(text: str) -> float | None:
    """Digits, Chinese numerals or both: "1500", "一千五", "1.2万", "3千", "一万五千", "两千零五"."""
    s = text.strip().lower()
    if not s:
        return None
    total = 0.0
    section = 0.0
    number: float | None = None
    last_unit = 0  # the unit just written, for the colloquial "一千五" (= 1500)
    seen = False
    i = 0
    while i < len(s):
        ch = s[i]
        if ch.isdigit() or (ch == "." and number is None and i + 1 < len(s) and s[i + 1].isdigit()):
            j = i
            while j < len(s) and (s[j].isdigit() or s[j] == "."):
                j += 1
            try:
                number = float(s[i:j])
            except ValueError:
                return None
            seen = True
            i = j
            continue
        if ch in _DIGITS:
            if ch in "零〇":
                last_unit = 0  # "一千零五": the 五 is units, not hundreds
            number = float(_DIGITS[ch])
            seen = True
        elif ch in _SMALL_UNITS:
            section += (number if number is not None else 1) * _SMALL_UNITS[ch]
            last_unit = _SMALL_UNITS[ch]
            number = None
            seen = True
        elif ch in _BIG_UNITS:
            section += number or 0
            total += (section or (1 if not seen else 0)) * _BIG_UNITS[ch]
            section = 0
            last_unit = _BIG_UNITS[ch]
            number = None
            seen = True
        else:
            return None
        i += 1
    if not seen:
        return None
    if number is not None:
        colloquial = last_unit >= 100 and number < 10 and number == int(number)
        section += number * (last_unit // 10) if colloquial else number
    return total + section


def parse_amount(text: str) -> float | None:
    """A sum of money in yuan from what people type: "3000", "3000元", "一千五", "1.2万", "3千块"."""
    word = clean(text)
    if word in ZERO_INCOME_WORDS or word.startswith(("没有收入", "没收入", "没有钱")):
        return 0.0
    for filler in _AMOUNT_FILLERS:
        word = word.replace(filler, "")
    value = parse_number(word)
    if value is None or value < 0 or value > 100_000_000:
        return None
    return value


def parse_count(text: str, *, maximum: int = 30) -> int | None:
    """How many people: "3", "三口人", "5个人", "就我自己" (1)."""
    word = clean(text)
    if word in ("自己", "我自己", "就我自己", "就我", "我一个", "一个", "单身"):
        return 1
    for filler in _COUNT_FILLERS:
        word = word.replace(filler, "")
    value = parse_number(word)
    if value is None or value != int(value) or not 1 <= value <= maximum:
        return None
    return int(value)


_SOON_WORDS = ("今天", "明天", "后天", "这几天", "马上", "这周", "本周", "这星期", "快到了", "来不及", "过几天", "就要")
_DAYS = re.compile(r"([0-9零〇一二两三四五六七八九十百.]+)(?:个)?(天|日|周|星期|礼拜|个月|月|年)")
_UNIT_DAYS = {"天": 1, "日": 1, "周": 7, "星期": 7, "礼拜": 7, "个月": 30, "月": 30, "年": 365}


def parse_days(text: str) -> int | None:
    """How many days until something: "3天后" → 3, "明天" → 1, "两个月" → 60; None if no time is given."""
    word = clean(text)
    match = _DAYS.search(word)
    if match:
        value = parse_number(match.group(1))
        if value is not None:
            return int(value * _UNIT_DAYS[match.group(2)])
    for days, words in ((0, ("今天", "马上")), (1, ("明天",)), (2, ("后天",))):
        if any(w in word for w in words):
            return days
    if any(w in word for w in _SOON_WORDS):
        return 3
    return None
