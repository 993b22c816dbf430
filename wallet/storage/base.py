"""The record store's interface, its record type and the checks every backend shares.

A store holds records addressed by ``(category, id)``: an opaque byte value, a small map of
string tags for lookups and a version that every update increments. Backends (SQLite,
PostgreSQL) implement :class:`Store`; everything here is independent of them.
"""

from __future__ import annotations

import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import Any

from ..encoding import loads_strict
from ..errors import InputError, RecordNotFound, StorageError

#: Limits on what a record may hold; each is checked before anything reaches the database.
MAX_NAME_CHARS = 1024  # a category or an id
MAX_VALUE_BYTES = 32 * 1024 * 1024
MAX_TAGS = 64
MAX_TAG_NAME_CHARS = 256
MAX_TAG_VALUE_BYTES = 64 * 1024
#: Plain tag values sit in a B-tree index in clear; PostgreSQL refuses index entries over
#: about 2.7 kB, so plain values are held well under that.
MAX_PLAIN_TAG_VALUE_BYTES = 1024
MAX_PASSPHRASE_CHARS = 1024

#: A tag whose name starts with this is plain: its value is stored in clear so that range
#: operators and ordering work. Every other tag value is stored only as a keyed hash.
PLAIN_PREFIX = "~"

NO_TAGS: Mapping[str, str] = MappingProxyType({})


class QueryError(InputError):
    """A tag query, an ordering or a paging argument is malformed."""


class TransactionError(StorageError):
    """A transaction was misused: locking outside one, reusing a finished one, or opening a
    second one on the SQLite writer from a task that already holds it (that would deadlock)."""


class StoreUnavailable(StorageError):
    """The database could not be reached or failed underneath the store."""


class CorruptRecord(StorageError):
    """A stored row failed authentication: it was altered, swapped or written under another
    key."""


@dataclass(frozen=True, slots=True)
class Record:
    """One stored record, decrypted. ``tags`` is read-only."""

    category: str
    id: str
    value: bytes
    tags: Mapping[str, str]
    version: int

    def json(self) -> Any:
        """The value parsed as strict JSON (UTF-8, no duplicate keys, no NaN)."""
        return loads_strict(self.value, max_bytes=MAX_VALUE_BYTES, what="record value")

    def __repr__(self) -> str:
        # Values and tag values may be personal data; a repr ends up in logs.
        return (
            f"Record(category={self.category!r}, id={_short(self.id)!r}, "
            f"version={self.version}, value=<{len(self.value)} bytes>, "
            f"tags={sorted(self.tags)!r})"
        )


# -- typed writes, applied together by Store.write -------------------------------------------


@dataclass(frozen=True, slots=True)
class Add:
    """Insert a new record at version 1; :class:`DuplicateRecord` if it exists."""

    category: str
    id: str
    # Values and tag values may be personal data; an operation's repr ends up in logs.
    value: bytes = field(repr=False)
    tags: Mapping[str, str] = field(default_factory=lambda: NO_TAGS, repr=False)


@dataclass(frozen=True, slots=True)
class Upsert:
    """Insert a record at version 1, or — if it exists — replace its value and all its tags
    and bump its version."""

    category: str
    id: str
    # Values and tag values may be personal data; an operation's repr ends up in logs.
    value: bytes = field(repr=False)
    tags: Mapping[str, str] = field(default_factory=lambda: NO_TAGS, repr=False)


@dataclass(frozen=True, slots=True)
class Update:
    """As :meth:`Store.update`: replace the value (and the tags, unless None)."""

    category: str
    id: str
    value: bytes = field(repr=False)
    tags: Mapping[str, str] | None = field(default=None, repr=False)
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class Delete:
    """As :meth:`Store.delete`; with ``missing_ok`` an absent record is not an error (a
    record at another version than ``expected_version`` still is)."""

    category: str
    id: str
    missing_ok: bool = False
    expected_version: int | None = None


WriteOp = Add | Upsert | Update | Delete


@dataclass(frozen=True, slots=True)
class CheckedOp:
    """A write operation whose inputs passed the same checks add, update and delete make.
    ``kind`` is ``"add"``, ``"upsert"``, ``"update"`` or ``"delete"``; ``tags`` is None for
    an update that keeps its tags (and for a delete)."""

    kind: str
    category: str
    id: str
    value: bytes = field(repr=False)
    tags: Mapping[str, str] | None = field(repr=False)
    expected: int | None
    missing_ok: bool


def check_ops(ops: object) -> list[CheckedOp]:
    """Every operation of a batch checked before any of it reaches the database, so that a
    bad one raises :class:`InputError` with nothing written."""
    if isinstance(ops, (str, bytes)) or not isinstance(ops, Sequence):
        raise InputError(f"write operations must be a sequence, not {type(ops).__name__}")
    return [_check_op(op) for op in ops]


