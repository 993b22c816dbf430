"""Connection records: one per relationship, whatever the DIDComm family.

A connection remembers the family its peer speaks, both DIDs, the peer's label and, before
the peer's DID is known (a DID exchange request in flight), the service from the invitation
to send to.
"""

from __future__ import annotations

import contextlib
import functools
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from wallet.did import long_to_short
from wallet.encoding import dumps_compact
from wallet.errors import InputError, MoiError, RecordNotFound
from wallet.storage import Store

CATEGORY = "connection"


@functools.lru_cache(maxsize=4096)
def canonical_did(did: str) -> str:
    """The form a DID is filed under: a did:peer:4 long form by its short form, so that a
    peer may use either."""
    # Cached: a pure function of the string, asked several times for every message (sender,
    # recipient, the connection lookup), and a long form costs a hash and a decoding.
    if did.startswith("did:peer:4") and ":" in did[len("did:peer:4") :]:
        with contextlib.suppress(MoiError):
            return long_to_short(did)
    return did


class ConnectionState(StrEnum):
    """RFC 0023 states, shared by v2 relationships (which go straight to ``completed``)."""

    INVITATION_SENT = "invitation-sent"
    INVITATION_RECEIVED = "invitation-received"
    REQUEST_SENT = "request-sent"
    REQUEST_RECEIVED = "request-received"
    RESPONSE_SENT = "response-sent"
    RESPONSE_RECEIVED = "response-received"
    COMPLETED = "completed"
    ABANDONED = "abandoned"

    @property
    def active(self) -> bool:
        return self is ConnectionState.COMPLETED


@dataclass(frozen=True, slots=True)
class InlineService:
    """Where to send before the peer's DID is known: an invitation's inline service."""

    endpoint: str
    recipient_keys: tuple[str, ...]  # base58 verkeys (v1) or DID URLs (v2)
    routing_keys: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "recipient_keys": list(self.recipient_keys),
            "routing_keys": list(self.routing_keys),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InlineService:
        return cls(
            data["endpoint"], tuple(data["recipient_keys"]), tuple(data.get("routing_keys", ()))
        )


