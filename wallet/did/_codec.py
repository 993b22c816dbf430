"""Naming the multicodec of a multibase key that :mod:`wallet.keys` would not decode, so
the error can say "unsupported key type" (BLS, RSA...) rather than "malformed"."""

from __future__ import annotations

from functools import lru_cache

import base58

from ..errors import KeyFormatError, UnsupportedKeyType
from ..keys import PublicKey
from .errors import InvalidDIDKey, UnsupportedKeyCodec

#: Multicodec codes of the public keys wallet.keys reads.
SUPPORTED_KEY_CODECS = frozenset({0xED, 0xEC, 0xE7, 0x1200, 0x1201, 0x1202})
#: Public-key codecs of the multicodec table that moi does not read: BLS12-381 G1/G2/G1G2,
#: sr25519, Ed448, X448, RSA. A value with another code is not a key at all (or is corrupt).
OTHER_KEY_CODECS = frozenset({0xEA, 0xEB, 0xEE, 0xEF, 0x1203, 0x1204, 0x1205})
#: Longest multibase key examined; RSA-4096 is about 750 characters.
_MAX_KEY_TEXT = 1024


def _varint(data: bytes) -> int | None:
    value = 0
    for i, byte in enumerate(data[:4]):
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value
    return None


def key_error(multibase: str, err: KeyFormatError, where: str) -> InvalidDIDKey:
    """The precise error for a multibase key that failed to decode."""
    code = None
    if multibase.startswith("z") and len(multibase) <= _MAX_KEY_TEXT:
        try:
            code = _varint(base58.b58decode(multibase[1:]))
        except ValueError:
            code = None
    if code in OTHER_KEY_CODECS:
        return UnsupportedKeyCodec(f"{where}: multicodec 0x{code:x} is not a supported key")
    if code is not None and code not in SUPPORTED_KEY_CODECS:
        # Not a key at all, or a key whose leading bytes a truncation changed.
        return InvalidDIDKey(f"{where}: multicodec 0x{code:x} is not a public key codec")
    if isinstance(err, UnsupportedKeyType):
        return UnsupportedKeyCodec(f"{where}: {err}")
    return InvalidDIDKey(f"{where}: {err}")


@lru_cache(maxsize=4096)
def decode_multikey(multibase: str) -> PublicKey:
    """``PublicKey.from_multikey`` with the point checked to be on its curve, remembered:
    the same peers' keys come back in every message, and base58 decoding is the dearest
    step of resolving a did:key or did:peer. (Failures are not remembered.)"""
    key = PublicKey.from_multikey(multibase)
    if not key.type.is_okp:
        key.ec_key()
    return key


@lru_cache(maxsize=4096)
def derived_x25519(key: PublicKey) -> tuple[PublicKey, str]:
    """The X25519 key of an Ed25519 key, and its Multikey, remembered like the above."""
    x25519 = key.to_x25519()
    return x25519, x25519.multikey
