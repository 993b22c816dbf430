"""Transactions, savepoints, row locks and concurrent writers — tasks and processes."""

from __future__ import annotations

import asyncio

import pytest

from wallet.errors import ConcurrentUpdate, DuplicateRecord, RecordNotFound
from wallet.storage import Store, TransactionError

pytest_plugins = ["tests.storage_fixtures"]


class Boom(Exception):
    pass


async def increment(store: Store) -> int:
    from tests.storage_fixtures import increment

    return await increment(store)


async def test_commit_on_exit(store: Store) -> None:
    await store.add("c", "old", b"1")
    await store.add("c", "gone", b"2")
    async with store.transaction() as tx:
        await tx.add("c", "new", b"3", {"t": "x"})
        await tx.update("c", "old", b"1b")
        await tx.delete("c", "gone")
        assert (await tx.get("c", "new")).value == b"3"  # a transaction reads its own writes
        assert await tx.count("c") == 2
    assert (await store.get("c", "new")).value == b"3"
    assert (await store.get("c", "old")).value == b"1b"
    with pytest.raises(RecordNotFound):
        await store.get("c", "gone")


async def test_rollback_on_error(store: Store) -> None:
    await store.add("c", "old", b"1", {"t": "a"})
    await store.add("c", "keep", b"2")
    with pytest.raises(Boom):
        async with store.transaction() as tx:
            await tx.add("c", "new", b"3", {"t": "a"})
            await tx.update("c", "old", b"changed", {"t": "b"})
            await tx.delete("c", "keep")
            raise Boom
    with pytest.raises(RecordNotFound):
        await store.get("c", "new")
    old = await store.get("c", "old")
    assert (old.value, old.version, dict(old.tags)) == (b"1", 1, {"t": "a"})
    assert (await store.get("c", "keep")).value == b"2"
    assert [r.id for r in await store.find("c", {"t": "a"})] == ["old"]


