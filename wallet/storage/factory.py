"""Store URLs and the two entry points, :func:`create_store` and :func:`open_store`.

* ``sqlite:///abs/path/wallet.db`` — a file per wallet (options: ``busy_timeout`` in
  seconds, ``readers`` for the number of reader connections);
* ``sqlite://:memory:`` — in memory, for tests; gone when closed;
* ``postgresql://[user[:password]@]host[:port]/db?schema=NAME`` — one schema per store,
  so several wallets share a database (options: ``min_size``, ``max_size`` for the pool,
  other query parameters go to the driver). ``postgres://`` is accepted too.

A URL may carry a database password: errors name it only without its credentials.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import InputError
from .base import Store
from .crypto import resolve_secret
from .pg_sql import PostgresOptions
from .sqlite import SqliteOptions, create_sqlite, open_sqlite

MAX_URL_CHARS = 4096
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def redact(url: str) -> str:
    """The URL without a password, for messages and reprs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


async def create_store(
    url: str,
    *,
    passphrase: str | None = None,
    raw_key: bytes | str | None = None,
    kdf: str = "argon2id-interactive",
) -> Store:
    """Create a new, empty store; :class:`WalletExists` if there is one at ``url``.

    Exactly one of ``passphrase`` (stretched with Argon2id at the ``kdf`` level:
    ``argon2id-interactive``, ``argon2id-moderate``, or ``argon2id-test`` for test suites
    only) and ``raw_key`` (32 bytes, or text as 64 hex digits or base58) locks it.
    """
    secret = resolve_secret(passphrase, raw_key)
    target, opts = _parse(url)
    if isinstance(opts, SqliteOptions):
        return await create_sqlite(target, secret, kdf, opts)
    from .postgres import create_postgres  # asyncpg is an optional dependency

    return await create_postgres(target, secret, kdf, opts)


async def open_store(
    url: str, *, passphrase: str | None = None, raw_key: bytes | str | None = None
) -> Store:
    """Open an existing store; :class:`WalletNotFound` if there is none, and
    :class:`WalletLocked` (having written nothing) if the passphrase or key is wrong."""
    secret = resolve_secret(passphrase, raw_key)
    target, opts = _parse(url)
    if isinstance(opts, SqliteOptions):
        return await open_sqlite(target, secret, opts)
    from .postgres import open_postgres

    return await open_postgres(target, secret, opts)


def _parse(url: object) -> tuple[str | None, SqliteOptions] | tuple[str, PostgresOptions]:
    """(path or None for memory, options) for SQLite; (driver DSN, options) for PostgreSQL."""
    if not isinstance(url, str):
        raise InputError("store URL must be a string")
    if len(url) > MAX_URL_CHARS:
        raise InputError("store URL is too long")
    if url == "sqlite://:memory:":
        return None, SqliteOptions()
    try:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise InputError(f"store URL {redact(url)!r} cannot be parsed") from None
    if parts.fragment:
        raise InputError(f"store URL {redact(url)!r} must not have a #fragment")
    if parts.scheme == "sqlite":
        return _sqlite_path(url, parts.netloc, parts.path), _sqlite_options(query)
    if parts.scheme in ("postgresql", "postgres"):
        return _postgres_target(url, parts, query)
    raise InputError(f"store URL {redact(url)!r} must start with sqlite:// or postgresql://")


def _sqlite_path(url: str, netloc: str, path: str) -> str:
    if netloc or not path.startswith("/") or path.endswith("/") or "\x00" in path:
        raise InputError(
            f"store URL {url!r}: use sqlite:///absolute/path/wallet.db or sqlite://:memory:"
        )
    return path


def _number(query: dict[str, str], name: str, default: float, low: float, high: float) -> float:
    if name not in query:
        return default
    try:
        value = float(query[name])
    except ValueError:
        raise InputError(f"store URL option {name} must be a number") from None
    if not low <= value <= high:
        raise InputError(f"store URL option {name} must be between {low:g} and {high:g}")
    return value


def _sqlite_options(pairs: list[tuple[str, str]]) -> SqliteOptions:
    query = dict(pairs)
    unknown = set(query) - {"busy_timeout", "readers"}
    if unknown:
        raise InputError(f"unknown sqlite store option(s): {', '.join(sorted(unknown))}")
    readers = _number(query, "readers", 2, 0, 16)
    if readers != int(readers):
        raise InputError("store URL option readers must be a whole number")
    return SqliteOptions(_number(query, "busy_timeout", 30.0, 0, 3600), int(readers))


def _postgres_target(
    url: str, parts: SplitResult, pairs: list[tuple[str, str]]
) -> tuple[str, PostgresOptions]:

    query = dict(pairs)
    schema = query.pop("schema", "moi")
    if not _SCHEMA_NAME.match(schema) or schema.startswith("pg_"):
        raise InputError(
            "store URL schema must be 1–63 lower-case letters, digits and underscores, "
            "not starting with a digit or pg_"
        )
    sizes = {}
    for name, default in (("min_size", 1), ("max_size", 10)):
        value = _number(query, name, default, 0 if name == "min_size" else 1, 1000)
        query.pop(name, None)
        if value != int(value):
            raise InputError(f"store URL option {name} must be a whole number")
        sizes[name] = int(value)
    if sizes["min_size"] > sizes["max_size"]:
        raise InputError("store URL option min_size must not exceed max_size")
    dsn = urlunsplit(parts._replace(query=urlencode(query)))
    label = redact(urlunsplit(parts._replace(query="")))
    return dsn, PostgresOptions(schema, sizes["min_size"], sizes["max_size"], label)
