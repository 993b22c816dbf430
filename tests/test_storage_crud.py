"""Add, get, update, delete and versions, on every backend."""

from __future__ import annotations

import pytest

from wallet.errors import (
    ConcurrentUpdate,
    DuplicateRecord,
    InputError,
    RecordNotFound,
    WalletLocked,
)
from wallet.storage import Record, Store
from wallet.storage.base import MAX_TAGS, MAX_VALUE_BYTES

pytest_plugins = ["tests.storage_fixtures"]


async def test_add_then_get_round_trips(store: Store) -> None:
    tags = {"state": "active", "~created": "2025-01-02T03:04:05Z"}
    added = await store.add("connection", "c-1", b'{"label": "Alice"}', tags)
    assert added == Record("connection", "c-1", b'{"label": "Alice"}', tags, 1)
    got = await store.get("connection", "c-1")
    assert got.category == "connection" and got.id == "c-1"
    assert got.value == b'{"label": "Alice"}'
    assert dict(got.tags) == tags
    assert got.version == 1
    assert got.json() == {"label": "Alice"}


async def test_json_is_strict(store: Store) -> None:
    await store.add("c", "dup", b'{"a": 1, "a": 2}')
    with pytest.raises(InputError, match="duplicate"):
        (await store.get("c", "dup")).json()


async def test_tags_of_a_record_are_read_only(store: Store) -> None:
    record = await store.add("c", "x", b"v", {"a": "1"})
    with pytest.raises(TypeError):
        record.tags["a"] = "2"  # type: ignore[index]
    with pytest.raises(TypeError):
        (await store.get("c", "x")).tags["b"] = "3"  # type: ignore[index]


async def test_unicode_and_edge_values_round_trip(store: Store) -> None:
    big = bytes(range(256)) * 4096  # 1 MiB, every byte value
    await store.add("ünï", "🔑/id with spaces", b"", {"näme": "välue ✓", "~t": "ζ"})
    await store.add("ünï", "big", big)
    empty = await store.get("ünï", "🔑/id with spaces")
    assert empty.value == b"" and dict(empty.tags) == {"näme": "välue ✓", "~t": "ζ"}
    assert (await store.get("ünï", "big")).value == big


async def test_duplicate_is_refused_and_the_original_kept(store: Store) -> None:
    await store.add("c", "a", b"first", {"t": "1"})
    with pytest.raises(DuplicateRecord):
        await store.add("c", "a", b"second", {"t": "2"})
    got = await store.get("c", "a")
    assert got.value == b"first" and dict(got.tags) == {"t": "1"}
    assert await store.count("c", {"t": "2"}) == 0


async def test_same_id_in_two_categories_are_two_records(store: Store) -> None:
    await store.add("a", "same", b"1", {"t": "x"})
    await store.add("b", "same", b"2", {"t": "x"})
    assert (await store.get("a", "same")).value == b"1"
    assert (await store.get("b", "same")).value == b"2"
    assert [r.value for r in await store.find("a", {"t": "x"})] == [b"1"]


async def test_get_missing_raises(store: Store) -> None:
    with pytest.raises(RecordNotFound):
        await store.get("c", "nope")
    await store.add("c", "yes", b"")
    with pytest.raises(RecordNotFound):
        await store.get("other", "yes")


async def test_update_bumps_version_and_replaces_tags(store: Store) -> None:
    await store.add("c", "a", b"v1", {"t": "1", "~p": "x"})
    kept = await store.update("c", "a", b"v2")
    assert kept.version == 2 and kept.value == b"v2" and dict(kept.tags) == {"t": "1", "~p": "x"}
    replaced = await store.update("c", "a", b"v3", {"u": "2"})
    assert replaced.version == 3 and dict(replaced.tags) == {"u": "2"}
    got = await store.get("c", "a")
    assert (got.value, got.version, dict(got.tags)) == (b"v3", 3, {"u": "2"})
    assert await store.count("c", {"t": "1"}) == 0
    assert await store.count("c", {"~p": "x"}) == 0
    assert await store.count("c", {"u": "2"}) == 1
    cleared = await store.update("c", "a", b"v4", {})
    assert dict(cleared.tags) == {} and await store.count("c", {"u": "2"}) == 0


async def test_update_with_same_tags_keeps_them_findable(store: Store) -> None:
    await store.add("c", "a", b"v1", {"t": "1", "~p": "x"})
    await store.update("c", "a", b"v2", {"t": "1", "~p": "x"})
    assert [r.value for r in await store.find("c", {"t": "1", "~p": "x"})] == [b"v2"]


async def test_update_missing_raises(store: Store) -> None:
    with pytest.raises(RecordNotFound):
        await store.update("c", "nope", b"")
    with pytest.raises(RecordNotFound):
        await store.update("c", "nope", b"", {"t": "1"}, expected_version=1)


