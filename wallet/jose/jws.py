"""JSON Web Signatures (RFC 7515): the compact form for JWT/SD-JWT, and the General JSON
serialization that DIDComm v2 signed messages use.

Algorithms: EdDSA (Ed25519), ES256, ES256K, ES384 and ES512. The algorithm is always taken
from the protected header and must match the verifying key's type; ``none`` and any
algorithm that does not fit the key are refused, so a header cannot pick a weaker check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from ..encoding import DEFAULT_MAX_BYTES
from ..errors import EnvelopeError, MalformedEnvelope, SignatureError, UnsupportedAlgorithm
from ..keys import KeyType, PrivateKey, PublicKey
from ._util import b64d, b64e, b64e_bytes, decode_header, dumps_header, short

__all__ = [
    "DIDCOMM_SIGNED_TYP",
    "AlgorithmRefused",
    "CompactJWS",
    "JWSSignature",
    "ParsedJWS",
    "SignerError",
    "alg_for_key",
    "decode_compact",
    "parse_general",
    "sign_compact",
    "sign_general",
    "verify_compact",
    "verify_signature",
]

DIDCOMM_SIGNED_TYP = "application/didcomm-signed+json"

#: Most signatures a General JSON JWS may carry; DIDComm messages have one or two.
MAX_SIGNATURES = 100

_ALG_FOR_KEY: dict[KeyType, str] = {
    KeyType.ED25519: "EdDSA",
    KeyType.P256: "ES256",
    KeyType.SECP256K1: "ES256K",
    KeyType.P384: "ES384",
    KeyType.P521: "ES512",
}
# "Ed25519" is the fully specified name (RFC 9864) for what "EdDSA" means in practice.
_KEY_FOR_ALG: dict[str, KeyType] = {
    **{v: k for k, v in _ALG_FOR_KEY.items()},
    "Ed25519": KeyType.ED25519,
}


class SignerError(EnvelopeError, ValueError):
    """:func:`sign_general` was given no signers."""


class AlgorithmRefused(SignatureError, UnsupportedAlgorithm):
    """The token's ``alg`` is ``none``, unknown, or does not fit the verifying key."""


def alg_for_key(key_type: KeyType) -> str:
    """The JWS ``alg`` a key of this type signs with."""
    try:
        return _ALG_FOR_KEY[key_type]
    except KeyError:
        raise AlgorithmRefused(f"a {key_type} key cannot sign") from None


def _check_alg(alg: Any, key_type: KeyType) -> None:
    if alg == "none":
        raise AlgorithmRefused("unsigned tokens (alg 'none') are refused")
    expected = _KEY_FOR_ALG.get(alg) if isinstance(alg, str) else None
    if expected is None:
        raise AlgorithmRefused(f"unsupported JWS alg {short(alg)}")
    if expected is not key_type:
        raise AlgorithmRefused(f"JWS alg {alg} does not match a {key_type} key")


