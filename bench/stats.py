"""Small figures shared by the benchmarks: timings, percentiles and resident memory."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np


def percentiles(values: Sequence[float], points: Sequence[int] = (50, 95, 99)) -> dict[str, float]:
    array = np.asarray(values, dtype=float)
    return {f"p{point}": round(float(np.percentile(array, point)), 2) for point in points}


Answer = TypeVar("Answer")


def timed(
    runs: int, call: Callable[[int], Answer], warm_up: int = 0
) -> tuple[dict[str, float], list[Answer]]:
    """p50 and p95 in ms of `call(i)` for i in range(runs), after one warm-up `call(warm_up)`."""
    call(warm_up)
    times, answers = [], []
    for i in range(runs):
        started = time.perf_counter()
        answers.append(call(i))
        times.append((time.perf_counter() - started) * 1000)
    return percentiles(times, (50, 95)), answers


def rss_mib(pid: int) -> float:
    """Resident memory of a process, from /proc."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, every thread) a process has used, from /proc."""
    import os

    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
