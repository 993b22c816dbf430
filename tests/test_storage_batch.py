"""Store.write: a batch of adds, upserts, updates and deletes, in order and all or nothing,
on every backend (and the base class's default, which the backends must agree with)."""

from __future__ import annotations

from typing import Any

import pytest

from wallet.errors import ConcurrentUpdate, DuplicateRecord, InputError, RecordNotFound
from wallet.storage import Add, Delete, Store, TransactionError, Update, Upsert
from wallet.storage.base import MAX_TAGS, MAX_VALUE_BYTES

pytest_plugins = ["tests.storage_fixtures"]


async def _state(store: Store, category: str = "c") -> dict[str, tuple[bytes, int, dict[str, str]]]:
    return {r.id: (r.value, r.version, dict(r.tags)) for r in await store.find(category)}


async def test_a_batch_applies_in_order(store: Store) -> None:
    await store.add("c", "old", b"o", {"t": "1"})
    await store.write(
        [
            Add("c", "a", b"1", {"t": "1"}),
            Update("c", "a", b"2"),  # sees the add before it
            Delete("c", "old"),
            Add("c", "old", b"again"),  # the id freed just before
            Upsert("c", "u", b"u1", {"~n": "1"}),
            Upsert("c", "u", b"u2", {"~n": "2"}),
            Add("d", "a", b"other category"),
        ]
    )
    assert await _state(store) == {
        "a": (b"2", 2, {"t": "1"}),
        "old": (b"again", 1, {}),
        "u": (b"u2", 2, {"~n": "2"}),
    }
    assert (await store.get("d", "a")).value == b"other category"


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (Add("c", "taken", b"x"), DuplicateRecord),
        (Update("c", "missing", b"x"), RecordNotFound),
        (Update("c", "taken", b"x", expected_version=7), ConcurrentUpdate),
        (Update("c", "taken", b"x", {"t": "9"}, expected_version=7), ConcurrentUpdate),
        (Delete("c", "missing"), RecordNotFound),
        (Delete("c", "taken", expected_version=7), ConcurrentUpdate),
        (Delete("c", "taken", missing_ok=True, expected_version=7), ConcurrentUpdate),
    ],
)
async def test_the_first_failure_raises_its_own_error_and_nothing_is_written(
    store: Store, bad: Any, error: type[Exception]
) -> None:
    await store.add("c", "taken", b"kept", {"t": "1", "~p": "a"})
    before = await _state(store)
    with pytest.raises(error):
        await store.write(
            [
                Add("c", "new", b"n", {"t": "1"}),
                Upsert("c", "taken", b"replaced", {"t": "2"}),
                Delete("c", "new"),
                Add("c", "new", b"n2", {"~p": "b"}),
                bad,
                Add("c", "after", b"never"),
            ]
        )
    assert await _state(store) == before
    assert await store.count("c", {"t": "2"}) == 0
    assert await store.count("c", {"~p": "b"}) == 0
    # The store goes on working after the rollback.
    await store.write([Add("c", "new", b"n")])
    assert (await store.get("c", "new")).version == 1


async def test_upsert_inserts_then_replaces_value_and_every_tag(store: Store) -> None:
    await store.write([Upsert("c", "a", b"v1", {"t": "1", "~n": "05", "~m": "x"})])
    first = await store.get("c", "a")
    assert (first.value, first.version, dict(first.tags)) == (
        b"v1",
        1,
        {"t": "1", "~n": "05", "~m": "x"},
    )
    await store.write([Upsert("c", "a", b"v2", {"u": "2", "~n": "20"})])
    got = await store.get("c", "a")
    assert (got.value, got.version, dict(got.tags)) == (b"v2", 2, {"u": "2", "~n": "20"})
    # The old tags are gone from every index, plain and hashed; the new ones are found,
    # by equality and by range.
    assert await store.count("c", {"t": "1"}) == 0
    assert await store.count("c", {"~m": "x"}) == 0
    assert await store.count("c", {"~n": "05"}) == 0
    assert await store.count("c", {"u": "2"}) == 1
    assert [r.id for r in await store.find("c", {"~n": {"$gt": "10"}})] == ["a"]
    assert await store.find("c", {"~n": {"$lt": "10"}}) == []
    await store.write([Upsert("c", "a", b"v3")])
    got = await store.get("c", "a")
    assert (got.version, dict(got.tags)) == (3, {})
    assert await store.count("c", {"~n": {"$gte": ""}}) == 0


async def test_upsert_keeps_the_record_in_its_place(store: Store) -> None:
    await store.add("c", "first", b"1")
    await store.add("c", "second", b"2")
    await store.write([Upsert("c", "first", b"1b", {"~k": "z"})])
    assert [r.id for r in await store.find("c")] == ["first", "second"]


async def test_upsert_with_expected_version_after_it(store: Store) -> None:
    await store.add("c", "a", b"v1")
    await store.write([Upsert("c", "a", b"v2"), Update("c", "a", b"v3", expected_version=2)])
    assert (await store.get("c", "a")).version == 3


async def test_delete_missing_ok(store: Store) -> None:
    await store.add("c", "here", b"x", {"t": "1"})
    await store.write(
        [Delete("c", "absent", missing_ok=True), Delete("c", "here", missing_ok=True)]
    )
    assert await _state(store) == {}
    assert await store.count("c", {"t": "1"}) == 0
    await store.add("c", "v", b"x")
    await store.write([Delete("c", "v", missing_ok=True, expected_version=1)])
    assert await _state(store) == {}


