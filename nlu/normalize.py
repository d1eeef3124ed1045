"""Text normalisation shared by the classifier, retrieval and the router's input checks."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

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
