"""Instructions a web chat message costs, counted by valgrind's callgrind on PostgreSQL: first
``Router.handle`` in one process, then a whole serving process (``villagelaw serve`` with one
worker: uvicorn, the app's middleware and the web chat's lane, the thread hop, ``Router.handle``)
answering the same conversation over HTTP.

Seconds of CPU drift with this machine's speed — the same code has cost 3.0 and 5.8 ms a message
on different hours — and a change of a tenth is lost in that. The instructions a process executes
hardly drift: counted three times, one version gave 4.99–5.05 M a message (the fresh database's
state differs a little from run to run). So changes to the hot path are compared here (this
version against another checkout: ``python -m bench instructions`` in each). What it leaves out:
the kernel's work (system calls, wake-ups) and PostgreSQL's.

Eight villagers, 160 messages, each the load benchmark's conversation (``bench.load.conversation``:
你好, the village by its buttons, questions; one asks for the lawyer), sent one after another.
Each process starts, loads the models and warms up with instrumentation off (valgrind's slowest
part is what it instruments), then ``callgrind_control`` switches counting on for the measured
messages only.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import pg

ROOT = Path(__file__).resolve().parents[1]
VILLAGERS = 8
WARM_VILLAGERS = 10
#: (user, the villager's message number, text, payload) → the payloads of the buttons answered with
Send = Callable[[str, int, str | None, str | None], list[str]]


def run() -> bool:
    if not pg.available():
        print("  PostgreSQL not reachable: instruction count skipped")
        return True
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        print("  valgrind (callgrind) not installed: instruction count skipped")
        return True
    from bench.load import _prepare

    url = pg.database("instructions", fresh=True)
    _prepare(url)  # natively: migrated, seeded, the model trained and cached for the children
    return _count_in_process(url) and _count_serving(url)


def _callgrind(out: Path) -> tuple[str, ...]:
    return ("valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}")


def _count_in_process(url: str) -> bool:
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        child = subprocess.run(
            [*_callgrind(Path(folder) / "callgrind.out"), sys.executable, "-m", "bench.instructions", url],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
        )
        measured = [line for line in child.stdout.splitlines() if line.startswith("measured ")]
        total = _measured_total(Path(folder))
        if child.returncode != 0 or not measured or total is None:
            print(f"  the counted run failed (exit {child.returncode}):\n{child.stderr[-2000:]}")
            return False
        messages = int(measured[0].split()[1])
    print(f"  {'messages counted':<38} {messages:10d}   ({time.perf_counter() - started:.0f} s under valgrind)")
    print(f"  {'instructions a message (Router.handle)':<38} {total / messages / 1e6:10.3f} M")
    return True


def _count_serving(url: str) -> bool:
    """The serving process under callgrind, the messages sent from here over HTTP."""
    import httpx

    from bench.load import Server, _questions
    from tests.web import free_port

    questions = _questions()
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        under = _callgrind(Path(folder) / "callgrind.out")
        server = Server(url, free_port(), wechat_api=None, workers=1, under=under, background=False)
        try:
            server.wait_ready(seconds=600)
            with httpx.Client(base_url=server.base, timeout=120) as client:
                send = _over_http(client)
                _converse(send, questions, "hwarm", WARM_VILLAGERS)  # new villagers: other names
                pid = str(server.process.pid)  # valgrind runs the program in its own process
                subprocess.run(["callgrind_control", "--instr=on", pid], check=True, capture_output=True)
                subprocess.run(["callgrind_control", "--zero", pid], check=True, capture_output=True)
                messages = _converse(send, questions, "hcounted", VILLAGERS)
                subprocess.run(["callgrind_control", "--dump=measured", pid], check=True, capture_output=True)
        finally:
            server.stop()
        total = _measured_total(Path(folder))
        if total is None:
            print("  the serving process's count was not written")
            return False
    print(
        f"  {'instructions a message (serving, HTTP)':<38} {total / messages / 1e6:10.3f} M   "
        f"({time.perf_counter() - started:.0f} s)"
    )
    return True


def _measured_total(folder: Path) -> int | None:
    """The instructions in the dump made at the "measured" trigger (callgrind writes one file a dump)."""
    for dump in sorted(folder.glob("callgrind.out*")):
        text = dump.read_text(errors="replace")
        head = text.splitlines()[:20]
        if any(line.startswith("desc: Trigger") and "measured" in line for line in head):
            for line in text.splitlines():
                if line.startswith("totals:"):
                    return int(line.split()[1])
    return None


def _converse(send: Send, questions: list[str], prefix: str, villagers: int) -> int:
    rng = random.Random(5)
    return sum(_villager(send, f"{prefix}{i:03d}", questions, rng, asks_lawyer=i == 0) for i in range(villagers))


def _villager(send: Send, user: str, questions: list[str], rng: random.Random, *, asks_lawyer: bool) -> int:
    """One villager's messages, as ``bench.load`` sends them; how many were sent."""
    from bench.load import conversation

    turns = conversation(rng, questions, asks_lawyer=asks_lawyer)
    sent, (text, payload) = 0, next(turns)
    while True:
        sent += 1
        buttons = send(user, sent, text, payload)
        try:
            text, payload = turns.send(buttons)
        except StopIteration:
            return sent


def _in_process(router: Any) -> Send:
    from core.messages import IncomingMessage, Kind

    def send(user: str, number: int, text: str | None, payload: str | None) -> list[str]:
        message = IncomingMessage(
            channel="webchat",
            user_id=user,
            message_id=f"{user}:m{number}",
            text=text or "",
            payload=payload,
            kind=Kind.TEXT,
        )
        return [str(b.payload) for r in router.handle(message).replies for b in r.buttons]

    return send


def _over_http(client: Any) -> Send:
    def send(user: str, number: int, text: str | None, payload: str | None) -> list[str]:
        body = {"user_id": user, "client_id": f"m{number}", **({"payload": payload} if payload else {"text": text})}
        response = client.post("/api/webchat/messages", json=body)
        response.raise_for_status()
        return [str(b["payload"]) for r in response.json()["replies"] for b in r["buttons"]]

    return send


def _child(url: str) -> None:
    """Under valgrind: warm up uncounted, then count the measured messages."""
    from admin.container import build
    from bench.load import _questions
    from core.config import Settings

    container = build(Settings(database_url=url, run_background_workers=False, _env_file=None))  # type: ignore[call-arg]
    questions = _questions()
    send = _in_process(container.router)
    pid = str(os.getpid())
    _converse(send, questions, "warm", WARM_VILLAGERS)
    subprocess.run(["callgrind_control", "--instr=on", pid], check=True, capture_output=True)
    subprocess.run(["callgrind_control", "--zero", pid], check=True, capture_output=True)
    sent = _converse(send, questions, "counted", VILLAGERS)
    subprocess.run(["callgrind_control", "--dump=measured", pid], check=True, capture_output=True)
    subprocess.run(["callgrind_control", "--instr=off", pid], check=True, capture_output=True)
    print(f"measured {sent}", flush=True)


if __name__ == "__main__":
    _child(sys.argv[1])
