"""Key agreement for JWE: ECDH-ES and ECDH-1PU (draft-madden-jose-ecdh-1pu-04) in key-wrap
mode, with the Concat KDF of RFC 7518 §4.6.2.

X25519 goes through libsodium; the NIST curves through OpenSSL. Public-key objects are
cached (they are public and costly to decompress); private ones are not, so no secret
outlives the caller's own key object.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from functools import lru_cache

import nacl.bindings as sodium
import nacl.exceptions
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ..errors import KeyFormatError, UnsupportedAlgorithm
from ..keys import KeyType, PrivateKey, PublicKey
from ._util import b64e

__all__ = [
    "AGREEMENT_TYPES",
    "AgreementCache",
    "Ephemeral",
    "agree",
    "concat_kdf",
    "fixed_info",
    "x25519",
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


def x25519(secret: bytes, public: bytes) -> bytes:
    """X25519 on raw bytes; a low-order ``public`` is :class:`KeyFormatError`."""
    try:
        shared = sodium.crypto_scalarmult(secret, public)
    except (RuntimeError, nacl.exceptions.CryptoError):
        raise KeyFormatError("the X25519 key is a low-order point") from None
    # libsodium refuses most small-order inputs itself; an all-zero result is the rest.
    if shared == _ZERO32:
        raise KeyFormatError("the X25519 key is a low-order point")
    return shared


_ZERO32 = bytes(32)


def agree(private: PrivateKey, public: PublicKey) -> bytes:
    """Raw ECDH between our static key and their public key, on the same curve.

    Raises :class:`KeyFormatError` for a low-order X25519 point, an off-curve point or a
    curve mismatch, and :class:`UnsupportedAlgorithm` for a curve JWE does not use here.
    """
    if private.type is not public.type:
        raise KeyFormatError(f"cannot agree a {private.type} key with a {public.type} key")
    if public.type is KeyType.X25519:
        return x25519(private.secret, public.raw)
    if public.type not in _CURVES:
        raise UnsupportedAlgorithm(f"no JWE key agreement on {public.type}")
    return private.ec_key().exchange(_ECDH, _ec_public(public))


_BOX = object()  # marks crypto_box keys among the cache's entries


class AgreementCache:
    """Static-static ECDH results (ECDH-1PU's ``Zs``) for pairs of keys that talk often.

    ``Zs`` is the same for every message between two static keys, and it is a secret: with
    it anyone could write as the sender to that recipient. So nothing caches it unless the
    holder of the private keys passes one of these (as libsodium's ``crypto_box_beforenm``
    leaves the precomputed key to its caller); that holder keeps it beside the keys and
    calls :meth:`clear` when it locks them. Bounded, least recently used out first.

    Safe to share between the event loop and the worker threads that pack and unpack large
    messages: the bookkeeping is under a lock, the exchange itself outside it.
    """

    __slots__ = ("_entries", "_lock", "maxsize")

    def __init__(self, maxsize: int = 1024) -> None:
        if maxsize < 1:
            raise ValueError("an AgreementCache needs room for at least one entry")
        self.maxsize = maxsize
        self._entries: OrderedDict[tuple[object, bytes, bytes], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def agree(self, ours: PrivateKey, theirs: PublicKey) -> bytes:
        """:func:`agree`, remembered. Keyed by our secret itself, never by a claimed public
        half, so a mismatched key object cannot read another key's entry."""
        key = (ours.type, ours.secret, theirs.raw)
        with self._lock:
            shared = self._entries.get(key)
            if shared is not None:
                self._entries.move_to_end(key)
                return shared
        shared = agree(ours, theirs)
        self._remember(key, shared)
        return shared

    def _remember(self, key: tuple[object, bytes, bytes], shared: bytes) -> None:
        with self._lock:
            self._entries[key] = shared
            if len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)

    def box_key(self, our_secret: bytes, their_public: bytes) -> bytes:
        """libsodium's ``crypto_box_beforenm`` for our X25519 scalar and their X25519 key,
        remembered: the per-pair key of DIDComm v1 authcrypt (what ``Zs`` is to ECDH-1PU).

        Raises what ``crypto_box_beforenm`` raises for a low-order key.
        """
        key = (_BOX, our_secret, their_public)
        with self._lock:
            shared = self._entries.get(key)
            if shared is not None:
                self._entries.move_to_end(key)
                return shared
        shared = sodium.crypto_box_beforenm(their_public, our_secret)
        self._remember(key, shared)
        return shared

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"AgreementCache({len(self._entries)}/{self.maxsize} entries)"


class Ephemeral:
    """A fresh ephemeral key pair for one message, kept in the cheapest native form."""

    __slots__ = ("_ec", "_secret", "public")

    def __init__(self, kty: KeyType) -> None:
        self._ec: ec.EllipticCurvePrivateKey | None = None
        if kty is KeyType.X25519:
            self._secret = sodium.randombytes(32)
            self.public = PublicKey(kty, sodium.crypto_scalarmult_base(self._secret))
        elif kty in _CURVES:
            self._secret = b""
            self._ec = ec.generate_private_key(_CURVES[kty])
            point = self._ec.public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
            self.public = PublicKey(kty, point)
        else:
            raise UnsupportedAlgorithm(f"no JWE key agreement on {kty}")

    def agree(self, peer: PublicKey) -> bytes:
        if peer.type is not self.public.type:
            raise KeyFormatError(f"cannot agree a {self.public.type} key with a {peer.type} key")
        if self._ec is None:
            return x25519(self._secret, peer.raw)
        return self._ec.exchange(_ECDH, _ec_public(peer))

    def jwk(self) -> dict[str, str]:
        """The public half as the ``epk`` JWK (x and y straight from the point we hold)."""
        if self._ec is None:
            return {"kty": "OKP", "crv": "X25519", "x": b64e(self.public.raw)}
        numbers = self._ec.public_key().public_numbers()
        size = (numbers.curve.key_size + 7) // 8
        return {
            "kty": "EC",
            "crv": self.public.type.value,
            "x": b64e(numbers.x.to_bytes(size, "big")),
            "y": b64e(numbers.y.to_bytes(size, "big")),
        }

    def __repr__(self) -> str:
        return f"Ephemeral({self.public!r})"