def _check_op(op: object) -> CheckedOp:
    if isinstance(op, (Add, Upsert)):
        check_name("category", op.category)
        check_name("id", op.id)
        value = check_value(op.value)
        tags = MappingProxyType(check_tags(op.tags))
        kind = "add" if isinstance(op, Add) else "upsert"
        return CheckedOp(kind, op.category, op.id, value, tags, None, False)
    if isinstance(op, Update):
        check_name("category", op.category)
        check_name("id", op.id)
        value = check_value(op.value)
        tags = None if op.tags is None else MappingProxyType(check_tags(op.tags))
        expected = check_version(op.expected_version)
        return CheckedOp("update", op.category, op.id, value, tags, expected, False)
    if isinstance(op, Delete):
        check_name("category", op.category)
        check_name("id", op.id)
        expected = check_version(op.expected_version)
        if not isinstance(op.missing_ok, bool):
            raise InputError("missing_ok must be True or False")
        return CheckedOp("delete", op.category, op.id, b"", None, expected, op.missing_ok)
    raise InputError(f"a write operation is Add, Upsert, Update or Delete, not {type(op).__name__}")


async def apply_op(store: Store, op: CheckedOp) -> None:
    """One checked operation through a store's own add, update and delete."""
    if op.kind == "add":
        await store.add(op.category, op.id, op.value, op.tags or NO_TAGS)
    elif op.kind == "upsert":
        try:
            await store.update(op.category, op.id, op.value, op.tags)
        except RecordNotFound:
            await store.add(op.category, op.id, op.value, op.tags or NO_TAGS)
    elif op.kind == "update":
        await store.update(op.category, op.id, op.value, op.tags, expected_version=op.expected)
    else:
        try:
            await store.delete(op.category, op.id, expected_version=op.expected)
        except RecordNotFound:
            if not op.missing_ok:
                raise


class Store(ABC):
    """An encrypted record store. Use it as ``async with`` to close it on exit."""

    @abstractmethod
    async def add(
        self, category: str, id: str, value: bytes, tags: Mapping[str, str] = NO_TAGS
    ) -> Record:
        """Insert a new record at version 1; :class:`DuplicateRecord` if it exists."""

    @abstractmethod
    async def get(self, category: str, id: str, *, for_update: bool = False) -> Record:
        """Fetch one record; :class:`RecordNotFound` if absent. ``for_update`` (inside a
        transaction only) locks it until the transaction ends."""

    @abstractmethod
    async def update(
        self,
        category: str,
        id: str,
        value: bytes,
        tags: Mapping[str, str] | None = None,
        *,
        expected_version: int | None = None,
    ) -> Record:
        """Replace the value (and the tags, unless ``tags`` is None) and bump the version.
        With ``expected_version``, raise :class:`ConcurrentUpdate` if the record moved on."""

    @abstractmethod
    async def delete(self, category: str, id: str, *, expected_version: int | None = None) -> None:
        """Remove a record; :class:`RecordNotFound` if absent, :class:`ConcurrentUpdate` if
        ``expected_version`` no longer matches."""

    async def write(self, ops: Sequence[WriteOp]) -> None:
        """Apply ``ops`` (:class:`Add`, :class:`Upsert`, :class:`Update`, :class:`Delete`) in
        order and atomically: all of them, or — when one fails, raising its own error
        (:class:`DuplicateRecord`, :class:`RecordNotFound`, :class:`ConcurrentUpdate`) —
        none. Inside a transaction it is a savepoint of it.

        This default runs them one by one in a transaction; a backend may do the batch in
        fewer round trips.
        """
        checked = check_ops(ops)
        if not checked:
            return
        async with self.transaction() as tx:
            for op in checked:
                await apply_op(tx, op)

    @abstractmethod
    async def find(
        self,
        category: str,
        query: Mapping[str, Any] | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        order_by: str | None = None,
        descending: bool = False,
        for_update: bool = False,
    ) -> list[Record]:
        """Records of a category matching a tag query (see :mod:`wallet.storage.query`).

        ``order_by``: None (insertion order), ``"id"`` (sorted in memory after decryption, so
        it reads every match) or a plain tag name (records without that tag come last).
        ``for_update`` (inside a transaction only) locks the rows returned; on PostgreSQL rows
        another transaction holds are skipped, so concurrent workers claim distinct items.
        """

    @abstractmethod
    async def count(self, category: str, query: Mapping[str, Any] | None = None) -> int:
        """How many records of a category match a tag query."""

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Store]:
        """A store view whose operations commit together on exit, or roll back on error.
        Inside a transaction this opens a savepoint (a nested transaction)."""

    @abstractmethod
    async def change_key(
        self,
        *,
        passphrase: str | None = None,
        raw_key: bytes | str | None = None,
        kdf: str = "argon2id-interactive",
    ) -> None:
        """Re-wrap the store's data key under a new passphrase or raw key (records are not
        re-encrypted: only the key that guards their key changes)."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections; later calls raise :class:`WalletLocked`."""

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


