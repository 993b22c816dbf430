"""What the admin routes of both credential protocols share: the exchange record's schema,
the filters of a listing, and ``?wait=S`` -- holding an answer until the exchange ends
(``done`` or ``abandoned``) or ``S`` seconds pass (then 504), subscribing before acting so
that no outcome is missed."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from protocols.issue_credential.records import CredentialExchangeRecord
from protocols.present_proof.records import PresentationExchangeRecord
from wallet.errors import InputError

from .openapi import Param
from .schemas import CONNECTION_REF, LIMIT, OFFSET

WAIT = {"type": "number", "minimum": 0, "maximum": 300}
ID = Param("id", {"type": "string", "minLength": 1, "maxLength": 1024}, where="path")
EXCHANGE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "role": {"type": "string"},
        "state": {"type": "string"},
        "connection_id": {"type": "string"},
        "thread_id": {"type": "string"},
        "family": {"type": "string"},
        "error": {"type": ["string", "null"]},
    },
    "required": ["id", "role", "state", "connection_id", "thread_id"],
}
EXCHANGES = {"type": "array", "items": EXCHANGE}
STRINGS = {"type": "array", "items": {"type": "string", "maxLength": 512}, "maxItems": 64}
TEXT = {"type": "string", "maxLength": 4096}
DID = {"type": "string", "maxLength": 8192}
REASON = {
    "type": "object",
    "properties": {"reason": {"type": "string", "maxLength": 500}},
    "additionalProperties": False,
}
FILTERS = (
    Param("connection", CONNECTION_REF),
    Param("role", {"type": "string", "maxLength": 20}),
    Param("state", {"type": "string", "maxLength": 40}),
    Param("limit", LIMIT),
    Param("offset", OFFSET),
)

Record = CredentialExchangeRecord | PresentationExchangeRecord


def object_body(*required: str, **properties: Any) -> dict[str, Any]:
    """A request body: these properties and no others."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


async def listing(
    agent: Any, lister: Callable[..., Awaitable[list[Any]]], roles: tuple[str, str], **kw: Any
) -> list[dict[str, Any]]:
    if kw.get("role") not in (None, *roles):
        raise InputError(f"role is {roles[0]} or {roles[1]}")
    kw["connection_id"] = await connection_id(agent, kw.pop("connection", None))
    return [r.to_json() for r in await lister(agent, **kw)]


async def waiting(
    agent: Any,
    act: Callable[[], Awaitable[Record]],
    wait_for: Callable[..., Awaitable[Record]],
    wait: float,
) -> Record:
    """Run ``act``; with ``wait``, hold the answer until the exchange it returns ends."""
    if not wait:
        return await act()
    with agent.bus.subscribe() as queue:
        record = await act()
        with contextlib.suppress(TimeoutError):
            return await wait_for(
                agent, record.id, {"done"}, timeout=wait, queue=queue, record=record
            )
    raise TimeoutError(f"exchange {record.id} did not end within {wait} s")


async def connection_id(agent: Any, ref: str | None) -> str | None:
    return (await agent.connections.lookup(ref)).id if ref else None
