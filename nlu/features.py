"""Tokens for Chinese short texts: jieba words plus character n-grams.

Words carry meaning (工伤, 彩礼); character n-grams survive typos, unknown dialect words and
segmentation mistakes. Both the classifier and retrieval use this one function.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from functools import lru_cache

from nlu.normalize import normalize, without_pkg_resources
from nlu.synonyms import canonical_terms

with without_pkg_resources():
    import jieba

jieba.setLogLevel(logging.WARNING)

_DOMAIN_WORDS = (
    "嘎查",
    "苏木",
    "草场",
    "草原",
    "牧户",
    "彩礼",
    "工钱",
    "包工头",
    "宅基地",
    "承包地",
    "土地流转",
    "确权",
    "征地",
    "拆迁",
    "抚养费",
    "赡养费",
    "探望权",
    "家暴",
    "人身安全保护令",
    "工伤",
    "劳动仲裁",
    "欠薪",
    "借条",
    "欠条",
    "担保人",
    "保证人",
    "交强险",
    "肇事逃逸",
    "取保候审",
    "刑事拘留",
    "法律援助",
    "村委会",
    "司法所",
    "坐班",
    "法律顾问",
    "外嫁女",
    "集体经济组织",
    "低保",
    "户口",
)
_KEEP = re.compile(r"[0-9a-z\u3400-\u9fff]+")


#: jieba's full dictionary (349,000 words) costs about 60 MB of memory in every process; words
#: rarer than this (corpus frequency) add little for short legal questions, where character
#: n-grams carry the rest. Measured at 5 (136,000 words kept): 35 MB less, NLU and retrieval
#: scores within ±0.005 of the full dictionary's (README); at 30, hit@3 fell below its target.
MIN_WORD_FREQUENCY = 5


def _trimmed_dictionary() -> str:
    """jieba's bundled dictionary without its rare words, written once to the temp directory."""
    source = os.path.join(os.path.dirname(jieba.__file__), "dict.txt")
    target = os.path.join(tempfile.gettempdir(), f"villagelaw-jieba-{MIN_WORD_FREQUENCY}-{os.path.getsize(source)}.txt")
    if not os.path.exists(target):
        with open(source, encoding="utf-8") as fh:
            kept = [line for line in fh if int(line.split()[1]) >= MIN_WORD_FREQUENCY]
        partial = f"{target}.{os.getpid()}"
        with open(partial, "w", encoding="utf-8") as fh:
            fh.writelines(kept)
        os.replace(partial, target)
    return target


@lru_cache(maxsize=1)
def _tokenizer() -> jieba.Tokenizer:
    tk = jieba.Tokenizer(dictionary=_trimmed_dictionary())
    tk.initialize()
    for word in _DOMAIN_WORDS:
        tk.add_word(word, freq=20000)
    return tk


def warm_up() -> None:
    _tokenizer()


def tokens(text: str, *, ngram: tuple[int, int] = (1, 3)) -> list[str]:
    """Normalised word tokens (prefixed ``w:``) and character n-grams (prefixed ``c:``)."""
    return list(_tokens(text, ngram))


@lru_cache(maxsize=256)  # only to share the work between the calls for one message
def _tokens(text: str, ngram: tuple[int, int]) -> tuple[str, ...]:
    # One message is tokenised four times (the classifier's two vectorisers, retrieval's BM25 and
    # paraphrase model): segmenting it once is a third of the time spent understanding it.
    text = normalize(text)
    out: list[str] = ["w:" + term for term in canonical_terms(text)]
    for chunk in _KEEP.findall(text):
        out.extend("w:" + w for w in _tokenizer().lcut(chunk, HMM=False) if w.strip())
        low, high = ngram
        for n in range(low, high + 1):
            out.extend("c:" + chunk[i : i + n] for i in range(len(chunk) - n + 1))
    return tuple(out)
