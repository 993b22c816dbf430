"""Base58btc multibase (``z...``) for proof values, faster than the generic ``base58``.

A proof value is 64 bytes; the ``base58`` package divides the whole number by 58 once per
output digit, which costs about as much as the Ed25519 signature itself. Dividing by 58**10
and splitting each chunk into ten digits does a tenth of the big-number work.
"""

from __future__ import annotations

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}
_CHUNK = 58**10


def b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    chunks = []
    while n:
        n, r = divmod(n, _CHUNK)
        chunks.append(r)
    digits = []
    for i, r in enumerate(chunks):
        last = i == len(chunks) - 1
        for _ in range(10):
            if last and not r:
                break
            r, d = divmod(r, 58)
            digits.append(_ALPHABET[d])
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + "".join(reversed(digits))


def b58decode(text: str) -> bytes:
    """Decode base58btc; :class:`ValueError` on a character outside the alphabet."""
    n = 0
    try:
        for i in range(0, len(text) - len(text) % 10, 10):
            chunk = 0
            for c in text[i : i + 10]:
                chunk = chunk * 58 + _INDEX[c]
            n = n * _CHUNK + chunk
        for c in text[len(text) - len(text) % 10 :]:
            n = n * 58 + _INDEX[c]
    except KeyError as err:
        raise ValueError("not base58btc") from err
    pad = len(text) - len(text.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * pad + body