async def test_an_empty_batch_writes_nothing(store: Store) -> None:
    await store.write([])
    await store.write(())
    assert await _state(store) == {}
    async with store.transaction() as tx:
        await tx.write([])


async def test_inside_a_transaction_a_batch_is_a_savepoint(store: Store) -> None:
    await store.add("c", "taken", b"t")
    async with store.transaction() as tx:
        await tx.add("c", "before", b"b")
        await tx.write([Add("c", "x", b"1"), Upsert("c", "taken", b"t2")])
        with pytest.raises(DuplicateRecord):
            await tx.write([Add("c", "y", b"2"), Add("c", "before", b"again")])
        # Only the failed batch was undone; the transaction goes on.
        assert {r.id for r in await tx.find("c")} == {"taken", "before", "x"}
        await tx.write([Delete("c", "x")])
        async with tx.transaction() as inner:
            await inner.write([Add("c", "inner", b"i")])
    assert await _state(store) == {
        "taken": (b"t2", 2, {}),
        "before": (b"b", 1, {}),
        "inner": (b"i", 1, {}),
    }


async def test_a_batch_inside_a_transaction_rolls_back_with_it(store: Store) -> None:
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await tx.write([Add("c", "a", b"1"), Upsert("c", "b", b"2")])
            raise RuntimeError("abandon")
    assert await _state(store) == {}


async def test_an_ended_transaction_refuses_a_batch(store: Store) -> None:
    async with store.transaction() as tx:
        pass
    with pytest.raises(TransactionError):
        await tx.write([Add("c", "a", b"1")])


async def test_sqlite_refuses_a_batch_on_the_store_while_holding_its_transaction(
    sqlite_store: Store,
) -> None:
    async with sqlite_store.transaction():
        with pytest.raises(TransactionError):
            await sqlite_store.write([Add("c", "a", b"1")])
    assert await _state(sqlite_store) == {}


@pytest.mark.parametrize(
    "bad",
    [
        Add("", "a", b"x"),
        Add("c", "", b"x"),
        Add("c", 5, b"x"),  # type: ignore[arg-type]
        Add("c", "a", "text"),  # type: ignore[arg-type]
        Add("c", "a", b"x", {"$t": "1"}),
        Add("c", "a", b"x", {"t": 1}),  # type: ignore[dict-item]
        Add("c", "a", b"x", {f"t{i}": "" for i in range(MAX_TAGS + 1)}),
        Upsert("c", "a", b"x", {"~p": "x" * 2000}),
        Upsert("c", "a", b"x" * (MAX_VALUE_BYTES + 1)),
        Update("c", "a", b"x", expected_version=0),
        Update("c", "a", b"x", expected_version=True),  # type: ignore[arg-type]
        Update("c", "a", b"x", ["t"]),  # type: ignore[arg-type]
        Delete("c", "a", expected_version=-1),
        Delete("c", "a", missing_ok="yes"),  # type: ignore[arg-type]
        ("add", "c", "a", b"x"),
        None,
    ],
)
async def test_bad_input_is_refused_before_anything_is_written(store: Store, bad: Any) -> None:
    await store.add("c", "a", b"x")
    with pytest.raises(InputError):
        await store.write([Add("c", "first", b"1"), bad])
    assert set(await _state(store)) == {"a"}


@pytest.mark.parametrize(
    "ops", [None, "ops", b"ops", Add("c", "a", b"x"), {"op": Add("c", "a", b"")}]
)
async def test_a_batch_must_be_a_sequence(store: Store, ops: Any) -> None:
    with pytest.raises(InputError):
        await store.write(ops)


async def test_bytearray_and_memoryview_values_are_taken(store: Store) -> None:
    await store.write(
        [Add("c", "a", bytearray(b"ba")), Upsert("c", "b", memoryview(b"mv"))]  # type: ignore[arg-type]
    )
    assert (await store.get("c", "a")).value == b"ba"
    assert (await store.get("c", "b")).value == b"mv"


async def test_the_default_implementation_agrees(store: Store) -> None:
    """The base class's write (one operation at a time in a transaction), as a backend
    without its own gets it."""
    await store.add("c", "taken", b"t", {"t": "1"})
    default = Store.write
    with pytest.raises(DuplicateRecord):
        await default(store, [Upsert("c", "taken", b"t2"), Add("c", "taken", b"x")])
    assert await _state(store) == {"taken": (b"t", 1, {"t": "1"})}
    await default(
        store,
        [
            Upsert("c", "taken", b"t2", {"~n": "2"}),
            Upsert("c", "fresh", b"f"),
            Delete("c", "gone", missing_ok=True),
            Update("c", "fresh", b"f2", expected_version=1),
        ],
    )
    assert await _state(store) == {"taken": (b"t2", 2, {"~n": "2"}), "fresh": (b"f2", 2, {})}
    async with store.transaction() as tx:
        with pytest.raises(RecordNotFound):
            await default(tx, [Add("c", "n", b""), Delete("c", "gone")])
    assert set(await _state(store)) == {"taken", "fresh"}


async def test_a_single_operation_outside_a_transaction(store: Store) -> None:
    """One operation alone needs no transaction on PostgreSQL: still atomic, still its own
    error."""
    await store.write([Upsert("c", "a", b"1", {"t": "1"})])
    with pytest.raises(DuplicateRecord):
        await store.write([Add("c", "a", b"2")])
    with pytest.raises(ConcurrentUpdate):
        await store.write([Update("c", "a", b"2", {"t": "2"}, expected_version=5)])
    assert await _state(store) == {"a": (b"1", 1, {"t": "1"})}
    await store.write([Delete("c", "a")])
    assert await _state(store) == {}
