"""From a plaintext and a relationship to bytes on a transport.

Packs in the connection's family, wraps the result in a forward for each routing key of the
recipient's service (nested anoncrypt: a mediator learns only the next hop), and picks the
way out: an open return-route session to the peer first, else the peer's endpoint (HTTP or
WebSocket, by preference). A reply that comes back in an HTTP response (the peer honoured
our ``return_route``) is handed back to the caller.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from wallet import Wallet
from wallet.did import create_did_key, did_key_public_key
from wallet.didcomm.message import Message, to_aries
from wallet.encoding import dumps_compact
from wallet.errors import MoiError, ResolutionError
from wallet.keys import KeyType, PublicKey

from .connections import ConnectionRecord, canonical_did
from .errors import TransportError
from .outbox import PermanentDeliveryError
from .sessions import HttpReturn, Sessions
from .transport.outbound import CONTENT_TYPE_V1, CONTENT_TYPE_V2, Outbound

FORWARD_V1 = "https://didcomm.org/routing/1.0/forward"
FORWARD_V2 = "https://didcomm.org/routing/2.0/forward"


def verkey_of(key_ref: str) -> str:
    """A base58 verkey from a did:key (with or without fragment) or a bare verkey."""
    if key_ref.startswith("did:key:"):
        return did_key_public_key(key_ref.split("#", 1)[0]).base58
    return key_ref


@dataclass(frozen=True, slots=True)
class Route:
    """Where a connection's messages go: the peer's key, its endpoint, the hops before it."""

    peer: str | None  # session key: v1 base58 verkey, v2 canonical DID
    endpoint: str | None
    routing_keys: tuple[str, ...]
    to: tuple[str, ...]  # what to pack for (DIDs, DID URLs or did:keys)


class Sender:
    def __init__(
        self, wallet: Wallet, outbound: Outbound, sessions: Sessions, *, prefer: str = "http"
    ) -> None:
        self.wallet = wallet
        self.outbound = outbound
        self.sessions = sessions
        self.prefer = prefer

    async def _resolve(self, did: str) -> Any:
        try:
            return await self.wallet.resolve(did)
        except ResolutionError as err:
            raise PermanentDeliveryError(f"cannot resolve the peer's DID: {err}") from err

    def _service(self, doc: Any) -> Any | None:
        services = [s for s in doc.didcomm_services() if s.uri]
        order = (self.prefer, "ws" if self.prefer == "http" else "http")
        for scheme in order:
            for service in services:
                if service.uri.startswith(scheme):
                    return service
        return None

    async def route(self, connection: ConnectionRecord) -> Route:
        if connection.their_did is not None:
            doc = await self._resolve(connection.their_did)
            service = self._service(doc)
            if connection.family == "v2":
                peer: str | None = canonical_did(connection.their_did)
            else:
                peer = _first_ed25519(doc)
            return Route(
                peer,
                service.uri if service else None,
                tuple(service.routing_keys) if service else (),
                (connection.their_did,),
            )
        if connection.their_service is not None:
            inline = connection.their_service
            first = inline.recipient_keys[0] if inline.recipient_keys else None
            peer = verkey_of(first) if first and first.startswith("did:key:") else None
            return Route(peer, inline.endpoint, inline.routing_keys, inline.recipient_keys)
        raise PermanentDeliveryError("the connection has no peer DID or service")

    async def peer_key(self, connection: ConnectionRecord) -> str | None:
        try:
            return (await self.route(connection)).peer
        except MoiError:
            return None

    async def direct_endpoint(self, connection: ConnectionRecord) -> str | None:
        """The peer's own endpoint, when it has one and needs no mediator to reach."""
        try:
            route = await self.route(connection)
        except MoiError:
            return None
        return route.endpoint if route.endpoint and not route.routing_keys else None

    async def pack_for(
        self,
        message: Message,
        connection: ConnectionRecord,
        *,
        to: tuple[str, ...] | None = None,
        return_route: bool = False,
    ) -> bytes:
        """The message packed for the peer itself (no forward wrapping)."""
        if connection.my_did is None:
            raise PermanentDeliveryError("the connection has no DID of ours to send from")
        if to is None:
            to = (await self.route(connection)).to
        if connection.family == "v1":
            aries = to_aries(message)
            if return_route:
                aries["~transport"] = {"return_route": "all"}
            packed = await self.wallet.pack(
                aries, to=list(to), frm=connection.my_did, mode="authcrypt", v1=True
            )
        else:
            plaintext = message.to_json()
            plaintext["from"] = connection.my_did
            plaintext["to"] = list(to)
            if return_route:
                plaintext["return_route"] = "all"
            if connection.from_prior:
                plaintext["from_prior"] = connection.from_prior
            packed = await self.wallet.pack(
                plaintext, to=list(to), frm=connection.my_did, mode="authcrypt"
            )
        return dumps_compact(packed).encode("utf-8")

    async def send(
        self, message: Message, connection: ConnectionRecord, *, return_route: bool = False
    ) -> bytes | None:
        """Deliver; returns a reply the peer put in its HTTP response, if any."""
        route = await self.route(connection)
        data = await self.pack_for(message, connection, to=route.to, return_route=return_route)
        session = self.sessions.get(route.peer) if route.peer else None
        if isinstance(session, HttpReturn) and route.endpoint is not None:
            # A pending HTTP response is for a peer with no other way in. One that has an
            # endpoint gets everything through it, so that nothing overtakes anything.
            session.release()
            session = None
        if session is not None and await self._try_session(session, data):
            return None
        if route.endpoint is None:
            raise TransportError("the peer has no endpoint and no open session")
        v1 = connection.family == "v1"
        next_hop: str | None = route.peer if v1 else route.to[0]
        for routing_key in route.routing_keys:
            data, next_hop = await self._forward(data, next_hop, routing_key, v1=v1)
        return await self.outbound.send(
            route.endpoint, data, content_type=CONTENT_TYPE_V1 if v1 else CONTENT_TYPE_V2
        )

    async def send_to_did(self, message: Message, my_did: str, their_did: str) -> bytes | None:
        """A v2 message to a DID with no connection (a problem report to a stranger)."""
        stranger = ConnectionRecord.new(
            state=_completed(), family="v2", role="none", my_did=my_did, their_did=their_did
        )
        return await self.send(message, stranger)

    async def _forward(
        self, data: bytes, next_hop: str | None, routing_key: str, *, v1: bool
    ) -> tuple[bytes, str]:
        from wallet.encoding import loads_object

        packed = loads_object(data, what="packed message")
        if next_hop is None:
            raise PermanentDeliveryError("cannot address a forward: the recipient is unknown")
        try:
            if v1:
                key_did = routing_key
                if not key_did.startswith("did:key:"):
                    key_did = create_did_key(PublicKey.from_base58(routing_key))
                key_did = key_did.split("#", 1)[0]
                forward: dict[str, Any] = {
                    "@type": FORWARD_V1,
                    "@id": str(uuid.uuid4()),
                    "to": next_hop,
                    "msg": packed,
                }
                wrapped = await self.wallet.pack(forward, to=[key_did], mode="anoncrypt", v1=True)
                hop = verkey_of(key_did)
            else:
                forward = {
                    "id": str(uuid.uuid4()),
                    "type": FORWARD_V2,
                    "to": [routing_key.split("#", 1)[0]],
                    "body": {"next": next_hop},
                    "attachments": [{"data": {"json": packed}}],
                }
                wrapped = await self.wallet.pack(forward, to=[routing_key], mode="anoncrypt")
                hop = routing_key
        except MoiError as err:
            raise PermanentDeliveryError(f"cannot wrap for {routing_key}: {err}") from err
        return dumps_compact(wrapped).encode("utf-8"), hop

    async def _try_session(self, session: Any, data: bytes) -> bool:
        try:
            await session.send(data)
            return True
        except (ConnectionError, RuntimeError, OSError):
            return False  # the session died; fall back to the endpoint


def _completed() -> Any:
    from .connections import ConnectionState

    return ConnectionState.COMPLETED


def _first_ed25519(doc: Any) -> str | None:
    for method in doc.verification_methods:
        if method.public_key.type is KeyType.ED25519:
            return method.public_key.base58
    return None
