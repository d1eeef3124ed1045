"""``villagelaw serve`` with several workers (admin/serving.py): each on a socket of its own."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import psutil
import pytest

from admin.serving import listening_socket
from tests.web import ROOT, free_port

SUPERVISE = (
    "import sys, uvicorn; from admin.serving import Supervisor; "
    "sys.exit(Supervisor(uvicorn.Config('tests.pid_app:app', workers=2, host='127.0.0.1', "
    "port=int(sys.argv[1]), log_config=None, lifespan='on')).run())"
)


@contextmanager
def supervisor(port: int) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [sys.executable, "-c", SUPERVISE, str(port)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stderr=subprocess.PIPE,
    )
    try:
        yield process
    finally:
        workers = _children(process)  # before the supervisor goes: then they are nobody's children
        process.kill()
        process.wait(10)
        _, alive = psutil.wait_procs(workers, timeout=10)
        for worker in alive:  # they die with the supervisor; this only keeps a failed test tidy
            worker.kill()


def _children(process: subprocess.Popen[bytes]) -> list[psutil.Process]:
    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    # multiprocessing's resource tracker is not a worker
    return [c for c in children if "resource_tracker" not in " ".join(c.cmdline())]


def _ask(conn: socket.socket) -> int:
    """One request on a kept-alive connection: the pid of the worker that holds it."""
    conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data or not data.split(b"\r\n\r\n", 1)[1]:
        chunk = conn.recv(4096)
        assert chunk, "connection closed"
        data += chunk
    return int(data.split(b"\r\n\r\n", 1)[1])


def _connect(port: int, seconds: float = 30) -> socket.socket:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)


def _serving_pids(port: int, count: int) -> Counter[int]:
    """Open ``count`` connections at once (as a crowd of villagers would) and ask each its worker."""
    with ThreadPoolExecutor(count) as pool:
        connections = list(pool.map(lambda _: _connect(port), range(count)))
        try:
            return Counter(pool.map(_ask, connections))
        finally:
            for conn in connections:
                conn.close()


def _wait_for_workers(process: subprocess.Popen[bytes], count: int, port: int) -> None:
    deadline = time.monotonic() + 30
    while len(_serving_pids(port, 8)) < count or len(_children(process)) < count:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else "supervisor died"
        assert time.monotonic() < deadline, "workers did not start"
        time.sleep(0.2)


def _listening_inodes(port: int) -> set[str]:
    """Inodes of the sockets listening on ``port`` (Linux's /proc/net/tcp: state 0A is LISTEN)."""
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return {row[9] for row in rows if row[3] == "0A" and int(row[1].split(":")[1], 16) == port}


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="reads Linux's /proc")
def test_each_worker_listens_on_a_socket_of_its_own_and_serves():  # type: ignore[no-untyped-def]
    port = free_port()
    with supervisor(port) as process:
        _wait_for_workers(process, 2, port)
        workers = _children(process)
        listening = _listening_inodes(port)
        # one shared socket (uvicorn's own supervisor) would be one inode held by both workers
        own = [_socket_inodes(w.pid) & listening for w in workers]
        assert all(len(sockets) == 1 for sockets in own) and own[0] != own[1], own
        assert not _socket_inodes(process.pid) & listening  # the supervisor itself accepts nothing
        served = _serving_pids(port, 60)
        assert set(served) == {w.pid for w in workers}


def test_a_dead_worker_is_replaced_and_a_stop_stops_them_all():  # type: ignore[no-untyped-def]
    port = free_port()
    with supervisor(port) as process:
        _wait_for_workers(process, 2, port)
        victim = _children(process)[0]
        victim.kill()
        victim.wait(10)
        deadline = time.monotonic() + 30
        while victim.pid in _serving_pids(port, 8) or len(_children(process)) < 2:
            assert time.monotonic() < deadline, "the dead worker was not replaced"
            time.sleep(0.2)
        _wait_for_workers(process, 2, port)
        workers = _children(process)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert alive == []


def test_workers_die_with_their_supervisor_even_when_it_is_killed():  # type: ignore[no-untyped-def]
    port = free_port()
    with supervisor(port) as process:
        _wait_for_workers(process, 2, port)
        workers = _children(process)
        process.kill()  # no chance to stop them itself
        process.wait(10)
        _, alive = psutil.wait_procs(workers, timeout=10)
        for orphan in alive:  # nobody else would stop them
            orphan.kill()
        assert alive == []
        holder = listening_socket("127.0.0.1", port, reuse_port=False)  # the port is free again
        holder.close()


def test_a_port_in_use_stops_the_server_at_once():  # type: ignore[no-untyped-def]
    port = free_port()
    holder = listening_socket("127.0.0.1", port, reuse_port=True)  # even one that allows sharing
    holder.listen()
    try:
        with supervisor(port) as process:
            assert process.wait(30) == 3
            assert b"in use" in (process.stderr.read() if process.stderr else b"")
    finally:
        holder.close()


@pytest.mark.parametrize("reuse_port", [False, True])
def test_a_probe_finds_a_listener_whatever_its_options(reuse_port):  # type: ignore[no-untyped-def]
    from admin.serving import port_is_free

    port = free_port()
    assert port_is_free("127.0.0.1", port)
    holder = listening_socket("127.0.0.1", port, reuse_port=reuse_port)
    holder.listen()
    try:
        assert not port_is_free("127.0.0.1", port)
    finally:
        holder.close()
