"""Small helpers for benchmark figures."""

from __future__ import annotations

import os

import psutil


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def rss_mb(pid: int | None = None) -> float:
    return psutil.Process(pid or os.getpid()).memory_info().rss / 1024 / 1024


def check(label: str, value: float, limit: float, *, unit: str, higher_is_better: bool = False) -> bool:
    ok = value >= limit if higher_is_better else value <= limit
    sign = "≥" if higher_is_better else "≤"
    print(f"  {label:<38} {value:10.3f} {unit:<6} target {sign} {limit:g} {unit}  {'OK' if ok else 'MISSED'}")
    return ok
