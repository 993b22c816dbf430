"""did:peer:4: a DID that carries its whole input document (long form) or only the hash of
it (short form), per the DIF did:peer spec, Method 4.

The long form is ``did:peer:4{hash}:{encoded}`` where ``encoded`` is base58btc multibase
of the JSON multicodec (0x0200) and the compact JSON of the input document, and ``hash`` the
base58btc multihash (SHA-256) of ``encoded`` as text. The short form is ``did:peer:4{hash}``:
it resolves only once its long form has been seen, so the resolver remembers long forms in a
:class:`LongFormCache`, which a wallet can persist.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import base58

from ..encoding import loads_object
from ..errors import InputError, InvalidDID
from ._base58 import b58decode, b58encode
from .errors import DIDTooLong, PeerDIDHashMismatch
from .url import MAX_DID_LENGTH

__all__ = [
    "InMemoryLongFormCache",
    "LongFormCache",
    "bound_short_form",
    "create_peer4",
    "is_peer4_long",
    "is_peer4_short",
    "long_to_short",
    "resolve_peer4",
    "resolve_peer4_short",
    "validate_input_document",
]

_JSON_MULTICODEC = b"\x80\x04"  # varint of 0x0200
_SHA256_MULTIHASH = b"\x12\x20"
_B58 = "[1-9A-HJ-NP-Za-km-z]"
_SHORT_RE = re.compile(rf"did:peer:4zQm{_B58}{{44}}")
_LONG_RE = re.compile(rf"(did:peer:4(zQm{_B58}{{44}})):(z{_B58}+)")
_RESOURCES = (
    "verificationMethod",
    "authentication",
    "assertionMethod",
    "keyAgreement",
    "capabilityInvocation",
    "capabilityDelegation",
    "service",
)


# -- create -----------------------------------------------------------------------------------


def create_peer4(input_doc: Mapping[str, Any]) -> tuple[str, str]:
    """Encode an input document; returns ``(long_form, short_form)``.

    The JSON is written compactly in the document's own key order, as the ``did-peer-4``
    library writes it, so both give the same DID for the same document.
    """
    validate_input_document(input_doc)
    try:
        body = json.dumps(dict(input_doc), separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as err:
        raise InputError(f"the input document is not plain JSON: {err}") from err
    encoded = "z" + b58encode(_JSON_MULTICODEC + body.encode("ascii"))
    short = "did:peer:4" + _hash(encoded)
    long = f"{short}:{encoded}"
    if len(long) > MAX_DID_LENGTH:
        raise DIDTooLong(f"the did:peer:4 would be {len(long)} characters, over {MAX_DID_LENGTH}")
    return long, short


def validate_input_document(doc: Any) -> None:
    """The spec's rules for an input document: no ``id``, every resource with a relative id
    and a type, the resource properties lists."""
    if not isinstance(doc, Mapping) or not doc:
        raise InputError("a did:peer:4 input document must be a non-empty JSON object")
    if "id" in doc:
        raise InputError("a did:peer:4 input document must not have an id")
    if "alsoKnownAs" in doc and not isinstance(doc["alsoKnownAs"], list):
        raise InputError("alsoKnownAs must be a list")
    for name in _RESOURCES:
        if name not in doc:
            continue
        entries = doc[name]
        if not isinstance(entries, list):
            raise InputError(f"{name} must be a list")
        for i, entry in enumerate(entries):
            if isinstance(entry, str):
                continue
            if not isinstance(entry, Mapping):
                raise InputError(f"{name}[{i}] must be an object or a reference")
            rid = entry.get("id")
            if not isinstance(rid, str) or not rid.startswith("#"):
                raise InputError(f"{name}[{i}] needs a relative id ('#...')")
            if "type" not in entry:
                raise InputError(f"{name}[{i}] needs a type")


# -- resolve ----------------------------------------------------------------------------------


def is_peer4_short(did: str) -> bool:
    return bool(_SHORT_RE.fullmatch(did))


def is_peer4_long(did: str) -> bool:
    return bool(_LONG_RE.fullmatch(did))


def long_to_short(did: str) -> str:
    """The short form of a long-form did:peer:4 (after checking its hash)."""
    _, short, _ = _split_long(did)
    return short


def bound_short_form(did: str) -> str | None:
    """The short form if ``did`` is a long form whose hash holds, else ``None``."""
    try:
        return long_to_short(did)
    except InvalidDID:
        return None


def resolve_peer4(did: str) -> dict[str, Any]:
    """The document of a long-form did:peer:4, with ``alsoKnownAs`` its short form."""
    encoded, short, _ = _split_long(did)
    return _contextualize(_decode(encoded), did, short)


def resolve_peer4_short(short: str, long: str) -> dict[str, Any]:
    """The document of a short-form did:peer:4, from its long form seen earlier."""
    if not isinstance(short, str) or not _SHORT_RE.fullmatch(short):
        raise InvalidDID("not a valid short-form did:peer:4")
    encoded, long_short, _ = _split_long(long)
    if long_short != short:
        raise InvalidDID("the long form given is not the long form of this did:peer:4")
    return _contextualize(_decode(encoded), short, long)


def _hash(encoded: str) -> str:
    digest = hashlib.sha256(encoded.encode("ascii")).digest()
    return "z" + base58.b58encode(_SHA256_MULTIHASH + digest).decode("ascii")


def _split_long(did: Any) -> tuple[str, str, str]:
    if not isinstance(did, str):
        raise InvalidDID("a DID must be a string")
    if len(did) > MAX_DID_LENGTH:
        raise DIDTooLong(f"the did:peer:4 is {len(did)} characters, over {MAX_DID_LENGTH}")
    match = _LONG_RE.fullmatch(did)
    if match is None:
        if _SHORT_RE.fullmatch(did):
            raise InvalidDID("a short-form did:peer:4 carries no document")
        raise InvalidDID("not a valid long-form did:peer:4")
    short, hashed, encoded = match.groups()
    if _hash(encoded) != hashed:
        raise PeerDIDHashMismatch(f"the hash of {short} does not match its encoded document")
    return encoded, short, hashed


def _decode(encoded: str) -> dict[str, Any]:
    raw = b58decode(encoded[1:])  # the regex admitted only base58btc characters
    if not raw.startswith(_JSON_MULTICODEC):
        raise InvalidDID("a did:peer:4 document must use the JSON multicodec (0x0200)")
    try:
        return loads_object(raw[2:], max_bytes=MAX_DID_LENGTH, what="the did:peer:4 document")
    except InputError as err:
        raise InvalidDID(str(err)) from err


def _contextualize(doc: dict[str, Any], did: str, alias: str) -> dict[str, Any]:
    doc["id"] = did
    for name in _RESOURCES[:-1]:
        entries = doc.get(name)
        if not isinstance(entries, list):
            continue
        for entry in entries:
            if isinstance(entry, dict) and "controller" not in entry:
                entry["controller"] = did
    also = doc.setdefault("alsoKnownAs", [])
    if not isinstance(also, list):
        raise InvalidDID("the did:peer:4 document's alsoKnownAs is not a list")
    also.append(alias)
    return doc


# -- remembering long forms -------------------------------------------------------------------


@runtime_checkable
class LongFormCache(Protocol):
    """Where the resolver keeps the long form of each short DID it has seen (did:peer:4
    short → long, did:peer:3 → did:peer:2). A wallet persists it; the default is memory."""

    async def get(self, short: str) -> str | None: ...

    async def put(self, short: str, long: str) -> None: ...


class InMemoryLongFormCache:
    """A bounded, least-recently-used :class:`LongFormCache` held in memory."""

    def __init__(self, max_entries: int = 10_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._max = max_entries
        self._data: OrderedDict[str, str] = OrderedDict()

    async def get(self, short: str) -> str | None:
        long = self._data.get(short)
        if long is not None:
            self._data.move_to_end(short)
        return long

    async def put(self, short: str, long: str) -> None:
        self._data[short] = long
        self._data.move_to_end(short)
        while len(self._data) > self._max:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)
