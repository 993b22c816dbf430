"""Strict, bounded decoding of untrusted bytes, and the base64url helpers JOSE needs."""

from __future__ import annotations

import base64
import binascii
import json
import json.encoder
import re
from decimal import Decimal
from typing import Any

from .errors import InputError, TooLargeError

#: Default ceiling for any single message or document accepted from outside.
DEFAULT_MAX_BYTES = 1024 * 1024

_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_B64STD = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url, as JOSE writes it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str | bytes, *, what: str = "base64url value") -> bytes:
    """Decode unpadded (or padded) base64url, refusing any other alphabet."""
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError as err:
            raise InputError(f"{what} is not ASCII") from err
    if not isinstance(text, str):
        raise InputError(f"{what} must be a string")
    stripped = text.rstrip("=")
    if not _B64URL.match(stripped) or len(stripped) % 4 == 1:
        raise InputError(f"{what} is not valid base64url")
    try:
        return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError) as err:
        raise InputError(f"{what} is not valid base64url") from err


def b64_decode_any(text: str, *, what: str = "base64 value") -> bytes:
    """Decode base64 in either alphabet, padded or not (v1 envelopes meet both)."""
    if not isinstance(text, str):
        raise InputError(f"{what} must be a string")
    if _B64URL.match(text.rstrip("=")):
        return b64url_decode(text, what=what)
    if not _B64STD.match(text):
        raise InputError(f"{what} is not valid base64")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as err:
        raise InputError(f"{what} is not valid base64") from err


def _reject_constant(name: str) -> Any:
    raise InputError(f"JSON must not contain {name}")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):  # rare: find which key repeats, for the message
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise InputError(f"JSON object has a duplicate key {key[:80]!r}")
            seen.add(key)
    return out


# One decoder for every strict parse: building a JSONDecoder per call costs more than
# parsing a small message.
_STRICT = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
# Its C scanner. JSON that moi or any peer's library writes has no surrounding whitespace, so
# one scan from 0 that ends at the last character is the whole parse; anything else goes
# through the full decoder, which accepts and refuses exactly as it always has.
_SCAN = _STRICT.scan_once


def loads_strict(
    data: str | bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, what: str = "JSON"
) -> Any:
    """Parse JSON strictly: bounded size, UTF-8, no NaN/Infinity, no duplicate keys."""
    if isinstance(data, str):
        # Encoding only to measure is costly; a string of n characters is at most 4n bytes.
        size = (
            len(data)
            if len(data) * 4 <= max_bytes
            else len(data.encode("utf-8", errors="surrogatepass"))
        )
    elif isinstance(data, (bytes, bytearray, memoryview)):
        size = len(data)
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as err:
            raise InputError(f"{what} is not valid UTF-8") from err
    else:
        raise InputError(f"{what} must be text or bytes")
    if size > max_bytes:
        raise TooLargeError(f"{what} is {size} bytes, over the limit of {max_bytes}")
    try:
        try:
            value, end = _SCAN(data, 0)
        except StopIteration:
            end = -1
        return value if end == len(data) else _STRICT.decode(data)
    except InputError:
        raise
    except RecursionError as err:
        raise InputError(f"{what} is nested too deeply") from err
    except (ValueError, TypeError) as err:
        raise InputError(f"{what} is not valid JSON: {_short(err)}") from err


def loads_object(
    data: str | bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, what: str = "JSON"
) -> dict[str, Any]:
    """:func:`loads_strict` that also requires the top level to be an object."""
    value = loads_strict(data, max_bytes=max_bytes, what=what)
    if not isinstance(value, dict):
        raise InputError(f"{what} must be a JSON object")
    return value


_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
# What _COMPACT.encode does for an object, minus its Python layers (a dozen lines a call, on
# every message): the C encoder with the same settings, fresh circular-reference markers each
# time. Without the C accelerator, or for anything but an object, the encoder itself runs.
_C_ENCODER = json.encoder.c_make_encoder
_ENCODE_STR = json.encoder.encode_basestring


def dumps_compact(value: Any) -> str:
    """Compact JSON with no NaN; the form moi puts on the wire."""
    if type(value) is not dict or _C_ENCODER is None:
        return _COMPACT.encode(value)
    return "".join(
        _C_ENCODER({}, _COMPACT.default, _ENCODE_STR, None, ":", ",", False, False, False)(value, 0)
    )


def dumps_utf8(value: Any) -> bytes:
    """:func:`dumps_compact` as UTF-8 bytes, the form that is encrypted or signed."""
    return dumps_compact(value).encode("utf-8")


def dumps_canonical(value: Any) -> bytes:
    """RFC 8785 (JCS) canonical form for the JSON moi signs and hashes.

    Python's ``json`` with sorted keys matches JCS for strings and integers; floats need
    the ECMAScript number form, which :func:`_jcs_number` gives.
    """
    return _jcs(value).encode("utf-8")


def _jcs(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _jcs_number(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_jcs(v) for v in value) + "]"
    if isinstance(value, dict):
        # JCS orders keys by their UTF-16 code units.
        items = sorted(value.items(), key=lambda kv: kv[0].encode("utf-16-be"))
        return (
            "{"
            + ",".join(json.dumps(k, ensure_ascii=False) + ":" + _jcs(v) for k, v in items)
            + "}"
        )
    raise InputError(f"cannot canonicalise a {type(value).__name__}")


def _jcs_number(x: float) -> str:
    """ECMAScript Number::toString, which JCS prescribes for numbers."""
    if x != x or x in (float("inf"), float("-inf")):
        raise InputError("JSON must not contain NaN or Infinity")
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    # repr gives the shortest digits that round-trip, as ECMAScript requires.
    _, digit_tuple, exponent = Decimal(repr(abs(x))).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    k = len(digits)
    n = int(exponent) + len(digit_tuple)  # value = 0.digits * 10**n
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
        body = f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + body


def _short(err: Exception) -> str:
    text = str(err)
    return text if len(text) <= 120 else text[:117] + "..."
