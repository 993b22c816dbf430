"""Finding by tag: every operator, ordering, paging and count, on every backend, checked
against a small reference evaluator written from the query language's definition."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import Any

import pytest

from wallet.errors import InputError
from wallet.storage import QueryError, Store
from wallet.storage.query import MAX_DEPTH, MAX_IN_VALUES, And, Not, Or, Tag, parse_query
from wallet.storage.sqlbuild import glob_pattern, like_pattern

pytest_plugins = ["tests.storage_fixtures"]

COLOURS = ["red", "green", "blue"]
SIZES = ["S", "M", "L", "XL"]


def _data() -> dict[str, dict[str, str]]:
    """40 records with a mix of hashed and plain tags, some missing."""
    out: dict[str, dict[str, str]] = {}
    for i in range(40):
        tags = {"colour": COLOURS[i % 3], "~n": f"{(i * 7) % 40:03d}"}
        if i % 4:
            tags["size"] = SIZES[i % 4]
        if i % 5 == 0:
            tags["~name"] = ["alpha", "Alpha", "beta", "al_ha", "a%b", "a\\b"][i // 5 % 6]
        out[f"r{i:02d}"] = tags
    return out


DATA = _data()


def _like(pattern: str, value: str) -> bool:
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out += re.escape(pattern[i + 1])
            i += 2
            continue
        out += ".*" if c == "%" else "." if c == "_" else re.escape(c)
        i += 1
    return re.fullmatch(out, value, re.DOTALL) is not None


def _compare(op: str, have: str, arg: Any) -> bool:
    if op == "$in":
        return have in arg
    if op == "$like":
        return _like(arg, have)
    return {
        "$neq": have != arg,
        "$gt": have > arg,
        "$gte": have >= arg,
        "$lt": have < arg,
        "$lte": have <= arg,
    }[op]


def matches(query: Mapping[str, Any], tags: Mapping[str, str]) -> bool:
    """The reference semantics."""
    for key, cond in query.items():
        if key == "$and":
            ok = all(matches(q, tags) for q in cond)
        elif key == "$or":
            ok = any(matches(q, tags) for q in cond)
        elif key == "$not":
            ok = not matches(cond, tags)
        elif isinstance(cond, str):
            ok = tags.get(key) == cond
        else:
            ((op, arg),) = cond.items()
            have = tags.get(key)
            if op == "$exist":
                ok = (have is not None) == arg
            elif have is None:
                ok = False
            else:
                ok = _compare(op, have, arg)
        if not ok:
            return False
    return True


def expected(query: Mapping[str, Any] | None) -> list[str]:
    return [rid for rid, tags in DATA.items() if query is None or matches(query, tags)]


async def _fill(store: Store) -> None:
    async with store.transaction() as tx:
        for rid, tags in DATA.items():
            await tx.add("item", rid, rid.encode(), tags)
    await store.add("other", "r00", b"", DATA["r00"])  # same tags, other category


QUERIES: list[dict[str, Any]] = [
    {"colour": "red"},
    {"colour": "purple"},
    {"colour": {"$in": ["red", "blue"]}},
    {"colour": {"$neq": "red"}},
    {"size": {"$neq": "M"}},
    {"size": {"$exist": True}},
    {"size": {"$exist": False}},
    {"~name": {"$exist": True}},
    {"colour": "red", "size": "M"},
    {"$and": [{"colour": "red"}, {"size": {"$in": ["M", "L"]}}]},
    {"$or": [{"colour": "red"}, {"size": "S"}]},
    {"$or": [{"colour": "red"}, {"size": {"$exist": False}}]},
    {"$not": {"colour": "red"}},
    {"$not": {"size": "M"}},
    {"~n": {"$gt": "020"}},
    {"~n": {"$gte": "020"}},
    {"~n": {"$lt": "005"}},
    {"~n": {"$lte": "005"}},
    {"~n": {"$gte": "010"}, "colour": "blue"},
    {"~n": "007"},
    {"~n": {"$in": ["007", "014", "999"]}},
    {"~n": {"$neq": "007"}},
    {"~name": {"$like": "al%"}},
    {"~name": {"$like": "Al%"}},
    {"~name": {"$like": "al_ha"}},
    {"~name": {"$like": "al\\_ha"}},
    {"~name": {"$like": "a\\%b"}},
    {"~name": {"$like": "%\\\\%"}},
    {"~name": {"$like": "%"}},
    {"$and": []},
    {"$or": []},
    {"$or": [{"$and": [{"colour": "red"}, {"~n": {"$lt": "020"}}]}, {"size": "XL"}]},
    {"$not": {"$or": [{"colour": "red"}, {"colour": "green"}]}},
    {"$and": [{"$not": {"size": {"$exist": False}}}, {"$or": [{"size": "S"}, {"~n": "000"}]}]},
]


@pytest.mark.parametrize("query", QUERIES, ids=[str(i) for i in range(len(QUERIES))])
async def test_each_operator_matches_the_reference(store: Store, query: dict[str, Any]) -> None:
    await _fill(store)
    found = await store.find("item", query)
    assert [r.id for r in found] == expected(query)
    assert await store.count("item", query) == len(expected(query))
    for record in found:
        assert dict(record.tags) == DATA[record.id] and record.value == record.id.encode()


def _random_query(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    roll = rng.random()
    if depth < 3 and roll < 0.3:
        op = rng.choice(["$and", "$or"])
        return {op: [_random_query(rng, depth + 1) for _ in range(rng.randint(1, 3))]}
    if depth < 3 and roll < 0.4:
        return {"$not": _random_query(rng, depth + 1)}
    name = rng.choice(["colour", "size", "~n", "~name"])
    values = {"colour": [*COLOURS, "pink"], "size": SIZES, "~n": ["005", "010", "020", "039"]}
    choices = values.get(name, ["alpha", "beta", "zzz"])
    ops = ["eq", "$in", "$neq", "$exist"]
    if name.startswith("~"):
        ops += ["$gt", "$gte", "$lt", "$lte", "$like"]
    op = rng.choice(ops)
    if op == "eq":
        return {name: rng.choice(choices)}
    if op == "$in":
        return {name: {"$in": rng.sample(choices, rng.randint(1, 2))}}
    if op == "$exist":
        return {name: {"$exist": rng.random() < 0.5}}
    if op == "$like":
        return {name: {"$like": rng.choice(["a%", "%a", "_eta", "%"])}}
    return {name: {op: rng.choice(choices)}}


async def test_random_queries_match_the_reference(store: Store) -> None:
    await _fill(store)
    rng = random.Random(20240601)
    for _ in range(120):
        query = _random_query(rng)
        assert [r.id for r in await store.find("item", query)] == expected(query), query


async def test_ordering(store: Store) -> None:
    await _fill(store)
    ids = list(DATA)
    assert [r.id for r in await store.find("item")] == ids
    assert [r.id for r in await store.find("item", descending=True)] == ids[::-1]
    await store.update("item", "r00", b"changed")  # an update keeps insertion order
    assert [r.id for r in await store.find("item")] == ids
    by_n = sorted(ids, key=lambda rid: DATA[rid]["~n"])
    assert [r.id for r in await store.find("item", order_by="~n")] == by_n
    assert [r.id for r in await store.find("item", order_by="~n", descending=True)] == by_n[::-1]
    # Records without the ordering tag come last; ties keep insertion order.
    named = [rid for rid in ids if "~name" in DATA[rid]]
    by_name = sorted(named, key=lambda rid: DATA[rid]["~name"])
    unnamed = [rid for rid in ids if rid not in named]
    got = [r.id for r in await store.find("item", order_by="~name")]
    assert got == by_name + unnamed
    got = [r.id for r in await store.find("item", {"colour": "red"}, order_by="id")]
    assert got == sorted(expected({"colour": "red"}))
    got = [r.id for r in await store.find("item", order_by="id", descending=True, limit=3)]
    assert got == sorted(ids, reverse=True)[:3]
    # A tag query together with a plain-tag ordering: both take parameters, and SQLite's
    # placeholders are positional, so their order in the statement matters.
    red = set(expected({"colour": "red"}))
    got = [r.id for r in await store.find("item", {"colour": "red"}, order_by="~n")]
    assert got == [rid for rid in by_n if rid in red]
    got = [r.id for r in await store.find("item", {"~n": {"$gte": "0"}}, order_by="~n")]
    assert got == [rid for rid in by_n if DATA[rid]["~n"] >= "0"]


async def test_paging(store: Store) -> None:
    await _fill(store)
    ids = list(DATA)
    assert [r.id for r in await store.find("item", limit=5)] == ids[:5]
    assert [r.id for r in await store.find("item", limit=5, offset=5)] == ids[5:10]
    assert [r.id for r in await store.find("item", offset=35)] == ids[35:]
    assert await store.find("item", limit=0) == []
    assert await store.find("item", offset=100) == []
    red = expected({"colour": "red"})
    pages = [
        [r.id for r in await store.find("item", {"colour": "red"}, limit=4, offset=o)]
        for o in range(0, len(red), 4)
    ]
    assert [rid for page in pages for rid in page] == red
    by_n = sorted(ids, key=lambda rid: DATA[rid]["~n"])
    got = await store.find("item", order_by="~n", limit=3, offset=2, descending=True)
    assert [r.id for r in got] == by_n[::-1][2:5]
    got = await store.find("item", order_by="id", limit=2, offset=1)
    assert [r.id for r in got] == sorted(ids)[1:3]


async def test_count_and_categories(store: Store) -> None:
    await _fill(store)
    assert await store.count("item") == 40
    assert await store.count("other") == 1
    assert await store.count("none") == 0
    assert await store.find("none", {"colour": "red"}) == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"colour": {"$gt": "a"}}, "plain tag"),
        ({"colour": {"$like": "a%"}}, "plain tag"),
        ({"colour": {"$regex": "a"}}, "unknown operator"),
        ({"$nor": []}, "unknown query operator"),
        ({"colour": 3}, "string or an operator mapping"),
        ({"colour": {"$in": "red"}}, "takes a list"),
        ({"colour": {"$in": []}}, "at least one value"),
        ({"colour": {"$in": ["x"] * (MAX_IN_VALUES + 1)}}, "at most"),
        ({"colour": {"$in": [1]}}, "string value"),
        ({"colour": {"$exist": "yes"}}, "true or false"),
        ({"colour": {"$neq": "a", "$in": ["b"]}}, "exactly one operator"),
        ({"$and": {"colour": "red"}}, "takes a list"),
        ({"$not": ["x"]}, "must be a mapping"),
        ({"": "x"}, "tag name"),
        ({1: "x"}, "keys must be strings"),
        (["colour"], "must be a mapping"),
    ],
)
async def test_bad_queries_are_refused(store: Store, query: Any, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        await store.find("item", query)
    with pytest.raises(QueryError, match=message):
        await store.count("item", query)


async def test_bad_find_arguments_are_refused(store: Store) -> None:
    for kwargs in (
        {"order_by": "colour"},
        {"order_by": "~"},
        {"order_by": 3},
        {"limit": -1},
        {"limit": True},
        {"offset": -1},
        {"offset": None},
        {"descending": "yes"},
    ):
        with pytest.raises(QueryError):
            await store.find("item", **kwargs)  # type: ignore[arg-type]


def test_depth_and_size_are_bounded() -> None:
    deep: dict[str, Any] = {"colour": "red"}
    for _ in range(MAX_DEPTH):
        deep = {"$not": deep}
    with pytest.raises(QueryError, match="deeper"):
        parse_query(deep)
    with pytest.raises(QueryError, match="more than"):
        parse_query({"$or": [{"colour": str(i)} for i in range(300)]})
    assert issubclass(QueryError, InputError)


def test_parse_builds_the_tree() -> None:
    assert parse_query(None) is None
    assert parse_query({}) is None
    assert parse_query({"a": "1"}) == Tag("a", "eq", ("1",))
    assert parse_query({"a": "1", "~b": {"$gt": "2"}}) == And(
        (Tag("a", "eq", ("1",)), Tag("~b", "gt", ("2",)))
    )
    assert parse_query({"$or": [{"a": {"$exist": False}}], "$not": {"a": {"$in": ["x", "x"]}}}) == (
        And((Or((Tag("a", "exist", (), negated=True),)), Not(Tag("a", "in", ("x",)))))
    )


@pytest.mark.parametrize(
    ("pattern", "like", "glob"),
    [
        ("a%", "a%", "a*"),
        ("_b", "_b", "?b"),
        ("50\\%", "50\\%", "50%"),
        ("x\\_y", "x\\_y", "x_y"),
        ("a*?[", "a*?[", "a[*][?][[]"),
        ("back\\\\slash", "back\\\\slash", "back\\slash"),
        ("trailing\\", "trailing\\\\", "trailing\\"),
    ],
)
def test_like_patterns_translate(pattern: str, like: str, glob: str) -> None:
    assert like_pattern(pattern) == like
    assert glob_pattern(pattern) == glob


@pytest.mark.parametrize(
    "query",
    [
        {"colour": "red"},
        {"colour": "red", "size": {"$neq": "M"}},
        {"~n": {"$gte": "010"}},
        {"$or": [{"colour": "red"}, {"~name": {"$like": "a%"}}]},
    ],
)
async def test_sqlite_finds_by_tag_through_indexes(tmp_path: Any, query: dict[str, Any]) -> None:
    """The cost of a find follows its matches, not the store: no query with an indexable
    term scans a table (the benchmark shows the timing; this shows the plan)."""
    import sqlite3

    from tests.storage_fixtures import KDF, PASSPHRASE
    from wallet.storage import create_store
    from wallet.storage.finding import FindPlan
    from wallet.storage.sqlbuild import Dialect

    path = f"{tmp_path}/w.db"
    async with await create_store(f"sqlite://{path}", passphrase=PASSPHRASE, kdf=KDF) as s:
        await _fill(s)
        keys = s._db.keys  # type: ignore[attr-defined]
    plan = FindPlan.make(Dialect(False), keys, "item", query, 10, 0, None, False, False)
    conn = sqlite3.connect(path)
    steps = [
        row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + plan.select.sql, plan.select.params)
    ]
    conn.close()
    # Reading the materialised union of index lookups ("CO-ROUTINE d") is fine; a table is not.
    scanned = {step.split()[1] for step in steps if step.startswith("SCAN")}
    assert scanned <= ({"d"} if "CO-ROUTINE d" in steps else set()), steps
    assert any("USING PRIMARY KEY (name=?" in step for step in steps), steps
