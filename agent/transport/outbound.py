"""Sending packed messages: HTTP POST (keep-alive pool) and WebSocket (one socket per URL).

A 2xx answer means the peer has the message. A 4xx other than 408/429 means it refused it
for good (:class:`PermanentDeliveryError`); anything else is worth retrying.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import urlsplit

import aiohttp

from ..errors import TransportError
from ..outbox import PermanentDeliveryError

log = logging.getLogger("moi.transport")

CONTENT_TYPE_V2 = "application/didcomm-encrypted+json"
CONTENT_TYPE_V1 = "application/ssi-agent-wire"
_RETRYABLE_4XX = (408, 425, 429)
_DIDCOMM_TYPES = (
    CONTENT_TYPE_V2,
    CONTENT_TYPE_V1,
    "application/didcomm-envelope-enc",  # RFC 0044's v1 type; ACA-Py 1.7 answers with it
    "application/didcomm-signed+json",
    "application/json",
)
MAX_REPLY = 1024 * 1024


async def _read_bounded(resp: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The whole body, or None once it passes ``limit`` (a peer cannot make us buffer more)."""
    chunks, size = [], 0
    async for chunk in resp.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class Outbound:
    def __init__(self, *, timeout: float = 15.0, limit: int = 100) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=5.0)
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None
        self._sockets: dict[str, aiohttp.ClientWebSocketResponse] = {}
        self._socket_locks: dict[str, asyncio.Lock] = {}

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._limit, limit_per_host=self._limit)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def send(self, endpoint: str, data: bytes, *, content_type: str) -> bytes | None:
        """Send; returns a DIDComm message the peer put in its HTTP response, if any."""
        scheme = urlsplit(endpoint).scheme
        if scheme in ("http", "https"):
            return await self._post(endpoint, data, content_type)
        if scheme in ("ws", "wss"):
            await self._ws_send(endpoint, data)
            return None
        raise PermanentDeliveryError(f"unsupported endpoint scheme {scheme!r}")

    async def _post(self, endpoint: str, data: bytes, content_type: str) -> bytes | None:
        try:
            async with self.session.post(
                endpoint, data=data, headers={"Content-Type": content_type}
            ) as resp:
                if 200 <= resp.status < 300:
                    if resp.status != 200 or resp.content_type not in _DIDCOMM_TYPES:
                        return None
                    body = await _read_bounded(resp, MAX_REPLY)
                    return body or None
                detail = (await resp.content.read(300)).decode("utf-8", "replace")
                message = f"{endpoint} answered HTTP {resp.status}: {' '.join(detail.split())}"
                if 400 <= resp.status < 500 and resp.status not in _RETRYABLE_4XX:
                    raise PermanentDeliveryError(message)
                raise TransportError(message)
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            raise TransportError(f"{endpoint} unreachable: {type(err).__name__}") from err

    async def _ws_send(self, endpoint: str, data: bytes) -> None:
        lock = self._socket_locks.setdefault(endpoint, asyncio.Lock())
        async with lock:
            try:
                ws = self._sockets.get(endpoint)
                if ws is None or ws.closed:
                    ws = await self.session.ws_connect(endpoint, heartbeat=20.0)
                    self._sockets[endpoint] = ws
                await ws.send_str(data.decode("utf-8"))
            except (aiohttp.ClientError, TimeoutError, OSError, ConnectionError) as err:
                self._sockets.pop(endpoint, None)
                raise TransportError(f"{endpoint} unreachable: {type(err).__name__}") from err

    async def close(self) -> None:
        for ws in list(self._sockets.values()):
            with contextlib.suppress(Exception):
                await ws.close()
        self._sockets.clear()
        if self._session is not None:
            await self._session.close()
