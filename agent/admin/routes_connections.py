"""Connections and what a person does over them: messages, pings, feature discovery."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from aiohttp import web

from protocols.basicmessage import records as basic
from wallet.didcomm.message import Message

from .. import outbox
from ..connections import ConnectionRecord
from ..errors import RemoteProtocolError
from ..plugin import Emit, Family, Save, Send
from .openapi import Api, Param
from .schemas import CONNECTION, CONNECTION_REF, LIMIT, MESSAGE, OFFSET, TIMEOUT

PING = {
    Family.V1: "https://didcomm.org/trust_ping/1.0/ping",
    Family.V2: "https://didcomm.org/trust-ping/2.0/ping",
}
BASIC = {
    Family.V1: "https://didcomm.org/basicmessage/1.0/message",
    Family.V2: "https://didcomm.org/basicmessage/2.0/message",
}
QUERIES = "https://didcomm.org/discover-features/2.0/queries"
REF = Param("ref", CONNECTION_REF, where="path", description="connection id or peer label")


def _active(connection: ConnectionRecord) -> None:
    if not connection.state.active:
        raise RemoteProtocolError(
            f"the connection is {connection.state.value}, not completed", "e.p.conn.state"
        )


async def _exchange(
    agent: Any,
    connection: ConnectionRecord,
    message: Message,
    topics: tuple[str, ...],
    timeout: float,
) -> tuple[Any, float]:
    """Send a request and wait for the answer on its thread (or a problem report)."""
    with agent.bus.subscribe() as queue:
        started = time.perf_counter()
        await agent.commit([Send(connection.id, message)])

        def answers(event: Any) -> bool:
            return event.topic in (*topics, "problem_report.received") and (
                event.payload.get("thread_id") == message.id
            )

        async with asyncio.timeout(timeout):
            event = await agent.bus.wait_for(answers, queue)
    if event.topic == "problem_report.received":
        raise RemoteProtocolError(
            f"the peer reported a problem: {event.payload.get('comment') or event.payload['code']}",
            str(event.payload.get("code")),
        )
    return event, (time.perf_counter() - started) * 1000


def register(api: Api) -> None:
    @api.route(
        "GET",
        "/status",
        summary="This agent: label, endpoints, uptime, protocol counts",
        tag="agent",
        response={"type": "object"},
    )
    async def status(agent: Any, request: web.Request) -> Any:
        return {
            "label": agent.config.label,
            "endpoint": agent.endpoint,
            "ws_endpoint": agent.ws_endpoint,
            "uptime": round(time.time() - agent.started, 3),
            "protocols": sorted({p.piuri for p in agent.registry}),
            "refused_plugins": agent.registry.refused,
        }

    @api.route(
        "GET",
        "/connections",
        summary="Connections, oldest first, with filters and paging",
        tag="connections",
        params=(
            Param("state", {"type": "string", "maxLength": 40}),
            Param("family", {"type": "string", "enum": ["v1", "v2"]}),
            Param("their_label", {"type": "string", "maxLength": 200}),
            Param("limit", LIMIT),
            Param("offset", OFFSET),
        ),
        response={"type": "array", "items": CONNECTION},
    )
    async def list_connections(
        agent: Any,
        request: web.Request,
        state: str | None = None,
        family: str | None = None,
        their_label: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Any:
        found = await agent.connections.list(
            state=state, family=family, their_label=their_label, limit=limit, offset=offset
        )
        return [c.public_json() for c in found]

    @api.route(
        "GET",
        "/connections/{ref}",
        summary="One connection",
        tag="connections",
        params=(REF,),
        response=CONNECTION,
        errors=(400, 401, 404),
    )
    async def get_connection(agent: Any, request: web.Request, ref: str) -> Any:
        return (await agent.connections.lookup(ref)).public_json()

    @api.route(
        "DELETE",
        "/connections/{ref}",
        summary="Forget a connection",
        tag="connections",
        params=(REF,),
        status=204,
        errors=(400, 401, 404),
    )
    async def delete_connection(agent: Any, request: web.Request, ref: str) -> None:
        connection = await agent.connections.lookup(ref)
        await agent.connections.delete(connection.id)
        await agent.commit([Emit("connection.deleted", {"connection_id": connection.id})])

    @api.route(
        "POST",
        "/connections/{ref}/messages",
        summary="Send a basic message; returns its id once it is queued durably",
        tag="messages",
        params=(REF,),
        body={
            "type": "object",
            "properties": {"content": {"type": "string", "maxLength": basic.MAX_CONTENT}},
            "required": ["content"],
            "additionalProperties": False,
        },
        response={"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
        errors=(400, 401, 404),
    )
    async def send_message(agent: Any, request: web.Request, ref: str, body: Any) -> Any:
        connection = await agent.connections.lookup(ref)
        _active(connection)
        family = Family(connection.family)
        message = Message(
            type=BASIC[family],
            body={"content": body["content"]},
            id=str(uuid.uuid4()),
            created_time=int(time.time()),
        )
        if family is Family.V1:
            message = Message(
                type=message.type,
                id=message.id,
                body={"content": body["content"], "sent_time": _iso_now()},
            )
        value, tags = basic.record(
            message_id=message.id,
            connection_id=connection.id,
            direction="out",
            content=body["content"],
            time=time.time(),
        )
        await agent.commit(
            [Save(basic.CATEGORY, message.id, value, tags, new=True), Send(connection.id, message)]
        )
        return {"id": message.id}

    @api.route(
        "GET",
        "/connections/{ref}/messages",
        summary="Basic messages of a connection, oldest first",
        tag="messages",
        params=(REF, Param("limit", LIMIT), Param("offset", OFFSET)),
        response={"type": "array", "items": MESSAGE},
        errors=(400, 401, 404),
    )
    async def list_messages(
        agent: Any, request: web.Request, ref: str, limit: int = 1000, offset: int = 0
    ) -> Any:
        connection = await agent.connections.lookup(ref)
        records = await agent.store.find(
            basic.CATEGORY, {"connection_id": connection.id}, limit=limit, offset=offset
        )
        out = []
        for record in records:
            value = record.json()
            if value["direction"] == "in":
                state = "received"
            else:
                delivered = await outbox.delivery_state(agent.store, value["id"])
                # No outbox item: it was delivered and then forgotten (agent.retention).
                state = delivered.value if delivered else "delivered"
            out.append(
                {**{k: value[k] for k in ("id", "direction", "content", "time")}, "state": state}
            )
        return out

    @api.route(
        "POST",
        "/connections/{ref}/ping",
        summary="Trust ping; waits for the response and returns the round trip",
        tag="connections",
        params=(REF, Param("timeout", TIMEOUT)),
        response={
            "type": "object",
            "properties": {"round_trip_ms": {"type": "number"}},
            "required": ["round_trip_ms"],
        },
        errors=(400, 401, 404, 504),
    )
    async def ping(agent: Any, request: web.Request, ref: str, timeout: float = 10.0) -> Any:
        connection = await agent.connections.lookup(ref)
        _active(connection)
        family = Family(connection.family)
        message = Message(
            type=PING[family], body={"response_requested": True}, id=str(uuid.uuid4())
        )
        _, elapsed = await _exchange(
            agent, connection, message, ("trust_ping.response_received",), timeout
        )
        return {"round_trip_ms": round(elapsed, 3)}

    @api.route(
        "POST",
        "/connections/{ref}/features",
        summary="Ask the peer which protocols it supports (discover features 2.0)",
        tag="connections",
        params=(
            REF,
            Param("match", {"type": "string", "maxLength": 512}),
            Param("timeout", TIMEOUT),
        ),
        response={"type": "array", "items": {"type": "string"}},
        errors=(400, 401, 404, 504),
    )
    async def features(
        agent: Any, request: web.Request, ref: str, match: str = "*", timeout: float = 10.0
    ) -> Any:
        connection = await agent.connections.lookup(ref)
        _active(connection)
        message = Message(
            type=QUERIES,
            body={"queries": [{"feature-type": "protocol", "match": match}]},
            id=str(uuid.uuid4()),
        )
        event, _ = await _exchange(
            agent, connection, message, ("discover_features.disclosed",), timeout
        )
        return sorted(
            {d["id"] for d in event.payload["disclosures"] if d.get("feature-type") == "protocol"}
        )

    @api.route(
        "GET",
        "/features",
        summary="The protocols this agent speaks, per family",
        tag="agent",
        response={"type": "object"},
    )
    async def own_features(agent: Any, request: web.Request) -> Any:
        return {
            family.value: [d.to_json() for d in agent.registry.features(family)]
            for family in Family
        }


def _iso_now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="microseconds")


def register_rotation(api: Api) -> None:
    @api.route(
        "POST",
        "/connections/{ref}/rotate",
        summary="Rotate our DID on a connection (v1: DID Rotate 1.0; v2: from_prior)",
        tag="connections",
        params=(REF,),
        response={
            "type": "object",
            "properties": {"did": {"type": "string"}, "state": {"type": "string"}},
            "required": ["did", "state"],
        },
        errors=(400, 401, 404),
    )
    async def rotate(agent: Any, request: web.Request, ref: str) -> Any:
        from protocols.did_rotate import PENDING, PIURI, from_prior

        connection = await agent.connections.lookup(ref)
        _active(connection)
        family = Family(connection.family)
        if family is Family.V1:
            new_did = await agent.create_did("peer4", family, label="rotated")
            message = Message(
                type=f"{PIURI}/rotate", body={"to_did": new_did}, id=str(uuid.uuid4())
            )
            pending = {"connection_id": connection.id, "new_did": new_did}
            await agent.commit([Save(PENDING, message.id, pending), Send(connection.id, message)])
            return {"did": new_did, "state": "pending"}
        old_doc = await agent.wallet.resolve(connection.my_did)
        auth = next(m for m in old_doc.authentication_keys() if m.public_key.type.can_sign)
        secret = await agent.wallet.secret_for(auth.id)
        if secret is None:
            raise RemoteProtocolError("this wallet no longer holds the current DID's key")
        new_did = await agent.create_did("peer2", family, label="rotated")
        rotated = connection.evolve(
            my_did=new_did,
            previous_did=connection.my_did,
            from_prior=from_prior.sign(auth.id, secret, new_did),
        )
        ping = Message(type=PING[family], body={"response_requested": True}, id=str(uuid.uuid4()))
        await agent.commit(
            [
                Save("connection", rotated.id, rotated.to_json(), rotated.tags()),
                Emit("connection.rotated", rotated.public_json()),
                Send(rotated.id, ping),
            ]
        )
        return {"did": new_did, "state": "sent"}
