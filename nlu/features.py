"""Tokens for Chinese short texts: jieba words plus character n-grams.

Words carry meaning (工伤, 彩礼); character n-grams survive typos, unknown dialect words and
segmentation mistakes. Both the classifier and retrieval use this one function.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

from nlu import prefix_dict
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


#: Part of every model cache's key: a model is only valid with the tokens it was trained on
#: (bump it when tokens() changes). jieba keeps its full dictionary (60 MB a process): dropping
#: the words rarer than 5, 10 or 30 saved 35–48 MB but cost retrieval its hit@1 or hit@3 target.
FEATURES_VERSION = "1"


@lru_cache(maxsize=1)
def _tokenizer() -> jieba.Tokenizer:
    tk = jieba.Tokenizer()
    prefix_dict.install(tk)
    for word in _DOMAIN_WORDS:
        tk.add_word(word, freq=20000)
    return tk


def warm_up() -> None:
    _tokenizer()


#: The character n-grams' lengths.
NGRAM = (1, 3)


def tokens(text: str, *, ngram: tuple[int, int] = NGRAM) -> list[str]:
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


@lru_cache(maxsize=256)
def words_and_chars(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``tokens(text)`` split into its word tokens and its character n-grams (the classifier's two
    vectorisers), once a message rather than once each."""
    all_tokens = _tokens(text, NGRAM)
    return tuple(t for t in all_tokens if t.startswith("w:")), tuple(t for t in all_tokens if t.startswith("c:"))
