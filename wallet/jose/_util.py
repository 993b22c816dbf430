"""Strict base64url and JSON helpers shared by the JWS and JWE modules.

These sit on the hot path of every envelope, so they call ``binascii`` and the C JSON
scanner directly rather than going through ``base64`` and the generic strict loader; the
checks are the same (alphabet, padding, canonical bits; UTF-8, no NaN, no duplicate keys).
"""

from __future__ import annotations

import binascii
import json
from functools import lru_cache
from typing import Any, NoReturn

from ..errors import MalformedEnvelope

#: Ceiling for one protected header; DIDComm headers are a few hundred bytes.
MAX_HEADER_BYTES = 16 * 1024

_URL_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# '+', '/' and '=' go to '!', which strict base64 refuses: base64url has none of them.
_URL_TO_STD = bytes.maketrans(b"-_+/=", b"+/!!!")
_STD_TO_URL = bytes.maketrans(b"+/", b"-_")
_INDEX = {c: i for i, c in enumerate(_URL_ALPHABET.decode("ascii"))}
# The last characters whose unused low bits are zero, by length % 4 (2 and 3 are partial).
_CANONICAL_LAST = {
    rem: frozenset(c for c, i in _INDEX.items() if not i & mask)
    for rem, mask in ((2, 0x0F), (3, 0x03))
}
_PAD = (b"", b"", b"==", b"=")
a2b_base64 = binascii.a2b_base64

_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def b64e(data: bytes) -> str:
    """Unpadded base64url."""
    return binascii.b2a_base64(data, newline=False).translate(_STD_TO_URL).rstrip(b"=").decode()


def b64e_bytes(data: bytes) -> bytes:
    """Unpadded base64url as ASCII bytes, for building headers and signing inputs."""
    return binascii.b2a_base64(data, newline=False).translate(_STD_TO_URL).rstrip(b"=")


def b64d(text: Any, what: str) -> bytes:
    """Decode JOSE base64url strictly: no padding, no other alphabet, canonical trailing bits.

    The canonical check means two different strings never decode to the same bytes, so a
    mutated envelope cannot pass for the original.
    """
    if type(text) is not str:
        raise MalformedEnvelope(f"{what} must be a base64url string")
    rem = len(text) & 3
    try:
        # One pass maps '-' and '_' into the standard alphabet and '+', '/' and '=' out of
        # it, so binascii's strict mode, in C, refuses every character base64url lacks (and
        # a length of 4n+1).
        decoded = a2b_base64(
            text.encode("ascii").translate(_URL_TO_STD) + _PAD[rem], strict_mode=True
        )
    except (UnicodeEncodeError, binascii.Error):
        _b64_error(text, what)
    if rem and text[-1] not in _CANONICAL_LAST[rem]:
        raise MalformedEnvelope(f"{what} is not canonical base64url")
    return decoded


# A protected header from one sender to one set of keys is the same from message to message
# but for its last few dozen characters (the ephemeral key), and with a did:peer:2 ``skid``
# and its ``apu`` it runs past a thousand. Its base64url is decoded as a head of whole 4-char
# groups, remembered, and a short fresh tail: every 4 characters decode to 3 bytes on their
# own, so the two halves decode to exactly the bytes of the whole, and the whole is valid
# exactly when both are (the alphabet is checked per character; the length and the canonical
# bits concern the final group alone, which is in the tail). Headers are public.
_HEAD_MIN_CHARS = 512  # below this a split saves less than the lookup costs
_HEAD_MAX_CHARS = 4096  # what is remembered stays small, whatever a peer sends
_TAIL_CHARS = 128  # an X25519 epk JWK and the header's closing, with room to spare


@lru_cache(maxsize=256)
def b64d_repeated(text: str, what: str) -> bytes:
    """:func:`b64d` for a public value that recurs from message to message (a header's
    head, an ``apu`` naming the sender), remembered. Errors are raised, not remembered."""
    return b64d(text, what)


def b64d_header(text: Any, what: str) -> bytes:
    """:func:`b64d` of a protected header, the long recurring head of it remembered."""
    if type(text) is not str or not _HEAD_MIN_CHARS <= len(text) <= _HEAD_MAX_CHARS:
        return b64d(text, what)
    cut = (len(text) - _TAIL_CHARS) & ~3
    try:
        return b64d_repeated(text[:cut], what) + b64d(text[cut:], what)
    except MalformedEnvelope:
        return b64d(text, what)  # raises, saying what is wrong with the whole


def _b64_error(text: str, what: str) -> NoReturn:
    # Only for the message: the first rule the text broke, in the order they are stated.
    rem = len(text) & 3
    if rem == 1 or "+" in text or "/" in text or "=" in text or not text.isascii():
        raise MalformedEnvelope(f"{what} is not valid unpadded base64url")
    if rem and _INDEX.get(text[-1], 0) & (0x0F if rem == 2 else 0x03):
        raise MalformedEnvelope(f"{what} is not canonical base64url")
    raise MalformedEnvelope(f"{what} is not valid base64url")


def dumps_header(header: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON for a header moi writes."""
    return _ENCODER.encode(header).encode("utf-8")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise MalformedEnvelope("a JOSE header has a duplicate member name")
    return obj


def _constant(name: str) -> Any:
    raise MalformedEnvelope(f"a JOSE header must not contain {name}")


_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_constant)
# The C scanner under _DECODER. A header moi or any JOSE library writes has no surrounding
# whitespace, so one scan from 0 that ends at the last character is the whole parse; anything
# else goes through the full decoder, which accepts and refuses exactly as before.
_SCAN = _DECODER.scan_once


def decode_header(text: Any, what: str) -> dict[str, Any]:
    """A base64url-encoded JSON object header, parsed strictly and bounded."""
    if isinstance(text, str) and len(text) > MAX_HEADER_BYTES * 4 // 3 + 4:
        raise MalformedEnvelope(f"{what} is over the limit of {MAX_HEADER_BYTES} bytes")
    raw = b64d_header(text, what)
    try:
        doc = raw.decode("utf-8")
        try:
            value, end = _SCAN(doc, 0)
        except StopIteration:
            end = -1
        if end != len(doc):
            value = _DECODER.decode(doc)
    except MalformedEnvelope:
        raise
    except UnicodeDecodeError:
        raise MalformedEnvelope(f"{what} is not valid UTF-8") from None
    except RecursionError:
        raise MalformedEnvelope(f"{what} is nested too deeply") from None
    except ValueError as err:
        raise MalformedEnvelope(f"{what} is not valid JSON: {str(err)[:80]}") from None
    if type(value) is not dict:
        raise MalformedEnvelope(f"{what} must be a JSON object")
    return value


def short(value: Any, limit: int = 40) -> str:
    """A bounded repr of an untrusted value, for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
