"""The runtime's trips to the store: a commit (a handled message's included) is one batched
write, one trip to SQLite's writer thread; commits that arrive while one is written go
together in the next, and every caller still gets its own outcome (a failing commit takes
no one else with it); the outbox's delivered marks are written behind the lane and all reach
the store; a lane that drained what it was handed does not read the store again; a
connection just saved is found by its DIDs from memory."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from agent import inbox, outbox
from agent.connections import ConnectionRecord, Connections, ConnectionState
from agent.dispatcher import Dispatcher
from agent.events import EventBus
from agent.outbox import OutboxItem, OutboxWorker
from agent.plugin import Emit, Save, Send
from agent.registry import Registry
from wallet.didcomm.message import Message
from wallet.errors import DuplicateRecord
from wallet.storage import Store, create_store
from wallet.storage import sqlite as sqlite_backend


class _CountingStore:
    """A real store that counts the transactions opened and the batches written on it, and
    the hops to its SQLite writer thread (each one a wake-up of that thread and back)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.transactions = 0
        self.writes = 0
        self.hops = 0

    def transaction(self) -> Any:
        self.transactions += 1
        return self._store.transaction()

    async def write(self, ops: Any) -> None:
        self.writes += 1
        await self._store.write(ops)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@pytest.fixture
async def store(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[_CountingStore]:
    real = await create_store(f"sqlite://{tmp_path}/w.db", raw_key=os.urandom(32))
    counting = _CountingStore(real)
    writer = real._db.writer  # type: ignore[attr-defined]
    run = sqlite_backend._Worker.run

    async def counted(worker: Any, fn: Any, *args: Any) -> Any:
        if worker is writer:
            counting.hops += 1
        return await run(worker, fn, *args)

    monkeypatch.setattr(sqlite_backend._Worker, "run", counted)
    yield counting
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
        assert (store.writes, store.hops, store.transactions) == (2, 2, 0)
        assert [[e.payload["i"] for e in r] for r in results] == [[i] for i in range(10)]
        assert [heard.get_nowait().payload["i"] for _ in range(10)] == list(range(10))
    assert len(await store.find("note")) == 10
    assert [e.payload["i"] for e in await dispatcher.bus.since()] == list(range(10))
    await dispatcher.close()
    await worker.close()


async def _never(item: OutboxItem) -> None:
    await asyncio.Event().wait()  # no delivery, so no delivered mark is written meanwhile


def _handled(message_id: str) -> inbox.InboxItem:
    return inbox.new_item(
        sender="did:example:sender",
        lane="did:example:sender",
        family="v2",
        message={"id": message_id, "type": "https://example.org/t/1.0/m"},
        metadata={},
    )


async def test_a_handled_messages_commit_is_one_trip(store: _CountingStore) -> None:
    """Record saved (it exists: an upsert), reply queued, event appended and the inbox
    record — stored on arrival, or written here already done — in one trip to SQLite's
    writer thread (it was six: BEGIN, one per write, COMMIT)."""
    dispatcher, worker = _dispatcher(store)
    worker.deliver = _never
    await store.add("note", "n", b"{}", {"state": "old"})
    stored = _handled("stored")
    assert await inbox.store_item(store, stored)
    for label, item, new in (("inline", _handled("inline"), True), ("stored", stored, False)):
        store.hops = 0
        effects = [
            Save("note", "n", {"seen": item.id}, {"state": item.id}),
            Send("conn-1", Message(type="t", body={}, id=f"reply-{label}")),
            Emit("note.seen", {"id": item.id}),
        ]
        await dispatcher.commit(effects, done=item.finished(inbox.InboxState.DONE), new=new)
        assert store.hops == 1, label
        record = await store.get(inbox.CATEGORY, item.id)
        assert record.tags["state"] == "done"
    note = await store.get("note", "n")
    assert (note.version, dict(note.tags)) == (3, {"state": stored.id})
    assert await store.count("note", {"state": "old"}) == 0
    assert await outbox.delivery_state(store, "reply-stored") is outbox.DeliveryState.QUEUED
    assert [e.payload["id"] for e in await dispatcher.bus.since()] == [
        _handled("inline").id,
        stored.id,
    ]
    await worker.close()
    await dispatcher.close()


async def test_a_message_handled_from_the_inbox_commits_in_one_trip(
    store: _CountingStore,
) -> None:
    """Through handle(): an unsupported type becomes a problem event and a failed inbox
    record, one trip; the same message again is a duplicate and writes nothing."""
    dispatcher, worker = _dispatcher(store)
    dispatcher.services["wallet"] = object()  # not asked: the message names no recipient
    item = inbox.new_item(
        sender=None,
        lane="anonymous",
        family="v1",
        message={"@id": "m-1", "@type": "https://didcomm.org/nobody/1.0/thing"},
        metadata={},
    )
    store.hops = 0
    assert await dispatcher.try_inline(item) == "accepted"
    assert store.hops == 1
    assert (await store.get(inbox.CATEGORY, item.id)).tags["state"] == "failed"
    assert [e.topic for e in await dispatcher.bus.since()] == ["problem_report.sent"]
    store.hops = 0
    assert await dispatcher.try_inline(item) == "duplicate"
    assert store.hops == 1
    assert len(await dispatcher.bus.since()) == 1  # the duplicate's event was rolled back
    await worker.close()
    await dispatcher.close()


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


async def test_a_first_caller_cancelled_during_its_write_still_wakes_and_publishes(
    store: _CountingStore,
) -> None:
    """The write may land after the caller left: then its events are published and the
    commits queued behind it go on, as if it had stayed."""
    dispatcher, worker = _dispatcher(store)
    with dispatcher.bus.subscribe() as heard:
        first = asyncio.ensure_future(
            dispatcher.commit([Save("note", "1", {}, {}, new=True), Emit("note.saved", {"i": 1})])
        )
        await asyncio.sleep(0)  # its write is under way
        behind = asyncio.ensure_future(
            dispatcher.commit([Save("note", "2", {}, {}, new=True), Emit("note.saved", {"i": 2})])
        )
        await asyncio.sleep(0)
        first.cancel()
        await behind
        assert first.cancelled()
        got = [heard.get_nowait().payload["i"] for _ in range(2)]
    assert got == [1, 2]
    assert {r.id for r in await store.find("note")} == {"1", "2"}
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
    # Each commit one trip; the marks, written behind the lane, one trip per batch of them.
    assert store.transactions == 0 and store.writes <= 20 + 20
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


async def test_delivered_marks_go_in_one_trip_and_skip_a_record_deleted_meanwhile(
    store: _CountingStore,
) -> None:
    worker = OutboxWorker(store, _never)
    queued = [await outbox.enqueue(store, "conn-1", {"id": f"m{i}"}) for i in range(3)]
    marks = [replace(item, state=outbox.DeliveryState.DELIVERED) for item in queued]
    store.hops = 0
    await worker._store_marks(marks[:2])
    assert store.hops == 1
    await store.delete(outbox.CATEGORY, "m2")
    await worker._store_marks(marks)  # m2 is gone: the others are still marked
    states = [await outbox.delivery_state(store, f"m{i}") for i in range(3)]
    assert states == [outbox.DeliveryState.DELIVERED, outbox.DeliveryState.DELIVERED, None]
    await worker.close()