async def test_expected_version_guards_update(store: Store) -> None:
    await store.add("c", "a", b"v1")
    seen = await store.get("c", "a")
    await store.update("c", "a", b"theirs", expected_version=seen.version)
    with pytest.raises(ConcurrentUpdate):
        await store.update("c", "a", b"mine", expected_version=seen.version)
    with pytest.raises(ConcurrentUpdate):
        await store.update("c", "a", b"mine", {"t": "x"}, expected_version=seen.version)
    got = await store.get("c", "a")
    assert (got.value, got.version, dict(got.tags)) == (b"theirs", 2, {})
    assert (await store.update("c", "a", b"mine", expected_version=2)).version == 3


async def test_delete(store: Store) -> None:
    await store.add("c", "a", b"v", {"t": "1", "~p": "2"})
    await store.add("c", "b", b"w", {"t": "1"})
    await store.delete("c", "a")
    with pytest.raises(RecordNotFound):
        await store.get("c", "a")
    assert [r.id for r in await store.find("c", {"t": "1"})] == ["b"]
    assert await store.count("c", {"~p": "2"}) == 0
    with pytest.raises(RecordNotFound):
        await store.delete("c", "a")
    # The id is free again, and the new record starts over at version 1.
    assert (await store.add("c", "a", b"again")).version == 1


async def test_expected_version_guards_delete(store: Store) -> None:
    await store.add("c", "a", b"v")
    await store.update("c", "a", b"w")
    with pytest.raises(ConcurrentUpdate):
        await store.delete("c", "a", expected_version=1)
    assert (await store.get("c", "a")).value == b"w"
    await store.delete("c", "a", expected_version=2)
    with pytest.raises(RecordNotFound):
        await store.delete("c", "a", expected_version=2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((1, "a", b""), "category must be a string"),
        (("", "a", b""), "category must not be empty"),
        (("c", "", b""), "id must not be empty"),
        (("c", "x" * 1025, b""), "id is 1025 characters"),
        (("c", "\udc80", b""), "not valid Unicode"),
        (("c", "a", "text"), "value must be bytes"),
        (("c", "a", b"", {"t": 1}), "must have a string value"),
        (("c", "a", b"", {"": "v"}), "tag name must not be empty"),
        (("c", "a", b"", {"~": "v"}), "tag name must not be empty"),
        (("c", "a", b"", {"$in": "v"}), "must not start with '\\$'"),
        (("c", "a", b"", {"~p": "x" * 1025}), "over the limit of 1024"),
        (("c", "a", b"", {f"t{i}": "v" for i in range(MAX_TAGS + 1)}), "at most 64 tags"),
        (("c", "a", b"", ["t"]), "tags must be a mapping"),
    ],
)
async def test_bad_input_is_refused_before_storage(
    store: Store, args: tuple[object, ...], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        await store.add(*args)  # type: ignore[arg-type]
    assert await store.count("c") == 0


async def test_oversized_value_and_bad_versions(store: Store) -> None:
    with pytest.raises(InputError, match="over the limit"):
        await store.add("c", "a", bytes(MAX_VALUE_BYTES + 1))
    await store.add("c", "a", b"")
    for bad in (0, -1, True, "1"):
        with pytest.raises(InputError, match="expected_version"):
            await store.update("c", "a", b"", expected_version=bad)  # type: ignore[arg-type]


async def test_long_hashed_tag_values_are_fine(store: Store) -> None:
    did = "did:peer:2." + "E" * 5000
    await store.add("c", "a", b"", {"their_did": did})
    assert [r.id for r in await store.find("c", {"their_did": did})] == ["a"]


async def test_repr_hides_values_and_tag_values(store: Store) -> None:
    record = await store.add("c", "a", b"secret-value", {"name": "secret-tag"})
    text = repr(record)
    assert "secret-value" not in text and "secret-tag" not in text
    assert "12 bytes" in text and "'name'" in text


async def test_closed_store_refuses_work(store: Store) -> None:
    await store.add("c", "a", b"v")
    await store.close()
    with pytest.raises(WalletLocked):
        await store.get("c", "a")
    with pytest.raises(WalletLocked):
        await store.add("c", "b", b"v")
    await store.close()  # closing twice is harmless


async def test_async_with_closes(store_url: str) -> None:
    from tests.storage_fixtures import KDF, PASSPHRASE
    from wallet.storage import create_store

    async with await create_store(store_url, passphrase=PASSPHRASE, kdf=KDF) as s:
        await s.add("c", "a", b"v")
    with pytest.raises(WalletLocked):
        await s.get("c", "a")
