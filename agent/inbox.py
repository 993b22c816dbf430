"""The durable inbox: a message is acknowledged to its sender only once it is stored here.

Each inbound message becomes one record whose id is a digest of (sender, message id), so a
message delivered twice — a retry after a lost acknowledgement — is stored once and handled
once. Records stay after handling, as the memory that makes deduplication work, and are
purged after ``retention`` seconds (:mod:`agent.retention`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from wallet.encoding import dumps_compact
from wallet.errors import DuplicateRecord
from wallet.storage import Add, Store, Update, WriteOp

from .ids import SEQ

CATEGORY = "inbox"


class InboxState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class InboxItem:
    id: str
    lane: str  # messages of one lane are handled in arrival order
    family: str
    message: Mapping[str, Any]
    metadata: Mapping[str, Any]
    received: float
    seq: str
    state: InboxState = InboxState.PENDING
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "lane": self.lane,
            "family": self.family,
            "message": dict(self.message),
            "metadata": dict(self.metadata),
            "received": self.received,
            "seq": self.seq,
            "state": self.state.value,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InboxItem:
        values = dict(data)
        values["state"] = InboxState(values["state"])
        return cls(**values)

    def tags(self) -> dict[str, str]:
        return {"state": self.state.value, "lane": self.lane, "~seq": self.seq}

    def finished(self, state: InboxState, error: str | None = None) -> InboxItem:
        return replace(self, state=state, error=error)


def dedupe_key(sender: str | None, message_id: str) -> str:
    """Same sender and same message id → same record (the sender may be anonymous)."""
    material = f"{sender or 'anonymous'}\x00{message_id}".encode()
    return hashlib.sha256(material).hexdigest()


def encode(item: InboxItem) -> bytes:
    return dumps_compact(item.to_json()).encode("utf-8")


def new_item(
    *,
    sender: str | None,
    lane: str,
    family: str,
    message: Mapping[str, Any],
    metadata: Mapping[str, Any],
) -> InboxItem:
    message_id = str(message.get("id") or message.get("@id"))
    return InboxItem(
        id=dedupe_key(sender, message_id),
        lane=lane,
        family=family,
        message=message,
        metadata=metadata,
        received=time.time(),
        seq=SEQ.next(),
    )


def record_op(item: InboxItem, *, new: bool) -> WriteOp:
    """The write that stores an item: new (a duplicate then fails with DuplicateRecord,
    rolling back whatever is written with it) or over the stored one (its new state)."""
    if new:
        return Add(CATEGORY, item.id, encode(item), item.tags())
    return Update(CATEGORY, item.id, encode(item), item.tags())


async def store_item(store: Store, item: InboxItem) -> bool:
    """Store a received message; False when it is a duplicate (already stored)."""
    try:
        await store.add(CATEGORY, item.id, encode(item), item.tags())
    except DuplicateRecord:
        return False
    return True