# -- compact serialization ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompactJWS:
    """A decoded (not yet verified) compact JWS."""

    header: dict[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes

    @property
    def alg(self) -> str:
        return self.header["alg"]

    @property
    def kid(self) -> str | None:
        kid = self.header.get("kid")
        return kid if isinstance(kid, str) else None


def sign_compact(header: Mapping[str, Any], payload: bytes, key: PrivateKey) -> str:
    """Sign ``payload`` and return ``header.payload.signature``.

    ``alg`` is set from the key type when the header lacks it, and must fit the key when
    present.
    """
    hdr = dict(header)
    if "alg" not in hdr:
        hdr["alg"] = alg_for_key(key.type)
    else:
        _check_alg(hdr["alg"], key.type)
    signing_input = (b64e(dumps_header(hdr)) + "." + b64e(payload)).encode("ascii")
    return signing_input.decode("ascii") + "." + b64e(key.sign(signing_input))


def decode_compact(token: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> CompactJWS:
    """Split and decode a compact JWS strictly, without verifying it.

    Raises :class:`MalformedEnvelope` for anything that is not three canonical base64url
    parts with a JSON-object header carrying a string ``alg``.
    """
    if isinstance(token, bytes):
        try:
            token = token.decode("ascii")
        except UnicodeDecodeError:
            raise MalformedEnvelope("a compact JWS must be ASCII") from None
    if not isinstance(token, str):
        raise MalformedEnvelope("a compact JWS must be a string")
    if len(token) > max_bytes:
        raise MalformedEnvelope(f"the compact JWS is over the limit of {max_bytes} bytes")
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedEnvelope(f"a compact JWS has 3 parts, this has {min(len(parts), 99)}")
    header = decode_header(parts[0], "JWS header")
    if not isinstance(header.get("alg"), str):
        raise MalformedEnvelope("the JWS header needs a string 'alg'")
    payload = b64d(parts[1], "JWS payload")
    signature = b64d(parts[2], "JWS signature")
    signing_input = (parts[0] + "." + parts[1]).encode("ascii")
    return CompactJWS(header, payload, signing_input, signature)


def verify_compact(token_or_parsed: str | CompactJWS, key: PublicKey) -> CompactJWS:
    """Verify a compact JWS with ``key`` and return it decoded.

    Raises :class:`SignatureError` (or its subclass :class:`AlgorithmRefused`) when the
    signature is wrong, the alg is ``none``/unknown/not the key's, or the header marks an
    extension critical (none is understood).
    """
    jws = (
        token_or_parsed
        if isinstance(token_or_parsed, CompactJWS)
        else decode_compact(token_or_parsed)
    )
    _check_alg(jws.header.get("alg"), key.type)
    if "crit" in jws.header:
        raise AlgorithmRefused("the JWS marks header extensions critical; none is supported")
    if not key.verify(jws.signature, jws.signing_input):
        raise SignatureError("the JWS signature does not verify")
    return jws


# -- General JSON serialization -------------------------------------------------------------


class JWSSignature(NamedTuple):
    """One entry of a General JSON JWS's ``signatures`` (a named tuple: immutable, and
    cheap to build for every message)."""

    protected: dict[str, Any]
    header: dict[str, Any]
    alg: str
    kid: str | None
    signature: bytes
    signing_input: bytes
    protected_b64: str

    def __repr__(self) -> str:
        return f"JWSSignature(alg={self.alg!r}, kid={self.kid!r}, protected={self.protected!r})"


class ParsedJWS(NamedTuple):
    """A parsed (not yet verified) General JSON JWS."""

    payload: bytes
    payload_b64: str
    signatures: tuple[JWSSignature, ...]

    def __repr__(self) -> str:
        return f"ParsedJWS(payload={len(self.payload)} bytes, signatures={self.signatures!r})"

    @property
    def kids(self) -> list[str]:
        return [s.kid for s in self.signatures if s.kid is not None]


@lru_cache(maxsize=64)
def _protected_b64(typ: str | None, alg: str) -> bytes:
    # The protected header of a General JSON signature is the same for every message.
    return b64e_bytes(dumps_header({"typ": typ, "alg": alg} if typ is not None else {"alg": alg}))


def sign_general(
    payload: bytes,
    signers: Sequence[tuple[str, PrivateKey]],
    *,
    typ: str | None = DIDCOMM_SIGNED_TYP,
) -> dict[str, Any]:
    """Sign ``payload`` once per ``(kid, key)`` and return the General JSON JWS.

    As in the DIDComm vectors, ``typ`` and ``alg`` are protected and ``kid`` is in each
    signature's unprotected header.
    """
    if not signers:
        raise SignerError("a JWS needs at least one signer")
    payload_b64 = b64e_bytes(payload)
    signatures = []
    for kid, key in signers:
        protected_b64 = _protected_b64(typ, alg_for_key(key.type))
        sig = key.sign(b"".join((protected_b64, b".", payload_b64)))
        signatures.append(
            {"protected": protected_b64.decode(), "signature": b64e(sig), "header": {"kid": kid}}
        )
    return {"payload": payload_b64.decode(), "signatures": signatures}


def parse_general(jws: Mapping[str, Any]) -> ParsedJWS:
    """Validate a General (or flattened) JSON JWS and decode its parts, without verifying."""
    if type(jws) is not dict and not isinstance(jws, Mapping):
        raise MalformedEnvelope("a JSON JWS must be an object")
    payload_b64 = jws.get("payload")
    payload = b64d(payload_b64, "JWS payload")
    if "signatures" in jws:
        entries = jws["signatures"]
        if "signature" in jws or "protected" in jws:
            raise MalformedEnvelope("a JWS cannot be both general and flattened")
        if not isinstance(entries, list) or not entries:
            raise MalformedEnvelope("JWS 'signatures' must be a non-empty list")
        if len(entries) > MAX_SIGNATURES:
            raise MalformedEnvelope(f"a JWS may carry at most {MAX_SIGNATURES} signatures")
    elif "signature" in jws:
        entries = [{k: jws[k] for k in ("protected", "header", "signature") if k in jws}]
    else:
        raise MalformedEnvelope("the JWS has neither 'signatures' nor 'signature'")
    tail = b"." + payload_b64.encode("ascii")
    return ParsedJWS(payload, payload_b64, tuple([_parse_entry(e, tail) for e in entries]))


def _parse_entry(entry: Any, tail: bytes) -> JWSSignature:
    if type(entry) is not dict and not isinstance(entry, Mapping):
        raise MalformedEnvelope("each JWS signature must be an object")
    protected_b64 = entry.get("protected")
    protected = decode_header(protected_b64, "JWS protected header")
    header = entry.get("header", _NO_HEADER)
    if not isinstance(header, dict):
        raise MalformedEnvelope("a JWS unprotected 'header' must be an object")
    if header and not protected.keys().isdisjoint(header):
        raise MalformedEnvelope("JWS protected and unprotected headers must not share names")
    alg = protected.get("alg")
    if not isinstance(alg, str):
        raise MalformedEnvelope("the JWS protected header needs a string 'alg'")
    kid = header.get("kid", protected.get("kid"))
    if kid is not None and not isinstance(kid, str):
        raise MalformedEnvelope("a JWS 'kid' must be a string")
    signature = b64d(entry.get("signature"), "JWS signature")
    signing_input = protected_b64.encode("ascii") + tail
    return JWSSignature(
        protected,
        header if header is not _NO_HEADER else {},
        alg,
        kid,
        signature,
        signing_input,
        protected_b64,
    )


_NO_HEADER: dict[str, Any] = {}


def verify_signature(sig_entry: JWSSignature, public_key: PublicKey) -> bool:
    """Whether one signature entry verifies under ``public_key``.

    Returns False for a wrong signature; raises :class:`AlgorithmRefused` when the entry's
    alg is ``none``, unknown or not the key's, or it marks an extension critical.
    """
    _check_alg(sig_entry.alg, public_key.type)
    if "crit" in sig_entry.protected:
        raise AlgorithmRefused("the JWS marks header extensions critical; none is supported")
    return public_key.verify(sig_entry.signature, sig_entry.signing_input)
