"""The mediator's queue: forwarded messages held per recipient until taken.

It lives in the record store, so a message survives a crash, and several mediator processes
sharing a PostgreSQL database serve the same recipients: a message queued by one process is
delivered by whichever holds the recipient's session. Limits per recipient (count, bytes,
age) turn a flood into a clear refusal instead of an exhausted disk.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wallet.encoding import dumps_compact
from wallet.errors import DuplicateRecord, RecordNotFound
from wallet.storage import Store

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
    recipient: str
    message: Mapping[str, Any]
    size: int
    received: float
    seq: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "connection_id": self.connection_id,
            "recipient": self.recipient,
            "message": dict(self.message),
            "size": self.size,
            "received": self.received,
            "seq": self.seq,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Queued:
        return cls(**dict(data))


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
    size = len(dumps_compact(dict(message)))
    if size > limits.max_message_bytes:
        raise MessageTooLarge(
            f"the message is {size} bytes, over the limit of {limits.max_message_bytes}"
        )
    try:
        return await _enqueue(store, connection_id, recipient, message, size, limits)
    except DuplicateRecord:
        # Two first messages for one recipient raced to create its usage counter; the
        # loser's transaction rolled back whole, and now the counter exists.
        return await _enqueue(store, connection_id, recipient, message, size, limits)


async def _enqueue(
    store: Store,
    connection_id: str,
    recipient: str,
    message: Mapping[str, Any],
    size: int,
    limits: Limits,
) -> Queued:
    async with store.transaction() as tx:
        held, used = await _usage(tx, connection_id)
        if held >= limits.max_messages:
            raise QueueFull(f"the recipient's queue holds {held} messages, its limit")
        if used + size > limits.max_bytes:
            raise QueueFull(f"the recipient's queue holds {used} bytes, at its limit")
        item = Queued(
            id=str(uuid.uuid4()),
            connection_id=connection_id,
            recipient=recipient,
            message=message,
            size=size,
            received=time.time(),
            seq=SEQ.next(),
        )
        await tx.add(
            CATEGORY,
            item.id,
            dumps_compact(item.to_json()).encode("utf-8"),
            {"connection_id": connection_id, "recipient": _route_id(recipient), "~seq": item.seq},
        )
        await _set_usage(tx, connection_id, held + 1, used + size)
    return item


async def _usage(tx: Store, connection_id: str) -> tuple[int, int]:
    """(messages, bytes) queued for a connection, kept in one locked counter record so that
    the limits hold under concurrent senders (and mediator processes) without reading the
    whole queue for every message."""
    try:
        data = (await tx.get(USAGE, connection_id, for_update=True)).json()
    except RecordNotFound:
        # No counter yet: count what is there (nothing, unless it was lost) and create it,
        # so that the next sender finds it to lock.
        held = await tx.find(CATEGORY, {"connection_id": connection_id})
        count, used = len(held), sum(r.json()["size"] for r in held)
        await tx.add(USAGE, connection_id, _usage_value(count, used))
        return count, used
    return int(data["count"]), int(data["bytes"])


def _usage_value(count: int, used: int) -> bytes:
    return dumps_compact({"count": max(0, count), "bytes": max(0, used)}).encode("utf-8")


async def _set_usage(tx: Store, connection_id: str, count: int, used: int) -> None:
    await tx.update(USAGE, connection_id, _usage_value(count, used))


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
    return [Queued.from_json(r.json()) for r in records]


async def count(store: Store, connection_id: str, recipient: str | None = None) -> int:
    query: dict[str, Any] = {"connection_id": connection_id}
    if recipient is not None:
        query["recipient"] = _route_id(recipient)
    return await store.count(CATEGORY, query)


async def remove(store: Store, connection_id: str, ids: Sequence[str]) -> int:
    """Remove delivered messages of this connection's queue; ids already gone are skipped
    (an acknowledgement may come twice). An id of another recipient's queue refuses the
    whole request and removes nothing."""
    async with store.transaction() as tx:
        found = []
        for item_id in dict.fromkeys(ids):
            try:
                record = await tx.get(CATEGORY, item_id, for_update=True)
            except RecordNotFound:
                continue
            if record.tags.get("connection_id") != connection_id:
                raise RemoteProtocolError(
                    "a message id in the list is not in your queue", "e.p.req.forbidden"
                )
            found.append(record)
        if not found:
            return 0
        held, used = await _usage(tx, connection_id)
        for record in found:
            await tx.delete(CATEGORY, record.id)
        freed = sum(r.json()["size"] for r in found)
        await _set_usage(tx, connection_id, held - len(found), used - freed)
    return len(found)


async def purge_expired(store: Store, limits: Limits, now: float) -> int:
    cutoff = f"{int((now - limits.max_age) * 1e9):020d}"
    old = await store.find(CATEGORY, {"~seq": {"$lt": cutoff}}, limit=1000)
    by_connection: dict[str, list[str]] = {}
    for record in old:
        by_connection.setdefault(record.tags["connection_id"], []).append(record.id)
    return sum([await remove(store, cid, ids) for cid, ids in by_connection.items()])
