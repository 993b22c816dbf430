"""The mediator's queue: forwarded messages held per recipient until taken.

It lives in the record store, so a message survives a crash, and several mediator processes
sharing a PostgreSQL database serve the same recipients: a message queued by one process is
delivered by whichever holds the recipient's session. Limits per recipient (count, bytes,
age) turn a flood into a clear refusal instead of an exhausted disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wallet.encoding import dumps_compact
from wallet.errors import ConcurrentUpdate, DuplicateRecord, RecordNotFound
from wallet.storage import Record, Store

from ..errors import RemoteProtocolError
from ..ids import SEQ
from .refusals import MessageTooLarge, QueueFull

CATEGORY = "mediator-queue"
ROUTE = "mediator-route"
USAGE = "mediator-usage"


@dataclass(frozen=True, slots=True)
class Limits:
    max_messages: int = 10_000
    max_bytes: int = 64 * 1024 * 1024
    max_age: float = 7 * 24 * 3600
    max_message_bytes: int = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Queued:
    id: str
    connection_id: str
    #: the recipient's route id (its key or DID, or a digest of a long one)
    recipient: str
    message: Mapping[str, Any]
    size: int
    received: float
    seq: str
    #: the message as stored (compact JSON): what a raw push or a relay sends as it is
    data: bytes = b""


def _item(record: Record) -> Queued:
    """A queued message from its record: the value is the message itself, as it came in;
    where it was queued and when are in the tags (the position is the time, in ns)."""
    message = record.json()
    if "seq" in message and isinstance(message.get("message"), Mapping):
        # Queued before the value was the message itself: the record was the whole item.
        data = dumps_compact(message["message"]).encode("utf-8")
        return Queued(**{**message, "data": data})
    seq = record.tags["~seq"]
    return Queued(
        id=record.id,
        connection_id=record.tags["connection_id"],
        recipient=record.tags.get("recipient", ""),
        message=message,
        size=len(record.value),
        received=int(seq) / 1e9,
        seq=seq,
        data=record.value,
    )


def _size(record: Record) -> int:
    # Only a record of the earlier shape (the whole item, its id first) must be parsed.
    if record.value.startswith(b'{"id":'):
        return _item(record).size
    return len(record.value)


def _route_id(recipient: str) -> str:
    # A did:peer:2 with services can outgrow the store's id limit; file long ones by digest.
    if len(recipient) <= 256:
        return recipient
    return "sha256:" + hashlib.sha256(recipient.encode("utf-8")).hexdigest()


async def route_for(store: Store, recipient: str) -> str | None:
    """The mediated connection a recipient key (v1 verkey / v2 DID) belongs to."""
    try:
        return (await store.get(ROUTE, _route_id(recipient))).json()["connection_id"]
    except RecordNotFound:
        return None


async def add_route(store: Store, recipient: str, connection_id: str) -> bool:
    """File a recipient under a connection; False if another connection holds it."""
    current = await route_for(store, recipient)
    if current is not None:
        return current == connection_id
    value = dumps_compact({"connection_id": connection_id, "recipient": recipient})
    await store.add(
        ROUTE, _route_id(recipient), value.encode("utf-8"), {"connection_id": connection_id}
    )
    return True


async def remove_route(store: Store, recipient: str, connection_id: str) -> bool:
    if await route_for(store, recipient) != connection_id:
        return False
    await store.delete(ROUTE, _route_id(recipient))
    return True


async def routes_of(store: Store, connection_id: str) -> list[str]:
    records = await store.find(ROUTE, {"connection_id": connection_id})
    return [r.json()["recipient"] for r in records]


async def enqueue(
    store: Store,
    *,
    connection_id: str,
    recipient: str,
    message: Mapping[str, Any],
    limits: Limits,
) -> Queued:
    """Queue one message (a queue of one call, remembering nothing: see :class:`Queue`)."""
    return await Queue(store, limits).enqueue(connection_id, recipient, message)


async def pending(
    store: Store,
    connection_id: str,
    *,
    recipient: str | None = None,
    limit: int | None = None,
    after: str | None = None,
) -> list[Queued]:
    """Queued messages in queue order; ``after`` a queue position (``Queued.seq``), only
    those behind it."""
    query: dict[str, Any] = {"connection_id": connection_id}
    if recipient is not None:
        query["recipient"] = _route_id(recipient)
    if after is not None:
        query["~seq"] = {"$gt": after}
    records = await store.find(CATEGORY, query, order_by="~seq", limit=limit)
    return [_item(r) for r in records]


async def count(store: Store, connection_id: str, recipient: str | None = None) -> int:
    query: dict[str, Any] = {"connection_id": connection_id}
    if recipient is not None:
        query["recipient"] = _route_id(recipient)
    return await store.count(CATEGORY, query)


async def remove(store: Store, connection_id: str, ids: Sequence[str]) -> int:
    """Remove delivered messages of this connection's queue (see :meth:`Queue.remove`)."""
    return await Queue(store, Limits()).remove(connection_id, ids)


