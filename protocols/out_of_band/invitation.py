"""Out-of-band invitations, 1.1 (Aries RFC 0434) and 2.0 (DIDComm v2): build, encode as a URL,
and parse what someone hands the person (a URL, or the JSON itself) — strictly, since an
invitation comes from anywhere."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from agent.plugin import Family
from wallet.encoding import b64_decode_any, b64url_encode, dumps_compact, loads_object
from wallet.errors import InputError

TYPE_V1 = "https://didcomm.org/out-of-band/1.1/invitation"
TYPE_V1_0 = "https://didcomm.org/out-of-band/1.0/invitation"
TYPE_V2 = "https://didcomm.org/out-of-band/2.0/invitation"
DIDEXCHANGE_1_1 = "https://didcomm.org/didexchange/1.1"
ACCEPT_V1 = ("didcomm/aip2;env=rfc19", "didcomm/aip1")
ACCEPT_V2 = ("didcomm/v2",)
MAX_INVITATION_BYTES = 64 * 1024


class InvalidInvitation(InputError):
    """The invitation (or its URL) is malformed or asks for something moi cannot do."""


@dataclass(frozen=True, slots=True)
class InvitationService:
    """A service of a v1 invitation: a DID to resolve, or inline keys and endpoint."""

    did: str | None = None
    endpoint: str | None = None
    recipient_keys: tuple[str, ...] = ()  # did:key strings
    routing_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Invitation:
    id: str
    family: Family
    label: str | None = None
    goal_code: str | None = None
    goal: str | None = None
    # v1
    handshake_protocols: tuple[str, ...] = ()
    services: tuple[InvitationService, ...] = ()
    # v2
    frm: str | None = None
    accept: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dict(self.raw)


def build_v1(
    *,
    label: str,
    endpoint: str,
    recipient_key: str,
    routing_keys: Sequence[str] = (),
    goal_code: str | None = None,
    goal: str | None = None,
    invitation_id: str | None = None,
) -> Invitation:
    """An OOB 1.1 invitation with one inline service (``recipient_key`` a did:key)."""
    raw: dict[str, Any] = {
        "@type": TYPE_V1,
        "@id": invitation_id or str(uuid.uuid4()),
        "label": label,
        "handshake_protocols": [DIDEXCHANGE_1_1],
        "accept": list(ACCEPT_V1),
        "services": [
            {
                "id": "#inline",
                "type": "did-communication",
                "recipientKeys": [recipient_key],
                "routingKeys": list(routing_keys),
                "serviceEndpoint": endpoint,
            }
        ],
    }
    if goal_code:
        raw["goal_code"] = goal_code
    if goal:
        raw["goal"] = goal
    return parse(raw)


def build_v2(
    *,
    frm: str,
    label: str,
    goal_code: str | None = None,
    goal: str | None = None,
    invitation_id: str | None = None,
) -> Invitation:
    body: dict[str, Any] = {"label": label, "accept": list(ACCEPT_V2)}
    if goal_code:
        body["goal_code"] = goal_code
    if goal:
        body["goal"] = goal
    raw = {
        "type": TYPE_V2,
        "id": invitation_id or str(uuid.uuid4()),
        "from": frm,
        "body": body,
    }
    return parse(raw)


def to_url(invitation: Invitation, base: str) -> str:
    """``base?oob=…`` (1.1) or ``base?_oob=…`` (2.0), the JSON base64url-encoded."""
    param = "oob" if invitation.family is Family.V1 else "_oob"
    encoded = b64url_encode(dumps_compact(invitation.to_json()).encode("utf-8"))
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}{param}={encoded}"


def from_text(text: str) -> Invitation:
    """Parse an invitation URL (``oob``, ``_oob`` or legacy ``c_i`` parameter) or its JSON."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInvitation("an invitation must be a URL or a JSON object")
    text = text.strip()
    if len(text) > 2 * MAX_INVITATION_BYTES:
        raise InvalidInvitation("the invitation is too large")
    if text.startswith("{"):
        return parse(_json(text.encode("utf-8")))
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https", "didcomm"):
        raise InvalidInvitation("an invitation URL must be http(s) or didcomm")
    query = parse_qs(parts.query)
    for param in ("oob", "_oob", "c_i"):
        if param in query:
            try:
                data = b64_decode_any(query[param][0], what=f"the '{param}' parameter")
            except InputError as err:
                raise InvalidInvitation(str(err)) from err
            return parse(_json(data))
    raise InvalidInvitation("the URL has no 'oob' or '_oob' parameter")


def _json(data: bytes) -> dict[str, Any]:
    try:
        return loads_object(data, max_bytes=MAX_INVITATION_BYTES, what="invitation")
    except InputError as err:
        raise InvalidInvitation(str(err)) from err


