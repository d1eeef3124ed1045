"""Fitted models kept on disk under a key of what they learnt from, so that a process starting
on unchanged data loads arrays instead of fitting (the intent model, retrieval's paraphrase model)."""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

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
    # readable by every user: the image trains as one user, a deployment may serve as another
    written = write_atomically(path, lambda fh: pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL), mode=0o644)
    if written:
        for old in directory.glob(f"{name}-*.pkl"):
            if old != path:
                old.unlink(missing_ok=True)
    return model


def write_atomically(path: Path, write: Callable[[BinaryIO], None], *, mode: int = 0o600) -> bool:
    """``write`` into a new file beside ``path``, then rename it there: a process starting meanwhile
    reads the old file or the whole new one (two processes may build at once). The temporary file's
    name is unpredictable, for a shared directory. False, with a warning, where it cannot be
    written: the next start builds again, nothing more."""
    temporary: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(temporary, path)
        return True
    except OSError:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
        log.warning("could not cache %s in %s", path.name, path.parent)
        return False
