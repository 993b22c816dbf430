"""Encodings of the DIDComm v1 envelope (Aries RFC 0019): base64 as v1 agents write it, and
the key conversions every envelope needs, cached because they cost more than the crypto."""

from __future__ import annotations

import binascii
from functools import lru_cache
from typing import Any

import base58
import nacl.bindings as sodium
import nacl.exceptions

from ..errors import KeyFormatError, MalformedEnvelope, TooLargeError

__all__ = ["EnvelopeTooLarge", "b58encode", "b64_any", "b64e", "verkey_raw", "x25519_public"]


class EnvelopeTooLarge(MalformedEnvelope, TooLargeError):
    """The envelope, or one of its fields, is over a size limit; nothing was decoded."""


# -- base64 in either alphabet ----------------------------------------------------------------

_URL_TO_STD = bytes.maketrans(b"-_", b"+/")
_B64_VALUE = {
    c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
} | {"-": 62, "_": 63}


def b64_any(value: Any, what: str, *, max_chars: int) -> bytes:
    """Decode base64 as v1 agents write it: URL or standard alphabet, padded or not.

    RFC 0019 says readers MUST take padded and unpadded base64url; agents built on Node's
    ``Buffer`` also read (and some older ones wrote) the standard alphabet. Mixing alphabets in
    one value, wrong padding, or unused low bits in the last character are refused, so that a
    value has one spelling per alphabet and mutations cannot slip through as the same bytes.
    """
    if not isinstance(value, str):
        raise MalformedEnvelope(f"{what} must be a base64 string")
    if len(value) > max_chars:
        raise EnvelopeTooLarge(f"{what} is over the limit of {max_chars} characters")
    body = value.rstrip("=")
    pad = len(value) - len(body)
    rem = len(body) % 4
    if rem == 1 or (pad and pad != -rem % 4) or not body.isascii():
        raise MalformedEnvelope(f"{what} is not valid base64")
    if ("-" in body or "_" in body) and ("+" in body or "/" in body):
        raise MalformedEnvelope(f"{what} mixes the base64 and base64url alphabets")
    try:
        # The alphabet check is binascii's strict mode, in C: a regex over a 1 KiB ciphertext
        # costs more than decrypting it.
        data = body.encode("ascii").translate(_URL_TO_STD) + b"=" * (-rem % 4)
        decoded = binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError) as err:
        raise MalformedEnvelope(f"{what} is not valid base64") from err
    if rem and _B64_VALUE[body[-1]] & (0x0F if rem == 2 else 0x03):
        raise MalformedEnvelope(f"{what} is not canonical base64")
    return decoded


_STD_TO_URL = bytes.maketrans(b"+/", b"-_")


def b64e(data: bytes) -> str:
    # Unpadded base64url, as ACA-Py, Credo and didcomm-messaging write; every reader takes it.
    return binascii.b2a_base64(data, newline=False).translate(_STD_TO_URL).rstrip(b"=").decode()


# -- key conversions, cached because they dominate the cost -----------------------------------
# Only public values are cached: converting an Ed25519 public key to X25519 costs ~90 µs in
# libsodium (a square root and a subgroup check) and base58 in pure Python ~20-50 µs, more than
# the symmetric encryption of a whole 1 KiB message. An agent talks to the same few keys.


@lru_cache(maxsize=4096)
def x25519_public(ed25519_raw: bytes) -> bytes:
    try:
        return sodium.crypto_sign_ed25519_pk_to_curve25519(ed25519_raw)
    except (nacl.exceptions.CryptoError, nacl.exceptions.ValueError, RuntimeError) as err:
        raise KeyFormatError("the Ed25519 key is not a valid curve point") from err


@lru_cache(maxsize=4096)
def b58encode(raw: bytes) -> str:
    return base58.b58encode(raw).decode("ascii")


@lru_cache(maxsize=4096)
def verkey_raw(verkey: str) -> bytes | None:
    """The 32 bytes of a canonical base58 verkey, or None."""
    if not 32 <= len(verkey) <= 44:
        return None
    try:
        raw = base58.b58decode(verkey)
    except ValueError:
        return None
    if len(raw) != 32 or b58encode(raw) != verkey:
        return None
    return raw