async def test_savepoints_nest(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.add("c", "outer", b"")
        with pytest.raises(Boom):
            async with tx.transaction() as inner:
                await inner.add("c", "undone", b"")
                raise Boom
        async with tx.transaction() as inner:
            await inner.add("c", "kept", b"")
            async with inner.transaction() as deeper:
                await deeper.update("c", "kept", b"deep")
    assert sorted(r.id for r in await store.find("c")) == ["kept", "outer"]
    assert (await store.get("c", "kept")).value == b"deep"


async def test_one_savepoint_at_a_time(store: Store) -> None:
    async with store.transaction() as tx:
        async with tx.transaction():
            with pytest.raises(TransactionError, match="one nested"):
                async with tx.transaction():
                    pass
        async with tx.transaction() as again:  # the first has ended: a new one may start
            await again.add("c", "a", b"")
    assert (await store.get("c", "a")).value == b""


async def test_a_failed_operation_leaves_the_transaction_usable(store: Store) -> None:
    await store.add("c", "a", b"1")
    async with store.transaction() as tx:
        with pytest.raises(DuplicateRecord):
            await tx.add("c", "a", b"again")
        with pytest.raises(RecordNotFound):
            await tx.update("c", "missing", b"")
        await tx.add("c", "b", b"2")
    assert sorted(r.id for r in await store.find("c")) == ["a", "b"]
    assert (await store.get("c", "a")).value == b"1"


async def test_an_ended_transaction_cannot_be_used(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.add("c", "a", b"")
    with pytest.raises(TransactionError):
        await tx.get("c", "a")
    with pytest.raises(TransactionError):
        await tx.add("c", "b", b"")


async def test_locking_needs_a_transaction(store: Store) -> None:
    await store.add("c", "a", b"")
    with pytest.raises(TransactionError):
        await store.get("c", "a", for_update=True)
    with pytest.raises(TransactionError):
        await store.find("c", for_update=True)


async def test_sqlite_refuses_what_would_deadlock(sqlite_store: Store) -> None:
    # (PostgreSQL would open the second transaction on another connection.)
    store = sqlite_store
    async with store.transaction() as tx:
        await tx.add("c", "a", b"")
        with pytest.raises(TransactionError):
            await store.add("c", "b", b"")
        with pytest.raises(TransactionError):
            async with store.transaction():
                pass

        async def child() -> None:  # a task spawned inside sees the same transaction
            await store.update("c", "a", b"x")

        with pytest.raises(TransactionError):
            await asyncio.create_task(child())
        with pytest.raises(TransactionError):
            await store.close()
    assert (await store.get("c", "a")).value == b""


async def test_uncommitted_writes_are_invisible_outside(durable_store: Store) -> None:
    store = durable_store
    await store.add("c", "a", b"before")
    async with store.transaction() as tx:
        await tx.add("c", "b", b"")
        await tx.update("c", "a", b"after")
        with pytest.raises(RecordNotFound):
            await store.get("c", "b")
        assert (await store.get("c", "a")).value == b"before"
    assert (await store.get("c", "a")).value == b"after"


async def test_fifty_tasks_never_lose_an_increment(store: Store) -> None:
    await store.add("counter", "n", b"0")
    results = await asyncio.gather(*(increment(store) for _ in range(50)))
    assert sorted(results) == list(range(1, 51))
    record = await store.get("counter", "n")
    assert (record.value, record.version) == (b"50", 51)


async def test_optimistic_writers_retry_on_conflict(store: Store) -> None:
    await store.add("counter", "n", b"0")
    conflicts = 0

    async def bump() -> None:
        nonlocal conflicts
        while True:
            seen = await store.get("counter", "n")
            await asyncio.sleep(0)  # let the others read the same version
            try:
                await store.update(
                    "counter", "n", str(int(seen.value) + 1).encode(), expected_version=seen.version
                )
                return
            except ConcurrentUpdate:
                conflicts += 1

    await asyncio.gather(*(bump() for _ in range(20)))
    assert (await store.get("counter", "n")).value == b"20"
    assert conflicts > 0  # the guard really fired


async def test_workers_claim_each_job_once(store: Store) -> None:
    async with store.transaction() as tx:
        for i in range(30):
            await tx.add("job", f"j{i:02d}", b"", {"state": "new"})
    claimed: list[str] = []

    async def worker(name: str) -> None:
        while True:
            async with store.transaction() as tx:
                jobs = await tx.find("job", {"state": "new"}, limit=1, for_update=True)
                if not jobs:
                    if await tx.count("job", {"state": "new"}) == 0:
                        return
                    continue  # all remaining jobs are locked by others right now
                job = jobs[0]
                await asyncio.sleep(0.001)  # hold the lock while others look
                await tx.update("job", job.id, name.encode(), {"state": "done"})
                claimed.append(job.id)

    await asyncio.gather(*(worker(f"w{i}") for i in range(6)))
    assert sorted(claimed) == [f"j{i:02d}" for i in range(30)]
    assert await store.count("job", {"state": "done"}) == 30


async def test_postgres_skips_rows_locked_by_another_transaction(
    postgres_store: Store,
) -> None:
    # (SQLite serialises whole transactions instead of locking rows.)
    store = postgres_store
    for i in range(4):
        await store.add("job", f"j{i}", b"", {"state": "new"})
    first_holds = asyncio.Event()
    release = asyncio.Event()

    async def first() -> list[str]:
        async with store.transaction() as tx:
            jobs = await tx.find("job", {"state": "new"}, limit=2, for_update=True)
            first_holds.set()
            await release.wait()
            return [j.id for j in jobs]

    task = asyncio.create_task(first())
    await first_holds.wait()
    async with store.transaction() as tx:
        second = [j.id for j in await tx.find("job", {"state": "new"}, limit=2, for_update=True)]
    release.set()
    assert await task == ["j0", "j1"]
    assert second == ["j2", "j3"]


@pytest.mark.slow
async def test_two_processes_never_lose_an_increment(durable_url: str) -> None:
    from tests.storage_fixtures import KDF, PASSPHRASE, run_workers
    from wallet.storage import create_store

    async with await create_store(durable_url, passphrase=PASSPHRASE, kdf=KDF) as store:
        await store.add("counter", "n", b"0")
        local = asyncio.gather(*(increment(store) for _ in range(20)))
        await asyncio.gather(run_workers(durable_url, 2, 40), local)
        record = await store.get("counter", "n")
    assert (record.value, record.version) == (b"100", 101)


async def test_cancelled_while_waiting_for_the_file_lock(tmp_path: object) -> None:
    """A transaction cancelled while SQLite waits for another connection's write lock must
    not leave the writer inside the transaction its late BEGIN opened."""
    from tests.storage_fixtures import KDF, PASSPHRASE
    from wallet.storage import create_store, open_store

    url = f"sqlite://{tmp_path}/w.db"
    async with (
        await create_store(url, passphrase=PASSPHRASE, kdf=KDF) as first,
        await open_store(url, passphrase=PASSPHRASE) as second,
    ):
        async with second.transaction() as holder:
            await holder.add("c", "held", b"")

            async def wait_for_lock() -> None:
                async with first.transaction() as tx:
                    await tx.add("c", "never", b"")

            waiting = asyncio.create_task(wait_for_lock())
            await asyncio.sleep(0.2)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
        await first.add("c", "after", b"")
        async with first.transaction() as tx:
            await tx.add("c", "again", b"")
        assert sorted(r.id for r in await second.find("c")) == ["after", "again", "held"]
