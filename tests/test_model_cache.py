"""The fitted-model cache (`nlu.model_cache.load_or_build`): what a starting process does with the
file it finds — a good one, a damaged one, one of another model — and where nothing can be written."""

from __future__ import annotations

import logging
import pickle
import stat
from pathlib import Path
from typing import Any

from nlu.model_cache import load_or_build


class Builds:
    """A build function that counts its calls and gives a new model each time."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        return {"model": "m", "build": self.calls}


def is_model(m: Any) -> bool:
    return isinstance(m, dict) and m.get("model") == "m"


def test_a_cached_model_is_loaded_not_built_again(tmp_path: Path) -> None:
    build = Builds()
    first = load_or_build(tmp_path, "intent", "k1", build, valid=is_model)
    again = load_or_build(tmp_path, "intent", "k1", build, valid=is_model)
    assert build.calls == 1 and again == first
    # readable by another user: an image may train as one user and serve as another
    assert stat.S_IMODE((tmp_path / "intent-k1.pkl").stat().st_mode) == 0o644
    assert not list(tmp_path.glob("*.tmp"))


def test_a_new_key_builds_and_replaces_the_old_file_of_that_name_only(tmp_path: Path) -> None:
    build = Builds()
    load_or_build(tmp_path, "intent", "k1", build, valid=is_model)
    load_or_build(tmp_path, "paraphrase", "p1", build, valid=is_model)
    model = load_or_build(tmp_path, "intent", "k2", build, valid=is_model)
    assert model["build"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["intent-k2.pkl", "paraphrase-p1.pkl"]


def test_a_damaged_file_is_rebuilt_and_rewritten(tmp_path: Path, caplog: Any) -> None:
    path = tmp_path / "intent-k1.pkl"
    path.write_bytes(pickle.dumps({"model": "m"})[:7])  # cut short, as by a full disk
    build = Builds()
    with caplog.at_level(logging.WARNING, logger="nlu.model_cache"):
        model = load_or_build(tmp_path, "intent", "k1", build, valid=is_model)
    assert build.calls == 1 and model["build"] == 1
    assert "unreadable model cache" in caplog.text
    assert pickle.loads(path.read_bytes()) == model  # rewritten whole: the next start loads it


def test_a_file_that_is_not_a_valid_model_is_not_served(tmp_path: Path) -> None:
    (tmp_path / "intent-k1.pkl").write_bytes(pickle.dumps({"model": "of an older version"}))
    build = Builds()
    model = load_or_build(tmp_path, "intent", "k1", build, valid=is_model)
    assert build.calls == 1 and is_model(model)
    assert is_model(pickle.loads((tmp_path / "intent-k1.pkl").read_bytes()))


def test_where_nothing_can_be_written_the_model_is_still_served(tmp_path: Path, caplog: Any) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    directory = blocker / "nlu"  # under a file: cannot be made
    build = Builds()
    with caplog.at_level(logging.WARNING, logger="nlu.model_cache"):
        first = load_or_build(directory, "intent", "k1", build, valid=is_model)
        second = load_or_build(directory, "intent", "k1", build, valid=is_model)
    assert is_model(first) and is_model(second) and build.calls == 2
    assert "could not cache" in caplog.text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]
