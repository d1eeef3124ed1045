"""jieba's prefix dictionary from our own cache: the same dictionary as jieba's, never a stale or
broken one, and a start that works where nothing can be cached."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nlu import prefix_dict
from nlu.normalize import without_pkg_resources

with without_pkg_resources():
    import jieba

WORDS = {"法律援助": 300, "法律": 900, "援助": 400, "宅基地": 120, "土地承包": 80, "彩礼": 50}


def dictionary(tmp_path: Path, words: dict[str, int] = WORDS) -> Path:
    path = tmp_path / "dict.txt"
    path.write_text("".join(f"{w} {n} n\n" for w, n in words.items()), encoding="utf-8")
    return path


def tokenizer(source: Path, cache: Path) -> jieba.Tokenizer:
    tk = jieba.Tokenizer(dictionary=str(source))
    tk.tmp_dir = str(cache)  # jieba's own cache, when it builds, goes beside ours
    return tk


def jiebas_own(source: Path, cache: Path) -> jieba.Tokenizer:
    tk = tokenizer(source, cache / "jieba")
    (cache / "jieba").mkdir(exist_ok=True)
    tk.initialize()
    return tk


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    path = tmp_path / "cache"
    path.mkdir()
    return path


def built(source: Path, cache: Path) -> tuple[jieba.Tokenizer, int]:
    """A tokenizer given its dictionary, and how often it was not read from our cache but asked of
    jieba (which builds it, or reads its own slower cache)."""
    calls = []
    original = jieba.Tokenizer.initialize

    def counted(self, *args):  # type: ignore[no-untyped-def]
        calls.append(1)
        return original(self, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jieba.Tokenizer, "initialize", counted)
        tk = tokenizer(source, cache)
        prefix_dict.install(tk, cache)
    return tk, len(calls)


def test_a_second_start_reads_the_same_dictionary_from_the_cache_without_asking_jieba(tmp_path, cache):  # type: ignore[no-untyped-def]
    source = dictionary(tmp_path)
    first, asked = built(source, cache)
    assert asked == 1 and prefix_dict.cache_path(first, cache).exists()

    second, asked = built(source, cache)

    assert asked == 0
    reference = jiebas_own(source, tmp_path)
    assert second.initialized
    assert (second.FREQ, second.total) == (reference.FREQ, reference.total)
    assert second.FREQ["法律援"] == 0  # a prefix, kept as jieba keeps it
    assert second.lcut("申请法律援助", HMM=False) == reference.lcut("申请法律援助", HMM=False)


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # cut short
        lambda data: data[:40],  # not even a whole header
        lambda data: b"not ours" + data[8:],
        lambda data: data[:-1] + b"\xff",  # not UTF-8
        lambda data: data + "\n多余".encode(),  # more words than counts
    ],
    ids=["cut short", "no header", "another format", "not utf-8", "extra word"],
)
def test_a_damaged_cache_is_not_read_but_built_again_and_mended(tmp_path, cache, damage):  # type: ignore[no-untyped-def]
    source = dictionary(tmp_path)
    first, _ = built(source, cache)
    path = prefix_dict.cache_path(first, cache)
    path.write_bytes(damage(path.read_bytes()))

    again, asked = built(source, cache)

    assert asked == 1
    assert (again.FREQ, again.total) == (first.FREQ, first.total)
    assert built(source, cache)[1] == 0  # mended: read from the cache again


def test_a_changed_dictionary_is_not_answered_from_the_old_cache(tmp_path, cache):  # type: ignore[no-untyped-def]
    source = dictionary(tmp_path)
    built(source, cache)
    dictionary(tmp_path, {**WORDS, "外嫁女": 60})

    tk, asked = built(source, cache)

    assert asked == 1
    assert tk.FREQ["外嫁女"] == 60


def test_a_cache_another_user_could_have_written_is_not_trusted(tmp_path, cache, monkeypatch):  # type: ignore[no-untyped-def]
    source = dictionary(tmp_path)
    ours = prefix_dict.cache_path(built(source, cache)[0], cache)
    monkeypatch.setattr(os, "getuid", lambda: ours.stat().st_uid + 1)  # a second user of the directory
    theirs = prefix_dict.cache_path(tokenizer(source, cache), cache)
    assert theirs != ours
    theirs.write_bytes(ours.read_bytes())  # a whole cache, but not of this user's making

    assert built(source, cache)[1] == 1


def test_where_nothing_can_be_written_the_dictionary_still_loads(tmp_path, caplog):  # type: ignore[no-untyped-def]
    source = dictionary(tmp_path)
    (tmp_path / "a file").write_text("")
    impossible = tmp_path / "a file" / "cache"  # cannot be made, let alone written

    tk, _ = built(source, impossible)

    assert tk.initialized and tk.FREQ["宅基地"] == 120
    assert "could not cache" in caplog.text
    assert not impossible.exists()
