"""Key agreement for JWE: ECDH-ES and ECDH-1PU (draft-madden-jose-ecdh-1pu-04) in key-wrap
mode, with the Concat KDF of RFC 7518 §4.6.2.

X25519 goes through libsodium; the NIST curves through OpenSSL. Public-key objects are
cached (they are public and costly to decompress); private ones are not, so no secret
outlives the caller's own key object.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import nacl.bindings as sodium
import nacl.exceptions
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ..errors import KeyFormatError, UnsupportedAlgorithm
from ..keys import KeyType, PrivateKey, PublicKey

__all__ = [
    "AGREEMENT_TYPES",
    "Ephemeral",
    "agree",
    "concat_kdf",
    "fixed_info",
]

#: Curves JWE key agreement accepts here (those DIDComm v2 names).
AGREEMENT_TYPES = frozenset({KeyType.X25519, KeyType.P256, KeyType.P384, KeyType.P521})

_CURVES: dict[KeyType, ec.EllipticCurve] = {
    KeyType.P256: ec.SECP256R1(),
    KeyType.P384: ec.SECP384R1(),
    KeyType.P521: ec.SECP521R1(),
}
_ECDH = ec.ECDH()


def _len_prefixed(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def fixed_info(alg: str, apu: bytes, apv: bytes, key_bits: int, cctag: bytes = b"") -> bytes:
    """The Concat KDF ``OtherInfo``: AlgorithmID ‖ PartyUInfo ‖ PartyVInfo ‖ SuppPubInfo.

    For ECDH-1PU in key-wrap mode the content's tag joins SuppPubInfo (length-prefixed), which
    binds each wrapped key to this one ciphertext.
    """
    supp_pub = key_bits.to_bytes(4, "big") + (_len_prefixed(cctag) if cctag else b"")
    return _len_prefixed(alg.encode("ascii")) + _len_prefixed(apu) + _len_prefixed(apv) + supp_pub


def concat_kdf(z: bytes, info: bytes, key_bytes: int) -> bytes:
    """NIST SP 800-56A one-step KDF with SHA-256, as JOSE uses it."""
    out = b""
    counter = 1
    while len(out) < key_bytes:
        out += hashlib.sha256(counter.to_bytes(4, "big") + z + info).digest()
        counter += 1
    return out[:key_bytes]


@lru_cache(maxsize=512)
def _ec_public(key: PublicKey) -> ec.EllipticCurvePublicKey:
    return key.ec_key()


def agree(private: PrivateKey | ec.EllipticCurvePrivateKey, public: PublicKey) -> bytes:
    """Raw ECDH between a private key (ours) and a public key (theirs) on the same curve.

    Raises :class:`KeyFormatError` for a low-order X25519 point, an off-curve point or a
    curve mismatch, and :class:`UnsupportedAlgorithm` for a curve JWE does not use here.
    """
    if public.type not in AGREEMENT_TYPES:
        raise UnsupportedAlgorithm(f"no JWE key agreement on {public.type}")
    if isinstance(private, ec.EllipticCurvePrivateKey):
        if private.curve.name != _CURVES[public.type].name:
            raise KeyFormatError(f"cannot agree a {private.curve.name} key with a {public.type}")
        return private.exchange(_ECDH, _ec_public(public))
    if private.type is not public.type:
        raise KeyFormatError(f"cannot agree a {private.type} key with a {public.type} key")
    if public.type is KeyType.X25519:
        try:
            shared = sodium.crypto_scalarmult(private.secret, public.raw)
        except (RuntimeError, nacl.exceptions.CryptoError):
            raise KeyFormatError("the X25519 key is a low-order point") from None
        # libsodium refuses most small-order inputs itself; an all-zero result is the rest.
        if shared == bytes(32):
            raise KeyFormatError("the X25519 key is a low-order point")
        return shared
    return private.ec_key().exchange(_ECDH, _ec_public(public))


class Ephemeral:
    """A fresh ephemeral key pair for one message, kept in the cheapest native form."""

    __slots__ = ("private", "public")

    def __init__(self, kty: KeyType) -> None:
        if kty is KeyType.X25519:
            secret = sodium.randombytes(32)
            self.private: PrivateKey | ec.EllipticCurvePrivateKey = PrivateKey(
                kty, secret, PublicKey(kty, sodium.crypto_scalarmult_base(secret))
            )
            self.public: PublicKey = self.private.public
        elif kty in _CURVES:
            key = ec.generate_private_key(_CURVES[kty])
            self.private = key
            point = key.public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
            self.public = PublicKey(kty, point)
        else:
            raise UnsupportedAlgorithm(f"no JWE key agreement on {kty}")

    def agree(self, public: PublicKey) -> bytes:
        return agree(self.private, public)

    def __repr__(self) -> str:
        return f"Ephemeral({self.public!r})"
