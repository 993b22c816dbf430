"""Naming the multicodec of a multibase key that :mod:`wallet.keys` would not decode, so
the error can say "unsupported key type" (BLS, RSA...) rather than "malformed"."""

from __future__ import annotations

import base58

from ..errors import KeyFormatError, UnsupportedKeyType
from .errors import InvalidDIDKey, UnsupportedKeyCodec

#: Multicodec codes of the public keys wallet.keys reads.
SUPPORTED_KEY_CODECS = frozenset({0xED, 0xEC, 0xE7, 0x1200, 0x1201, 0x1202})
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
    if isinstance(err, UnsupportedKeyType):
        return UnsupportedKeyCodec(f"{where}: {err}")
    if multibase.startswith("z") and len(multibase) <= _MAX_KEY_TEXT:
        try:
            code = _varint(base58.b58decode(multibase[1:]))
        except ValueError:
            code = None
        if code is not None and code not in SUPPORTED_KEY_CODECS:
            return UnsupportedKeyCodec(f"{where}: multicodec 0x{code:x} is not a supported key")
    return InvalidDIDKey(f"{where}: {err}")
