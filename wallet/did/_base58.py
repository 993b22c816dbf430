"""base58btc in sub-quadratic time, for the long strings did:peer:4 carries.

The ``base58`` package converts digit by digit, quadratic in the length: a 16 KiB
did:peer:4 long form costs it almost a second, which a peer could make us pay per message.
Splitting the number in halves (divide and conquer on Python's Karatsuba integers) brings
that to milliseconds. Short keys still go through the ``base58`` package.
"""

from __future__ import annotations

from functools import lru_cache

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
_LEAF = 48  # digits converted one by one below this size
_BITS_PER_DIGIT = 5.857980995127572  # log2(58)


@lru_cache(maxsize=256)
def _power(k: int) -> int:
    return 58**k


def b58decode(text: str) -> bytes:
    """Decode base58btc (raises ``ValueError`` on a character outside the alphabet)."""
    stripped = text.lstrip("1")
    try:
        digits = [_INDEX[c] for c in stripped]
    except KeyError as err:
        raise ValueError("not a base58btc string") from err
    value = _to_int(digits, 0, len(digits))
    body = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return b"\0" * (len(text) - len(stripped)) + body


def _to_int(digits: list[int], lo: int, hi: int) -> int:
    if hi - lo <= _LEAF:
        value = 0
        for digit in digits[lo:hi]:
            value = value * 58 + digit
        return value
    mid = (lo + hi) // 2
    return _to_int(digits, lo, mid) * _power(hi - mid) + _to_int(digits, mid, hi)


def b58encode(data: bytes) -> str:
    stripped = data.lstrip(b"\0")
    value = int.from_bytes(stripped, "big")
    body = _to_text(value, 0) if value else ""
    return "1" * (len(data) - len(stripped)) + body


def _to_text(value: int, width: int) -> str:
    """``value`` in base58, left-padded with '1' to ``width`` characters."""
    size = int(value.bit_length() / _BITS_PER_DIGIT) + 1
    if size <= _LEAF:
        chars = []
        while value:
            value, digit = divmod(value, 58)
            chars.append(ALPHABET[digit])
        return "".join(reversed(chars)).rjust(width, "1")
    low_width = size // 2
    high, low = divmod(value, _power(low_width))
    return _to_text(high, max(width - low_width, 0)) + _to_text(low, low_width)
