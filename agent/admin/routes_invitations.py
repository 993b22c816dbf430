"""Invitations: make one (URL + QR), accept one."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from protocols.out_of_band import actions

from ..plugin import Family
from .openapi import Api
from .schemas import CONNECTION

INVITATION = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "family": {"type": "string", "enum": ["v1", "v2"]},
        "url": {"type": "string"},
        "invitation": {"type": "object"},
        "multi_use": {"type": "boolean"},
    },
    "required": ["id", "family", "url", "invitation"],
}


def register(api: Api) -> None:
    @api.route(
        "POST",
        "/invitations",
        summary="Create an out-of-band invitation (v1: OOB 1.1 + DID exchange; v2: OOB 2.0)",
        tag="invitations",
        body={
            "type": "object",
            "properties": {
                "family": {"type": "string", "enum": ["v1", "v2"]},
                "label": {"type": "string", "minLength": 1, "maxLength": 200},
                "multi_use": {"type": "boolean"},
                "goal_code": {"type": "string", "maxLength": 200},
                "goal": {"type": "string", "maxLength": 2000},
            },
            "additionalProperties": False,
        },
        response=INVITATION,
    )
    async def create(agent: Any, request: web.Request, body: dict[str, Any]) -> Any:
        record = await actions.create_invitation(
            agent,
            family=Family(body.get("family", "v1")),
            label=body.get("label") or agent.config.label,
            multi_use=body.get("multi_use", False),
            goal_code=body.get("goal_code"),
            goal=body.get("goal"),
        )
        return {
            "id": record.id,
            "family": record.family,
            "url": record.url,
            "invitation": record.to_json()["invitation"],
            "multi_use": record.multi_use,
        }

    @api.route(
        "POST",
        "/invitations/receive",
        summary="Accept an invitation (URL or JSON): starts the handshake, returns the connection",
        tag="invitations",
        body={
            "type": "object",
            "properties": {
                "url": {"type": "string", "minLength": 1, "maxLength": 131072},
                "label": {"type": "string", "minLength": 1, "maxLength": 200},
            },
            "required": ["url"],
            "additionalProperties": False,
        },
        response=CONNECTION,
    )
    async def receive(agent: Any, request: web.Request, body: dict[str, Any]) -> Any:
        label = body.get("label") or agent.config.label
        connection = await actions.receive_invitation(agent, body["url"], label=label)
        return connection.public_json()
