"""Return routes: open transport sessions a message can travel back on.

A peer with no reachable endpoint (a phone, an agent behind NAT, an agent started with
``--no-inbound``) asks for replies on the connection it opened (``return_route: all``). Each
such connection is a *session* filed under the peer's key: its base58 verkey (DIDComm v1) or
its DID (v2). Delivery tries a live session first; HTTP sessions are one-shot (the reply goes
in the response body), WebSocket sessions last until closed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any, Protocol


class Session(Protocol):
    async def send(self, data: bytes) -> None: ...

    @property
    def closed(self) -> bool: ...


class HttpReturn:
    """The body of one pending HTTP response, filled by the first reply to go back."""

    def __init__(self, remote: str | None = None) -> None:
        self._reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.wanted = False
        self.remote = remote  # the client's address, for per-client limits

    async def send(self, data: bytes) -> None:
        if self._reply.done():
            raise ConnectionError("this HTTP response already carries a reply")
        self._reply.set_result(data)

    def release(self) -> None:
        """No reply will come this way: let the HTTP response go now."""
        if not self._reply.done():
            self._reply.set_result(b"")

    @property
    def closed(self) -> bool:
        return self._reply.done()

    async def wait(self, timeout: float) -> bytes | None:
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(self._reply) or None
        except TimeoutError:
            return None
        finally:
            if not self._reply.done():
                self._reply.cancel()


def wants_return_route(message: Mapping[str, Any], family: str) -> bool:
    """``~transport.return_route`` (v1, RFC 0092) or the ``return_route`` header (v2)."""
    if family == "v1":
        transport = message.get("~transport")
        value = transport.get("return_route") if isinstance(transport, Mapping) else None
    else:
        value = message.get("return_route")
    return value in ("all", "thread")


class Sessions:
    def __init__(self) -> None:
        self._by_peer: dict[str, list[Session]] = {}

    def add(self, peer: str, session: Session) -> None:
        sessions = self._by_peer.setdefault(peer, [])
        if session not in sessions:
            sessions.append(session)

    def remove(self, session: Session) -> None:
        for peer in list(self._by_peer):
            sessions = self._by_peer[peer]
            with contextlib.suppress(ValueError):
                sessions.remove(session)
            if not sessions:
                del self._by_peer[peer]

    def get(self, peer: str) -> Session | None:
        """The newest open session to ``peer``; closed ones are dropped on the way."""
        sessions = self._by_peer.get(peer)
        while sessions:
            session = sessions[-1]
            if not session.closed:
                return session
            sessions.pop()
        self._by_peer.pop(peer, None)
        return None

    def peers(self) -> list[str]:
        return [peer for peer in list(self._by_peer) if self.get(peer) is not None]

    def __len__(self) -> int:
        return sum(len(s) for s in self._by_peer.values())
