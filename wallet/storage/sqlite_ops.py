"""The SQLite side of each store operation, as plain functions run on a connection's own
thread (aiosqlite's worker): one hop from the event loop per operation, however many
statements it takes, and decryption off the loop.

Every function takes ``autocommit``: True wraps the statements in ``BEGIN IMMEDIATE`` …
``COMMIT`` (outside a user transaction), False in a savepoint, so a failing operation
inside a transaction leaves no half of itself behind.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from ..errors import ConcurrentUpdate, DuplicateRecord, RecordNotFound, WalletExists
from .base import Record, short
from .crypto import Encoded, StoreKeys
from .sqlbuild import Select

SCHEMA_VERSION = 1

SCHEMA = (
    "CREATE TABLE keyring (id INTEGER PRIMARY KEY CHECK (id = 1), doc BLOB NOT NULL)",
    """CREATE TABLE records (
        seq INTEGER PRIMARY KEY,
        category BLOB NOT NULL,
        name BLOB NOT NULL,
        version INTEGER NOT NULL,
        meta BLOB NOT NULL,
        value BLOB NOT NULL,
        UNIQUE (category, name))""",
    "CREATE INDEX records_category ON records (category, seq)",
    """CREATE TABLE tags (
        name BLOB NOT NULL,
        value BLOB NOT NULL,
        seq INTEGER NOT NULL REFERENCES records (seq) ON DELETE CASCADE,
        PRIMARY KEY (name, value, seq)) WITHOUT ROWID""",
    "CREATE INDEX tags_seq ON tags (seq, name)",
    """CREATE TABLE ptags (
        name BLOB NOT NULL,
        value TEXT NOT NULL,
        seq INTEGER NOT NULL REFERENCES records (seq) ON DELETE CASCADE,
        PRIMARY KEY (name, value, seq)) WITHOUT ROWID""",
    "CREATE INDEX ptags_seq ON ptags (seq, name)",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)

_INSERT = (
    "INSERT INTO records (category, name, version, meta, value) VALUES (?, ?, 1, ?, ?) "
    "ON CONFLICT (category, name) DO NOTHING RETURNING seq"
)
_UPSERT = (
    "INSERT INTO records (category, name, version, meta, value) VALUES (?, ?, 1, ?, ?) "
    "ON CONFLICT (category, name) DO UPDATE SET "
    "version = version + 1, meta = excluded.meta, value = excluded.value RETURNING seq"
)
_INSERT_TAG = "INSERT INTO tags (seq, name, value) VALUES (?, ?, ?)"
_INSERT_PTAG = "INSERT INTO ptags (seq, name, value) VALUES (?, ?, ?)"
_GET = "SELECT version, meta, value FROM records WHERE category = ? AND name = ?"
_VERSION = "SELECT version FROM records WHERE category = ? AND name = ?"


@contextmanager
def atomic(conn: sqlite3.Connection, autocommit: bool) -> Iterator[None]:
    begin, commit, undo = (
        ("BEGIN IMMEDIATE", "COMMIT", ("ROLLBACK",))
        if autocommit
        else ("SAVEPOINT op", "RELEASE op", ("ROLLBACK TO op", "RELEASE op"))
    )
    conn.execute(begin)
    try:
        yield
        conn.execute(commit)
    except BaseException:
        for statement in undo:
            conn.execute(statement)
        raise


def execute(conn: sqlite3.Connection, statement: str) -> None:
    conn.execute(statement)


def rollback_if_active(conn: sqlite3.Connection) -> None:
    """End whatever transaction the connection is in. Queued after a BEGIN whose caller was
    cancelled, it still runs after that BEGIN: the connection's thread keeps order."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def setup(conn: sqlite3.Connection, writer: bool) -> None:
    if writer:
        conn.execute("PRAGMA foreign_keys = ON")
        # WAL with synchronous=NORMAL: a commit is durable against a crash of the process;
        # a power cut may lose the last few commits (never corrupt the file). That is the
        # usual trade for an embedded wallet, and saves an fsync per commit.
        conn.execute("PRAGMA synchronous = NORMAL")
    else:
        conn.execute("PRAGMA query_only = ON")


