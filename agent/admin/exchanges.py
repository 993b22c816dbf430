"""What the admin routes of both credential protocols share: the exchange record's schema,
the reading routes (what waits for the person, the listing, one exchange), and ``?wait=S``
-- holding an answer until the exchange ends (``done`` or ``abandoned``) or ``S`` seconds
pass (then 504), subscribing before acting so that no outcome is missed."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from protocols.exchange.actions import Exchanges
from protocols.exchange.records import ExchangeRecord
from protocols.issue_credential.records import CredentialExchangeRecord
from protocols.present_proof.records import PresentationExchangeRecord
from wallet.errors import InputError

from .openapi import Api, Param
from .schemas import CONNECTION_REF, LIMIT, OFFSET

R = TypeVar("R", bound=ExchangeRecord)

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


@dataclass(frozen=True, slots=True)
class Reading:
    """Where and how one protocol's exchanges are read through the API."""

    tag: str
    #: The listing ("/proofs"); one exchange is at ``{path}/{id}``.
    path: str
    list_summary: str
    one_summary: str
    #: The roles a listing may be filtered by.
    roles: tuple[str, str]
    #: What waits for the person's decision: its path, summary, and (role, state).
    pending_path: str
    pending_summary: str
    pending: tuple[str, str]


def register_reading(api: Api, exchanges: Exchanges[Any], reading: Reading) -> None:
    """The three reading routes of one protocol: what waits for the person, the listing
    (filtered, paged) and one exchange (``?wait=S`` until it ends)."""
    role, state = reading.pending

    @api.route(
        "GET",
        reading.pending_path,
        summary=reading.pending_summary,
        tag=reading.tag,
        response=EXCHANGES,
    )
    async def pending(agent: Any, request: web.Request) -> Any:
        found = await exchanges.list(agent, role=role, state=state)
        return [r.to_json() for r in found]

    @api.route(
        "GET",
        reading.path,
        summary=reading.list_summary,
        tag=reading.tag,
        params=FILTERS,
        response=EXCHANGES,
        errors=(400, 401, 404),
    )
    async def listed(agent: Any, request: web.Request, **filters: Any) -> Any:
        return await listing(agent, exchanges.list, reading.roles, **filters)

    @api.route(
        "GET",
        f"{reading.path}/{{id}}",
        summary=reading.one_summary,
        tag=reading.tag,
        params=(ID, Param("wait", WAIT)),
        response=EXCHANGE,
        errors=(400, 401, 404, 504),
    )
    async def one(agent: Any, request: web.Request, id: str, wait: float = 0) -> Any:
        return (await read_one(agent, exchanges, id, wait)).to_json()


async def read_one(agent: Any, exchanges: Exchanges[R], id: str, wait: float) -> R:
    """The exchange ``id``; with ``wait``, once it has ended (or ``TimeoutError``)."""
    record = await exchanges.get(agent, id)
    if wait and not record.finished:
        record = await exchanges.wait_for(agent, id, {"done"}, timeout=wait)
    return record
