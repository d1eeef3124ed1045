"""``villagelaw serve`` with several worker processes, each listening on a socket of its own.

uvicorn's own supervisor hands every worker one shared listening socket, and whichever worker's
event loop is awake first accepts the next connections — the busier worker, as it turns out, since
it is awake more. A villager's keep-alive connection then stays where it landed: in the load
benchmark one worker carried three fifths of the villagers and ran out of CPU while the other had
some to spare (CPU seconds 10.4 vs 6.7, read per thread from /proc). Here each worker binds the
port with SO_REUSEPORT and the kernel spreads new connections over the workers by their
addresses, however busy each one is.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
import signal
import socket
import threading
from multiprocessing.context import SpawnProcess

import uvicorn
from uvicorn._subprocess import get_subprocess
from uvicorn.config import STARTUP_FAILURE

log = logging.getLogger(__name__)


def listening_socket(host: str, port: int, *, reuse_port: bool = True) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def port_is_free(host: str, port: int) -> bool:
    """Bound without SO_REUSEPORT, a probe fails where anything listens already — another
    ``villagelaw serve`` included, which would otherwise share the port and half the villagers."""
    try:
        listening_socket(host, port, reuse_port=False).close()
    except OSError:
        return False
    return True


def _die_with(supervisor: int) -> None:
    """Linux: SIGTERM for this worker when its supervisor dies, even killed outright (the OOM
    killer): an orphan would keep serving the port, and a restarted server would find it in use."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != supervisor:  # it died before we asked
        raise SystemExit(0)


def _serve_worker(config: uvicorn.Config, supervisor: int, sockets: list[socket.socket]) -> None:
    """One worker process: its own socket on the shared port, then uvicorn as usual. (``sockets``:
    what uvicorn's process helper hands every target — none here.)"""
    _die_with(supervisor)
    try:
        sock = listening_socket(config.host, config.port)
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", config.host, config.port, exc)
        raise SystemExit(STARTUP_FAILURE) from exc
    uvicorn.Server(config).run(sockets=[sock])


class Supervisor:
    """Starts ``config.workers`` processes, starts another when one dies, and stops them all on
    SIGINT or SIGTERM. A worker that fails before it serves (exit code 3: the app or the port is
    broken) stops the whole server instead of being restarted for ever."""

    def __init__(self, config: uvicorn.Config) -> None:
        self.config = config
        self.processes: list[SpawnProcess] = []
        self.stopping = threading.Event()
        self.failed = False

    def _start(self) -> SpawnProcess:
        process = get_subprocess(
            self.config, target=functools.partial(_serve_worker, self.config, os.getpid()), sockets=[]
        )
        process.start()
        return process

    def run(self) -> int:
        if not port_is_free(self.config.host, self.config.port):
            log.error("port %s:%s is in use", self.config.host, self.config.port)
            return STARTUP_FAILURE
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stopping.set())
        self.processes = [self._start() for _ in range(self.config.workers)]
        while not self.stopping.wait(0.5):
            self._replace_dead()
        for process in self.processes:
            process.terminate()  # a no-op for one already gone
        for process in self.processes:
            process.join()
        return STARTUP_FAILURE if self.failed else 0

    def _replace_dead(self) -> None:
        for index, process in enumerate(self.processes):
            if process.is_alive():
                continue
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                log.error("worker %s failed to start: stopping", process.pid)
                self.failed = True
                self.stopping.set()
                return
            log.warning("worker %s exited with code %s: starting another", process.pid, process.exitcode)
            self.processes[index] = self._start()
