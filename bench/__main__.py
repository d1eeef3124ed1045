"""python -m bench [name …] — run the benchmarks and print their figures."""

from __future__ import annotations

import argparse
import importlib
import sys
import time

BENCHMARKS = [
    "nlu",
    "retrieval",
    "memory",
    "rasa_compare",
    "scheduler",
    "console",
    "scale",
    "load",
    "instructions",
    "fuzz",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("names", nargs="*", default=BENCHMARKS, help=f"any of {BENCHMARKS}")
    args = parser.parse_args(argv)
    failures = 0
    for name in args.names:
        module = importlib.import_module(f"bench.{name}")
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        ok = module.run()
        print(f"--- {name}: {'ok' if ok else 'TARGET MISSED'} ({time.perf_counter() - started:.1f}s)", flush=True)
        failures += 0 if ok else 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
