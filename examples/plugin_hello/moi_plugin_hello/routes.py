"""Admin routes: say hello over a connection, and list a connection's exchanges.

They are mounted on the agent's admin API, so the API key, the error mapping (a
``RecordNotFound`` becomes 404, an ``InputError`` 400) and the OpenAPI listing come with them.
"""

from __future__ import annotations

import time
import uuid

from aiohttp import web

from agent.plugin import Emit, Save, Send, agent_of
from wallet.didcomm.message import Message
from wallet.encoding import loads_object
from wallet.errors import InputError

from . import machine
from .messages import MAX_GREETING, Hello

MAX_BODY = 4096


async def send_hello(request: web.Request) -> web.Response:
    """Send a hello over a connection (id or peer label); returns its thread id."""
    agent = agent_of(request)
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise InputError(f"the body is larger than {MAX_BODY} bytes")
    body = loads_object(raw or b"{}", what="request body")
    greeting = body.get("greeting", "Hello!")
    if not isinstance(greeting, str) or not 0 < len(greeting) <= MAX_GREETING:
        raise InputError(f"'greeting' must be a string of 1 to {MAX_GREETING} characters")
    connection = await agent.connections.lookup(request.match_info["ref"])
    if connection.state != "completed":
        raise InputError(f"the connection is {connection.state}, not completed")
    thread = str(uuid.uuid4())
    record = machine.start(thread, connection.id, greeting, time.time())
    message = Message(type=Hello.TYPE, body=Hello(greeting).to_body(), id=thread)
    # The record, the message and the event are committed together, or not at all.
    await agent.commit(
        [
            Save(machine.CATEGORY, record.id, record.to_json(), record.tags()),
            Send(connection.id, message),
            Emit("hello.sent", {"connection_id": connection.id, "thread_id": thread}),
        ]
    )
    return web.json_response({"id": thread})


async def list_hellos(request: web.Request) -> web.Response:
    """The hello exchanges of a connection, oldest first."""
    agent = agent_of(request)
    connection = await agent.connections.lookup(request.match_info["ref"])
    found = await agent.store.find(machine.CATEGORY, {"connection_id": connection.id}, limit=1000)
    return web.json_response([r.json() for r in found])


def routes(app: web.Application) -> None:
    app.router.add_post("/hello/{ref}", send_hello)
    app.router.add_get("/hello/{ref}", list_hellos)
