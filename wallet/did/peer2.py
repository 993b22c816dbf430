"""did:peer:2 (and the did:peer:3 short name of it), as the current DIF spec writes them.

A did:peer:2 lists its keys, each behind a purpose code, then its services as abbreviated,
base64url JSON. Resolution follows the spec's clarified rules: Multikey methods named
``#key-1``, ``#key-2``... in DID order, services without an id named ``#service``,
``#service-1``..., and ``alsoKnownAs`` holding the did:peer:3 form.

Peers still send older encodings, which resolve too: a service element holding a JSON
*list* of services (peerdid 0.5.2), the DIDComm v2.0 service shape (``s`` a string, ``r``
and ``a`` beside it), un-abbreviated keys nested in ``s``, and base64 padding.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from functools import lru_cache
from typing import Any

import base58

from ..encoding import b64url_decode, b64url_encode, loads_strict
from ..errors import InputError, InvalidDID, KeyFormatError
from ..keys import PublicKey
from ._codec import decode_multikey, key_error
from .errors import DIDTooLong, InvalidDIDKey
from .url import MAX_DID_LENGTH

__all__ = [
    "PEER_CONTEXT",
    "Purpose",
    "create_peer2",
    "legacy_key_fragment",
    "peer2_to_peer3",
    "resolve_peer2",
    "resolve_peer3",
]


class Purpose(StrEnum):
    """did:peer:2 purpose codes; the value is the letter written in the DID."""

    ASSERTION = "A"
    KEY_AGREEMENT = "E"
    AUTHENTICATION = "V"
    CAPABILITY_INVOCATION = "I"
    CAPABILITY_DELEGATION = "D"
    # Other names in use for the same codes (the spec's words, and a short one).
    ENCRYPTION = "E"
    AGREEMENT = "E"
    VERIFICATION = "V"

    @property
    def relationship(self) -> str:
        return _RELATIONSHIP[self]


_RELATIONSHIP = {
    Purpose.ASSERTION: "assertionMethod",
    Purpose.KEY_AGREEMENT: "keyAgreement",
    Purpose.AUTHENTICATION: "authentication",
    Purpose.CAPABILITY_INVOCATION: "capabilityInvocation",
    Purpose.CAPABILITY_DELEGATION: "capabilityDelegation",
}

PEER_CONTEXT = ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"]
#: Most keys, and most services, one did:peer:2 may carry.
MAX_ELEMENTS = 64
_MAX_NESTING = 16
# The spec abbreviates "common strings in key names and type value" from one table, so a key
# named DIDCommMessaging is shortened too (as the did-peer-2 library does).
_KEY_ABBREVIATIONS = {
    "type": "t",
    "serviceEndpoint": "s",
    "routingKeys": "r",
    "accept": "a",
    "DIDCommMessaging": "dm",
}
_KEY_EXPANSIONS = {v: k for k, v in _KEY_ABBREVIATIONS.items()}
_TYPE_ABBREVIATIONS = {"DIDCommMessaging": "dm"}
_TYPE_EXPANSIONS = {v: k for k, v in _TYPE_ABBREVIATIONS.items()}
_MULTIBASE_RE = re.compile(r"z[1-9A-HJ-NP-Za-km-z]+")
_PEER3_RE = re.compile(r"did:peer:3zQm[1-9A-HJ-NP-Za-km-z]{44}")


# -- create -----------------------------------------------------------------------------------


def create_peer2(
    keys: Sequence[tuple[Purpose | str, PublicKey]], services: Sequence[Mapping[str, Any]] = ()
) -> str:
    """Make a did:peer:2 from ``(purpose, key)`` pairs, in order, and services.

    Services are written as given (key order kept), abbreviated; their ids, if any, must be
    relative. The encoding matches the ``did-peer-2`` library byte for byte.
    """
    if not keys:
        raise InputError("a did:peer:2 needs at least one key")
    if len(keys) > MAX_ELEMENTS or len(services) > MAX_ELEMENTS:
        raise InputError(f"a did:peer:2 holds at most {MAX_ELEMENTS} keys and services")
    parts = ["did:peer:2"]
    for purpose, key in keys:
        try:
            code = Purpose(purpose)
        except ValueError:
            raise InputError(f"unknown did:peer:2 purpose {str(purpose)[:10]!r}") from None
        if not isinstance(key, PublicKey):
            raise InputError("did:peer:2 keys must be PublicKey objects")
        _check_purpose(code, key)
        parts.append(f".{code.value}{key.multikey}")
    for service in services:
        parts.append(".S" + encode_service(service))
    did = "".join(parts)
    if len(did) > MAX_DID_LENGTH:
        raise DIDTooLong(f"the did:peer:2 would be {len(did)} characters, over {MAX_DID_LENGTH}")
    return did


def encode_service(service: Mapping[str, Any]) -> str:
    """One service as a did:peer:2 element body (without the ``.S``)."""
    if not isinstance(service, Mapping):
        raise InputError("a service must be a JSON object")
    if "type" not in service or "serviceEndpoint" not in service:
        raise InputError("a service needs a type and a serviceEndpoint")
    sid = service.get("id")
    if sid is not None and (not isinstance(sid, str) or not sid.startswith("#")):
        raise InputError("a did:peer:2 service id must be relative ('#...')")
    try:
        # ensure_ascii as Python's json writes by default, so DIDs equal did-peer-2's.
        text = json.dumps(_abbreviate(service, 0), separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as err:
        raise InputError(f"the service is not plain JSON: {err}") from err
    return b64url_encode(text.encode("ascii"))


def _abbreviate(value: Any, depth: int) -> Any:
    if depth > _MAX_NESTING:
        raise InputError("the service is nested too deeply")
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if key in _KEY_EXPANSIONS:
                # It would read back as the long name: refuse rather than change meaning.
                raise InputError(f"a service may not use the key {key!r} (an abbreviation)")
            short = _KEY_ABBREVIATIONS.get(key, key)
            item = _abbreviate(item, depth + 1)
            if short == "t" and isinstance(item, str):
                if item in _TYPE_EXPANSIONS:
                    raise InputError(f"a service type may not be {item!r} (an abbreviation)")
                item = _TYPE_ABBREVIATIONS.get(item, item)
            out[short] = item
        return out
    if isinstance(value, (list, tuple)):
        return [_abbreviate(item, depth + 1) for item in value]
    return value


def _check_purpose(code: Purpose, key: PublicKey) -> None:
    if code is Purpose.KEY_AGREEMENT and not key.type.can_agree:
        raise InvalidDIDKey(f"a key agreement (E) key cannot be {key.type}")
    if code is not Purpose.KEY_AGREEMENT and not key.type.can_sign:
        raise InvalidDIDKey(f"a {code.relationship} ({code.value}) key cannot be {key.type}")


# -- resolve ----------------------------------------------------------------------------------


def resolve_peer2(did: str) -> dict[str, Any]:
    """The DID document of a did:peer:2, with ``alsoKnownAs`` its did:peer:3."""
    keys, services = _elements(did)
    return _document(did, keys, services, peer2_to_peer3(did))


def resolve_peer3(peer3: str, peer2: str) -> dict[str, Any]:
    """The document of a did:peer:3, given the did:peer:2 it names (seen earlier)."""
    if not isinstance(peer3, str) or not _PEER3_RE.fullmatch(peer3):
        raise InvalidDID("not a valid did:peer:3")
    keys, services = _elements(peer2)
    if peer2_to_peer3(peer2) != peer3:
        raise InvalidDID("the did:peer:3 is not the hash of the did:peer:2 given")
    return _document(peer3, keys, services, peer2)


@lru_cache(maxsize=4096)
def peer2_to_peer3(did: str) -> str:
    """did:peer:3: the multihash (SHA-256) of the did:peer:2 without its ``did:peer:2``."""
    digest = hashlib.sha256(did[10:].encode("utf-8")).digest()
    return "did:peer:3z" + base58.b58encode(b"\x12\x20" + digest).decode("ascii")


def is_peer3(did: str) -> bool:
    return bool(_PEER3_RE.fullmatch(did))


def legacy_key_fragment(key: PublicKey) -> str:
    """The key id peerdid 0.5.2 gave a did:peer:2 key: 8 characters after the ``z``."""
    return key.multikey[1:9]


def _elements(did: Any) -> tuple[list[tuple[Purpose, str]], list[dict[str, Any]]]:
    if not isinstance(did, str):
        raise InvalidDID("a DID must be a string")
    if len(did) > MAX_DID_LENGTH:
        raise DIDTooLong(f"the did:peer:2 is {len(did)} characters, over {MAX_DID_LENGTH}")
    if not did.startswith("did:peer:2."):
        raise InvalidDID("a did:peer:2 starts with 'did:peer:2.'")
    keys: list[tuple[Purpose, str]] = []
    services: list[dict[str, Any]] = []
    for n, element in enumerate(did[11:].split("."), 1):
        if not element:
            raise InvalidDID(f"element {n} of the did:peer:2 is empty")
        code, body = element[0], element[1:]
        if code == "S":
            services.extend(_decode_service(body, n))
        elif code in "AEVID":
            keys.append((Purpose(code), _check_key(Purpose(code), body, n)))
        else:
            raise InvalidDID(f"element {n} of the did:peer:2 has an unknown purpose {code!r}")
        if len(keys) > MAX_ELEMENTS or len(services) > MAX_ELEMENTS:
            raise InvalidDID(f"a did:peer:2 holds at most {MAX_ELEMENTS} keys and services")
    return keys, services


def _check_key(code: Purpose, body: str, n: int) -> str:
    if not _MULTIBASE_RE.fullmatch(body):
        raise InvalidDIDKey(f"key {n} of the did:peer:2 is not base58btc multibase")
    try:
        key = decode_multikey(body)
    except KeyFormatError as err:
        raise key_error(body, err, f"key {n} of the did:peer:2") from err
    _check_purpose(code, key)
    return body


def _decode_service(body: str, n: int) -> list[dict[str, Any]]:
    try:
        # The first spec's regex allowed base64 padding; some encoders still write it.
        data = loads_strict(
            b64url_decode(body.rstrip("="), what=f"service {n}"),
            max_bytes=MAX_DID_LENGTH,
            what=f"service {n}",
        )
    except InputError as err:
        raise InvalidDID(f"element {n} of the did:peer:2: {err}") from err
    items = data if isinstance(data, list) else [data]
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise InvalidDID(f"element {n} of the did:peer:2 is not a service object")
        out.append(_expand(item, 0, n))
    return out


def _expand(value: Any, depth: int, n: int) -> Any:
    if depth > _MAX_NESTING:
        raise InvalidDID(f"service {n} of the did:peer:2 is nested too deeply")
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = _KEY_EXPANSIONS.get(key, key)
            if name in out:
                raise InvalidDID(f"service {n} of the did:peer:2 repeats {name!r}")
            out[name] = _expand(item, depth + 1, n)
        if isinstance(out.get("type"), str):
            out["type"] = _TYPE_EXPANSIONS.get(out["type"], out["type"])
        return out
    if isinstance(value, list):
        return [_expand(item, depth + 1, n) for item in value]
    return value


def _document(
    did: str, keys: list[tuple[Purpose, str]], services: list[dict[str, Any]], alias: str
) -> dict[str, Any]:
    doc: dict[str, Any] = {"@context": list(PEER_CONTEXT), "id": did}
    methods = []
    relationships: dict[str, list[str]] = {}
    for n, (code, multikey) in enumerate(keys, 1):
        kid = f"#key-{n}"
        methods.append(
            {"id": kid, "type": "Multikey", "controller": did, "publicKeyMultibase": multikey}
        )
        relationships.setdefault(code.relationship, []).append(kid)
    if methods:
        doc["verificationMethod"] = methods
    doc.update(relationships)
    unnamed = 0
    for service in services:
        if "id" not in service:
            service["id"] = "#service" if unnamed == 0 else f"#service-{unnamed}"
            unnamed += 1
    if services:
        doc["service"] = services
    doc["alsoKnownAs"] = [alias]
    return doc
