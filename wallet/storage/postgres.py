"""The PostgreSQL backend: an asyncpg pool, one schema per store.

Every operation outside a transaction is a single statement — an insert with its tags, or
an update with its new tags, is one data-modifying CTE — so it is atomic without a
transaction and costs one round trip. asyncpg prepares and caches each statement per
connection. Rows are locked with ``FOR UPDATE`` (get) and ``FOR UPDATE SKIP LOCKED`` (find),
so several workers can claim queue items from one schema without taking the same one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from itertools import count as counter
from types import MappingProxyType, TracebackType
from typing import Any

import asyncpg

from ..errors import (
    ConcurrentUpdate,
    DuplicateRecord,
    RecordNotFound,
    StorageError,
    WalletExists,
    WalletLocked,
    WalletNotFound,
)
from .base import (
    NO_TAGS,
    CheckedOp,
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
    short,
)
from .crypto import Encoded, Secret, StoreKeys, new_data_key, resolve_secret, unwrap_key, wrap_key
from .finding import FindPlan
from .pg_sql import SCHEMA_VERSION, PostgresOptions, Statements
from .sqlbuild import Dialect, build_recheck

_ids = counter(1)


def _translate(err: BaseException) -> StorageError:
    if isinstance(err, (asyncpg.SerializationError, asyncpg.DeadlockDetectedError)):
        return ConcurrentUpdate(f"PostgreSQL aborted a conflicting transaction ({err.sqlstate})")
    if isinstance(err, (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError)):
        return WalletNotFound("the store's tables are gone")
    if isinstance(err, asyncpg.PostgresError):
        return StoreUnavailable(
            f"PostgreSQL failed ({err.sqlstate}): {err.args[0] if err.args else ''}"
        )
    return StoreUnavailable(f"PostgreSQL is unreachable: {type(err).__name__}")


_DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, asyncio.TimeoutError)


class _Db:
    def __init__(self, pool: asyncpg.Pool, keys: StoreKeys, opts: PostgresOptions) -> None:
        self.id = next(_ids)
        self.pool = pool
        self.keys = keys
        self.label = f"{opts.label} schema {opts.schema}"
        self.sql = Statements(opts.schema)
        self.dialect = Dialect(postgres=True, prefix=self.sql.prefix)
        self.closed = False

    def check_open(self) -> None:
        if self.closed:
            raise WalletLocked("the store is closed")


class _Txn:
    """A connection held for a transaction; nested savepoints share it and its lock
    (asyncpg runs one statement at a time on a connection)."""

    __slots__ = ("active", "conn", "depth", "lock", "nested")

    def __init__(self, conn: asyncpg.Connection, depth: int, lock: asyncio.Lock) -> None:
        self.conn = conn
        self.depth = depth
        self.lock = lock
        self.active = True
        self.nested = False  # a savepoint inside this one is open

    def check(self) -> None:
        if not self.active:
            raise TransactionError("this transaction has ended; open a new one")


class PostgresStore(Store):
    """A store in one PostgreSQL schema. Build it with :func:`create_store`."""

    def __init__(self, db: _Db, txn: _Txn | None = None) -> None:
        self._db = db
        self._txn = txn

    def __repr__(self) -> str:
        return f"<PostgresStore {'transaction' if self._txn else 'store'} {self._db.label}>"

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[asyncpg.Connection]:
        db = self._db
        db.check_open()
        try:
            if self._txn is not None:
                self._txn.check()
                async with self._txn.lock:
                    yield self._txn.conn
            else:
                async with db.pool.acquire() as conn:
                    yield conn
        except _DB_ERRORS as err:
            raise _translate(err) from err

    def _need_txn(self, what: str) -> None:
        if self._txn is None:
            raise TransactionError(f"{what}(for_update=True) needs a transaction")

    async def _missing_or_moved(
        self, conn: asyncpg.Connection, category: str, id: str, enc_cat: bytes, enc_name: bytes
    ) -> StorageError:
        version = await conn.fetchval(self._db.sql.version, enc_cat, enc_name)
        if version is None:
            return RecordNotFound(f"no record {category!r}/{short(id)!r}")
        return ConcurrentUpdate(f"record {category!r}/{short(id)!r} is now at version {version}")

    async def add(
        self, category: str, id: str, value: bytes, tags: Mapping[str, str] = NO_TAGS
    ) -> Record:
        check_name("category", category)
        check_name("id", id)
        value = check_value(value)
        checked = check_tags(tags)
        enc = self._db.keys.encode(category, id, value, checked)
        async with self._conn() as conn:
            seq = await conn.fetchval(self._db.sql.add, *enc[:4], *_tag_arrays(enc))
        if seq is None:
            raise DuplicateRecord(f"record {category!r}/{short(id)!r} already exists")
        return Record(category, id, value, MappingProxyType(checked), 1)

    async def get(self, category: str, id: str, *, for_update: bool = False) -> Record:
        check_name("category", category)
        check_name("id", id)
        if for_update:
            self._need_txn("get")
        keys = self._db.keys
        cat_h = keys.category(category)
        name_h = keys.record_name(cat_h, id)
        sql = self._db.sql.get_for_update if for_update else self._db.sql.get
        async with self._conn() as conn:
            row = await conn.fetchrow(sql, cat_h, name_h)
        if row is None:
            raise RecordNotFound(f"no record {category!r}/{short(id)!r}")
        return keys.open_record(category, cat_h, name_h, row[0], row[1], row[2])

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
        sql = self._db.sql.update(with_tags=checked is not None, versioned=expected is not None)
        args: list[Any] = [enc.category, enc.name, enc.value]
        if checked is not None:
            args += [enc.meta, *_tag_arrays(enc)]
        if expected is not None:
            args.append(expected)
        async with self._conn() as conn:
            row = await conn.fetchrow(sql, *args)
            if row is None:
                raise await self._missing_or_moved(conn, category, id, enc.category, enc.name)
        if checked is None:
            _, kept = keys.open_meta(category, enc.category, enc.name, row[1])
            return Record(category, id, value, kept, row[0])
        return Record(category, id, value, checked, row[0])

    async def delete(self, category: str, id: str, *, expected_version: int | None = None) -> None:
        check_name("category", category)
        check_name("id", id)
        expected = check_version(expected_version)
        keys = self._db.keys
        cat_h = keys.category(category)
        name_h = keys.record_name(cat_h, id)
        async with self._conn() as conn:
            if expected is None:
                status = await conn.execute(self._db.sql.delete, cat_h, name_h)
            else:
                status = await conn.execute(self._db.sql.delete_versioned, cat_h, name_h, expected)
            if status.endswith(" 0"):
                raise await self._missing_or_moved(conn, category, id, cat_h, name_h)

    async def write(self, ops: Sequence[WriteOp]) -> None:
        checked = check_ops(ops)
        if not checked:
            return
        keys = self._db.keys
        # Encrypted before a connection is taken, so none is held meanwhile.
        encoded = [(op, keys.encode_op(op)) for op in checked]
        async with self._conn() as conn:
            if len(encoded) == 1 and self._txn is None:
                # Each operation is one statement, atomic on its own: no BEGIN and COMMIT.
                await self._apply(conn, *encoded[0])
                return
            # A transaction, or inside one a savepoint, so that a failure undoes the batch.
            async with conn.transaction():
                for op, enc in encoded:
                    await self._apply(conn, op, enc)

    async def _apply(self, conn: asyncpg.Connection, op: CheckedOp, enc: Encoded) -> None:
        sql = self._db.sql
        if op.kind in ("add", "upsert"):
            statement = sql.add if op.kind == "add" else sql.upsert
            seq = await conn.fetchval(statement, *enc[:4], *_tag_arrays(enc))
            if seq is None:
                raise DuplicateRecord(f"record {op.category!r}/{short(op.id)!r} already exists")
            return
        if op.kind == "update":
            statement = sql.update(with_tags=op.tags is not None, versioned=op.expected is not None)
            args: list[Any] = [enc.category, enc.name, enc.value]
            if op.tags is not None:
                args += [enc.meta, *_tag_arrays(enc)]
            if op.expected is not None:
                args.append(op.expected)
            if await conn.fetchrow(statement, *args) is None:
                raise await self._missing_or_moved(conn, op.category, op.id, enc.category, enc.name)
            return
        if op.expected is None:
            status = await conn.execute(sql.delete, enc.category, enc.name)
        else:
            status = await conn.execute(sql.delete_versioned, enc.category, enc.name, op.expected)
        if status.endswith(" 0"):
            err = await self._missing_or_moved(conn, op.category, op.id, enc.category, enc.name)
            if not (op.missing_ok and isinstance(err, RecordNotFound)):
                raise err

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
        keys = self._db.keys
        plan = FindPlan.make(
            self._db.dialect, keys, category, query, limit, offset, order_by, descending, for_update
        )
        async with self._conn() as conn:
            rows = await conn.fetch(plan.select.sql, *plan.select.params)
            if for_update and rows:
                recheck = build_recheck(
                    self._db.dialect, keys, plan.cat_h, plan.node, [r[4] for r in rows]
                )
                still = {r[0] for r in await conn.fetch(recheck.sql, *recheck.params)}
                rows = [r for r in rows if r[4] in still]
        cat_h = plan.cat_h
        return plan.finish(
            [keys.open_record(category, cat_h, r[0], r[1], r[2], r[3]) for r in rows]
        )

    async def count(self, category: str, query: Mapping[str, Any] | None = None) -> int:
        plan = FindPlan.make_count(self._db.dialect, self._db.keys, category, query)
        async with self._conn() as conn:
            return int(await conn.fetchval(plan.select.sql, *plan.select.params))

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
        async with self._conn() as conn:
            await conn.execute(self._db.sql.write_keyring, doc)

    async def close(self) -> None:
        db = self._db
        if self._txn is not None or db.closed:
            return
        if holding(db.id):
            raise TransactionError("close the store after its transaction has ended")
        db.closed = True
        await db.pool.close()


def _tag_arrays(enc: Encoded) -> tuple[list[bytes], list[bytes], list[bytes], list[str]]:
    return (
        [n for n, _ in enc.hashed_tags],
        [v for _, v in enc.hashed_tags],
        [n for n, _ in enc.plain_tags],
        [v for _, v in enc.plain_tags],
    )


class _Transaction(AbstractAsyncContextManager[Store]):
    """A transaction on a pooled connection, or a savepoint inside one."""

    def __init__(self, db: _Db, parent: _Txn | None) -> None:
        self._db = db
        self._parent = parent
        self._state: _Txn | None = None
        self._tr: Any = None
        self._token: Any = None

    async def __aenter__(self) -> Store:
        db = self._db
        db.check_open()
        if self._state is not None:
            raise TransactionError("a transaction object can be entered only once")
        parent = self._parent
        try:
            if parent is not None:
                parent.check()
                if parent.nested:
                    raise TransactionError(
                        "a transaction can have one nested transaction at a time"
                    )
                parent.nested = True
                try:
                    async with parent.lock:
                        self._tr = parent.conn.transaction()
                        await self._tr.start()
                except BaseException:
                    parent.nested = False
                    raise
                self._state = _Txn(parent.conn, parent.depth + 1, parent.lock)
            else:
                conn = await db.pool.acquire()
                try:
                    self._tr = conn.transaction()
                    await self._tr.start()
                except BaseException:
                    await db.pool.release(conn)
                    raise
                self._state = _Txn(conn, 0, asyncio.Lock())
                self._token = hold(db.id)
        except _DB_ERRORS as err:
            raise _translate(err) from err
        return PostgresStore(db, self._state)

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
        try:
            async with state.lock:
                if exc_type is None:
                    await self._tr.commit()
                else:
                    try:
                        await self._tr.rollback()
                    except _DB_ERRORS:
                        pass  # the first error is the one to report
        except _DB_ERRORS as err:
            raise _translate(err) from err
        finally:
            if self._parent is not None:
                self._parent.nested = False
            if state.depth == 0:
                release_hold(self._token)
                await self._db.pool.release(state.conn)


# -- creating and opening -------------------------------------------------------------------


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's reset query on release (a round trip per operation): the store sets no
    session state — no SET, LISTEN or session-level advisory lock — and asyncpg still rolls
    back a transaction left open."""


