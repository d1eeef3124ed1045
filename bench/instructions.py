"""Instructions a web chat message costs: ``Router.handle`` in one process on PostgreSQL, counted
by valgrind's callgrind.

Seconds of CPU drift with this machine's speed — the same code has cost 3.0 and 5.8 ms a message
on different hours — and a change of a tenth is lost in that. The instructions the process
executes hardly drift: counted three times, one version gave 4.99–5.05 M a message (the fresh
database's state differs a little from run to run). So changes to the hot path are compared here
(this version against another checkout: ``python -m bench instructions`` in each). What it leaves
out: the kernel's work (system calls, wake-ups), PostgreSQL's, and the HTTP stack.

Eight villagers, 160 messages, each the load benchmark's conversation (``bench.load.conversation``:
你好, the village by its buttons, questions; one asks for the lawyer).
The process starts, loads the models and warms up with instrumentation off (valgrind's slowest
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
from pathlib import Path
from typing import Any

from bench import pg

ROOT = Path(__file__).resolve().parents[1]
VILLAGERS = 8
WARM_VILLAGERS = 10


def run() -> bool:
    if not pg.available():
        print("  PostgreSQL not reachable: instruction count skipped")
        return True
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        print("  valgrind (callgrind) not installed: instruction count skipped")
        return True
    from bench.load import _prepare

    url = pg.database("instructions", fresh=True)
    _prepare(url)  # natively: migrated, seeded, the model trained and cached for the child
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        started = time.perf_counter()
        child = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={out}",
                sys.executable,
                "-m",
                "bench.instructions",
                url,
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
        )
        measured = [line for line in child.stdout.splitlines() if line.startswith("measured ")]
        dumps = sorted(Path(folder).glob("callgrind.out*"))
        totals = [_totals(dump) for dump in dumps if _is_measured(dump)]
        if child.returncode != 0 or not measured or not totals:
            print(f"  the counted run failed (exit {child.returncode}):\n{child.stderr[-2000:]}")
            return False
        messages = int(measured[0].split()[1])
    print(f"  {'messages counted':<38} {messages:10d}   ({time.perf_counter() - started:.0f} s under valgrind)")
    print(f"  {'instructions a message (Router.handle)':<38} {totals[0] / messages / 1e6:10.3f} M")
    return True


def _is_measured(dump: Path) -> bool:
    head = dump.read_text(errors="replace").splitlines()[:20]
    return any(line.startswith("desc: Trigger") and "measured" in line for line in head)


def _totals(dump: Path) -> int:
    for line in dump.read_text(errors="replace").splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise ValueError(f"no totals in {dump}")


def _converse(router: Any, questions: list[str], prefix: str, villagers: int) -> int:
    rng = random.Random(5)
    return sum(_villager(router, f"{prefix}{i:03d}", questions, rng, asks_lawyer=i == 0) for i in range(villagers))


def _villager(router: Any, user: str, questions: list[str], rng: random.Random, *, asks_lawyer: bool) -> int:
    """One villager's messages, as ``bench.load`` sends them; how many were sent."""
    from bench.load import conversation
    from core.messages import IncomingMessage, Kind

    turns = conversation(rng, questions, asks_lawyer=asks_lawyer)
    sent, (text, payload) = 0, next(turns)
    while True:
        sent += 1
        message = IncomingMessage(
            channel="webchat",
            user_id=user,
            message_id=f"{user}:m{sent}",
            text=text or "",
            payload=payload,
            kind=Kind.TEXT,
        )
        buttons = [str(b.payload) for r in router.handle(message).replies for b in r.buttons]
        try:
            text, payload = turns.send(buttons)
        except StopIteration:
            return sent


def _child(url: str) -> None:
    """Under valgrind: warm up uncounted, then count the measured messages."""
    from admin.container import build
    from bench.load import _questions
    from core.config import Settings

    container = build(Settings(database_url=url, run_background_workers=False, _env_file=None))  # type: ignore[call-arg]
    questions = _questions()
    pid = str(os.getpid())
    _converse(container.router, questions, "warm", WARM_VILLAGERS)
    subprocess.run(["callgrind_control", "--instr=on", pid], check=True, capture_output=True)
    subprocess.run(["callgrind_control", "--zero", pid], check=True, capture_output=True)
    sent = _converse(container.router, questions, "counted", VILLAGERS)
    subprocess.run(["callgrind_control", "--dump=measured", pid], check=True, capture_output=True)
    subprocess.run(["callgrind_control", "--instr=off", pid], check=True, capture_output=True)
    print(f"measured {sent}", flush=True)


if __name__ == "__main__":
    _child(sys.argv[1])
