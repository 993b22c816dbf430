"""Strict base64url and header helpers shared by the JWS and JWE modules."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from ..encoding import loads_object
from ..errors import InputError, MalformedEnvelope

_B64URL = re.compile(r"[A-Za-z0-9_-]*")

#: Ceiling for one protected header; DIDComm headers are a few hundred bytes.
MAX_HEADER_BYTES = 16 * 1024


def b64e(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: Any, what: str) -> bytes:
    """Decode JOSE base64url strictly: no padding, no other alphabet, canonical trailing bits.

    The canonical check means two different strings never decode to the same bytes, so a
    mutated envelope cannot slip through as "the same" message.
    """
    if not isinstance(text, str):
        raise MalformedEnvelope(f"{what} must be a base64url string")
    if len(text) % 4 == 1 or not _B64URL.fullmatch(text):
        raise MalformedEnvelope(f"{what} is not valid unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as err:
        raise MalformedEnvelope(f"{what} is not valid base64url") from err
    rem = len(text) % 4
    if rem and _B64URL_INDEX[text[-1]] & (0x0F if rem == 2 else 0x03):
        raise MalformedEnvelope(f"{what} is not canonical base64url")
    return data


_B64URL_INDEX = {
    c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
}


def decode_header(text: Any, what: str) -> dict[str, Any]:
    """A base64url-encoded JSON object header, parsed strictly and bounded."""
    if isinstance(text, str) and len(text) > MAX_HEADER_BYTES * 4 // 3 + 4:
        raise MalformedEnvelope(f"{what} is over the limit of {MAX_HEADER_BYTES} bytes")
    raw = b64d(text, what)
    try:
        return loads_object(raw, max_bytes=MAX_HEADER_BYTES, what=what)
    except InputError as err:
        raise MalformedEnvelope(str(err)) from err


def short(value: Any, limit: int = 40) -> str:
    """A bounded repr of an untrusted value, for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
