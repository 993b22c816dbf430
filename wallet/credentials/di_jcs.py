"""The JCS (RFC 8785) transformation used by ``eddsa-jcs-2022``."""

from __future__ import annotations

from typing import Any

from wallet.encoding import dumps_canonical

from .errors import MalformedCredential

# JCS serialises numbers as IEEE doubles (ECMAScript). An integer beyond 2**53 has no exact
# double, so an ECMAScript signer would have written the rounded value; write it the same way.
_SAFE_INT = 2**53
_MAX_DEPTH = 128


def jcs(value: Any) -> bytes:
    """RFC 8785 canonical bytes of a JSON value."""
    return dumps_canonical(_doubles(value, 0))


def _doubles(value: Any, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise MalformedCredential("the document is nested too deeply")
    if isinstance(value, dict):
        return {k: _doubles(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_doubles(v, depth + 1) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _SAFE_INT:
        try:
            return float(value)
        except OverflowError as err:
            raise MalformedCredential("a number in the document is out of range") from err
    return value