@dataclass(frozen=True, slots=True)
class ConnectionRecord:
    id: str
    state: ConnectionState
    family: str  # "v1" | "v2"
    role: str  # "inviter" | "invitee"
    my_did: str | None = None
    their_did: str | None = None
    their_label: str | None = None
    invitation_id: str | None = None
    thread_id: str | None = None
    their_service: InlineService | None = None
    invitation_key: str | None = None  # v1: the verkey our invitation named (signs the rotate)
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    problem: str | None = None
    # DID rotation (v2 ``from_prior``): the JWT our messages carry until the peer has used
    # the new DID, and the DID it replaces.
    from_prior: str | None = None
    previous_did: str | None = None

    @classmethod
    def new(cls, *, state: ConnectionState, family: str, role: str, **kw: Any) -> ConnectionRecord:
        return cls(id=str(uuid.uuid4()), state=state, family=family, role=role, **kw)

    def evolve(self, **changes: Any) -> ConnectionRecord:
        return replace(self, updated=time.time(), **changes)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        data["their_service"] = self.their_service.to_json() if self.their_service else None
        return data

    def public_json(self) -> dict[str, Any]:
        """What the admin API and the CLI show."""
        return {
            "id": self.id,
            "state": self.state.value,
            "family": self.family,
            "role": self.role,
            "their_label": self.their_label,
            "their_did": self.their_did,
            "my_did": self.my_did,
            "invitation_id": self.invitation_id,
            "created": self.created,
            "updated": self.updated,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConnectionRecord:
        values = dict(data)
        values["state"] = ConnectionState(values["state"])
        service = values.get("their_service")
        values["their_service"] = InlineService.from_json(service) if service else None
        return cls(**values)

    def tags(self) -> dict[str, str]:
        tags = {
            "state": self.state.value,
            "family": self.family,
            "~created": f"{self.created:017.6f}",
        }
        for name in ("my_did", "their_did"):
            value = getattr(self, name)
            if value:
                tags[name] = canonical_did(value)
        for name in ("their_label", "invitation_id", "thread_id"):
            value = getattr(self, name)
            if value:
                tags[name] = value
        if self.invitation_key:
            tags["invitation_key"] = self.invitation_key
        return tags


def _matches(record: ConnectionRecord, mine: str | None, theirs: str | None) -> bool:
    return (mine is None or canonical_did(record.my_did or "") == mine) and (
        theirs is None or canonical_did(record.their_did or "") == theirs
    )


def encode(record: ConnectionRecord) -> bytes:
    return dumps_compact(record.to_json()).encode("utf-8")


class Connections:
    """Lookups and writes of connection records over a store (or a transaction).

    Every message needs its connection, so recent records are kept in memory for a few
    seconds (``ttl``): this process's own writes update the cache at once; another process
    sharing the store (an organisation's workers on PostgreSQL) is seen within ``ttl``.
    """

    def __init__(self, store: Store, *, ttl: float = 5.0, size: int = 4096) -> None:
        self.store = store
        self.ttl = ttl
        self.size = size
        self._records: OrderedDict[str, tuple[float, ConnectionRecord]] = OrderedDict()
        self._by_dids: dict[tuple[str | None, str | None], str] = {}

    def remember(self, record: ConnectionRecord) -> None:
        """File a record this process just wrote (or read)."""
        self._records[record.id] = (time.monotonic() + self.ttl, record)
        self._records.move_to_end(record.id)
        if len(self._records) > self.size:
            self._records.popitem(last=False)
            if len(self._by_dids) > 4 * self.size:
                self._by_dids.clear()
        # Filed by its DIDs too: the next message of a relationship just made (a DID
        # exchange's complete, the first message after it) asks by DIDs, and would otherwise
        # cost a trip to the store. A hit is checked against the record (``_matches``).
        if record.my_did:
            mine = canonical_did(record.my_did)
            if record.their_did:
                self._by_dids[(mine, canonical_did(record.their_did))] = record.id
            if record.family == "v1":
                # A v1 message names only our DID, which is fresh for each relationship.
                self._by_dids[(mine, None)] = record.id

    def forget(self, connection_id: str) -> None:
        self._records.pop(connection_id, None)

    def _cached(self, connection_id: str) -> ConnectionRecord | None:
        entry = self._records.get(connection_id)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._records[connection_id]
            return None
        return entry[1]

    async def get(self, connection_id: str, *, for_update: bool = False) -> ConnectionRecord:
        if not for_update:
            cached = self._cached(connection_id)
            if cached is not None:
                return cached
        record = await self.store.get(CATEGORY, connection_id, for_update=for_update)
        connection = ConnectionRecord.from_json(record.json())
        self.remember(connection)
        return connection

    async def add(self, record: ConnectionRecord) -> ConnectionRecord:
        await self.store.add(CATEGORY, record.id, encode(record), record.tags())
        self.remember(record)
        return record

    async def save(self, record: ConnectionRecord) -> ConnectionRecord:
        await self.store.update(CATEGORY, record.id, encode(record), record.tags())
        self.remember(record)
        return record

    async def delete(self, connection_id: str) -> None:
        self.forget(connection_id)
        await self.store.delete(CATEGORY, connection_id)

    async def find_one(self, query: Mapping[str, Any]) -> ConnectionRecord | None:
        found = await self.store.find(CATEGORY, query, limit=1)
        if not found:
            return None
        connection = ConnectionRecord.from_json(found[0].json())
        self.remember(connection)
        return connection

    async def by_dids(self, my_did: str | None, their_did: str | None) -> ConnectionRecord | None:
        mine = canonical_did(my_did) if my_did else None
        theirs = canonical_did(their_did) if their_did else None
        if mine is None and theirs is None:
            return None
        known = self._by_dids.get((mine, theirs))
        if known is not None:
            cached = self._cached(known)
            if cached is not None and _matches(cached, mine, theirs):
                return cached
        query: dict[str, Any] = {}
        if mine:
            query["my_did"] = mine
        if theirs:
            query["their_did"] = theirs
        connection = await self.find_one(query)
        if connection is not None:
            self._by_dids[(mine, theirs)] = connection.id
        return connection

    async def list(
        self,
        *,
        state: str | None = None,
        family: str | None = None,
        their_label: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[ConnectionRecord]:
        query: dict[str, Any] = {}
        if state:
            query["state"] = state
        if family:
            query["family"] = family
        if their_label:
            query["their_label"] = their_label
        records = await self.store.find(CATEGORY, query or None, limit=limit, offset=offset)
        return [ConnectionRecord.from_json(r.json()) for r in records]

    async def lookup(self, ref: str) -> ConnectionRecord:
        """A connection by id, or by the counterparty's label when exactly one has it."""
        if not ref or len(ref) > 512:
            raise InputError("a connection is named by its id or the peer's label")
        try:
            return await self.get(ref)
        except RecordNotFound:
            pass
        matches = await self.store.find(CATEGORY, {"their_label": ref}, limit=2)
        if len(matches) == 1:
            return ConnectionRecord.from_json(matches[0].json())
        if matches:
            raise InputError(f"more than one connection has the label {ref[:80]!r}; use its id")
        raise RecordNotFound(f"no connection with id or label {ref[:80]!r}")
