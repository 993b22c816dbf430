"""Events: the log (paged, resumable) and a live Server-Sent Events stream."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .openapi import Api, Param
from .schemas import EVENT, LIMIT

EVENT_ID = {"type": "string", "pattern": "^[0-9]{1,20}$", "maxLength": 20}


def register(api: Api) -> None:
    @api.route(
        "GET",
        "/events",
        summary="Events after an id, oldest first (resume from the last id you saw)",
        tag="events",
        params=(
            Param("after", EVENT_ID, description="return events after this id"),
            Param("topic", {"type": "string", "maxLength": 200}),
            Param("limit", LIMIT),
        ),
        response={"type": "array", "items": EVENT},
    )
    async def list_events(
        agent: Any,
        request: web.Request,
        after: str | None = None,
        topic: str | None = None,
        limit: int = 100,
    ) -> Any:
        return [e.to_json() for e in await agent.bus.since(after, limit=limit, topic=topic)]

    @api.route(
        "GET",
        "/events/stream",
        summary="Live events as Server-Sent Events; resumes after Last-Event-ID or ?after",
        tag="events",
        params=(Param("after", EVENT_ID),),
        # Each server-sent event: its id, its topic as the event name, the event as JSON data.
        response={
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "event": {"type": "string"},
                "data": {"type": "string", "contentMediaType": "application/json"},
            },
            "required": ["id", "event", "data"],
        },
        content_type="text/event-stream",
    )
    async def stream(agent: Any, request: web.Request, after: str | None = None) -> Any:
        last = request.headers.get("Last-Event-ID") or after
        if last is not None and not (last.isdigit() and len(last) <= 20):
            last = None
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        async for event in agent.bus.stream(last):
            data = json.dumps(event.to_json(), separators=(",", ":"))
            await response.write(f"id: {event.id}\nevent: {event.topic}\ndata: {data}\n\n".encode())
        return response
