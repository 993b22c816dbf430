"""The SQLite backend: one file per wallet, WAL, one serialised writer and a few readers.

Writes — and every transaction — go through one connection guarded by an ``asyncio.Lock``,
so transactions from concurrent tasks never interleave on it. Transactions start with
``BEGIN IMMEDIATE``, taking SQLite's write lock at once: another process writing the same
file waits (busy timeout) instead of failing when a read-then-write would have to upgrade.
Reads outside a transaction go to reader connections, which in WAL mode never wait for the
writer. An in-memory store has no readers (they could not see it) and reads under the lock.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable, Coroutine, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from itertools import count as counter
from types import MappingProxyType, TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import aiosqlite

from ..errors import StorageError, WalletExists, WalletLocked, WalletNotFound
from . import sqlite_ops as ops
from .base import (
    NO_TAGS,
    Record,
    Store,
    StoreUnavailable,
    TransactionError,
    WriteOp,
    check_name,
    check_ops,
    check_tags,
    check_value,
    check_version,
    hold,
    holding,
    release_hold,
)
from .crypto import Secret, StoreKeys, new_data_key, resolve_secret, unwrap_key, wrap_key
from .finding import FindPlan
from .sqlbuild import Dialect
from .sqlite_ops import BatchOp
from .sqlite_ops import write as write_batch

T = TypeVar("T")

_DIALECT = Dialect(postgres=False)
_ids = counter(1)


class _Worker:
    """One aiosqlite connection. Its private ``_execute`` runs a function on the
    connection's thread, which lets an operation of several statements cost one hop."""

    __slots__ = ("_aconn", "_raw")

    def __init__(self, aconn: aiosqlite.Connection) -> None:
        self._aconn = aconn
        self._raw: sqlite3.Connection = aconn._conn

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await self._aconn._execute(fn, self._raw, *args)
        except sqlite3.Error as err:
            raise _translate(err) from err
        except ValueError as err:
            if "closed" in str(err).lower():
                raise WalletLocked("the store is closed") from err
            raise

    async def close(self) -> None:
        await self._aconn.close()


