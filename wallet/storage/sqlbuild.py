"""SQL for finding records by tag, shared by the SQLite and PostgreSQL backends.

The tables (both backends)::

    records(seq, category, name, version, meta, value)   seq: insertion order
    tags(seq, name, value)     hashed tags: name and value are keyed hashes
    ptags(seq, name, value)    plain tags: name hashed, value in clear (text)

Tags are indexed on (name, value, seq) and (seq, name). A find is written so that its cost
follows the number of matches, not the size of the store: one positive condition of the
top-level AND drives the scan through the (name, value, seq) index — ``CROSS JOIN`` makes
SQLite keep that table as the outer loop — and every other condition is a correlated
``EXISTS`` probe by (seq, name), a few B-tree steps per candidate. A query with no such
condition (only $or / $not / absent tags) scans the category through (category, seq).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .crypto import StoreKeys
from .query import And, Node, Not, Or, Tag, conjuncts

#: Operators that can drive a lookup through the index, best first.
_DRIVERS = ("eq", "in", "gt", "gte", "lt", "lte", "like", "exist")
_COMPARE = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_COLUMNS = "r.name, r.version, r.meta, r.value, r.seq"


@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between the backends: placeholders, table prefix, lists, LIKE, locks."""

    postgres: bool
    prefix: str = ""  # '"schema".' on PostgreSQL

    def table(self, name: str) -> str:
        return self.prefix + name


class Params:
    """Collects bound values in the order their placeholders appear in the text."""

    __slots__ = ("_pg", "values")

    def __init__(self, dialect: Dialect) -> None:
        self._pg = dialect.postgres
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}" if self._pg else "?"


@dataclass(frozen=True, slots=True)
class Select:
    sql: str
    params: list[Any]


def build_find(
    dialect: Dialect,
    keys: StoreKeys,
    cat_h: bytes,
    node: Node | None,
    *,
    order_tag: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    descending: bool = False,
    for_update: bool = False,
    count: bool = False,
) -> Select:
    """The SELECT for a find (or, with ``count``, its COUNT)."""
    p = Params(dialect)
    terms = conjuncts(node)
    driver = _pick_driver(terms)
    records = dialect.table("records")
    parts = ["SELECT", "COUNT(*)" if count else _COLUMNS, "FROM"]
    where: list[str] = []
    seq = "r.seq"
    # Placeholders are numbered in the order p() is called; SQLite's are positional, so
    # every part must take its parameters in the order it appears in the statement text.
    if driver is not None:
        terms.remove(driver)
        table = dialect.table("ptags" if driver.plain else "tags")
        parts.append(f"{table} d CROSS JOIN {records} r")
        # An equality driver reads its index in seq order, so ordering by d.seq is free.
        if driver.op == "eq":
            seq = "d.seq"
    else:
        union = _candidates(dialect, keys, cat_h, node, p) if node is not None else None
        if union is not None:
            # An $or of indexable terms: the union of their index lookups is a superset of
            # the matches, and the full condition below filters it.
            parts.append(f"({union}) d CROSS JOIN {records} r")
            where.append("r.seq = d.seq")
        else:
            parts.append(f"{records} r")
    if order_tag is not None and not count:
        ptags = dialect.table("ptags")
        name_h = keys.tag_name(cat_h, order_tag)
        parts.append(f"LEFT JOIN {ptags} o ON o.seq = r.seq AND o.name = {p(name_h)}")
    if driver is not None:
        where.append(_condition(dialect, keys, cat_h, driver, "d", p))
        where.append("r.seq = d.seq")
    where.append(f"r.category = {p(cat_h)}")
    where.extend(_predicate(dialect, keys, cat_h, term, p) for term in terms)
    parts.append("WHERE " + " AND ".join(where))
    if not count:
        direction = " DESC" if descending else ""
        if order_tag is not None:
            parts.append(f"ORDER BY (o.value IS NULL), o.value{direction}, {seq}{direction}")
        else:
            parts.append(f"ORDER BY {seq}{direction}")
        if limit is not None:
            parts.append(f"LIMIT {p(limit)}")
        elif offset and not dialect.postgres:
            parts.append("LIMIT -1")
        if offset:
            parts.append(f"OFFSET {p(offset)}")
        if for_update and dialect.postgres:
            parts.append("FOR UPDATE OF r SKIP LOCKED")
    return Select(" ".join(parts), p.values)


def build_recheck(
    dialect: Dialect, keys: StoreKeys, cat_h: bytes, node: Node | None, seqs: list[int]
) -> Select:
    """Which of the rows just locked still match, read in a fresh snapshot.

    PostgreSQL locks a row another transaction has just changed by re-checking the query
    against the row's new version — but only the locked table's row: the tag rows joined
    to it are the old ones. A worker could thus claim a job whose tags another worker had
    just changed ("new" → "done"). Once the rows are locked their tags cannot change (every
    tag change updates, and so locks, the record), so a second look settles it.
    """
    p = Params(dialect)
    where = [f"r.seq = ANY({p(seqs)})", f"r.category = {p(cat_h)}"]
    if node is not None:
        where.append(_predicate(dialect, keys, cat_h, node, p))
    table = dialect.table("records")
    return Select(f"SELECT r.seq FROM {table} r WHERE {' AND '.join(where)}", p.values)


