"""Text normalisation shared by the classifier, retrieval and the router's input checks."""

from __future__ import annotations

import contextlib
import re
import sys
import unicodedata
from collections.abc import Iterator
from functools import lru_cache


@contextlib.contextmanager
def without_pkg_resources() -> Iterator[None]:
    """zhconv and jieba import the deprecated pkg_resources (10 MB in every serving process) only
    to open their own data files, and open them directly when it is missing: hide it meanwhile."""
    if "pkg_resources" in sys.modules:
        yield
        return
    sys.modules["pkg_resources"] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        del sys.modules["pkg_resources"]


with without_pkg_resources():
    import zhconv

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SPACE = re.compile(r"\s+")
_REPEATED_PUNCT = re.compile(r"([!?。，,.！？~～…、])\1+")
# Pictographs, dingbats, flags, variation selectors, skin tones, ZWJ: what phones insert.
_EMOJI = re.compile(
    "["
    "\U0001f000-\U0001faff"
    "\U00002600-\U000027bf"
    "\U0001f1e6-\U0001f1ff"
    "\U0000fe00-\U0000fe0f"
    "\U0001f3fb-\U0001f3ff"
    "\u200d\u20e3\u2b00-\u2bff\u2300-\u23ff"
    "]+"
)
_HAS_MEANING = re.compile(r"[0-9A-Za-z\u3400-\u9fff\uf900-\ufaff]")


def strip_controls(text: str) -> str:
    return _CONTROL.sub("", text)


def has_control_chars(text: str) -> bool:
    return bool(_CONTROL.search(text))


def strip_emoji(text: str) -> str:
    return _EMOJI.sub(" ", text)


def is_meaningless(text: str) -> bool:
    """Nothing a reader could act on: only emoji, punctuation or spaces."""
    return not _HAS_MEANING.search(text)


@lru_cache(maxsize=4096)
def normalize(text: str) -> str:
    """Full-width → half-width, Traditional → Simplified, emoji and repeated punctuation removed,
    whitespace collapsed, Latin letters lower-cased."""
    text = unicodedata.normalize("NFKC", strip_controls(text))
    text = strip_emoji(text)
    text = zhconv.convert(text, "zh-cn")
    text = _REPEATED_PUNCT.sub(r"\1", text)
    text = _SPACE.sub(" ", text).strip()
    return text.lower()


_SALUTATION = re.compile(
    r"^(?:(?:律师|老师|大哥|大姐|同志|法官|您|你|大家|各位)?"
    r"(?:你好|您好|好|在吗|在不在|请问一下|请问|打扰了|打扰一下|麻烦问一下|麻烦您|咨询一下|我想咨询一下|问一下)"
    r"[,.!?~、:：\s]*)+"
)
MIN_SUBSTANCE = 6


def strip_salutation(text: str) -> str:
    """'律师你好,我想咨询一下,老板欠钱不给' → '老板欠钱不给'. A greeting followed by a real question is
    about the question; a greeting alone stays a greeting."""
    rest = _SALUTATION.sub("", text, count=1)
    return rest if len(rest) >= MIN_SUBSTANCE else text
