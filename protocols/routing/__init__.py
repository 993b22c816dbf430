"""Routing: the forward message (Aries RFC 0094 ``routing/1.0``; DIDComm v2 ``routing/2.0``).

Senders wrap with :mod:`agent.sending`; a mediator reads forwards here and queues the inner
message for its recipient (:mod:`agent.mediation.mediator`). A forward is handled as it
arrives, before it is acknowledged, so that an unknown recipient or a full queue is refused
to the sender's face instead of being accepted and lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent.connections import canonical_did
from agent.errors import RemoteProtocolError
from agent.plugin import Family, HandlerContext, ProtocolPlugin
from wallet.did import did_key_public_key
from wallet.didcomm.packing import did_of
from wallet.errors import MoiError

FORWARD_V1 = "https://didcomm.org/routing/1.0/forward"
FORWARD_V2 = "https://didcomm.org/routing/2.0/forward"
FORWARD_TYPES = (FORWARD_V1, FORWARD_V2)


@dataclass(frozen=True, slots=True)
class Forward:
    recipient: str  # v1: base58 verkey; v2: canonical DID
    message: Mapping[str, Any]


def recipient_key_v1(value: Any) -> str:
    """A v1 recipient as the mediator files it: a base58 verkey (did:key accepted)."""
    if not isinstance(value, str) or not 30 <= len(value) <= 256:
        raise RemoteProtocolError("the forward's 'to' is not a key", "e.p.msg.invalid")
    if value.startswith("did:key:"):
        try:
            return did_key_public_key(value.split("#", 1)[0]).base58
        except MoiError as err:
            raise RemoteProtocolError(f"the forward's 'to' is not a key: {err}") from err
    return value


def recipient_v2(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("did:") or len(value) > 16384:
        raise RemoteProtocolError("the forward's 'next' is not a DID", "e.p.msg.invalid")
    return canonical_did(did_of(value))


def parse_forward(message: Mapping[str, Any], family: Family) -> Forward:
    if family is Family.V1:
        inner = message.get("msg")
        if not isinstance(inner, Mapping):
            raise RemoteProtocolError("the forward carries no message", "e.p.msg.invalid")
        return Forward(recipient_key_v1(message.get("to")), inner)
    body = message.get("body")
    attachments = message.get("attachments")
    if not isinstance(body, Mapping) or not isinstance(attachments, list) or not attachments:
        raise RemoteProtocolError(
            "the forward needs body.next and an attachment", "e.p.msg.invalid"
        )
    data = attachments[0].get("data") if isinstance(attachments[0], Mapping) else None
    inner = data.get("json") if isinstance(data, Mapping) else None
    if not isinstance(inner, Mapping):
        raise RemoteProtocolError(
            "the forward's attachment holds no JSON message", "e.p.msg.invalid"
        )
    return Forward(recipient_v2(body.get("next")), inner)


async def _handled_on_arrival(ctx: HandlerContext) -> None:
    # Forwards are taken before acknowledgement (Agent.receive); one reaching a handler came
    # to an agent that is not a mediator.
    raise RemoteProtocolError("this agent is not a mediator", "e.p.msg.unsupported")


PLUGIN_V1 = ProtocolPlugin(
    piuri="https://didcomm.org/routing/1.0",
    family=Family.V1,
    roles=("mediator",),
    handlers={"forward": _handled_on_arrival},
    title="Routing 1.0",
)
PLUGIN_V2 = ProtocolPlugin(
    piuri="https://didcomm.org/routing/2.0",
    family=Family.V2,
    roles=("mediator",),
    handlers={"forward": _handled_on_arrival},
    title="Routing 2.0",
)