async def purge_expired(store: Store, limits: Limits, now: float) -> int:
    return await Queue(store, limits).purge_expired(now)


@dataclass(frozen=True, slots=True)
class _Usage:
    """A recipient's usage counter as last read or written: (messages, bytes) and the
    record's version, so that the next write can say which version it replaces."""

    count: int
    bytes: int
    version: int


@dataclass(slots=True)
class _Request:
    connection_id: str
    recipient: str
    message: Mapping[str, Any]
    data: bytes
    done: asyncio.Future[Queued]


class Queue:
    """One mediator process's hand on the queue. What it adds to the functions above is
    memory, to spare the store round trips:

    - forwards that arrive together are queued in one transaction, by one task that takes
      whatever waits whenever it is free;
    - on a store of its own (``shared=False``: SQLite; this process alone writes the
      queue), each recipient's usage (messages, bytes) is counted in memory — read from
      the queue once, then kept as messages come and go — so that a forward is one
      autocommitted write and an acknowledgement its deletes. The limits are as exact as
      the queue: a crash loses only the count, which the next start reads again;
    - on a shared store (PostgreSQL, several processes), the limits hold across processes
      by one counter record per recipient, updated in the transaction that queues or
      removes. It is remembered with its version and written back with
      ``expected_version`` instead of being read under lock first; if anyone else moved
      it, the work is done again with the counter read under lock;
    - recipient routes are remembered (for a while only, when the store is shared: another
      process may change them);
    - an acknowledgement of messages this process delivered names their sizes
      (``sizes``): they need not be read back to be checked and counted.
    """

    MAX_BATCH = 64
    MAX_ROUTES = 10_000
    #: How long a route is trusted when other processes share the store and may change it
    ROUTE_SECONDS = 5.0

    def __init__(self, store: Store, limits: Limits, *, shared: bool = True) -> None:
        self.store = store
        self.limits = limits
        self.shared = shared
        #: a shared store: usage counters as last read or written here
        self._usage: dict[str, _Usage] = {}
        #: a store of our own: (messages, bytes) queued per connection, counted here
        self._counted: dict[str, list[int]] = {}
        self._counting = asyncio.Lock()
        self._routes: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._waiting: list[_Request] = []
        self._committer: asyncio.Task[None] | None = None

    # -- routes -------------------------------------------------------------------------------

    async def route_for(self, recipient: str) -> str | None:
        now = time.monotonic()
        known = self._routes.get(recipient)
        if known is not None and (not self.shared or now < known[1]):
            return known[0]
        connection_id = await route_for(self.store, recipient)
        if connection_id is not None:
            self._routes[recipient] = (connection_id, now + self.ROUTE_SECONDS)
            self._routes.move_to_end(recipient)
            while len(self._routes) > self.MAX_ROUTES:
                self._routes.popitem(last=False)
        return connection_id

    def forget_route(self, recipient: str) -> None:
        self._routes.pop(recipient, None)

    # -- queueing ------------------------------------------------------------------------------

    async def enqueue(
        self, connection_id: str, recipient: str, message: Mapping[str, Any]
    ) -> Queued:
        """Queue a message for a recipient; durable when this returns. Refusals are
        :class:`MessageTooLarge` and :class:`QueueFull`, and queue nothing."""
        data = dumps_compact(dict(message)).encode("utf-8")
        if len(data) > self.limits.max_message_bytes:
            raise MessageTooLarge(
                f"the message is {len(data)} bytes, "
                f"over the limit of {self.limits.max_message_bytes}"
            )
        done: asyncio.Future[Queued] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Request(connection_id, recipient, message, data, done))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_waiting(), name="mediator-queue")
        return await done

    async def _commit_waiting(self) -> None:
        batch: list[_Request] = []
        try:
            while self._waiting:
                batch = [r for r in self._waiting[: self.MAX_BATCH] if not r.done.done()]
                del self._waiting[: self.MAX_BATCH]
                if not batch:
                    continue
                try:
                    outcomes = await self._commit(batch)
                except Exception as err:  # a store failure: every sender of the batch hears it
                    outcomes = [err] * len(batch)
                for request, outcome in zip(batch, outcomes, strict=True):
                    if request.done.done():
                        continue  # its sender gave up waiting; what was queued stays queued
                    if isinstance(outcome, Exception):
                        request.done.set_exception(outcome)
                    else:
                        request.done.set_result(outcome)
        finally:
            # Cancelled (the agent stops): nobody may wait for an answer that cannot come.
            for request in [*batch, *self._waiting]:
                if not request.done.done():
                    request.done.cancel()

    async def _commit(self, batch: list[_Request]) -> list[Queued | Exception]:
        if not self.shared:
            return await self._commit_alone(batch)
        try:
            return await self._commit_shared(batch, cached=True)
        except (ConcurrentUpdate, DuplicateRecord, RecordNotFound):
            # A counter moved under us (another process, an expiry), or two first messages
            # for one recipient raced to create it: again, reading it under lock.
            for request in batch:
                self._usage.pop(request.connection_id, None)
            return await self._commit_shared(batch, cached=False)

    def _admit(self, request: _Request, counts: list[int]) -> Queued | Exception:
        """The queued item, or the refusal, for one request; ``counts`` (messages, bytes)
        held for its recipient so far, counting it in when admitted."""
        size = len(request.data)
        if counts[0] >= self.limits.max_messages:
            return QueueFull(f"the recipient's queue holds {counts[0]} messages, its limit")
        if counts[1] + size > self.limits.max_bytes:
            return QueueFull(f"the recipient's queue holds {counts[1]} bytes, at its limit")
        counts[0] += 1
        counts[1] += size
        seq = SEQ.next()
        return Queued(
            id=str(uuid.uuid4()),
            connection_id=request.connection_id,
            recipient=_route_id(request.recipient),
            message=request.message,
            size=size,
            received=int(seq) / 1e9,
            seq=seq,
            data=request.data,
        )

    async def _commit_alone(self, batch: list[_Request]) -> list[Queued | Exception]:
        """This process alone writes the queue: the usage is counted in memory (read from
        the queue once per recipient), and one message is one autocommitted write."""
        counts: dict[str, list[int]] = {}
        for request in batch:
            if request.connection_id not in counts:
                counts[request.connection_id] = list(await self._held(request.connection_id))
        outcomes = [self._admit(r, counts[r.connection_id]) for r in batch]
        items = [o for o in outcomes if isinstance(o, Queued)]
        if len(items) == 1:
            await self.store.add(CATEGORY, items[0].id, items[0].data, _tags(items[0]))
        elif items:
            async with self.store.transaction() as tx:
                for item in items:
                    await tx.add(CATEGORY, item.id, item.data, _tags(item))
        for item in items:
            held = self._counted[item.connection_id]
            held[0] += 1
            held[1] += item.size
        return outcomes

    async def _held(self, connection_id: str) -> list[int]:
        """(messages, bytes) queued for a connection, as this process counts them."""
        held = self._counted.get(connection_id)
        if held is None:
            async with self._counting:
                held = self._counted.get(connection_id)
                if held is None:
                    # Nothing is queued or removed for a connection before it is counted
                    # (both wait here), so the count cannot miss a change.
                    held = await _measure(self.store, connection_id)
                    self._counted[connection_id] = held
        return held

    async def _commit_shared(
        self, batch: list[_Request], *, cached: bool
    ) -> list[Queued | Exception]:
        outcomes: list[Queued | Exception] = []
        before: dict[str, _Usage] = {}
        counts: dict[str, list[int]] = {}
        async with self.store.transaction() as tx:
            for request in batch:
                connection_id = request.connection_id
                if connection_id not in before:
                    usage = self._usage.get(connection_id) if cached else None
                    usage = usage or await _read_usage(tx, connection_id)
                    before[connection_id] = usage
                    counts[connection_id] = [usage.count, usage.bytes]
                outcome = self._admit(request, counts[connection_id])
                if isinstance(outcome, Queued):
                    await tx.add(CATEGORY, outcome.id, outcome.data, _tags(outcome))
                outcomes.append(outcome)
            after = {}
            for connection_id, (count, used) in counts.items():
                usage = before[connection_id]
                if (count, used) != (usage.count, usage.bytes):
                    usage = await _write_usage(tx, connection_id, usage, count, used)
                after[connection_id] = usage
        self._usage.update(after)
        return outcomes

    # -- taking out ----------------------------------------------------------------------------

    async def remove(
        self, connection_id: str, ids: Sequence[str], sizes: Mapping[str, int] | None = None
    ) -> int:
        """Remove delivered messages of this connection's queue; ids already gone are skipped
        (an acknowledgement may come twice). An id of another recipient's queue refuses the
        whole request and removes nothing. ``sizes`` holds ids known to be in this queue
        (this process delivered them from it) with their sizes: they are not read first."""
        ids = list(dict.fromkeys(ids))
        if not ids:
            return 0
        if not self.shared:
            return await self._remove_alone(connection_id, ids, sizes or {})
        try:
            return await self._remove_shared(connection_id, ids, sizes or {}, cached=True)
        except (ConcurrentUpdate, RecordNotFound):
            self._usage.pop(connection_id, None)
            return await self._remove_shared(connection_id, ids, sizes or {}, cached=False)

    async def _remove_alone(
        self, connection_id: str, ids: list[str], sizes: Mapping[str, int]
    ) -> int:
        held = await self._held(connection_id)
        known = await _check(self.store, connection_id, ids, sizes, lock=False)
        removed = freed = 0
        if len(known) == 1:
            # One message: one autocommitted delete. Several share one transaction, which
            # costs two more round trips but writes the pages they share once.
            ((item_id, size),) = known.items()
            if await _delete(self.store, item_id):
                removed, freed = 1, size
        elif known:
            async with self.store.transaction() as tx:
                for item_id, size in known.items():
                    if await _delete(tx, item_id):
                        removed += 1
                        freed += size
        held[0] = max(0, held[0] - removed)
        held[1] = max(0, held[1] - freed)
        return removed

    async def _remove_shared(
        self, connection_id: str, ids: list[str], sizes: Mapping[str, int], *, cached: bool
    ) -> int:
        async with self.store.transaction() as tx:
            known = await _check(tx, connection_id, ids, sizes, lock=True)
            removed = freed = 0
            for item_id, size in known.items():
                if await _delete(tx, item_id):
                    removed += 1
                    freed += size
            if not removed:
                return 0
            usage = (self._usage.get(connection_id) if cached else None) or await _read_usage(
                tx, connection_id
            )
            after = await _write_usage(
                tx, connection_id, usage, usage.count - removed, usage.bytes - freed
            )
        self._usage[connection_id] = after
        return removed

    async def usage(self, connection_id: str) -> tuple[int, int]:
        """(messages, bytes) queued for a connection, as the limits see them."""
        if not self.shared:
            count, used = await self._held(connection_id)
            return count, used
        async with self.store.transaction() as tx:
            usage = await _read_usage(tx, connection_id)
        return usage.count, usage.bytes

    async def purge_expired(self, now: float) -> int:
        cutoff = f"{int((now - self.limits.max_age) * 1e9):020d}"
        old = await self.store.find(CATEGORY, {"~seq": {"$lt": cutoff}}, limit=1000)
        by_connection: dict[str, list[str]] = {}
        for record in old:
            by_connection.setdefault(record.tags["connection_id"], []).append(record.id)
        return sum([await self.remove(cid, ids) for cid, ids in by_connection.items()])

    async def close(self) -> None:
        """Let the forwards already taken be queued."""
        if self._committer is not None:
            with contextlib.suppress(Exception):
                await self._committer


