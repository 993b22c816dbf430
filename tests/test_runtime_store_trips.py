"""The runtime's trips to the store: commits that arrive while a transaction runs go
together in the next one, and every caller still gets its own outcome (a failing commit takes
no one else with it); the outbox's delivered marks are written behind the lane and all reach
the store; a lane that drained what it was handed does not read the store again; a
connection just saved is found by its DIDs from memory."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agent import outbox
from agent.connections import ConnectionRecord, Connections, ConnectionState
from agent.dispatcher import Dispatcher
from agent.events import EventBus
from agent.outbox import OutboxItem, OutboxWorker
from agent.plugin import Emit, Save, Send
from agent.registry import Registry
from wallet.didcomm.message import Message
from wallet.errors import DuplicateRecord
from wallet.storage import Store, create_store


class _CountingStore:
    """A real store that counts the transactions opened on it."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.transactions = 0

    def transaction(self) -> Any:
        self.transactions += 1
        return self._store.transaction()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@pytest.fixture
async def store(tmp_path: Any) -> AsyncIterator[_CountingStore]:
    real = await create_store(f"sqlite://{tmp_path}/w.db", raw_key=os.urandom(32))
    yield _CountingStore(real)
    await real.close()


def _dispatcher(store: Any) -> tuple[Dispatcher, OutboxWorker]:
    async def deliver(item: OutboxItem) -> None:
        return None

    worker = OutboxWorker(store, deliver)
    dispatcher = Dispatcher(
        store=store,
        registry=Registry(),
        bus=EventBus(store),
        outbox_worker=worker,
        services={},
    )
    return dispatcher, worker


async def test_concurrent_commits_share_a_transaction(store: _CountingStore) -> None:
    dispatcher, worker = _dispatcher(store)
    with dispatcher.bus.subscribe() as heard:
        results = await asyncio.gather(
            *(
                dispatcher.commit(
                    [
                        Save("note", f"n{i}", {"i": i}, {}, new=True),
                        Emit("note.saved", {"i": i}),
                    ]
                )
                for i in range(10)
            )
        )
        # The first goes alone; the nine that came meanwhile go together.
        assert store.transactions == 2
        assert [[e.payload["i"] for e in r] for r in results] == [[i] for i in range(10)]
        assert [heard.get_nowait().payload["i"] for _ in range(10)] == list(range(10))
    assert len(await store.find("note")) == 10
    assert [e.payload["i"] for e in await dispatcher.bus.since()] == list(range(10))
    await dispatcher.close()
    await worker.close()


async def test_a_failing_commit_fails_alone(store: _CountingStore) -> None:
    dispatcher, worker = _dispatcher(store)
    await store.add("note", "taken", b"{}")
    outcomes = await asyncio.gather(
        dispatcher.commit([Save("note", "first", {}, {}, new=True)]),
        dispatcher.commit([Save("note", "a", {}, {}, new=True), Emit("a", {})]),
        dispatcher.commit([Save("note", "taken", {}, {}, new=True), Emit("b", {})]),
        dispatcher.commit([Save("note", "c", {}, {}, new=True), Emit("c", {})]),
        return_exceptions=True,
    )
    assert isinstance(outcomes[2], DuplicateRecord)
    assert [[e.topic for e in o] for o in outcomes if isinstance(o, list)] == [[], ["a"], ["c"]]
    ids = {r.id for r in await store.find("note")}
    assert ids == {"taken", "first", "a", "c"}
    assert [e.topic for e in await dispatcher.bus.since()] == ["a", "c"]
    await dispatcher.close()
    await worker.close()


async def test_a_caller_that_gives_up_before_its_turn_commits_nothing(
    store: _CountingStore,
) -> None:
    dispatcher, worker = _dispatcher(store)
    first = asyncio.ensure_future(dispatcher.commit([Save("note", "1", {}, {}, new=True)]))
    await asyncio.sleep(0)  # the first is under way: the next ones queue
    waiting = asyncio.ensure_future(dispatcher.commit([Save("note", "2", {}, {}, new=True)]))
    kept = asyncio.ensure_future(dispatcher.commit([Save("note", "3", {}, {}, new=True)]))
    await asyncio.sleep(0)
    waiting.cancel()
    await first
    await kept
    assert {r.id for r in await store.find("note")} == {"1", "3"}
    await dispatcher.close()
    await worker.close()


async def test_delivered_marks_all_reach_the_store(store: _CountingStore) -> None:
    delivered: list[str] = []
    gate = asyncio.Event()

    async def deliver(item: OutboxItem) -> None:
        delivered.append(item.id)
        if len(delivered) == 20:
            gate.set()

    worker = OutboxWorker(store, deliver)
    dispatcher, _ = _dispatcher(store)
    dispatcher.outbox = worker
    for i in range(20):
        await dispatcher.commit([Send("conn-1", Message(type="t", body={}, id=f"m{i:02d}"))])
    async with asyncio.timeout(5):
        await gate.wait()
    await worker.flush()
    assert delivered == [f"m{i:02d}" for i in range(20)]  # in order
    states = {i: await outbox.delivery_state(store, f"m{i:02d}") for i in range(20)}
    assert set(states.values()) == {outbox.DeliveryState.DELIVERED}
    await worker.close()
    await dispatcher.close()


async def test_a_lane_that_drained_its_handed_over_messages_does_not_read_the_store(
    store: _CountingStore,
) -> None:
    """Every message this process queues is handed over to its lane: once they are out, a
    look at the store would find nothing (it cost a trip per message sent one at a time)."""
    finds: list[str] = []
    real_find = store._store.find

    async def find(category: str, *args: Any, **kw: Any) -> Any:
        finds.append(category)
        return await real_find(category, *args, **kw)

    store.find = find  # type: ignore[method-assign]
    delivered = asyncio.Event()

    async def deliver(item: OutboxItem) -> None:
        delivered.set()

    worker = OutboxWorker(store, deliver)
    dispatcher, _ = _dispatcher(store)
    dispatcher.outbox = worker
    for i in range(3):
        delivered.clear()
        await dispatcher.commit([Send("conn-1", Message(type="t", body={}, id=f"m{i}"))])
        async with asyncio.timeout(5):
            await delivered.wait()
        while worker.lanes.busy("conn-1"):
            await asyncio.sleep(0.001)
    await worker.flush()
    assert finds == []
    assert await outbox.delivery_state(store, "m2") is outbox.DeliveryState.DELIVERED
    await worker.close()
    await dispatcher.close()


async def test_a_connection_just_saved_is_found_by_its_dids_without_the_store() -> None:
    """The message after a DID exchange step asks for its connection by DIDs; the record
    this process just wrote answers it (v1 by our DID alone, v2 by both)."""

    class _NoStore:
        async def find(self, *args: Any, **kw: Any) -> list:
            raise AssertionError("the store was asked")

    connections = Connections(_NoStore())  # type: ignore[arg-type]
    v1 = ConnectionRecord.new(
        state=ConnectionState.REQUEST_SENT, family="v1", role="invitee", my_did="did:peer:4z1"
    )
    v2 = ConnectionRecord.new(
        state=ConnectionState.COMPLETED,
        family="v2",
        role="inviter",
        my_did="did:peer:2.mine",
        their_did="did:peer:2.theirs",
    )
    connections.remember(v1)
    connections.remember(v2)
    assert await connections.by_dids("did:peer:4z1", None) == v1
    assert await connections.by_dids("did:peer:2.mine", "did:peer:2.theirs") == v2
