"""The PostgreSQL statements of one store schema, written once when the store opens."""

from __future__ import annotations

SCHEMA_VERSION = 1

# unnest of two arrays makes the tag rows of one record in a single statement.
_TAGS = "SELECT {src}.seq, x.n, x.v FROM {src}, unnest(${a}::bytea[], ${b}::{vt}[]) AS x(n, v)"


class PostgresOptions:
    """Where a PostgreSQL store lives and how big its pool is."""

    __slots__ = ("label", "max_size", "min_size", "schema")

    def __init__(self, schema: str, min_size: int, max_size: int, label: str) -> None:
        self.schema = schema
        self.min_size = min_size
        self.max_size = max_size
        self.label = label  # the URL without its password


class Statements:
    """SQL text for the schema ``name`` (validated by the URL parser: [a-z_][a-z0-9_]*)."""

    def __init__(self, name: str) -> None:
        p = self.prefix = f'"{name}".'
        self.keyring_table = f"{p}keyring"
        self.exists = "SELECT to_regclass($1)"
        self.lock = "SELECT pg_advisory_xact_lock(hashtextextended('moi-store:' || $1, 0))"
        self.schema = (
            f'CREATE SCHEMA IF NOT EXISTS "{name}"',
            f"""CREATE TABLE {p}keyring (
                id integer PRIMARY KEY CHECK (id = 1),
                version integer NOT NULL,
                doc bytea NOT NULL)""",
            f"""CREATE TABLE {p}records (
                seq bigserial PRIMARY KEY,
                category bytea NOT NULL,
                name bytea NOT NULL,
                version bigint NOT NULL,
                meta bytea NOT NULL,
                value bytea NOT NULL,
                UNIQUE (category, name))""",
            # Ciphertext does not compress: skip the attempt.
            f"ALTER TABLE {p}records ALTER COLUMN value SET STORAGE EXTERNAL",
            f"ALTER TABLE {p}records ALTER COLUMN meta SET STORAGE EXTERNAL",
            f"CREATE INDEX records_category ON {p}records (category, seq)",
            f"""CREATE TABLE {p}tags (
                seq bigint NOT NULL REFERENCES {p}records (seq) ON DELETE CASCADE,
                name bytea NOT NULL,
                value bytea NOT NULL)""",
            f"CREATE INDEX tags_name ON {p}tags (name, value, seq)",
            f"CREATE INDEX tags_seq ON {p}tags (seq, name)",
            # "C" collation: plain values compare code point by code point, as in SQLite.
            f"""CREATE TABLE {p}ptags (
                seq bigint NOT NULL REFERENCES {p}records (seq) ON DELETE CASCADE,
                name bytea NOT NULL,
                value text COLLATE "C" NOT NULL)""",
            f"CREATE INDEX ptags_name ON {p}ptags (name, value, seq)",
            f"CREATE INDEX ptags_seq ON {p}ptags (seq, name)",
        )
        self.insert_keyring = f"INSERT INTO {p}keyring (id, version, doc) VALUES (1, $1, $2)"
        self.read_keyring = f"SELECT version, doc FROM {p}keyring WHERE id = 1"
        self.write_keyring = f"UPDATE {p}keyring SET doc = $1 WHERE id = 1"
        self.add = (
            f"WITH r AS (INSERT INTO {p}records (category, name, version, meta, value) "
            "VALUES ($1, $2, 1, $3, $4) ON CONFLICT (category, name) DO NOTHING RETURNING seq), "
            f"t AS (INSERT INTO {p}tags (seq, name, value) "
            + _TAGS.format(src="r", a=5, b=6, vt="bytea")
            + f"), pt AS (INSERT INTO {p}ptags (seq, name, value) "
            + _TAGS.format(src="r", a=7, b=8, vt="text")
            + ") SELECT seq FROM r"
        )
        # The old tag rows go and the new ones come in the same statement (as in an update
        # with tags): both see the snapshot before it, so the delete misses the new rows.
        self.upsert = (
            f"WITH r AS (INSERT INTO {p}records AS old (category, name, version, meta, value) "
            "VALUES ($1, $2, 1, $3, $4) ON CONFLICT (category, name) DO UPDATE SET "
            "version = old.version + 1, meta = EXCLUDED.meta, value = EXCLUDED.value "
            "RETURNING seq), "
            f"d1 AS (DELETE FROM {p}tags WHERE seq IN (SELECT seq FROM r)), "
            f"d2 AS (DELETE FROM {p}ptags WHERE seq IN (SELECT seq FROM r)), "
            f"t AS (INSERT INTO {p}tags (seq, name, value) "
            + _TAGS.format(src="r", a=5, b=6, vt="bytea")
            + f"), pt AS (INSERT INTO {p}ptags (seq, name, value) "
            + _TAGS.format(src="r", a=7, b=8, vt="text")
            + ") SELECT seq FROM r"
        )
        self.get = f"SELECT version, meta, value FROM {p}records WHERE category = $1 AND name = $2"
        self.get_for_update = self.get + " FOR UPDATE"
        self.version = f"SELECT version FROM {p}records WHERE category = $1 AND name = $2"
        self.delete = f"DELETE FROM {p}records WHERE category = $1 AND name = $2"
        self.delete_versioned = self.delete + " AND version = $3"
        self._updates = {
            (tags, versioned): self._update(tags, versioned)
            for tags in (False, True)
            for versioned in (False, True)
        }

    def update(self, *, with_tags: bool, versioned: bool) -> str:
        return self._updates[(with_tags, versioned)]

    def _update(self, with_tags: bool, versioned: bool) -> str:
        p = self.prefix
        where = "category = $1 AND name = $2"
        if not with_tags:
            if versioned:
                where += " AND version = $4"
            return (
                f"UPDATE {p}records SET version = version + 1, value = $3 WHERE {where} "
                "RETURNING version, meta"
            )
        if versioned:
            where += " AND version = $9"
        # Old tag rows go and new ones come in one statement: both see the same snapshot,
        # so the delete never touches the rows the insert adds.
        return (
            f"WITH u AS (UPDATE {p}records SET version = version + 1, value = $3, meta = $4 "
            f"WHERE {where} RETURNING seq, version), "
            f"d1 AS (DELETE FROM {p}tags WHERE seq IN (SELECT seq FROM u)), "
            f"d2 AS (DELETE FROM {p}ptags WHERE seq IN (SELECT seq FROM u)), "
            f"i1 AS (INSERT INTO {p}tags (seq, name, value) "
            + _TAGS.format(src="u", a=5, b=6, vt="bytea")
            + f"), i2 AS (INSERT INTO {p}ptags (seq, name, value) "
            + _TAGS.format(src="u", a=7, b=8, vt="text")
            + ") SELECT version, NULL FROM u"
        )