async def _measure(store: Store, connection_id: str, page: int = 500) -> list[int]:
    """[messages, bytes] queued for a connection, read a page at a time: a full queue may
    hold far more than one should load at once."""
    count = used = 0
    after: str | None = None
    while True:
        query: dict[str, Any] = {"connection_id": connection_id}
        if after is not None:
            query["~seq"] = {"$gt": after}
        records = await store.find(CATEGORY, query, order_by="~seq", limit=page)
        count += len(records)
        used += sum(_size(r) for r in records)
        if len(records) < page:
            return [count, used]
        after = records[-1].tags["~seq"]


def _tags(item: Queued) -> dict[str, str]:
    return {"connection_id": item.connection_id, "recipient": item.recipient, "~seq": item.seq}


async def _check(
    store: Store, connection_id: str, ids: list[str], sizes: Mapping[str, int], *, lock: bool
) -> dict[str, int]:
    """The sizes of the listed messages that are in this connection's queue: those in
    ``sizes`` as they are, the others read (under lock in a shared store's transaction).
    One of another connection's queue refuses them all."""
    known: dict[str, int] = {}
    for item_id in ids:
        if item_id in sizes:
            known[item_id] = sizes[item_id]
            continue
        try:
            record = await store.get(CATEGORY, item_id, for_update=lock)
        except RecordNotFound:
            continue  # acknowledged already, or never queued
        if record.tags.get("connection_id") != connection_id:
            raise RemoteProtocolError(
                "a message id in the list is not in your queue", "e.p.req.forbidden"
            )
        known[item_id] = _size(record)
    return known


