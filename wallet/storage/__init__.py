"""The encrypted record store: one interface, SQLite and PostgreSQL backends.

>>> store = await create_store("sqlite:///home/me/.moi/wallet.db", passphrase="…")
>>> await store.add("connection", "c1", b"{}", {"state": "active", "~created": "2025-01-01"})
>>> await store.find("connection", {"state": "active"}, order_by="~created")

Values, ids, categories and tag values are encrypted or keyed-hashed at rest; tags whose
name starts with ``~`` keep their value in clear for ranges and ordering.
"""

from .base import (
    PLAIN_PREFIX,
    CorruptRecord,
    QueryError,
    Record,
    Store,
    StoreUnavailable,
    TransactionError,
)
from .crypto import KDF_LEVELS, generate_raw_key, parse_raw_key
from .factory import create_store, open_store, redact

__all__ = [
    "KDF_LEVELS",
    "PLAIN_PREFIX",
    "CorruptRecord",
    "QueryError",
    "Record",
    "Store",
    "StoreUnavailable",
    "TransactionError",
    "create_store",
    "generate_raw_key",
    "open_store",
    "parse_raw_key",
    "redact",
]