def _pick_driver(terms: list[Node]) -> Tag | None:
    best: Tag | None = None
    for term in terms:
        if isinstance(term, Tag) and term.op in _DRIVERS and not term.negated:
            if best is None or _DRIVERS.index(term.op) < _DRIVERS.index(best.op):
                best = term
    return best


def _candidates(
    dialect: Dialect, keys: StoreKeys, cat_h: bytes, node: Node, p: Params
) -> str | None:
    """A query for a superset of the seqs matching ``node`` through the tag indexes, or
    None if some branch would need a scan."""
    if isinstance(node, Tag):
        if node.op not in _DRIVERS or node.negated:
            return None
        table = dialect.table("ptags" if node.plain else "tags")
        return f"SELECT t.seq FROM {table} t WHERE {_condition(dialect, keys, cat_h, node, 't', p)}"
    if isinstance(node, And):
        driver = _pick_driver(list(node.items))
        if driver is not None:
            return _candidates(dialect, keys, cat_h, driver, p)
        for item in node.items:
            mark = len(p.values)
            found = _candidates(dialect, keys, cat_h, item, p)
            if found is not None:
                return found
            del p.values[mark:]
        return None
    if isinstance(node, Or) and node.items:
        mark = len(p.values)
        branches = []
        for item in node.items:
            found = _candidates(dialect, keys, cat_h, item, p)
            if found is None:
                del p.values[mark:]
                return None
            branches.append(found)
        return " UNION ".join(branches)
    return None


def _predicate(dialect: Dialect, keys: StoreKeys, cat_h: bytes, node: Node, p: Params) -> str:
    """A condition on the record ``r`` as a boolean SQL expression."""
    if isinstance(node, And):
        if not node.items:
            return "1=1"
        return "(" + " AND ".join(_predicate(dialect, keys, cat_h, n, p) for n in node.items) + ")"
    if isinstance(node, Or):
        if not node.items:
            return "1=0"
        return "(" + " OR ".join(_predicate(dialect, keys, cat_h, n, p) for n in node.items) + ")"
    if isinstance(node, Not):
        return f"NOT {_predicate(dialect, keys, cat_h, node.item, p)}"
    table = dialect.table("ptags" if node.plain else "tags")
    # The name comes before seq in the probe so both indexes can serve it.
    probe = f"SELECT 1 FROM {table} t WHERE {_condition(dialect, keys, cat_h, node, 't', p)}"
    exists = "NOT EXISTS" if node.negated else "EXISTS"
    return f"{exists} ({probe} AND t.seq = r.seq)"


def _condition(
    dialect: Dialect, keys: StoreKeys, cat_h: bytes, tag: Tag, alias: str, p: Params
) -> str:
    """The test on one tag row ``alias`` (name, and value unless the op is exist)."""
    name_h = keys.tag_name(cat_h, tag.name)
    name_sql = f"{alias}.name = {p(name_h)}"
    if tag.op == "exist":
        return name_sql
    if tag.plain:
        values: list[Any] = list(tag.values)
    else:
        values = [keys.tag_value(name_h, v) for v in tag.values]
    column = f"{alias}.value"
    if tag.op == "in":
        if dialect.postgres:
            return f"{name_sql} AND {column} = ANY({p(values)})"
        return f"{name_sql} AND {column} IN ({', '.join(p(v) for v in values)})"
    if tag.op == "like":
        if dialect.postgres:
            return f"{name_sql} AND {column} LIKE {p(like_pattern(values[0]))} ESCAPE '\\'"
        return f"{name_sql} AND {column} GLOB {p(glob_pattern(values[0]))}"
    return f"{name_sql} AND {column} {_COMPARE[tag.op]} {p(values[0])}"


def _like_tokens(pattern: str) -> list[tuple[bool, str]]:
    """(is_wildcard, text) pieces of a $like pattern: % and _ are wildcards, a backslash
    makes the next character literal, and a trailing backslash is itself literal."""
    out: list[tuple[bool, str]] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append((False, pattern[i + 1]))
            i += 2
            continue
        out.append((char in "%_", char))
        i += 1
    return out


def like_pattern(pattern: str) -> str:
    """The pattern for PostgreSQL's ``LIKE … ESCAPE '\\'``."""
    return "".join(
        text if wild else ("\\" + text if text in "%_\\" else text)
        for wild, text in _like_tokens(pattern)
    )


_GLOB_LITERAL = {"*": "[*]", "?": "[?]", "[": "[[]"}
_GLOB_WILD = {"%": "*", "_": "?"}


def glob_pattern(pattern: str) -> str:
    """The pattern for SQLite's GLOB, which, unlike its LIKE, is case-sensitive as
    PostgreSQL's LIKE is, so both backends answer alike."""
    return "".join(
        _GLOB_WILD[text] if wild else _GLOB_LITERAL.get(text, text)
        for wild, text in _like_tokens(pattern)
    )
