"""Encryption at rest: the per-store data key, the keyed hashes used for lookups, the sealing
of each record, and the keyring that wraps the data key under a passphrase or a raw key.

What the database sees of a record: the category and the id as 128-bit keyed hashes (the
id's bound to its category's), tag names and values as keyed hashes (the name's bound to
the category, the value's to the name, so equal values of different tags do not match),
plain tag values in clear, and two XChaCha20-Poly1305 ciphertexts — the value, and a small
"meta" blob holding the original category, id and tags. Both ciphertexts take the row's
category and id hashes as associated data, so a value moved to another row fails to open.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple

import base58
import nacl.exceptions
import nacl.pwhash.argon2id as argon2id

from ..encoding import b64url_decode, b64url_encode, dumps_canonical, loads_object
from ..errors import InputError, KeyFormatError, WalletLocked
from . import aead
from .base import PLAIN_PREFIX, CheckedOp, CorruptRecord, Record, check_passphrase

HASH_BYTES = 16
KEY_BYTES = 32
FORMAT = "moi-store/1"

_PREFIX = FORMAT.encode() + b"/"
_AAD_VALUE = _PREFIX + b"value"
_AAD_META = _PREFIX + b"meta"
_AAD_WRAP = _PREFIX + b"wrap"

#: Argon2id cost levels: (opslimit, memlimit). "interactive" is libsodium's level for a
#: login (about a tenth of a second and 64 MiB here); "test" is for test suites only.
KDF_LEVELS: Mapping[str, tuple[int, int]] = MappingProxyType(
    {
        "argon2id-interactive": (argon2id.OPSLIMIT_INTERACTIVE, argon2id.MEMLIMIT_INTERACTIVE),
        "argon2id-moderate": (argon2id.OPSLIMIT_MODERATE, argon2id.MEMLIMIT_MODERATE),
        "argon2id-test": (argon2id.OPSLIMIT_MIN, argon2id.MEMLIMIT_MIN),
    }
)
# A stored keyring is read from the database: refuse costs that would stall or exhaust the
# machine if someone planted them there.
_MAX_OPS = 32
_MAX_MEM = 2 * 1024 * 1024 * 1024

_encrypt = aead.encrypt
_decrypt = aead.decrypt
NONCE_BYTES = aead.NONCE_BYTES


def _mac(key: bytes, data: bytes) -> bytes:
    return hmac.digest(key, data, "sha256")


def _keyed(key: bytes) -> Callable[[bytes], bytes]:
    """A 128-bit keyed hash (BLAKE2b in its keyed, MAC mode) for lookup columns. It is a
    PRF like HMAC, at a fraction of HMAC-SHA256's cost here, and every record write takes
    several of them; the keyed state is set up once and copied."""
    base = hashlib.blake2b(key=key, digest_size=HASH_BYTES)

    def digest(data: bytes) -> bytes:
        h = base.copy()
        h.update(data)
        return h.digest()

    return digest


class Encoded(NamedTuple):
    """A record as its rows hold it."""

    category: bytes
    name: bytes
    meta: bytes
    value: bytes
    hashed_tags: list[tuple[bytes, bytes]]
    plain_tags: list[tuple[bytes, str]]


class StoreKeys:
    """The subkeys derived from a store's data key. Holds secrets: never printed."""

    __slots__ = ("_cache", "_cat", "_data_key", "_enc", "_name", "_tname", "_tval")

    def __init__(self, data_key: bytes) -> None:
        if len(data_key) != KEY_BYTES:
            raise KeyFormatError("a store data key is 32 bytes")
        self._data_key = data_key
        self._enc = _mac(data_key, _PREFIX + b"encrypt")
        self._cat = _keyed(_mac(data_key, _PREFIX + b"category"))
        self._name = _keyed(_mac(data_key, _PREFIX + b"id"))
        self._tname = _keyed(_mac(data_key, _PREFIX + b"tag-name"))
        self._tval = _keyed(_mac(data_key, _PREFIX + b"tag-value"))
        # Categories and tag names are few and hashed on every call: remember them.
        self._cache: dict[tuple[bytes, str], bytes] = {}

    def __repr__(self) -> str:
        return "StoreKeys(<hidden>)"

    @property
    def data_key(self) -> bytes:
        return self._data_key

    # Hashes. Each input after a fixed-width hash is unambiguous without a length prefix.

    def category(self, category: str) -> bytes:
        return self._cached(b"", category)

    def record_name(self, cat_h: bytes, id: str) -> bytes:
        return self._name(cat_h + id.encode())

    def tag_name(self, cat_h: bytes, name: str) -> bytes:
        return self._cached(cat_h, name)

    def tag_value(self, name_h: bytes, value: str) -> bytes:
        return self._tval(name_h + value.encode())

    def _cached(self, cat_h: bytes, name: str) -> bytes:
        found = self._cache.get((cat_h, name))
        if found is None:
            hasher = self._tname if cat_h else self._cat
            found = hasher(cat_h + name.encode())
            if len(self._cache) < 4096:
                self._cache[(cat_h, name)] = found
        return found

    # Sealing.

    def encode(
        self, category: str, id: str, value: bytes, tags: Mapping[str, str] | None
    ) -> Encoded:
        """A record's row. With ``tags`` None (an update keeping its tags) there is no meta
        and there are no tag rows."""
        cat_h = self.category(category)
        name_h = self.record_name(cat_h, id)
        if tags is None:
            return Encoded(cat_h, name_h, b"", self.seal_value(cat_h, name_h, value), [], [])
        hashed, plain = self.encode_tags(cat_h, tags)
        return Encoded(
            cat_h,
            name_h,
            self.seal_meta(cat_h, name_h, category, id, tags),
            self.seal_value(cat_h, name_h, value),
            hashed,
            plain,
        )

    def encode_op(self, op: CheckedOp) -> Encoded:
        """The row a batched write operation writes; a delete has only its address."""
        if op.kind == "delete":
            cat_h = self.category(op.category)
            return Encoded(cat_h, self.record_name(cat_h, op.id), b"", b"", [], [])
        return self.encode(op.category, op.id, op.value, op.tags)

    def encode_tags(
        self, cat_h: bytes, tags: Mapping[str, str]
    ) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, str]]]:
        hashed: list[tuple[bytes, bytes]] = []
        plain: list[tuple[bytes, str]] = []
        for name, value in tags.items():
            name_h = self.tag_name(cat_h, name)
            if name.startswith(PLAIN_PREFIX):
                plain.append((name_h, value))
            else:
                hashed.append((name_h, self.tag_value(name_h, value)))
        return hashed, plain

    def seal_value(self, cat_h: bytes, name_h: bytes, value: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + _encrypt(value, _AAD_VALUE + cat_h + name_h, nonce, self._enc)

    def seal_meta(
        self, cat_h: bytes, name_h: bytes, category: str, id: str, tags: Mapping[str, str]
    ) -> bytes:
        plain = json.dumps([category, id, dict(tags)], separators=(",", ":")).encode()
        nonce = os.urandom(NONCE_BYTES)
        return nonce + _encrypt(plain, _AAD_META + cat_h + name_h, nonce, self._enc)

    def open_meta(
        self, category: str, cat_h: bytes, name_h: bytes, meta: bytes
    ) -> tuple[str, Mapping[str, str]]:
        """The id and tags of a row."""
        try:
            plain = _open(meta, _AAD_META + cat_h + name_h, self._enc)
            stored_category, id, tags = json.loads(plain)
        except (nacl.exceptions.CryptoError, ValueError, TypeError):
            raise CorruptRecord(f"a record in category {category!r} failed to decrypt") from None
        if stored_category != category or not isinstance(id, str) or not isinstance(tags, dict):
            raise CorruptRecord(f"a record filed under {category!r} belongs elsewhere")
        return id, MappingProxyType(tags)

    def open_record(
        self,
        category: str,
        cat_h: bytes,
        name_h: bytes,
        version: int,
        meta: bytes,
        value: bytes,
    ) -> Record:
        id, tags = self.open_meta(category, cat_h, name_h, meta)
        try:
            clear = _open(value, _AAD_VALUE + cat_h + name_h, self._enc)
        except (nacl.exceptions.CryptoError, ValueError):
            raise CorruptRecord(f"a record in category {category!r} failed to decrypt") from None
        return Record(category, id, clear, tags, version)


def _open(blob: bytes, aad: bytes, key: bytes) -> bytes:
    if len(blob) < NONCE_BYTES:
        raise ValueError("ciphertext too short")
    return _decrypt(bytes(blob[NONCE_BYTES:]), aad, bytes(blob[:NONCE_BYTES]), key)


# -- the keyring: the data key wrapped under the owner's secret ------------------------------


@dataclass(frozen=True, slots=True, repr=False)
class Secret:
    """What unlocks a store: a passphrase (NFC UTF-8) or a 32-byte raw key."""

    kind: str  # "passphrase" or "raw"
    material: bytes

    def __repr__(self) -> str:
        return f"Secret({self.kind}, <hidden>)"


def resolve_secret(passphrase: str | None, raw_key: bytes | str | None) -> Secret:
    if (passphrase is None) == (raw_key is None):
        raise InputError("give exactly one of passphrase and raw_key")
    if passphrase is not None:
        return Secret("passphrase", check_passphrase(passphrase))
    return Secret("raw", parse_raw_key(raw_key))


def parse_raw_key(raw_key: object) -> bytes:
    """A 32-byte key: bytes, or text as 64 hex digits or base58."""
    if isinstance(raw_key, (bytes, bytearray, memoryview)):
        key = bytes(raw_key)
    elif isinstance(raw_key, str):
        text = raw_key.strip()
        key = b""
        if len(text) == 2 * KEY_BYTES:
            try:
                key = bytes.fromhex(text)
            except ValueError:
                key = b""
        if not key and 40 <= len(text) <= 48:
            try:
                key = base58.b58decode(text)
            except ValueError:
                key = b""
    else:
        raise KeyFormatError("raw key must be bytes or text")
    if len(key) != KEY_BYTES:
        raise KeyFormatError("raw key must be 32 bytes, given as bytes, 64 hex digits or base58")
    return key


def generate_raw_key() -> str:
    """A new random raw key, base58, for an operator to keep."""
    return base58.b58encode(secrets.token_bytes(KEY_BYTES)).decode()


@dataclass(frozen=True, slots=True)
class _Kdf:
    """How the key-encryption key is derived; its canonical JSON is the wrap's AAD, so a
    stored cost cannot be lowered without the unwrap failing."""

    kind: str  # "argon2id" or "raw"
    ops: int
    mem: int
    salt: bytes

    def header(self) -> dict[str, object]:
        return {
            "format": FORMAT,
            "kdf": self.kind,
            "ops": self.ops,
            "mem": self.mem,
            "salt": b64url_encode(self.salt),
        }

    def aad(self) -> bytes:
        return _AAD_WRAP + dumps_canonical(self.header())

    def kek(self, secret: Secret) -> bytes:
        if self.kind == "argon2id":
            return argon2id.kdf(
                KEY_BYTES, secret.material, self.salt, opslimit=self.ops, memlimit=self.mem
            )
        return _mac(secret.material, _PREFIX + b"kek" + self.salt)


def wrap_key(data_key: bytes, secret: Secret, kdf: str) -> bytes:
    """The keyring document (JSON bytes) for a data key. Slow for a passphrase (Argon2id):
    call it off the event loop."""
    salt = os.urandom(argon2id.SALTBYTES)
    if secret.kind == "raw":
        params = _Kdf("raw", 0, 0, salt)
    else:
        if kdf not in KDF_LEVELS:
            raise InputError(f"unknown kdf {kdf!r}; choose one of {sorted(KDF_LEVELS)}")
        ops, mem = KDF_LEVELS[kdf]
        params = _Kdf("argon2id", ops, mem, salt)
    nonce = os.urandom(NONCE_BYTES)
    wrapped = _encrypt(data_key, params.aad(), nonce, params.kek(secret))
    doc = {**params.header(), "nonce": b64url_encode(nonce), "wrapped": b64url_encode(wrapped)}
    return dumps_canonical(doc)


def new_data_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def unwrap_key(doc: bytes, secret: Secret) -> bytes:
    """The data key from a keyring document; :class:`WalletLocked` if the secret is wrong.
    Slow for a passphrase: call it off the event loop."""
    params, nonce, wrapped = _parse_keyring(doc)
    expected = "raw" if secret.kind == "raw" else "argon2id"
    if params.kind != expected:
        need = "a raw key" if params.kind == "raw" else "a passphrase"
        raise WalletLocked(f"this store is unlocked with {need}")
    try:
        return _decrypt(wrapped, params.aad(), nonce, params.kek(secret))
    except nacl.exceptions.CryptoError:
        raise WalletLocked("wrong passphrase or key") from None


def _parse_keyring(doc: bytes) -> tuple[_Kdf, bytes, bytes]:
    try:
        obj = loads_object(bytes(doc), max_bytes=4096, what="keyring")
        if obj.get("format") != FORMAT:
            raise InputError("unknown keyring format")
        kind, ops, mem = obj.get("kdf"), obj.get("ops"), obj.get("mem")
        if not isinstance(ops, int) or not isinstance(mem, int):
            raise InputError("keyring costs must be integers")
        if kind == "argon2id":
            if not (1 <= ops <= _MAX_OPS and argon2id.MEMLIMIT_MIN <= mem <= _MAX_MEM):
                raise InputError("keyring costs are out of bounds")
        elif kind != "raw":
            raise InputError("unknown keyring kdf")
        salt = b64url_decode(obj.get("salt", ""), what="keyring salt")
        nonce = b64url_decode(obj.get("nonce", ""), what="keyring nonce")
        wrapped = b64url_decode(obj.get("wrapped", ""), what="keyring key")
        if len(salt) != argon2id.SALTBYTES or len(nonce) != NONCE_BYTES:
            raise InputError("keyring salt or nonce has the wrong length")
    except InputError as err:
        raise CorruptRecord(f"the store's keyring is damaged: {err}") from None
    return _Kdf(kind, ops, mem, salt), nonce, wrapped
