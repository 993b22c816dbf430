"""Timing helpers shared by the benchmarks: medians of CPU time, interleaved cases, one JSON.

A benchmark builds a dict of cases (name -> callable, plain or ``async``), times them with
:func:`medians` or :func:`amedians`, and prints its figures with :func:`emit`::

    args = parse_args(__doc__)
    figures = medians({"raw": raw, "moi": moi}, **rounds(args.quick))
    emit({"benchmark": "name", **figures, "ratio": ratio(figures["moi"], figures["raw"])})

Cases are timed in interleaved rounds (every case once per round), so that a noisy neighbour
slows all of them alike and the ratios stay meaningful; each figure is the median over the
rounds of the mean cost of one call, in µs of this process's CPU time (``process_time``), which
does not count the time other processes hold the core.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

Case = Callable[[], object]
AsyncCase = Callable[[], Awaitable[object]]

#: (calls per round, rounds) for a full run and for ``--quick``.
FULL = (200, 15)
QUICK = (30, 5)


def parse_args(doc: str | None, argv: list[str] | None = None) -> argparse.Namespace:
    """``--quick`` (fewer rounds, for smoke checks in CI); the description is the doc's first
    line. Returns the namespace; a benchmark may add its own options via :func:`parser`."""
    return parser(doc).parse_args(argv)


def parser(doc: str | None) -> argparse.ArgumentParser:
    first = (doc or "").strip().splitlines()[0] if doc and doc.strip() else None
    out = argparse.ArgumentParser(description=first)
    out.add_argument("--quick", action="store_true", help="fewer runs, for CI smoke checks")
    return out


def rounds(quick: bool) -> dict[str, int]:
    number, repeat = QUICK if quick else FULL
    return {"number": number, "repeat": repeat}


def pin_to_one_core() -> int | None:
    """Run on one CPU (the first this process may use); returns it, or None where the
    platform cannot pin. Single-core figures are what the targets are stated in."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def _check(number: int, repeat: int) -> None:
    if number < 1 or repeat < 1:
        raise ValueError("number and repeat must be at least 1")


def medians(cases: Mapping[str, Case], *, number: int, repeat: int) -> dict[str, float]:
    """Median µs of CPU time per call of each case, timed in interleaved rounds."""
    _check(number, repeat)
    runs: dict[str, list[float]] = {name: [] for name in cases}
    for fn in cases.values():
        fn()  # warm up: imports, lazily built tables, caches the scenario keeps warm
    for _ in range(repeat):
        for name, fn in cases.items():
            start = time.process_time()
            for _ in range(number):
                fn()
            runs[name].append((time.process_time() - start) / number)
    return {name: round(statistics.median(r) * 1e6, 2) for name, r in runs.items()}


async def amedians(
    cases: Mapping[str, Case | AsyncCase], *, number: int, repeat: int
) -> dict[str, float]:
    """:func:`medians` for cases that may be coroutine functions, run in the current loop.

    The calls are awaited back to back inside one task, so the figure holds the cost of the
    code awaited, not that of starting an event loop per call.
    """
    _check(number, repeat)
    is_async = {name: inspect.iscoroutinefunction(fn) for name, fn in cases.items()}
    runs: dict[str, list[float]] = {name: [] for name in cases}
    for name, fn in cases.items():
        result = fn()
        if is_async[name]:
            await result  # type: ignore[misc]
    for _ in range(repeat):
        for name, fn in cases.items():
            if is_async[name]:
                start = time.process_time()
                for _ in range(number):
                    await fn()  # type: ignore[misc]
            else:
                start = time.process_time()
                for _ in range(number):
                    fn()
            runs[name].append((time.process_time() - start) / number)
    return {name: round(statistics.median(r) * 1e6, 2) for name, r in runs.items()}


def ratio(measured: float, floor: float) -> float:
    """``measured / floor`` to two places (how many times the raw cost)."""
    return round(measured / floor, 2) if floor > 0 else float("inf")


def per_second(us: float) -> int:
    """Operations per second for a cost in µs."""
    return round(1e6 / us) if us > 0 else 0


def environment() -> dict[str, Any]:
    """What a reader needs to compare runs: interpreter, machine, CPUs usable here."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "machine": platform.machine(),
        "cpus_usable": cpus,
    }


def emit(figures: Mapping[str, Any]) -> None:
    """Print the benchmark's one JSON object on stdout."""
    sys.stdout.write(json.dumps(figures, ensure_ascii=False) + "\n")
    sys.stdout.flush()
