"""Forgetting what the agent no longer needs.

A handled inbox record is the memory that recognises a sender's retry as a duplicate, and a
delivered outbox item is what tells a person their message went out; both also hold the
plaintext of a message. Kept for ever, they would grow without bound and keep personal data
nobody uses, so after ``retention`` seconds both go: inbox records handled (or failed) and
outbox items delivered. Dead letters stay until someone looks at them, and so does anything
not yet handled or delivered. A duplicate older than the retention is no longer recognised,
so the retention must outlast any sender's retries (days, not minutes). The event log goes
the same way: a webhook or stream that has been away for longer than the retention resumes
from the oldest event kept.
"""

from __future__ import annotations

import asyncio
import logging
import time

from wallet.errors import MoiError
from wallet.storage import Delete, Store

from . import events, inbox, outbox
from .tasks import cancel

log = logging.getLogger(__name__)

#: Records deleted per write: a page small enough not to hold the writer for long.
PAGE = 500


def seq_before(cutoff: float) -> str:
    """The ``~seq`` of the queues (wall-clock nanoseconds, 20 digits) at ``cutoff``."""
    return f"{max(0, int(cutoff * 1e9)):020d}"


async def purge(store: Store, cutoff: float) -> dict[str, int]:
    """Delete inbox records handled, outbox items delivered and events appended before
    ``cutoff`` (a Unix time); returns how many of each."""
    before = {"~seq": {"$lt": seq_before(cutoff)}}
    finished = [inbox.InboxState.DONE.value, inbox.InboxState.FAILED.value]
    wanted = {
        inbox.CATEGORY: {"state": {"$in": finished}, **before},
        outbox.CATEGORY: {"state": outbox.DeliveryState.DELIVERED.value, **before},
        events.CATEGORY: before,
    }
    counts = {}
    for category, query in wanted.items():
        counts[category] = 0
        while True:
            found = await store.find(category, query, limit=PAGE)
            if found:
                await store.write([Delete(category, r.id, missing_ok=True) for r in found])
                counts[category] += len(found)
            if len(found) < PAGE:
                break
    return counts


class Janitor:
    """Runs :func:`purge` now and then, in the background."""

    def __init__(self, store: Store, retention: float, *, every: float = 3600.0) -> None:
        self.store = store
        self.retention = retention
        self.every = every
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="retention")

    async def run_once(self) -> dict[str, int]:
        counts = await purge(self.store, time.time() - self.retention)
        if any(counts.values()):
            log.info(
                "retention: forgot %d handled inbox records, %d delivered messages, %d events",
                counts[inbox.CATEGORY],
                counts[outbox.CATEGORY],
                counts[events.CATEGORY],
            )
        return counts

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except MoiError as err:
                # The store is busy or going away: try again at the next round.
                log.warning("retention: purge failed: %s", err)
            await asyncio.sleep(self.every)

    async def close(self) -> None:
        await cancel(self._task)
        self._task = None
