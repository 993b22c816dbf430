"""Monotonic, sortable ids for queues and the event log.

A ``~seq`` tag orders a queue or the event log; it must sort as text and only grow, also
across a restart (the wall clock in nanoseconds gives that) and within one clock tick (a
counter gives that).
"""

from __future__ import annotations

import threading
import time


class SequenceClock:
    """Zero-padded, strictly increasing decimal ids, 20 digits (good until the year 5138)."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            now = time.time_ns()
            self._last = now if now > self._last else self._last + 1
            return f"{self._last:020d}"

    def observe(self, seq: str) -> None:
        """Never issue an id at or below one already stored (a clock that went back)."""
        with self._lock:
            value = int(seq)
            if value > self._last:
                self._last = value


SEQ = SequenceClock()