async def _delete(store: Store, item_id: str) -> bool:
    try:
        await store.delete(CATEGORY, item_id)
    except RecordNotFound:
        return False  # acknowledged already (twice, or by another process), or expired
    return True


async def _read_usage(tx: Store, connection_id: str) -> _Usage:
    """A connection's (messages, bytes) queued, kept in one counter record so that the
    limits hold under concurrent senders (and mediator processes) without reading the
    whole queue for every message. Read under lock."""
    try:
        record = await tx.get(USAGE, connection_id, for_update=True)
    except RecordNotFound:
        # No counter yet: count what is there (nothing, unless it was lost) and create it,
        # so that the next sender finds it to lock.
        held = await tx.find(CATEGORY, {"connection_id": connection_id})
        count, used = len(held), sum(_size(r) for r in held)
        made = await tx.add(USAGE, connection_id, _usage_value(count, used))
        return _Usage(count, used, made.version)
    data = record.json()
    return _Usage(int(data["count"]), int(data["bytes"]), record.version)


def _usage_value(count: int, used: int) -> bytes:
    return dumps_compact({"count": max(0, count), "bytes": max(0, used)}).encode("utf-8")


async def _write_usage(
    tx: Store, connection_id: str, usage: _Usage, count: int, used: int
) -> _Usage:
    record = await tx.update(
        USAGE, connection_id, _usage_value(count, used), expected_version=usage.version
    )
    return _Usage(max(0, count), max(0, used), record.version)
