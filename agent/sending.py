"""From a plaintext and a relationship to bytes on a transport.

Packs in the connection's family, wraps the result in a forward for each routing key of the
recipient's service (nested anoncrypt: the mediator learns only the next hop), and picks the
way out: an open return-route session to the peer first, else the peer's endpoint (HTTP or
WebSocket, by preference).
"""

from __future__ import annotations

import uuid
from typing import Any

from wallet import Wallet
from wallet.did import did_key_public_key
from wallet.didcomm.message import Message, to_aries
from wallet.encoding import dumps_compact
from wallet.errors import MoiError, ResolutionError

from .connections import ConnectionRecord, canonical_did
from .errors import TransportError
from .outbox import PermanentDeliveryError
from .sessions import Sessions
from .transport.outbound import CONTENT_TYPE_V1, CONTENT_TYPE_V2, Outbound

FORWARD_V1 = "https://didcomm.org/routing/1.0/forward"
FORWARD_V2 = "https://didcomm.org/routing/2.0/forward"


def _verkey_of(key_ref: str) -> str:
    """A base58 verkey from a did:key (with or without fragment) or a bare verkey."""
    if key_ref.startswith("did:key:"):
        return did_key_public_key(key_ref.split("#", 1)[0]).base58
    return key_ref


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

    # -- DIDComm v2 -------------------------------------------------------------------------

    async def send_v2(self, message: Message, my_did: str, their_did: str) -> None:
        plaintext = message.to_json()
        plaintext["from"] = my_did
        plaintext["to"] = [their_did]
        packed = await self.wallet.pack(plaintext, to=[their_did], frm=my_did, mode="authcrypt")
        data = dumps_compact(packed).encode("utf-8")
        session = self.sessions.get(canonical_did(their_did))
        if session is not None and await self._try_session(session, data):
            return
        doc = await self._resolve(their_did)
        service = self._service(doc)
        if service is None:
            raise TransportError(f"{their_did[:60]} has no endpoint and no open session")
        for routing_key in service.routing_keys:
            packed, their_did = await self._forward_v2(packed, their_did, routing_key)
        await self.outbound.send(
            service.uri, dumps_compact(packed).encode("utf-8"), content_type=CONTENT_TYPE_V2
        )

    async def _forward_v2(
        self, packed: dict[str, Any], next_hop: str, routing_key: str
    ) -> tuple[dict[str, Any], str]:
        forward = {
            "id": str(uuid.uuid4()),
            "type": FORWARD_V2,
            "to": [routing_key.split("#", 1)[0]],
            "body": {"next": next_hop},
            "attachments": [{"data": {"json": packed}}],
        }
        try:
            wrapped = await self.wallet.pack(forward, to=[routing_key], mode="anoncrypt")
        except MoiError as err:
            raise PermanentDeliveryError(f"cannot wrap for {routing_key}: {err}") from err
        return wrapped, routing_key

    # -- DIDComm v1 -------------------------------------------------------------------------

    async def send_v1(self, message: Message, connection: ConnectionRecord) -> None:
        aries = to_aries(message)
        if connection.their_did is not None:
            doc = await self._resolve(connection.their_did)
            service = self._service(doc)
            recipient = _first_ed25519(doc)
            to = [connection.their_did]
            endpoint = service.uri if service else None
            routing = list(service.routing_keys) if service else []
        elif connection.their_service is not None:
            inline = connection.their_service
            to = list(inline.recipient_keys)
            recipient = _verkey_of(to[0]) if to[0].startswith("did:key:") else None
            endpoint, routing = inline.endpoint, list(inline.routing_keys)
        else:
            raise PermanentDeliveryError("the connection has no peer DID or service")
        packed = await self.wallet.pack(
            aries, to=to, frm=connection.my_did, mode="authcrypt", v1=True
        )
        data = dumps_compact(packed).encode("utf-8")
        session = self.sessions.get(recipient) if recipient else None
        if session is not None and await self._try_session(session, data):
            return
        if endpoint is None:
            raise TransportError("the peer has no endpoint and no open session")
        next_hop = recipient
        for routing_key in routing:
            packed, next_hop = await self._forward_v1(packed, next_hop, routing_key)
        await self.outbound.send(
            endpoint, dumps_compact(packed).encode("utf-8"), content_type=CONTENT_TYPE_V1
        )

    async def _forward_v1(
        self, packed: dict[str, Any], next_hop: str | None, routing_key: str
    ) -> tuple[dict[str, Any], str]:
        if next_hop is None:
            raise PermanentDeliveryError("cannot address a forward: the recipient key is unknown")
        key_did = routing_key if routing_key.startswith("did:key:") else None
        if key_did is None:
            from wallet.did import create_did_key
            from wallet.keys import PublicKey

            key_did = create_did_key(PublicKey.from_base58(routing_key))
        forward = {"@type": FORWARD_V1, "@id": str(uuid.uuid4()), "to": next_hop, "msg": packed}
        try:
            wrapped = await self.wallet.pack(
                forward, to=[key_did.split("#", 1)[0]], mode="anoncrypt", v1=True
            )
        except MoiError as err:
            raise PermanentDeliveryError(f"cannot wrap for {routing_key}: {err}") from err
        return wrapped, _verkey_of(key_did)

    async def _try_session(self, session: Any, data: bytes) -> bool:
        try:
            await session.send(data)
            return True
        except (ConnectionError, RuntimeError, OSError):
            return False  # the session died; fall back to the endpoint


def _first_ed25519(doc: Any) -> str | None:
    from wallet.keys import KeyType

    for method in doc.verification_methods:
        if method.public_key.type is KeyType.ED25519:
            return method.public_key.base58
    return None
