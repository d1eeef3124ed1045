"""Running a function in a fresh, short-lived interpreter.

Fitting a model needs scikit-learn, and importing it costs a process about 80 MB that it keeps
until it exits; a serving process only needs the fitted arrays. So fits run in a child process
(spawned, not forked: a fork would copy the server's threads and connections) and hand back the
compiled model, which is plain numpy.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


def call_in_child(fn: Callable[..., T], /, *args: Any) -> T:
    """``fn(*args)`` in a child process; its exceptions are raised here. Where no child can run
    (a script without a ``__main__`` guard re-runs itself in a spawned child and breaks it), the
    work is done here: the memory is worth less than the answer."""
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            return pool.submit(fn, *args).result()
    except (BrokenProcessPool, OSError):
        log.warning("could not fit in a child process; fitting in this one", exc_info=True)
        return fn(*args)
