"""The queues' machinery, without processes: lanes retry after a failure, and the lane queries
are driven by the small set (pending, queued) rather than by a relationship's history."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from agent.dispatcher import Dispatcher
from agent.events import EventBus
from agent.lanes import Lanes
from agent.outbox import OutboxWorker
from agent.registry import Registry


async def _until(event: asyncio.Event) -> None:
    async with asyncio.timeout(5):
        await event.wait()


async def test_a_failed_lane_tries_again_by_itself() -> None:
    calls: list[str] = []
    again = asyncio.Event()

    async def body(key: str) -> bool:
        calls.append(key)
        if len(calls) == 1:
            raise RuntimeError("the store hiccuped")
        again.set()
        return False

    lanes = Lanes(body, name="test", retry_delay=0.01)
    lanes.notify("peer")  # the only notification: nothing else would wake the lane
    await _until(again)
    assert calls == ["peer", "peer"]
    await lanes.close()


async def test_a_lane_that_keeps_failing_keeps_trying_until_closed() -> None:
    calls: list[str] = []
    several = asyncio.Event()

    async def body(key: str) -> bool:
        calls.append(key)
        if len(calls) == 4:
            several.set()
        raise RuntimeError("still broken")

    lanes = Lanes(body, name="test", retry_delay=0.001, max_retry_delay=0.004)
    lanes.notify("peer")
    await _until(several)
    await lanes.close()
    seen = len(calls)
    await asyncio.sleep(0.05)
    assert len(calls) == seen  # closed: the pending retry does nothing


async def test_work_notified_while_the_lane_runs_is_not_missed() -> None:
    pending = ["a"]
    done: list[str] = []
    both = asyncio.Event()

    async def body(key: str) -> bool:
        if not pending:
            return False
        item = pending.pop(0)
        await asyncio.sleep(0.01)
        if item == "a":  # more work committed while this item is handled
            pending.append("b")
            lanes.notify(key)
        done.append(item)
        if len(done) == 2:
            both.set()
        return True

    lanes = Lanes(body, name="test")
    lanes.notify("peer")
    await _until(both)
    assert done == ["a", "b"]
    await lanes.close()


class _RecordingStore:
    """Answers every find with nothing, and remembers the queries it was asked."""

    def __init__(self) -> None:
        self.queries: list[tuple[str, list[str]]] = []

    async def find(self, category: str, query: Mapping[str, Any] | None = None, **kw: Any) -> list:
        self.queries.append((category, list(query or {})))
        return []


async def test_lane_queries_lead_with_the_state() -> None:
    """The store drives a query from its first equality. A lane's history (handled messages
    kept for deduplication, delivered ones) grows without bound; the pending and queued few do
    not — leading with the lane or the connection made each poll cost O(history)."""
    store = _RecordingStore()
    worker = OutboxWorker(store, deliver=None)  # type: ignore[arg-type]
    assert await worker._lane("connection-1") is False
    dispatcher = Dispatcher(
        store=store,  # type: ignore[arg-type]
        registry=Registry(),
        bus=EventBus(store),  # type: ignore[arg-type]
        outbox_worker=worker,
        services={},
    )
    assert await dispatcher._lane("did:peer:2.sender") is False
    assert store.queries == [("outbox", ["state", "connection_id"]), ("inbox", ["state", "lane"])]
