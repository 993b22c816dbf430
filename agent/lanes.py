"""Keyed serial workers: one task per key, started on demand, gone when idle.

Both queues (inbox and outbox) keep order per relationship and run relationships in
parallel; this is the shared part: wake a key's lane when new work is committed, never miss
work committed while the lane was deciding to stop, and retry a lane that failed (with
backoff) rather than leave its work waiting for the next notification.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("moi.lanes")

#: A lane body: process what is pending for the key; return False if nothing was found.
LaneBody = Callable[[str], Awaitable[bool]]


class Lanes:
    def __init__(
        self,
        body: LaneBody,
        *,
        name: str,
        limit: int | None = None,
        retry_delay: float = 1.0,
        max_retry_delay: float = 60.0,
    ) -> None:
        self._body = body
        self._name = name
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._slots = asyncio.Semaphore(limit) if limit else None
        self._closing = False
        self._retry_delay = retry_delay
        self._max_retry_delay = max_retry_delay
        self._failures: dict[str, int] = {}

    def notify(self, key: str) -> None:
        if self._closing:
            return
        task = self._tasks.get(key)
        if task is not None and not task.done():
            self._wake[key].set()
            return
        self._wake[key] = asyncio.Event()
        self._wake[key].set()
        self._tasks[key] = asyncio.create_task(self._run(key), name=f"{self._name}-{key[:12]}")

    async def _run(self, key: str) -> None:
        wake = self._wake[key]
        failed = False
        try:
            while not self._closing and wake.is_set():
                wake.clear()
                if self._slots is None:
                    found = await self._body(key)
                else:
                    async with self._slots:
                        found = await self._body(key)
                if found:
                    wake.set()
            self._failures.pop(key, None)
        except asyncio.CancelledError:
            raise
        except Exception:  # a worker must survive anything; the work stays queued
            failed = True
            log.exception("%s lane %s failed; its work stays queued", self._name, key[:40])
        finally:
            if self._tasks.get(key) is asyncio.current_task():
                del self._tasks[key]
                self._wake.pop(key, None)
        if failed and not self._closing:
            # Nothing else may wake this lane (its sender may have nothing more to say), so
            # it tries again by itself, backing off while the failure lasts.
            count = self._failures[key] = self._failures.get(key, 0) + 1
            delay = min(self._max_retry_delay, self._retry_delay * 2 ** (count - 1))
            asyncio.get_running_loop().call_later(delay, self.notify, key)

    def busy(self, key: str) -> bool:
        task = self._tasks.get(key)
        return task is not None and not task.done()

    @property
    def active(self) -> int:
        return sum(1 for t in self._tasks.values() if not t.done())

    async def close(self) -> None:
        self._closing = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
