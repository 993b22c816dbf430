"""Services: the DIDComm v2 and v1 forms peers write, read into one typed form.

A DIDCommMessaging service arrives in three shapes: the v2.1 object
(``serviceEndpoint: {uri, accept, routingKeys}``), the v2.0 string with ``accept`` and
``routingKeys`` beside it, and a list of endpoint objects. A list becomes one
:class:`Service` per endpoint, in order, all with the service's id. The v1
``did-communication`` service keeps its ``recipientKeys``, ``routingKeys`` and ``priority``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._util import MAX_LIST, MAX_REF, absolute, text, text_list
from .errors import InvalidDIDDocument

DIDCOMM_V2 = "DIDCommMessaging"
DIDCOMM_V1 = "did-communication"
#: Types read as DIDComm v1 services (``IndyAgent`` is the pre-RFC-0067 name).
V1_TYPES = frozenset({DIDCOMM_V1, "IndyAgent"})


@dataclass(frozen=True, slots=True)
class Service:
    """One endpoint of a service; ``id`` is absolute."""

    id: str
    type: str
    uri: str
    accept: tuple[str, ...] = ()
    routing_keys: tuple[str, ...] = ()
    recipient_keys: tuple[str, ...] = ()
    priority: int = 0

    @property
    def is_didcomm(self) -> bool:
        return self.type == DIDCOMM_V2 or self.type in V1_TYPES

    def to_json(self) -> dict[str, Any]:
        if self.type == DIDCOMM_V2:
            endpoint = {
                "uri": self.uri,
                "accept": list(self.accept),
                "routingKeys": list(self.routing_keys),
            }
            return {"id": self.id, "type": self.type, "serviceEndpoint": endpoint}
        out: dict[str, Any] = {"id": self.id, "type": self.type, "serviceEndpoint": self.uri}
        if self.type in V1_TYPES:
            out["recipientKeys"] = list(self.recipient_keys)
            out["routingKeys"] = list(self.routing_keys)
            out["priority"] = self.priority
        if self.accept:
            out["accept"] = list(self.accept)
        return out


def parse_service(raw: Any, did: str, index: int) -> list[Service]:
    """Read one ``service`` entry into one or more :class:`Service` (one per endpoint)."""
    where = f"service[{index}]"
    if not isinstance(raw, dict):
        raise InvalidDIDDocument(f"{where} must be an object")
    if "id" in raw:
        sid = absolute(text(raw["id"], f"{where} id", MAX_REF), did, f"{where} id")
    else:
        # DID Core requires an id; some peers omit it. The index keeps ids apart.
        sid = f"{did}#service-{index}"
    stype = raw.get("type")
    if isinstance(stype, list):
        names = text_list(stype, f"type of {sid}")
        stype = DIDCOMM_V2 if DIDCOMM_V2 in names else (names[0] if names else None)
    stype = text(stype, f"type of {sid}")
    accept = text_list(raw.get("accept"), f"accept of {sid}")
    routing = _refs(raw.get("routingKeys"), did, f"routingKeys of {sid}")
    recipients = _refs(raw.get("recipientKeys"), did, f"recipientKeys of {sid}")
    # Only DIDComm v1 gives priority a meaning; elsewhere it is someone else's extension.
    priority = raw.get("priority", 0) if stype in V1_TYPES else 0
    if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority < 2**31:
        raise InvalidDIDDocument(f"priority of {sid} must be a small non-negative integer")
    if "serviceEndpoint" not in raw:
        raise InvalidDIDDocument(f"{sid} has no serviceEndpoint")
    endpoints = raw["serviceEndpoint"]
    if not isinstance(endpoints, list):
        endpoints = [endpoints]
    if len(endpoints) > MAX_LIST:
        raise InvalidDIDDocument(f"{sid} has {len(endpoints)} endpoints, over {MAX_LIST}")
    out = []
    for endpoint in endpoints:
        if isinstance(endpoint, str):
            uri = text(endpoint, f"serviceEndpoint of {sid}")
            out.append(Service(sid, stype, uri, accept, routing, recipients, priority))
        elif isinstance(endpoint, dict):
            if "uri" not in endpoint:
                if stype == DIDCOMM_V2 or stype in V1_TYPES:
                    raise InvalidDIDDocument(f"an endpoint of {sid} has no uri")
                # Other services (LinkedDomains origins...) have their own shapes.
                out.append(Service(sid, stype, "", accept, routing, recipients, priority))
                continue
            uri = text(endpoint["uri"], f"uri of {sid}")
            ep_accept = (
                text_list(endpoint["accept"], f"accept of {sid}")
                if ("accept" in endpoint)
                else accept
            )
            ep_routing = (
                _refs(endpoint["routingKeys"], did, f"routingKeys of {sid}")
                if ("routingKeys" in endpoint)
                else routing
            )
            out.append(Service(sid, stype, uri, ep_accept, ep_routing, recipients, priority))
        else:
            raise InvalidDIDDocument(
                f"serviceEndpoint of {sid} must be a string, an object or a list of them"
            )
    return out


def _refs(value: Any, did: str, what: str) -> tuple[str, ...]:
    """Key references: relative ones become absolute, others (did:key URLs, v1 base58
    verkeys) stay as written."""
    refs = text_list(value, what, MAX_REF)
    return tuple(absolute(ref, did, what) if ref.startswith("#") else ref for ref in refs)