async def _pool(dsn: str, opts: PostgresOptions) -> asyncpg.Pool:
    try:
        return await asyncpg.create_pool(
            dsn,
            min_size=opts.min_size,
            max_size=opts.max_size,
            server_settings={"application_name": "moi-store"},
            reset=_keep_session,
        )
    except _DB_ERRORS as err:
        raise StoreUnavailable(f"cannot connect to {opts.label}: {type(err).__name__}") from None
    except ValueError:
        raise StoreUnavailable(f"cannot use the store URL {opts.label}") from None


async def create_postgres(dsn: str, secret: Secret, kdf: str, opts: PostgresOptions) -> Store:
    pool = await _pool(dsn, opts)
    sql = Statements(opts.schema)
    try:
        if await pool.fetchval(sql.exists, sql.keyring_table) is not None:
            raise WalletExists(f"a store already exists in schema {opts.schema}")
        data_key = new_data_key()
        doc = await asyncio.to_thread(wrap_key, data_key, secret, kdf)
        async with pool.acquire() as conn, conn.transaction():
            # Two creators of one schema take turns; the second then finds the first's store.
            await conn.execute(sql.lock, opts.schema)
            if await conn.fetchval(sql.exists, sql.keyring_table) is not None:
                raise WalletExists(f"a store already exists in schema {opts.schema}")
            for statement in sql.schema:
                await conn.execute(statement)
            await conn.execute(sql.insert_keyring, SCHEMA_VERSION, doc)
        return PostgresStore(_Db(pool, StoreKeys(data_key), opts))
    except _DB_ERRORS as err:
        await pool.close()
        raise _translate(err) from err
    except BaseException:
        await pool.close()
        raise


async def open_postgres(dsn: str, secret: Secret, opts: PostgresOptions) -> Store:
    """Open a store; reads only until the key is proven right."""
    pool = await _pool(dsn, opts)
    sql = Statements(opts.schema)
    try:
        if await pool.fetchval(sql.exists, sql.keyring_table) is None:
            raise WalletNotFound(f"there is no store in schema {opts.schema}")
        row = await pool.fetchrow(sql.read_keyring)
        if row is None:
            raise WalletNotFound(f"the store in schema {opts.schema} has no keyring")
        if row[0] != SCHEMA_VERSION:
            raise StorageError(
                f"schema {opts.schema} has store schema {row[0]}; this moi reads {SCHEMA_VERSION}"
            )
        data_key = await asyncio.to_thread(unwrap_key, bytes(row[1]), secret)
        return PostgresStore(_Db(pool, StoreKeys(data_key), opts))
    except _DB_ERRORS as err:
        await pool.close()
        raise _translate(err) from err
    except BaseException:
        await pool.close()
        raise
