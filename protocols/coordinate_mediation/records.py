"""Mediation records on both sides of the relationship."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from wallet.errors import RecordNotFound
from wallet.storage import Store

GRANT = "mediation-grant"  # mediator side: one per mediated connection
CLIENT = "mediation"  # recipient side: one per mediator


@dataclass(frozen=True, slots=True)
class GrantRecord:
    connection_id: str
    family: str
    state: str  # requested | granted | denied
    created: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def tags(self) -> dict[str, str]:
        return {"state": self.state, "family": self.family}


@dataclass(frozen=True, slots=True)
class MediationRecord:
    connection_id: str
    family: str
    state: str  # requested | granted | denied
    pickup: str = "live"  # live | poll
    interval: float = 5.0
    endpoint: str | None = None
    routing_keys: tuple[str, ...] = ()
    routing_did: str | None = None
    ws_endpoint: str | None = None
    pending: int = 0
    updated: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["routing_keys"] = list(self.routing_keys)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MediationRecord:
        values = dict(data)
        values["routing_keys"] = tuple(values.get("routing_keys", ()))
        return cls(**values)

    def tags(self) -> dict[str, str]:
        return {"state": self.state, "family": self.family}

    def evolve(self, **changes: Any) -> MediationRecord:
        return replace(self, updated=time.time(), **changes)


async def grant_of(store: Any, connection_id: str) -> GrantRecord | None:
    try:
        return GrantRecord(**(await store.get(GRANT, connection_id)).json())
    except RecordNotFound:
        return None


async def mediation_of(store: Any, connection_id: str) -> MediationRecord | None:
    try:
        return MediationRecord.from_json((await store.get(CLIENT, connection_id)).json())
    except RecordNotFound:
        return None


async def active_mediation(store: Store) -> MediationRecord | None:
    found = await store.find(CLIENT, {"state": "granted"}, limit=1)
    return MediationRecord.from_json(found[0].json()) if found else None
