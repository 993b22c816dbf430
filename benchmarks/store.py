"""The encrypted record store: add, get and find-by-tag rates at a small and a large size.

``python -m benchmarks.store [--quick] [--postgres URL]`` prints one JSON object. For each
backend (SQLite file; PostgreSQL if reachable) and each size (1,000 and 100,000 records;
``--quick``: 1,000 and 10,000) it fills a fresh store, then times single operations on
top of it — add (each its own commit), get by id, find by a unique hashed tag, find the
first 10 of a 1 % tag — and reports medians (µs) and rates (per second). Then:

- ``find_ratio``: median find-by-tag at the large size / at 1,000 (the target is ≤ 2: the
  lookup goes through an index, so its cost should hardly grow with the store);
- the floors measured in the same run: one round trip of the driver alone (a primary-key
  SELECT on SQLite through aiosqlite, ``SELECT 1`` on PostgreSQL) and the crypto a get
  pays (open two XChaCha20-Poly1305 ciphertexts), with each operation's ratio to them.

Times are wall-clock, since a database's work happens on other threads and processes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from wallet.storage import Store, create_store
from wallet.storage.crypto import StoreKeys

VALUE = json.dumps({"type": "message", "body": "x" * 160}).encode()
BATCH = 1000


def _tags(i: int) -> dict[str, str]:
    return {"idx": str(i), "grp": str(i % 100), "~ts": f"{i:010d}"}


async def _timed(op: Callable[[int], Awaitable[Any]], count: int) -> float:
    """Median µs of ``count`` calls of ``op(i)``."""
    samples = []
    for i in range(count):
        start = time.perf_counter()
        await op(i)
        samples.append((time.perf_counter() - start) * 1e6)
    return statistics.median(samples)


async def _fill(store: Store, size: int) -> None:
    for start in range(0, size, BATCH):
        async with store.transaction() as tx:
            for i in range(start, min(size, start + BATCH)):
                await tx.add("msg", f"m{i}", VALUE, _tags(i))


async def _measure(store: Store, size: int, reps: int) -> dict[str, float]:
    rng = random.Random(size)
    picks = [rng.randrange(size) for _ in range(reps)]
    base = size + 10_000_000
    out = {
        "add_us": await _timed(
            lambda i: store.add("msg", f"new{base + i}", VALUE, _tags(base + i)), reps
        ),
        "get_us": await _timed(lambda i: store.get("msg", f"m{picks[i]}"), reps),
        "find_tag_us": await _timed(lambda i: store.find("msg", {"idx": str(picks[i])}), reps),
        "find_group_first10_us": await _timed(
            lambda i: store.find("msg", {"grp": str(picks[i] % 100)}, limit=10), reps
        ),
    }
    for name in list(out):
        out[name.replace("_us", "_per_s")] = round(1e6 / out[name], 1)
        out[name] = round(out[name], 1)
    return out


async def _sqlite_floor(path: str, reps: int) -> float:
    import aiosqlite

    async with aiosqlite.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return await _timed(
            lambda i: conn.execute_fetchall("SELECT seq FROM records WHERE seq = ?", (i + 1,)), reps
        )


async def _postgres_floor(base: str, reps: int) -> float:
    import asyncpg

    conn = await asyncpg.connect(base)
    try:
        return await _timed(lambda i: conn.fetchval("SELECT 1"), reps)
    finally:
        await conn.close()


async def _backend(name: str, sizes: list[int], reps: int, pg_base: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for size in sizes:
        if name == "sqlite":
            folder = tempfile.mkdtemp(prefix="moi-bench-")
            path = os.path.join(folder, "wallet.db")
            url = f"sqlite://{path}"
        else:
            schema = "moi_bench_" + uuid.uuid4().hex[:10]
            url = f"{pg_base}?schema={schema}"
        store = await create_store(url, passphrase="benchmark", kdf="argon2id-test")
        try:
            started = time.perf_counter()
            await _fill(store, size)
            fill_s = time.perf_counter() - started
            figures = await _measure(store, size, reps)
            figures["fill_per_s"] = round(size / fill_s, 1)
            if name == "sqlite":
                floor = await _sqlite_floor(path, reps)
            else:
                floor = await _postgres_floor(pg_base, reps)
            figures["driver_round_trip_us"] = round(floor, 1)
            figures["get_vs_round_trip"] = round(figures["get_us"] / floor, 2)
            figures["find_tag_vs_round_trip"] = round(figures["find_tag_us"] / floor, 2)
            result[str(size)] = figures
        finally:
            await store.close()
            if name == "sqlite":
                await asyncio.to_thread(shutil.rmtree, folder)
            else:
                await _drop(pg_base, schema)
    small, large = result[str(sizes[0])], result[str(sizes[-1])]
    result["find_ratio"] = round(large["find_tag_us"] / small["find_tag_us"], 2)
    result["find_ratio_target"] = 2.0
    return result


async def _drop(base: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(base)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def _reachable(base: str) -> str | None:
    try:
        import asyncpg

        conn = await asyncpg.connect(base, timeout=5)
        await conn.close()
        return None
    except Exception as err:  # any failure means: report it and go on without PostgreSQL
        return f"{type(err).__name__}: {err}"


def _crypto_floor(reps: int) -> dict[str, float]:
    keys = StoreKeys(os.urandom(32))
    enc = keys.encode("msg", "m1", VALUE, _tags(1))
    samples_open, samples_hash = [], []
    for _ in range(reps):
        start = time.perf_counter()
        keys.open_record("msg", enc.category, enc.name, 1, enc.meta, enc.value)
        samples_open.append((time.perf_counter() - start) * 1e6)
        start = time.perf_counter()
        keys.record_name(enc.category, "m1")
        samples_hash.append((time.perf_counter() - start) * 1e6)
    return {
        "open_record_us": round(statistics.median(samples_open), 2),
        "keyed_hash_us": round(statistics.median(samples_hash), 2),
    }


async def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 and 10,000 records")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("MOI_BENCH_POSTGRES", "postgresql://127.0.0.1:5432/test"),
        help="PostgreSQL database to use (a schema is created and dropped)",
    )
    args = parser.parse_args(argv)
    sizes = [1000, 10_000] if args.quick else [1000, 100_000]
    reps = 300 if args.quick else 1000
    out: dict[str, Any] = {
        "benchmark": "store",
        "quick": args.quick,
        "sizes": sizes,
        "operations_timed": reps,
        "crypto": _crypto_floor(reps),
        "sqlite": await _backend("sqlite", sizes, reps, args.postgres),
    }
    why = await _reachable(args.postgres)
    if why is None:
        out["postgres"] = await _backend("postgres", sizes, reps, args.postgres)
    else:
        out["postgres"] = {"skipped": why}
    open_us = out["crypto"]["open_record_us"]
    for name in ("sqlite", "postgres"):
        for size in sizes:
            figures = out[name].get(str(size))
            if figures:
                figures["get_vs_crypto"] = round(figures["get_us"] / open_us, 1)
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1:])), indent=2))