# -- which stores the current task holds a transaction on -------------------------------------

#: Store ids with a top-level transaction open in this task (or the task that spawned it).
#: Waiting there for what that transaction holds — SQLite's writer lock, a pool that must
#: drain before closing — would wait forever, so such calls raise TransactionError instead.
_HOLDING: ContextVar[frozenset[int]] = ContextVar("moi_store_holding", default=frozenset())


def holding(store_id: int) -> bool:
    return store_id in _HOLDING.get()


def hold(store_id: int) -> Token[frozenset[int]]:
    return _HOLDING.set(_HOLDING.get() | {store_id})


def release_hold(token: Token[frozenset[int]]) -> None:
    _HOLDING.reset(token)


# -- checks shared by the backends ----------------------------------------------------------


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_name(what: str, text: object) -> bytes:
    """A category or id: a non-empty string of bounded length; returns its UTF-8."""
    if not isinstance(text, str):
        raise InputError(f"{what} must be a string, not {type(text).__name__}")
    if not text:
        raise InputError(f"{what} must not be empty")
    if len(text) > MAX_NAME_CHARS:
        raise InputError(f"{what} is {len(text)} characters, over the limit of {MAX_NAME_CHARS}")
    return _utf8(what, text)


def check_value(value: object) -> bytes:
    if isinstance(value, (bytearray, memoryview)):
        value = bytes(value)
    if not isinstance(value, bytes):
        raise InputError(f"record value must be bytes, not {type(value).__name__}")
    if len(value) > MAX_VALUE_BYTES:
        raise InputError(f"record value is {len(value)} bytes, over the limit of {MAX_VALUE_BYTES}")
    return value


def check_tag_name(name: object) -> str:
    if not isinstance(name, str):
        raise InputError(f"tag name must be a string, not {type(name).__name__}")
    if not name or name == PLAIN_PREFIX:
        raise InputError("tag name must not be empty")
    if len(name) > MAX_TAG_NAME_CHARS:
        raise InputError(f"tag name is over the limit of {MAX_TAG_NAME_CHARS} characters")
    if name.startswith("$"):
        raise InputError(f"tag name {_short(name)!r} must not start with '$' (query operators)")
    _utf8("tag name", name)
    return name


def check_tag_value(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise InputError(f"tag {_short(name)!r} must have a string value")
    size = len(_utf8(f"tag {_short(name)!r}", value))
    limit = MAX_PLAIN_TAG_VALUE_BYTES if name.startswith(PLAIN_PREFIX) else MAX_TAG_VALUE_BYTES
    if size > limit:
        raise InputError(f"tag {_short(name)!r} value is {size} bytes, over the limit of {limit}")
    return value


def check_tags(tags: object) -> dict[str, str]:
    if not isinstance(tags, Mapping):
        raise InputError(f"tags must be a mapping, not {type(tags).__name__}")
    if len(tags) > MAX_TAGS:
        raise InputError(f"a record has at most {MAX_TAGS} tags, got {len(tags)}")
    return {check_tag_name(k): check_tag_value(k, v) for k, v in tags.items()}


def check_version(expected: object) -> int | None:
    if expected is None:
        return None
    if not isinstance(expected, int) or isinstance(expected, bool) or expected < 1:
        raise InputError("expected_version must be a positive integer")
    return expected


def check_paging(limit: object, offset: object) -> tuple[int | None, int]:
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise QueryError("limit must be a non-negative integer or None")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise QueryError("offset must be a non-negative integer")
    return limit, offset


def check_passphrase(passphrase: object) -> bytes:
    """NFC-normalised UTF-8, so a passphrase typed on another keyboard still opens."""
    if not isinstance(passphrase, str):
        raise InputError("passphrase must be a string")
    if not passphrase:
        raise InputError("passphrase must not be empty")
    if len(passphrase) > MAX_PASSPHRASE_CHARS:
        raise InputError(f"passphrase is over the limit of {MAX_PASSPHRASE_CHARS} characters")
    return _utf8("passphrase", unicodedata.normalize("NFC", passphrase))


def _utf8(what: str, text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        pass
    # Raised outside the handler so that not even __context__ keeps the codec error, which
    # carries the whole string — possibly a passphrase.
    raise InputError(f"{what} is not valid Unicode (lone surrogate)")


def short(text: str) -> str:
    """A string cut for an error message."""
    return _short(text)
