"""The inbound listener: DIDComm messages by HTTP POST and over WebSocket.

It only moves bytes: every message goes to ``receive`` (the runtime), which unpacks and
stores it; the HTTP answer (202) is sent only after the message is stored. Errors map to
statuses with a one-line reason and no traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

from wallet.didcomm.v1 import looks_like_v1
from wallet.errors import (
    EnvelopeError,
    InputError,
    MoiError,
    RecordNotFound,
    ResolutionError,
    StorageError,
    TooLargeError,
)

from ..sessions import HttpReturn

log = logging.getLogger("moi.inbound")

Receive = Callable[[bytes, Any], Awaitable[str]]
#: Serves a status list: list id → (body, media type); RecordNotFound for an unknown list.
StatusLists = Callable[[str], Awaitable[tuple[bytes, str]]]
READ_TIMEOUT = 30.0
RETURN_ROUTE_WAIT = 3.0


def _reply_type(reply: bytes) -> str:
    try:
        envelope = json.loads(reply)
    except ValueError:
        return "application/json"
    if isinstance(envelope, dict) and looks_like_v1(envelope):
        return "application/ssi-agent-wire"
    return "application/didcomm-encrypted+json"


class Session:
    """An open WebSocket a peer connected with; replies can go back over it."""

    def __init__(self, ws: web.WebSocketResponse, remote: str | None = None) -> None:
        self.ws = ws
        self.wanted = False
        self.remote = remote  # the client's address, for per-client limits

    async def send(self, data: bytes) -> None:
        await self.ws.send_str(data.decode("utf-8"))

    @property
    def closed(self) -> bool:
        return self.ws.closed


def status_for(err: MoiError) -> int:
    if isinstance(err, TooLargeError):
        return 413
    if isinstance(err, StorageError):
        return 503  # we could not keep it: the sender must retry
    if isinstance(err, (EnvelopeError, InputError, ResolutionError)):
        return 400
    return 400


def _refusal(err: MoiError) -> web.Response:
    # An error may shape its own answer (a mediator's refused forward: its status, a
    # Retry-After and a problem report for a sender that cannot be written to otherwise).
    answer = getattr(err, "answer", None)
    status = getattr(err, "http_status", None)
    if callable(answer) and isinstance(status, int):
        headers = getattr(err, "headers", dict)()
        return web.json_response(answer(), status=status, headers=headers)
    return web.json_response({"error": str(err)[:500]}, status=status_for(err))


def build_app(
    receive: Receive, *, max_bytes: int, status_lists: StatusLists | None = None
) -> web.Application:
    app = web.Application(client_max_size=max_bytes)

    async def post(request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                data = await request.read()
        except TimeoutError:
            return web.json_response({"error": "request body too slow"}, status=408)
        except web.HTTPRequestEntityTooLarge:
            return web.json_response(
                {"error": f"message larger than {max_bytes} bytes"}, status=413
            )
        if not data:
            return web.json_response({"error": "empty body"}, status=400)
        reply_to = HttpReturn(request.remote)
        try:
            outcome = await receive(data, reply_to)
        except MoiError as err:
            return _refusal(err)
        if reply_to.wanted:
            # return_route: the reply (if one comes quickly) travels in this response.
            reply = await reply_to.wait(RETURN_ROUTE_WAIT)
            if reply is not None:
                return web.Response(body=reply, status=200, content_type=_reply_type(reply))
        return web.json_response({"status": outcome}, status=202)

    async def websocket(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=max_bytes)
        await ws.prepare(request)
        session = Session(ws, request.remote)
        async for msg in ws:
            if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                data = msg.data.encode("utf-8") if msg.type == WSMsgType.TEXT else msg.data
                try:
                    await receive(data, session)
                except MoiError as err:
                    log.info("refused a message over WebSocket: %s", err)
            elif msg.type == WSMsgType.ERROR:
                break
        return ws

    async def index(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await websocket(request)
        return web.json_response({"service": "moi DIDComm endpoint", "accepts": "POST"})

    if status_lists is not None:
        serve_list = status_lists

        async def status_list(request: web.Request) -> web.Response:
            # Public by design: verifiers anywhere fetch the issuer's Bitstring Status Lists.
            try:
                body, media_type = await serve_list(request.match_info["list_id"])
            except RecordNotFound:
                return web.json_response({"error": "no such status list"}, status=404)
            except MoiError as err:
                log.warning("status list not served: %s", err)
                return web.json_response({"error": "status list unavailable"}, status=503)
            return web.Response(body=body, content_type=media_type)

        app.router.add_get("/status/{list_id}", status_list)
    app.router.add_post("/", post)
    app.router.add_post("/didcomm", post)
    app.router.add_get("/ws", websocket)
    app.router.add_get("/", index)
    return app
