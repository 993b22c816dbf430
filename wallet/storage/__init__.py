"""The encrypted record store: one interface, SQLite and PostgreSQL backends.

::

    store = await create_store("sqlite:///home/me/.moi/wallet.db", passphrase=secret)
    await store.add("connection", "c1", b"{}", {"state": "active", "~created": "2025-01-01"})
    await store.find("connection", {"state": "active"}, order_by="~created", limit=20)
    async with store.transaction() as tx:           # commit on exit, roll back on error
        job = await tx.find("outbox", {"state": "queued"}, limit=1, for_update=True)
        ...

What to know when building on it:

- Values, ids, categories and tag values are encrypted or keyed-hashed at rest. Tags whose
  name starts with ``~`` are plain: their value is stored in clear, so ranges, ``$like``
  and ordering work on them (as strings: pad numbers, use ISO timestamps).
- Inside ``transaction()`` use the view it yields. ``for_update=True`` needs a transaction;
  on PostgreSQL a find with it skips rows other transactions hold, so workers in several
  processes can claim queue items without taking the same one. On SQLite a transaction
  holds the file's write lock from its start: keep transactions short.
- ``update(..., expected_version=v)`` is the optimistic alternative: :class:`ConcurrentUpdate`
  when someone else wrote first.
- Insertion order (``order_by=None``) is stable: an update keeps a record's place.
- ``write([Add(...), Upsert(...), Update(...), Delete(...)])`` applies several writes
  atomically, in order; on SQLite that is one trip to the writer's thread however many.
"""

from .base import (
    PLAIN_PREFIX,
    Add,
    CorruptRecord,
    Delete,
    QueryError,
    Record,
    Store,
    StoreUnavailable,
    TransactionError,
    Update,
    Upsert,
    WriteOp,
)
from .crypto import KDF_LEVELS, generate_raw_key, parse_raw_key
from .factory import create_store, open_store, redact

__all__ = [
    "KDF_LEVELS",
    "PLAIN_PREFIX",
    "Add",
    "CorruptRecord",
    "Delete",
    "QueryError",
    "Record",
    "Store",
    "StoreUnavailable",
    "TransactionError",
    "Update",
    "Upsert",
    "WriteOp",
    "create_store",
    "generate_raw_key",
    "open_store",
    "parse_raw_key",
    "redact",
]