def parse(raw: Mapping[str, Any]) -> Invitation:
    if "@type" in raw:
        return _parse_v1(raw)
    if raw.get("type") == TYPE_V2:
        return _parse_v2(raw)
    raise InvalidInvitation("not an out-of-band invitation (1.1 or 2.0)")


def _text(raw: Mapping[str, Any], name: str, limit: int = 2048) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidInvitation(f"invitation '{name}' must be a string of at most {limit}")
    return value


def _parse_v1(raw: Mapping[str, Any]) -> Invitation:
    if raw.get("@type") not in (TYPE_V1, TYPE_V1_0) and not str(raw.get("@type", "")).endswith(
        "/out-of-band/1.1/invitation"
    ):
        raise InvalidInvitation(f"unsupported invitation type {str(raw.get('@type'))[:100]!r}")
    inv_id = _text(raw, "@id", 256)
    if not inv_id:
        raise InvalidInvitation("the invitation has no '@id'")
    protocols = raw.get("handshake_protocols") or []
    if not isinstance(protocols, list) or not all(isinstance(p, str) for p in protocols):
        raise InvalidInvitation("'handshake_protocols' must be a list of protocol URIs")
    if not any(p.rstrip("/").rpartition("/")[0].endswith("didexchange") for p in protocols):
        raise InvalidInvitation("the invitation offers no DID exchange handshake")
    services_raw = raw.get("services")
    if not isinstance(services_raw, list) or not services_raw or len(services_raw) > 10:
        raise InvalidInvitation("'services' must list 1 to 10 services")
    services = tuple(_service_v1(s) for s in services_raw)
    accept = raw.get("accept") or []
    if not isinstance(accept, list) or not all(isinstance(a, str) for a in accept):
        raise InvalidInvitation("'accept' must be a list of strings")
    return Invitation(
        id=inv_id,
        family=Family.V1,
        label=_text(raw, "label", 200),
        goal_code=_text(raw, "goal_code", 200),
        goal=_text(raw, "goal"),
        handshake_protocols=tuple(protocols),
        services=services,
        accept=tuple(accept),
        raw=dict(raw),
    )


def _service_v1(entry: Any) -> InvitationService:
    if isinstance(entry, str):
        if not entry.startswith("did:") or len(entry) > 16 * 1024:
            raise InvalidInvitation("a service given as a string must be a DID")
        return InvitationService(did=entry)
    if not isinstance(entry, Mapping):
        raise InvalidInvitation("each service must be a DID or an object")
    endpoint = entry.get("serviceEndpoint")
    if isinstance(endpoint, Mapping):  # the DIDComm v2 form some agents put here
        endpoint = endpoint.get("uri")
    if not isinstance(endpoint, str) or not urlsplit(endpoint).scheme:
        raise InvalidInvitation("an inline service needs a 'serviceEndpoint' URL")
    keys = entry.get("recipientKeys")
    if not isinstance(keys, list) or not keys or len(keys) > 10:
        raise InvalidInvitation("an inline service needs 1 to 10 'recipientKeys'")
    routing = entry.get("routingKeys") or []
    if not isinstance(routing, list) or len(routing) > 10:
        raise InvalidInvitation("'routingKeys' must be a list")
    for key in [*keys, *routing]:
        if not isinstance(key, str) or not key.startswith("did:key:") or len(key) > 256:
            raise InvalidInvitation("recipient and routing keys must be did:key DIDs")
    return InvitationService(
        endpoint=endpoint, recipient_keys=tuple(keys), routing_keys=tuple(routing)
    )


def _parse_v2(raw: Mapping[str, Any]) -> Invitation:
    inv_id = _text(raw, "id", 256)
    if not inv_id:
        raise InvalidInvitation("the invitation has no 'id'")
    frm = _text(raw, "from", 16 * 1024)
    if not frm or not frm.startswith("did:"):
        raise InvalidInvitation("a DIDComm v2 invitation needs a 'from' DID")
    body = raw.get("body") or {}
    if not isinstance(body, Mapping):
        raise InvalidInvitation("invitation 'body' must be an object")
    accept = body.get("accept") or list(ACCEPT_V2)
    if not isinstance(accept, list) or not all(isinstance(a, str) for a in accept):
        raise InvalidInvitation("'accept' must be a list of strings")
    return Invitation(
        id=inv_id,
        family=Family.V2,
        label=_text(body, "label", 200),
        goal_code=_text(body, "goal_code", 200),
        goal=_text(body, "goal"),
        frm=frm,
        accept=tuple(accept),
        raw=dict(raw),
    )
