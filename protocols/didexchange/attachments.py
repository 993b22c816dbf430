"""Signed attachments (Aries RFC 0017) as DID exchange 1.1 uses them: the responder signs its
new DID with the key of the invitation the requester accepted (``did_rotate~attach``), so the
requester knows the new DID comes from whoever made the invitation."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from agent.errors import RemoteProtocolError
from wallet.did import create_did_key, did_key_public_key
from wallet.encoding import (
    b64_decode_any,
    b64url_decode,
    b64url_encode,
    dumps_compact,
    loads_object,
)
from wallet.errors import InputError, MoiError
from wallet.keys import KeyType, PublicKey

Signer = Callable[[bytes], Awaitable[bytes]]


async def sign_attachment(data: bytes, key: PublicKey, sign: Signer, mime: str) -> dict[str, Any]:
    """A base64 attachment with a detached JWS by ``key`` (EdDSA) over it.

    ``base64`` is written in the standard alphabet with padding, as deployed Aries agents
    write it and as ACA-Py's schema demands (it refuses ``-`` and ``_``); the JWS signs the
    unpadded base64url form of the same bytes, as RFC 7515 defines the signing input.
    """
    encoded = b64url_encode(data)
    kid = create_did_key(key)
    protected = b64url_encode(
        dumps_compact({"alg": "EdDSA", "kid": kid, "jwk": {**key.to_jwk(), "kid": kid}}).encode()
    )
    signature = await sign(f"{protected}.{encoded}".encode("ascii"))
    return {
        "@id": str(uuid.uuid4()),
        "mime-type": mime,
        "data": {
            "base64": base64.b64encode(data).decode("ascii"),
            "jws": {
                "header": {"kid": kid},
                "protected": protected,
                "signature": b64url_encode(signature),
            },
        },
    }


def verify_attachment(attachment: Any, expected_key: PublicKey | None) -> bytes:
    """Check a signed attachment; returns its data. ``expected_key``: who must have signed."""
    if not isinstance(attachment, Mapping) or not isinstance(attachment.get("data"), Mapping):
        raise RemoteProtocolError("the signed attachment is malformed", "e.p.msg.invalid")
    data = attachment["data"]
    encoded, jws = data.get("base64"), data.get("jws")
    if not isinstance(encoded, str) or not isinstance(jws, Mapping):
        raise RemoteProtocolError("the attachment carries no signed base64 data", "e.p.msg.invalid")
    try:
        payload = b64_decode_any(encoded, what="attachment data")
        protected_b64 = jws.get("protected")
        if not isinstance(protected_b64, str):
            raise InputError("the attachment's JWS has no protected header")
        protected = loads_object(
            b64url_decode(protected_b64, what="JWS header"), max_bytes=8192, what="JWS header"
        )
        signature = b64url_decode(jws.get("signature", ""), what="JWS signature")
    except (InputError, MoiError) as err:
        raise RemoteProtocolError(f"the signed attachment is malformed: {err}") from err
    if protected.get("alg") not in ("EdDSA", "Ed25519"):
        raise RemoteProtocolError("the attachment must be signed with EdDSA", "e.p.msg.invalid")
    signer = _signer_key(protected, jws.get("header"))
    if expected_key is not None and signer != expected_key:
        raise RemoteProtocolError(
            "the attachment is not signed by the invitation's key", "e.p.msg.invalid"
        )
    # The JWS signs BASE64URL(payload) (RFC 7515, unpadded) whatever alphabet and padding
    # the attachment's "base64" uses: deployed agents send standard padded base64 and sign
    # the base64url form, so the signing input is rebuilt from the decoded bytes.
    signing_input = f"{protected_b64}.{b64url_encode(payload)}".encode("ascii")
    if not signer.verify(signature, signing_input):
        raise RemoteProtocolError("the attachment's signature does not verify", "e.p.msg.invalid")
    return payload


def _signer_key(protected: Mapping[str, Any], header: Any) -> PublicKey:
    try:
        jwk = protected.get("jwk")
        if isinstance(jwk, Mapping):
            return PublicKey.from_jwk(jwk)
        kid = protected.get("kid") or (header or {}).get("kid")
        if isinstance(kid, str) and kid.startswith("did:key:"):
            key = did_key_public_key(kid.split("#", 1)[0])
            if key.type is KeyType.ED25519:
                return key
    except MoiError as err:
        raise RemoteProtocolError(f"the attachment's signing key is unreadable: {err}") from err
    raise RemoteProtocolError("the attachment names no Ed25519 signing key", "e.p.msg.invalid")
