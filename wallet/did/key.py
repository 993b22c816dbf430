"""did:key: a DID that is a public key (W3C CCG did:key draft), in its Multikey form.

An Ed25519 did:key resolves to the Ed25519 method (authentication, assertion, capability
invocation and delegation) and the X25519 key derived from it (key agreement), as the
draft's ``enableEncryptionKeyDerivation`` does. An X25519 did:key is for key agreement only.
P-256, P-384, P-521 and secp256k1 keys serve both signing and key agreement (ECDH), as the
did:key test vectors show them.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import InvalidDID, KeyFormatError
from ..keys import KeyType, PublicKey
from ._codec import decode_multikey, derived_x25519, key_error
from .errors import DIDTooLong

__all__ = [
    "KEY_CONTEXT",
    "KeyResolver",
    "create_did_key",
    "did_key",
    "did_key_public_key",
    "resolve_did_key",
]

KEY_CONTEXT = ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"]
#: An uncompressed P-521 key, the longest moi reads, is under 190 characters.
_MAX_LENGTH = 256
_DID_KEY_RE = re.compile(r"did:key:(z[1-9A-HJ-NP-Za-km-z]+)")
_SIGNING = ("authentication", "assertionMethod", "capabilityInvocation", "capabilityDelegation")


def create_did_key(key: PublicKey) -> str:
    """The did:key of a public key."""
    if not isinstance(key, PublicKey):
        raise KeyFormatError("a did:key is made from a PublicKey")
    return "did:key:" + key.multikey


#: Short name of :func:`create_did_key`.
did_key = create_did_key


def did_key_public_key(did: str) -> PublicKey:
    """The public key a did:key encodes (its only verification method for signing)."""
    return _decode(did)[1]


def _decode(did: Any) -> tuple[str, PublicKey]:
    if not isinstance(did, str):
        raise InvalidDID("a DID must be a string")
    if len(did) > _MAX_LENGTH:
        raise DIDTooLong(f"a did:key is at most {_MAX_LENGTH} characters, got {len(did)}")
    match = _DID_KEY_RE.fullmatch(did)
    if match is None:
        raise InvalidDID("a did:key is 'did:key:' and a base58btc multibase key ('z...')")
    multibase = match.group(1)
    try:
        key = decode_multikey(multibase)
        if key.type is KeyType.ED25519:
            derived_x25519(key)  # an Ed25519 "key" off the curve has no X25519 partner
    except KeyFormatError as err:
        raise key_error(multibase, err, "did:key") from err
    return multibase, key


def _method(did: str, multibase: str) -> dict[str, str]:
    return {
        "id": f"{did}#{multibase}",
        "type": "Multikey",
        "controller": did,
        "publicKeyMultibase": multibase,
    }


def resolve_did_key(did: str) -> dict[str, Any]:
    """The did:key document, Multikey form, ids ``did#multibase``."""
    multibase, key = _decode(did)
    main = _method(did, multibase)
    doc: dict[str, Any] = {"@context": list(KEY_CONTEXT), "id": did, "verificationMethod": [main]}
    if key.type is KeyType.X25519:
        doc["keyAgreement"] = [main["id"]]
        return doc
    for name in _SIGNING:
        doc[name] = [main["id"]]
    if key.type is KeyType.ED25519:
        agreement = _method(did, derived_x25519(key)[1])
        doc["verificationMethod"].append(agreement)
        doc["keyAgreement"] = [agreement["id"]]
    else:
        doc["keyAgreement"] = [main["id"]]
    return doc


class KeyResolver:
    """Resolves did:key locally; documents never change, so they are cached for good."""

    methods = frozenset({"key"})
    immutable = True

    async def resolve(self, did: str) -> dict[str, Any]:
        return resolve_did_key(did)