def _translate(err: sqlite3.Error) -> StorageError:
    text = str(err)
    if isinstance(err, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return StoreUnavailable(f"the database stayed locked by another writer: {text}")
    return StoreUnavailable(f"SQLite failed: {text}")


async def _connect(target: str, *, uri: bool, busy_timeout: float, writer: bool) -> _Worker:
    try:
        aconn = await aiosqlite.connect(
            target, uri=uri, timeout=busy_timeout, isolation_level=None, cached_statements=256
        )
    except sqlite3.Error as err:
        raise _translate(err) from err
    worker = _Worker(aconn)
    try:
        await worker.run(ops.setup, writer)
    except BaseException:
        await worker.close()
        raise
    return worker


class _Db:
    """What the store and its transaction views share."""

    def __init__(self, location: str, keys: StoreKeys, writer: _Worker, readers: list[_Worker]):
        self.id = next(_ids)
        self.location = location
        self.keys = keys
        self.writer = writer
        self.readers = readers
        self.lock = asyncio.Lock()
        self.closed = False
        self._turn = 0
        self._background: set[asyncio.Future[None]] = set()

    def reader(self) -> _Worker | None:
        if not self.readers:
            return None
        self._turn = (self._turn + 1) % len(self.readers)
        return self.readers[self._turn]

    def check_open(self) -> None:
        if self.closed:
            raise WalletLocked("the store is closed")

    def in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def holding(self) -> bool:
        return holding(self.id)


class _TxnState:
    __slots__ = ("active", "depth", "nested")

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.active = True
        self.nested = False  # a savepoint inside this one is open

    def check(self) -> None:
        if not self.active:
            raise TransactionError("this transaction has ended; open a new one")


class SqliteStore(Store):
    """A store in one SQLite file (or in memory). Build it with :func:`create_store`."""

    def __init__(self, db: _Db, txn: _TxnState | None = None) -> None:
        self._db = db
        self._txn = txn

    def __repr__(self) -> str:
        where = "transaction" if self._txn else "store"
        return f"<SqliteStore {where} {self._db.location}>"

    # -- plumbing ---------------------------------------------------------------------------

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        db = self._db
        db.check_open()
        if self._txn is not None:
            self._txn.check()
            return await db.writer.run(fn, False, *args)
        if db.holding():
            raise TransactionError(
                "this task holds a transaction on the store: write through its view"
            )
        async with db.lock:
            db.check_open()
            return await db.writer.run(fn, True, *args)

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        db = self._db
        db.check_open()
        if self._txn is not None:
            self._txn.check()
            return await db.writer.run(fn, *args)
        reader = db.reader()
        if reader is not None:
            return await reader.run(fn, *args)
        if db.holding():
            raise TransactionError(
                "this task holds a transaction on an in-memory store: read through its view"
            )
        async with db.lock:
            db.check_open()
            return await db.writer.run(fn, *args)

    def _need_txn(self, what: str) -> None:
        if self._txn is None:
            raise TransactionError(f"{what}(for_update=True) needs a transaction")

    # -- the interface ----------------------------------------------------------------------

    async def add(
        self, category: str, id: str, value: bytes, tags: Mapping[str, str] = NO_TAGS
    ) -> Record:
        check_name("category", category)
        check_name("id", id)
        value = check_value(value)
        checked = check_tags(tags)
        enc = self._db.keys.encode(category, id, value, checked)
        await self._write(ops.add, category, id, enc)
        return Record(category, id, value, MappingProxyType(checked), 1)

    async def get(self, category: str, id: str, *, for_update: bool = False) -> Record:
        check_name("category", category)
        check_name("id", id)
        if for_update:
            self._need_txn("get")
        keys = self._db.keys
        cat_h = keys.category(category)
        return await self._read(ops.get, keys, category, id, cat_h, keys.record_name(cat_h, id))

    async def update(
        self,
        category: str,
        id: str,
        value: bytes,
        tags: Mapping[str, str] | None = None,
        *,
        expected_version: int | None = None,
    ) -> Record:
        check_name("category", category)
        check_name("id", id)
        value = check_value(value)
        checked = None if tags is None else MappingProxyType(check_tags(tags))
        expected = check_version(expected_version)
        keys = self._db.keys
        enc = keys.encode(category, id, value, checked)
        return await self._write(ops.update, keys, category, id, enc, value, checked, expected)

    async def delete(self, category: str, id: str, *, expected_version: int | None = None) -> None:
        check_name("category", category)
        check_name("id", id)
        expected = check_version(expected_version)
        cat_h = self._db.keys.category(category)
        name_h = self._db.keys.record_name(cat_h, id)
        await self._write(ops.delete, category, id, cat_h, name_h, expected)

    async def write(self, ops: Sequence[WriteOp]) -> None:
        # Everything is checked and encrypted here, on the caller's side as add and update
        # do, so that the batch then costs one hop to the writer's thread: BEGIN IMMEDIATE
        # (a savepoint in a transaction), every statement, COMMIT.
        checked = check_ops(ops)
        if not checked:
            return
        keys = self._db.keys
        batch: list[BatchOp] = [
            (op.kind, op.category, op.id, keys.encode_op(op), op.expected, op.missing_ok)
            for op in checked
        ]
        await self._write(write_batch, batch)

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
        if for_update:
            self._need_txn("find")
        plan = FindPlan.make(
            _DIALECT, self._db.keys, category, query, limit, offset, order_by, descending, False
        )
        rows = await self._read(ops.find, self._db.keys, category, plan.cat_h, plan.select)
        return plan.finish(rows)

    async def count(self, category: str, query: Mapping[str, Any] | None = None) -> int:
        plan = FindPlan.make_count(_DIALECT, self._db.keys, category, query)
        return await self._read(ops.count, plan.select)

    def transaction(self) -> AbstractAsyncContextManager[Store]:
        return _Transaction(self._db, self._txn)

    async def change_key(
        self,
        *,
        passphrase: str | None = None,
        raw_key: bytes | str | None = None,
        kdf: str = "argon2id-interactive",
    ) -> None:
        secret = resolve_secret(passphrase, raw_key)
        self._db.check_open()
        doc = await asyncio.to_thread(wrap_key, self._db.keys.data_key, secret, kdf)
        await self._write(ops.write_keyring, doc)

    async def close(self) -> None:
        db = self._db
        if self._txn is not None or db.closed:
            return
        if db.holding():
            raise TransactionError("close the store after its transaction has ended")
        async with db.lock:
            if db.closed:
                return
            db.closed = True
            for worker in [*db.readers, db.writer]:
                await worker.close()


class _Transaction(AbstractAsyncContextManager[Store]):
    """A top-level transaction (holding the writer lock) or a savepoint inside one."""

    def __init__(self, db: _Db, parent: _TxnState | None) -> None:
        self._db = db
        self._parent = parent
        self._state: _TxnState | None = None
        self._token: Any = None

    async def __aenter__(self) -> Store:
        db = self._db
        db.check_open()
        if self._state is not None:
            raise TransactionError("a transaction object can be entered only once")
        if self._parent is not None:
            self._parent.check()
            if self._parent.nested:
                raise TransactionError("a transaction can have one nested transaction at a time")
            state = _TxnState(self._parent.depth + 1)
            self._parent.nested = True
            try:
                await db.writer.run(ops.execute, f"SAVEPOINT sp{state.depth}")
            except BaseException:
                self._parent.nested = False
                raise
        else:
            if db.holding():
                raise TransactionError(
                    "this task already holds a transaction on the store: nest through its view"
                )
            await db.lock.acquire()
            try:
                db.check_open()
                await db.writer.run(ops.execute, "BEGIN IMMEDIATE")
            except BaseException:
                # A cancelled BEGIN may still be waiting for another process's lock on the
                # connection's thread. Undo it in the background, holding the writer lock
                # until then, so the caller is not kept waiting and no one else can queue
                # work between that BEGIN and its ROLLBACK.
                db.in_background(self._abandon_begin())
                raise
            state = _TxnState(0)
            self._token = hold(db.id)
        self._state = state
        return SqliteStore(db, state)

    async def _abandon_begin(self) -> None:
        try:
            await self._db.writer.run(ops.rollback_if_active)
        except StorageError:
            pass  # the connection is closed or broken: nothing left to undo
        finally:
            self._db.lock.release()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        state = self._state
        if state is None or not state.active:
            return
        state.active = False
        run = self._db.writer.run
        try:
            if state.depth:
                name = f"sp{state.depth}"
                if exc_type is not None:
                    await _quietly(run(ops.execute, f"ROLLBACK TO {name}"))
                await run(ops.execute, f"RELEASE {name}")
            elif exc_type is None:
                try:
                    await run(ops.execute, "COMMIT")
                except BaseException:
                    await _quietly(run(ops.rollback_if_active))
                    raise
            else:
                await _quietly(run(ops.rollback_if_active))
        finally:
            if self._parent is not None:
                self._parent.nested = False
            if not state.depth:
                release_hold(self._token)
                self._db.lock.release()


async def _quietly(awaitable: Any) -> None:
    """Undo after a failure: the first error is the one worth reporting."""
    try:
        await awaitable
    except StorageError:
        pass


# -- creating and opening -------------------------------------------------------------------


def _file_uri(path: str, mode: str) -> str:
    return f"file:{quote(path)}?mode={mode}"


def _claim(path: str) -> None:
    """Create the wallet file exclusively, readable by its owner only; the -wal and -shm
    files SQLite adds take the same permissions."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        raise WalletExists(f"a file already exists at {path}") from None
    except OSError as err:
        raise StorageError(f"cannot create {path}: {err.strerror}") from None
    os.close(fd)


def _remove(path: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        try:
            os.remove(path + suffix)
        except FileNotFoundError:
            pass


async def _with_readers(path: str, keys: StoreKeys, writer: _Worker, opts: SqliteOptions) -> _Db:
    readers: list[_Worker] = []
    try:
        for _ in range(opts.readers):
            readers.append(
                await _connect(
                    _file_uri(path, "ro"), uri=True, busy_timeout=opts.timeout, writer=False
                )
            )
    except BaseException:
        for reader in readers:
            await reader.close()
        raise
    return _Db(path, keys, writer, readers)


class SqliteOptions:
    """URL options: ``busy_timeout`` (seconds to wait for another process's write lock)
    and ``readers`` (reader connections, 0–16)."""

    __slots__ = ("readers", "timeout")

    def __init__(self, timeout: float = 30.0, readers: int = 2) -> None:
        self.timeout = timeout
        self.readers = readers


async def create_sqlite(path: str | None, secret: Secret, kdf: str, opts: SqliteOptions) -> Store:
    """A new store at ``path`` (None: in memory)."""
    data_key = new_data_key()
    if path is None:
        doc = await asyncio.to_thread(wrap_key, data_key, secret, kdf)
        writer = await _connect(":memory:", uri=False, busy_timeout=opts.timeout, writer=True)
        try:
            await writer.run(ops.initialise, doc)
        except BaseException:
            await writer.close()
            raise
        return SqliteStore(_Db(":memory:", StoreKeys(data_key), writer, []))
    await asyncio.to_thread(_claim, path)
    writer = None
    try:
        doc = await asyncio.to_thread(wrap_key, data_key, secret, kdf)
        writer = await _connect(
            _file_uri(path, "rw"), uri=True, busy_timeout=opts.timeout, writer=True
        )
        await writer.run(ops.initialise, doc)
        return SqliteStore(await _with_readers(path, StoreKeys(data_key), writer, opts))
    except BaseException:
        if writer is not None:
            await writer.close()
        await asyncio.to_thread(_remove, path)
        raise


async def open_sqlite(path: str | None, secret: Secret, opts: SqliteOptions) -> Store:
    """Open an existing store; reads only until the key is proven right."""
    if path is None:
        raise WalletNotFound("an in-memory store exists only while it is open")
    if not await asyncio.to_thread(os.path.isfile, path):
        raise WalletNotFound(f"there is no store at {path}")
    writer = await _connect(_file_uri(path, "rw"), uri=True, busy_timeout=opts.timeout, writer=True)
    try:
        found = await writer.run(ops.read_keyring)
        if found is None:
            raise WalletNotFound(f"{path} holds no moi store")
        version, doc = found
        if version != ops.SCHEMA_VERSION:
            raise StorageError(
                f"{path} has store schema {version}; this moi reads {ops.SCHEMA_VERSION}"
            )
        data_key = await asyncio.to_thread(unwrap_key, doc, secret)
        return SqliteStore(await _with_readers(path, StoreKeys(data_key), writer, opts))
    except BaseException:
        await writer.close()
        raise