def initialise(conn: sqlite3.Connection, keyring: bytes) -> None:
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise WalletExists("a store (or another database) already exists there")
        for statement in SCHEMA:
            conn.execute(statement)
        conn.execute("INSERT INTO keyring (id, doc) VALUES (1, ?)", (keyring,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def read_keyring(conn: sqlite3.Connection) -> tuple[int, bytes] | None:
    """(schema version, keyring document), or None where there is no store. Reads only."""
    try:
        row = conn.execute("SELECT doc FROM keyring WHERE id = 1").fetchone()
    except sqlite3.OperationalError:
        return None
    if row is None:
        return None
    return conn.execute("PRAGMA user_version").fetchone()[0], row[0]


def write_keyring(conn: sqlite3.Connection, autocommit: bool, keyring: bytes) -> None:
    with atomic(conn, autocommit):
        conn.execute("UPDATE keyring SET doc = ? WHERE id = 1", (keyring,))


def _insert_tags(conn: sqlite3.Connection, seq: int, enc: Encoded) -> None:
    if enc.hashed_tags:
        conn.executemany(_INSERT_TAG, [(seq, n, v) for n, v in enc.hashed_tags])
    if enc.plain_tags:
        conn.executemany(_INSERT_PTAG, [(seq, n, v) for n, v in enc.plain_tags])


def _replace_tags(conn: sqlite3.Connection, seq: int, enc: Encoded) -> None:
    conn.execute("DELETE FROM tags WHERE seq = ?", (seq,))
    conn.execute("DELETE FROM ptags WHERE seq = ?", (seq,))
    _insert_tags(conn, seq, enc)


def _add(conn: sqlite3.Connection, category: str, id: str, enc: Encoded) -> None:
    row = conn.execute(_INSERT, (enc.category, enc.name, enc.meta, enc.value)).fetchone()
    if row is None:
        raise DuplicateRecord(f"record {category!r}/{short(id)!r} already exists")
    _insert_tags(conn, row[0], enc)


def add(conn: sqlite3.Connection, autocommit: bool, category: str, id: str, enc: Encoded) -> None:
    with atomic(conn, autocommit):
        _add(conn, category, id, enc)


def get(
    conn: sqlite3.Connection, keys: StoreKeys, category: str, id: str, cat_h: bytes, name_h: bytes
) -> Record:
    row = conn.execute(_GET, (cat_h, name_h)).fetchone()
    if row is None:
        raise RecordNotFound(f"no record {category!r}/{short(id)!r}")
    return keys.open_record(category, cat_h, name_h, row[0], row[1], row[2])


def _missing_or_moved(
    conn: sqlite3.Connection, category: str, id: str, cat_h: bytes, name_h: bytes
) -> Exception:
    row = conn.execute(_VERSION, (cat_h, name_h)).fetchone()
    if row is None:
        return RecordNotFound(f"no record {category!r}/{short(id)!r}")
    return ConcurrentUpdate(f"record {category!r}/{short(id)!r} is now at version {row[0]}")


def _update(
    conn: sqlite3.Connection, category: str, id: str, enc: Encoded, expected: int | None
) -> tuple[int, int, bytes]:
    """Replace the value (and, when ``enc`` has meta, meta and tags) of a record: its seq,
    new version and meta."""
    sets = "version = version + 1, value = ?" + (", meta = ?" if enc.meta else "")
    params: list[object] = [enc.value, enc.meta] if enc.meta else [enc.value]
    params += [enc.category, enc.name]
    where = "category = ? AND name = ?"
    if expected is not None:
        where += " AND version = ?"
        params.append(expected)
    sql = f"UPDATE records SET {sets} WHERE {where} RETURNING seq, version, meta"
    row = conn.execute(sql, params).fetchone()
    if row is None:
        raise _missing_or_moved(conn, category, id, enc.category, enc.name)
    if enc.meta:
        _replace_tags(conn, row[0], enc)
    return row[0], row[1], row[2]


def update(
    conn: sqlite3.Connection,
    autocommit: bool,
    keys: StoreKeys,
    category: str,
    id: str,
    enc: Encoded,
    value: bytes,
    new_tags: Mapping[str, str] | None,
    expected: int | None,
) -> Record:
    """Replace the value (and, unless ``new_tags`` is None, meta and tags) of a record."""
    with atomic(conn, autocommit):
        _, version, meta = _update(conn, category, id, enc, expected)
        if new_tags is not None:
            tags = new_tags
        else:
            tags = keys.open_meta(category, enc.category, enc.name, meta)[1]
    return Record(category, id, value, tags, version)


def _delete(
    conn: sqlite3.Connection,
    category: str,
    id: str,
    cat_h: bytes,
    name_h: bytes,
    expected: int | None,
    missing_ok: bool,
) -> None:
    sql = "DELETE FROM records WHERE category = ? AND name = ?"
    params: list[object] = [cat_h, name_h]
    if expected is not None:
        sql += " AND version = ?"
        params.append(expected)
    if conn.execute(sql, params).rowcount == 0:
        err = _missing_or_moved(conn, category, id, cat_h, name_h)
        if not (missing_ok and isinstance(err, RecordNotFound)):
            raise err


def delete(
    conn: sqlite3.Connection,
    autocommit: bool,
    category: str,
    id: str,
    cat_h: bytes,
    name_h: bytes,
    expected: int | None,
) -> None:
    with atomic(conn, autocommit):
        _delete(conn, category, id, cat_h, name_h, expected, False)


#: One operation of a batch, encoded on the event loop's side: (kind, category, id, the
#: encoded row — for a delete only its address, the category and name hashes —, expected
#: version, missing_ok).
BatchOp = tuple[str, str, str, Encoded, int | None, bool]


def write(conn: sqlite3.Connection, autocommit: bool, batch: list[BatchOp]) -> None:
    """A whole batch of writes in one hop: every statement between one BEGIN IMMEDIATE (a
    savepoint inside a transaction) and its COMMIT, and all undone by the first failure."""
    with atomic(conn, autocommit):
        for kind, category, id, row, expected, missing_ok in batch:
            if kind == "delete":
                _delete(conn, category, id, row.category, row.name, expected, missing_ok)
            elif kind == "add":
                _add(conn, category, id, row)
            elif kind == "update":
                _update(conn, category, id, row, expected)
            else:  # upsert: the row inserted or, if there, its value and meta replaced
                seq = conn.execute(_UPSERT, (row.category, row.name, row.meta, row.value))
                _replace_tags(conn, seq.fetchone()[0], row)


def find(
    conn: sqlite3.Connection, keys: StoreKeys, category: str, cat_h: bytes, select: Select
) -> list[Record]:
    rows = conn.execute(select.sql, select.params).fetchall()
    return [keys.open_record(category, cat_h, r[0], r[1], r[2], r[3]) for r in rows]


def count(conn: sqlite3.Connection, select: Select) -> int:
    return int(conn.execute(select.sql, select.params).fetchone()[0])
