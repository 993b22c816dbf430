"""The durable outbox: messages wait here until the peer has taken them.

A message is appended in the same transaction as the state change that produced it, so a
crash can lose neither. One *lane* per connection delivers that connection's messages strictly
in the order they were queued: a message that fails is retried with exponential backoff and
nothing behind it overtakes it; after ``max_attempts`` (or ``max_age``) it is dead-lettered
and the lane moves on. A message the peer refused outright (an HTTP 4xx) goes to the dead
letters at once — repeating it would not help.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from wallet.encoding import dumps_compact
from wallet.errors import RecordNotFound, StorageError
from wallet.storage import Add, Store, Update, WriteOp

from .errors import TransportError
from .ids import SEQ
from .lanes import Lanes

log = logging.getLogger("moi.outbox")

CATEGORY = "outbox"


class DeliveryState(StrEnum):
    QUEUED = "queued"
    DELIVERED = "delivered"
    DEAD = "dead"


class PermanentDeliveryError(TransportError):
    """The peer refused the message; retrying cannot succeed."""


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: str
    connection_id: str
    message: Mapping[str, Any]
    seq: str
    created: float
    state: DeliveryState = DeliveryState.QUEUED
    attempts: int = 0
    error: str | None = None
    delivered_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "connection_id": self.connection_id,
            "message": dict(self.message),
            "seq": self.seq,
            "created": self.created,
            "state": self.state.value,
            "attempts": self.attempts,
            "error": self.error,
            "delivered_at": self.delivered_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OutboxItem:
        values = dict(data)
        values["state"] = DeliveryState(values["state"])
        return cls(**values)

    def tags(self) -> dict[str, str]:
        return {"state": self.state.value, "connection_id": self.connection_id, "~seq": self.seq}


def make(connection_id: str, message: Mapping[str, Any]) -> tuple[OutboxItem, WriteOp]:
    """A plaintext message's outbox item and the write that appends it, without I/O, for a
    caller that writes it in one batch with the state change that produced it. Its ``~seq``
    is taken now: write it before any item made later (the dispatcher's commits, which make
    all of them, run one at a time)."""
    item = OutboxItem(
        id=str(message["id"]),
        connection_id=connection_id,
        message=message,
        seq=SEQ.next(),
        created=time.time(),
    )
    return item, Add(CATEGORY, item.id, _encode(item), item.tags())


async def enqueue(store: Store, connection_id: str, message: Mapping[str, Any]) -> OutboxItem:
    """Append a plaintext message for a connection; call inside the producing transaction."""
    item, op = make(connection_id, message)
    await store.write([op])
    return item


def _encode(item: OutboxItem) -> bytes:
    return dumps_compact(item.to_json()).encode("utf-8")


async def delivery_state(store: Store, message_id: str) -> DeliveryState | None:
    try:
        record = await store.get(CATEGORY, message_id)
    except RecordNotFound:
        return None
    return DeliveryState(record.tags.get("state", "queued"))


Deliver = Callable[[OutboxItem], Awaitable[None]]
OnDead = Callable[[OutboxItem], Awaitable[None]]


class OutboxWorker:
    """Runs one delivery lane per connection with queued messages."""

    def __init__(
        self,
        store: Store,
        deliver: Deliver,
        *,
        on_dead: OnDead | None = None,
        max_attempts: int = 12,
        max_age: float = 3 * 24 * 3600,
        base_delay: float = 0.25,
        max_delay: float = 300.0,
        batch: int = 64,
    ) -> None:
        self.store = store
        self.deliver = deliver
        self.on_dead = on_dead
        self.max_attempts = max_attempts
        self.max_age = max_age
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.batch = batch
        self.lanes = Lanes(self._lane, name="outbox")
        self._ready: dict[str, list[OutboxItem]] = {}
        # ids delivered (or dead) by this process lately: an item both handed over and read
        # back from the store goes out once
        self._sent: OrderedDict[str, None] = OrderedDict()
        self._backlog: set[str] = set()
        self._closing = False
        # Delivered marks not yet written: the lane goes on to its next message without
        # waiting for the store (a peer's round trip per message is the lane's whole cost),
        # and marks that pile up meanwhile are written in one transaction.
        self._marks: list[OutboxItem] = []
        self._marker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Resume every lane that has queued messages (after a restart or a crash)."""
        pending = await self.store.find(CATEGORY, {"state": DeliveryState.QUEUED.value})
        for record in pending:
            SEQ.observe(record.tags.get("~seq", "0"))
            self._backlog.add(record.tags["connection_id"])
            self.notify(record.tags["connection_id"])

    def notify(self, connection_id: str) -> None:
        """New messages were committed for a connection: make sure its lane runs."""
        self.lanes.notify(connection_id)

    def submit(self, item: OutboxItem) -> None:
        """Hand over a message just committed, so its lane need not read it back."""
        ready = self._ready.setdefault(item.connection_id, [])
        bisect.insort(ready, item, key=lambda i: i.seq)
        self.lanes.notify(item.connection_id)

    async def _lane(self, connection_id: str) -> bool:
        # Messages handed over in memory go first — unless older ones wait in the store
        # (after a restart, or a lane that failed half way): then the store, which has them
        # all in order, is read until it is drained.
        if connection_id not in self._backlog:
            ready = self._ready.pop(connection_id, None)
            if ready:
                self._backlog.add(connection_id)  # should this run fail, trust the store
                for item in ready:
                    if item.id not in self._sent and not await self._deliver_one(item):
                        return False
                self._backlog.discard(connection_id)
                # Nothing else to look for: every message this process queues is handed
                # over (submit), and more handed over or a notify meanwhile runs the lane
                # again by itself. Reading the store here cost a trip per burst.
                return False
        records = await self.store.find(
            CATEGORY,
            # State first: the store drives the query from the first equality, and the
            # queued few are a far smaller set than a connection's delivered history.
            {"state": DeliveryState.QUEUED.value, "connection_id": connection_id},
            order_by="~seq",
            limit=self.batch,
        )
        progressed = False
        for record in records:
            item = OutboxItem.from_json(record.json())
            if item.id in self._sent:
                continue  # delivered; its mark is on its way to the store
            if not await self._deliver_one(item):
                return False
            progressed = True
        if len(records) < self.batch:
            self._backlog.discard(connection_id)
        # Records all delivered but not yet marked would be read again and again: stop, and
        # let the marks' writer wake the lane once they are stored.
        return progressed or connection_id in self._ready

    async def _deliver_one(self, item: OutboxItem) -> bool:
        """Deliver with retries; False when the worker is closing."""
        while not self._closing:
            try:
                await self.deliver(item)
            except PermanentDeliveryError as err:
                await self._finish(item, DeliveryState.DEAD, str(err))
                return True
            except TransportError as err:
                item = replace(item, attempts=item.attempts + 1, error=str(err))
                too_old = time.time() - item.created > self.max_age
                if item.attempts >= self.max_attempts or too_old:
                    await self._finish(item, DeliveryState.DEAD, str(err))
                    return True
                await self.store.update(CATEGORY, item.id, _encode(item), item.tags())
                delay = min(self.max_delay, self.base_delay * 2 ** (item.attempts - 1))
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                continue
            await self._finish(item, DeliveryState.DELIVERED, None)
            return True
        return False

    async def _finish(self, item: OutboxItem, state: DeliveryState, error: str | None) -> None:
        self._sent[item.id] = None
        if len(self._sent) > 4096:
            self._sent.popitem(last=False)
        item = replace(item, state=state, error=error, delivered_at=time.time())
        if state is DeliveryState.DELIVERED:
            # Safe to write later: until the mark is stored, a crash only means the message
            # goes again after the restart, which the peer drops as a duplicate (as it would
            # for a crash between its acknowledgement and a mark written at once).
            self._marks.append(item)
            if self._marker is None or self._marker.done():
                self._marker = asyncio.create_task(self._write_marks(), name="outbox-marks")
            return
        await self.store.update(CATEGORY, item.id, _encode(item), item.tags())
        if state is DeliveryState.DEAD:
            log.warning("message %s to %s dead-lettered: %s", item.id, item.connection_id, error)
            if self.on_dead is not None:
                await self.on_dead(item)

    async def _write_marks(self) -> None:
        delay = 0.1
        while self._marks:
            batch, self._marks = self._marks, []
            try:
                await self._store_marks(batch)
            except StorageError as err:
                if self._closing:
                    log.warning("%d delivered marks not stored: %s", len(batch), err)
                    return  # they go again after a restart; the peer drops the duplicates
                log.warning("delivered marks not stored (%s); retrying", err)
                self._marks[:0] = batch
                await asyncio.sleep(delay)
                delay = min(self.max_delay, delay * 2)
                continue
            for connection_id in {item.connection_id for item in batch} & self._backlog:
                self.lanes.notify(connection_id)

    async def _store_marks(self, batch: list[OutboxItem]) -> None:
        # One batch, one trip to the store, however many marks.
        try:
            await self.store.write([Update(CATEGORY, i.id, _encode(i), i.tags()) for i in batch])
        except RecordNotFound:
            # One was deleted meanwhile (nothing to mark there), which undid the batch: the
            # others one by one. Rare, so the extra trips do not matter.
            for item in batch:
                with contextlib.suppress(RecordNotFound):
                    await self.store.update(CATEGORY, item.id, _encode(item), item.tags())

    async def flush(self) -> None:
        """Wait until every delivered mark taken so far is stored."""
        while self._marker is not None and not self._marker.done():
            await asyncio.wait({self._marker})

    async def close(self) -> None:
        self._closing = True
        await self.lanes.close()
        with contextlib.suppress(StorageError):
            await self.flush()
