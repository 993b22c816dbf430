"""Coordinate Mediation 1.0 (Aries RFC 0211) and 3.0 (DIDComm v2): one set of operations,
two vocabularies. A recipient is a key in 1.0 (``recipient_key``, base58 or did:key) and a
DID in 3.0 (``recipient_did``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent.errors import RemoteProtocolError
from agent.plugin import Family
from protocols.routing import recipient_key_v1, recipient_v2

PIURI = {
    Family.V1: "https://didcomm.org/coordinate-mediation/1.0",
    Family.V2: "https://didcomm.org/coordinate-mediation/3.0",
}
UPDATE = {Family.V1: "keylist-update", Family.V2: "recipient-update"}
UPDATE_RESPONSE = {Family.V1: "keylist-update-response", Family.V2: "recipient-update-response"}
QUERY = {Family.V1: "keylist-query", Family.V2: "recipient-query"}
LISTING = {Family.V1: "keylist", Family.V2: "recipient"}
RECIPIENT_FIELD = {Family.V1: "recipient_key", Family.V2: "recipient_did"}
MAX_UPDATES = 100


def type_of(family: Family, name: str) -> str:
    return f"{PIURI[family]}/{name}"


def normalise(family: Family, value: Any) -> str:
    return recipient_key_v1(value) if family is Family.V1 else recipient_v2(value)


@dataclass(frozen=True, slots=True)
class Update:
    recipient: str  # as written on the wire
    action: str


def parse_updates(family: Family, body: Mapping[str, Any]) -> list[Update]:
    updates = body.get("updates")
    if not isinstance(updates, list) or len(updates) > MAX_UPDATES:
        raise RemoteProtocolError(
            f"'updates' must be a list of at most {MAX_UPDATES}", "e.p.msg.invalid"
        )
    out = []
    field = RECIPIENT_FIELD[family]
    for entry in updates:
        if not isinstance(entry, Mapping) or entry.get("action") not in ("add", "remove"):
            raise RemoteProtocolError(
                "each update needs an action add or remove", "e.p.msg.invalid"
            )
        value = entry.get(field)
        normalise(family, value)  # refuses what is not a key / DID
        out.append(Update(value, entry["action"]))
    return out


def grant_body(family: Family, endpoint: str, routing: str) -> dict[str, Any]:
    if family is Family.V1:
        return {"endpoint": endpoint, "routing_keys": [routing]}
    return {"routing_did": [routing]}


@dataclass(frozen=True, slots=True)
class Grant:
    endpoint: str | None
    routing_keys: tuple[str, ...]
    routing_did: str | None


def parse_grant(family: Family, body: Mapping[str, Any]) -> Grant:
    if family is Family.V1:
        endpoint, keys = body.get("endpoint"), body.get("routing_keys")
        if not isinstance(endpoint, str) or not isinstance(keys, list):
            raise RemoteProtocolError(
                "a grant needs 'endpoint' and 'routing_keys'", "e.p.msg.invalid"
            )
        if not all(isinstance(k, str) and len(k) <= 256 for k in keys) or len(keys) > 10:
            raise RemoteProtocolError("'routing_keys' must be keys", "e.p.msg.invalid")
        # RFC 0211 moved to did:key routing keys; older mediators send bare base58.
        normalised = tuple(k if k.startswith("did:key:") else _as_did_key(k) for k in keys)
        return Grant(endpoint[:2048], normalised, None)
    dids = body.get("routing_did")
    if isinstance(dids, str):
        dids = [dids]
    if (
        not isinstance(dids, list)
        or not dids
        or not all(isinstance(d, str) and d.startswith("did:") and len(d) <= 16384 for d in dids)
    ):
        raise RemoteProtocolError("a grant needs 'routing_did'", "e.p.msg.invalid")
    return Grant(None, tuple(dids), dids[0])


def _as_did_key(verkey: str) -> str:
    from wallet.did import create_did_key
    from wallet.errors import MoiError
    from wallet.keys import PublicKey

    try:
        return create_did_key(PublicKey.from_base58(verkey))
    except MoiError as err:
        raise RemoteProtocolError(f"a routing key is not a key: {err}", "e.p.msg.invalid") from err
