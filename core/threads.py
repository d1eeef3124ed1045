"""Blocking work (the database, a messenger's HTTP API) run off the event loop, within one budget.

A thread running it may hold a pooled database connection, so the threads must not outnumber the
pool: anyio's default limiter is sized to ``DB_POOL_SIZE`` in the app's lifespan (the web chat has
threads of its own, ``WEBCHAT_THREADS``, and the pool holds both). ``asyncio.to_thread`` would run
on the loop's executor, a second budget of cores + 4 threads: with it the threads outnumbered the
pool, and the connections beyond it were opened and closed again at every peak — in the load
benchmark's WeChat run 74 new PostgreSQL backends in 15 s, each starting with cold caches and no
prepared statements.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import anyio.to_thread

P = ParamSpec("P")
T = TypeVar("T")


async def in_thread(function: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``function(*args, **kwargs)`` in a worker thread, holding one of the default limiter's tokens."""
    return await anyio.to_thread.run_sync(functools.partial(function, *args, **kwargs))
