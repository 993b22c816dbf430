"""Mediation: ask a mediator for a route (recipient side), see who is mediated (mediator)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from protocols.coordinate_mediation import messages as cm
from protocols.coordinate_mediation import records

from ..errors import LocalProtocolError
from ..plugin import Emit, Family, Save, Send
from .openapi import Api, Param
from .schemas import CONNECTION_REF, TIMEOUT

STATUS = {
    "type": "object",
    "properties": {
        "mediator": {"type": ["string", "null"]},
        "state": {"type": "string"},
        "live": {"type": "boolean"},
        "pending": {"type": "integer"},
    },
    "required": ["mediator", "state", "live", "pending"],
}


def register(api: Api) -> None:
    @api.route(
        "POST",
        "/mediation/request",
        summary="Ask a connection to mediate for us; waits for the grant",
        tag="mediation",
        params=(Param("timeout", TIMEOUT),),
        body={
            "type": "object",
            "properties": {
                "connection": CONNECTION_REF,
                "pickup": {"type": "string", "enum": ["live", "poll"]},
                "interval": {"type": "number", "minimum": 0.2, "maximum": 3600},
                "ws_endpoint": {"type": "string", "maxLength": 2048},
            },
            "required": ["connection"],
            "additionalProperties": False,
        },
        response={
            "type": "object",
            "properties": {
                "endpoint": {"type": ["string", "null"]},
                "routing_keys": {"type": "array", "items": {"type": "string"}},
                "routing_did": {"type": ["string", "null"]},
            },
            "required": ["endpoint", "routing_keys"],
        },
        errors=(400, 401, 404, 504),
    )
    async def request(agent: Any, request: web.Request, body: Any, timeout: float = 30) -> Any:
        connection = await agent.connections.lookup(body["connection"])
        if not connection.state.active:
            raise LocalProtocolError("the connection is not completed yet", "e.p.conn.state")
        record = await agent.mediation.request(
            connection,
            pickup=body.get("pickup", "live"),
            interval=body.get("interval", 5.0),
            ws_endpoint=body.get("ws_endpoint"),
            timeout=timeout,
        )
        endpoint = record.endpoint
        if endpoint is None and record.routing_did:
            doc = await agent.wallet.resolve(record.routing_did)
            endpoint = next((s.uri for s in doc.didcomm_services() if s.uri), None)
        return {
            "endpoint": endpoint,
            "routing_keys": list(record.routing_keys),
            "routing_did": record.routing_did,
        }

    @api.route(
        "GET",
        "/mediation",
        summary="Our mediator, its state and what it holds for us",
        tag="mediation",
        response=STATUS,
    )
    async def status(agent: Any, request: web.Request) -> Any:
        return await agent.mediation.status()

    @api.route(
        "GET",
        "/mediation/recipients",
        summary="(mediator) the recipients we mediate for: connection, queued, live",
        tag="mediation",
        response={"type": "array", "items": {"type": "object"}},
    )
    async def recipients(agent: Any, request: web.Request) -> Any:
        if agent.mediator is None:
            raise LocalProtocolError("this agent is not a mediator (start it with --mediator)")
        return await agent.mediator.recipients()

    @api.route(
        "POST",
        "/mediation/recipients/{ref}/grant",
        summary="(mediator) grant a pending mediation request",
        tag="mediation",
        params=(Param("ref", CONNECTION_REF, where="path"),),
        response={"type": "object"},
        errors=(400, 401, 404),
    )
    async def grant(agent: Any, request: web.Request, ref: str) -> Any:
        if agent.mediator is None:
            raise LocalProtocolError("this agent is not a mediator (start it with --mediator)")
        connection = await agent.connections.lookup(ref)
        family = Family(connection.family)
        endpoint, routing = await agent.mediator.routing(family)
        record = records.GrantRecord(connection.id, family.value, "granted")
        from wallet.didcomm.message import Message

        message = Message(
            type=cm.type_of(family, "mediate-grant"), body=cm.grant_body(family, endpoint, routing)
        )
        await agent.commit(
            [
                Save(records.GRANT, connection.id, record.to_json(), record.tags()),
                Send(connection.id, message),
                Emit("mediation.granted", {"connection_id": connection.id, "role": "mediator"}),
            ]
        )
        return {"connection": connection.id, "state": "granted"}
