"""Fitted models kept on disk under a key of what they learnt from, so that a process starting
on unchanged data loads arrays instead of fitting (the intent model, retrieval's paraphrase model)."""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


def load_or_build(directory: Path, name: str, key: str, build: Callable[[], T], *, valid: Callable[[Any], bool]) -> T:
    """``directory/name-key.pkl`` when it holds a ``valid`` model, else ``build()``, written there
    atomically (older ``name-*`` files removed). An unreadable file is rebuilt; a disk that cannot
    be written costs a rebuild at the next start, nothing more."""
    path = directory / f"{name}-{key}.pkl"
    if path.exists():
        try:
            with path.open("rb") as fh:
                cached = pickle.load(fh)  # our own file, written below
            if valid(cached):
                return cached  # type: ignore[no-any-return]
        except Exception:  # truncated, or written by an incompatible version
            log.warning("ignoring unreadable model cache %s", path)
    model = build()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")  # two processes may build at once
        with tmp.open("wb") as fh:
            pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)
        for old in directory.glob(f"{name}-*.pkl"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:
        log.warning("could not cache the model in %s", directory)
    return model
