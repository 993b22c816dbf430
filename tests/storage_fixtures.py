"""Fixtures for the record store tests, and a worker that other processes run.

Test modules load them with ``pytest_plugins = ["tests.storage_fixtures"]``. PostgreSQL
comes from conftest's ``postgres_url`` (skipped when the server is down, failed under
``CI``); each test gets its own schema, dropped after.

As a program (``python -m tests.storage_fixtures URL COUNT``, passphrase on stdin) it
increments the ``counter``/``n`` record COUNT times, one transaction each, for the tests
that prove two processes never lose an update.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from wallet.storage import Store, create_store, open_store

PASSPHRASE = "correct horse battery staple"
KDF = "argon2id-test"
ROOT = Path(__file__).resolve().parent.parent


async def drop_schema(base: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(base, timeout=10)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


BACKENDS = ["sqlite", "memory", pytest.param("postgres", marks=pytest.mark.postgres)]
DURABLE = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


async def _url_for(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "memory":
        yield "sqlite://:memory:"
    elif request.param == "sqlite":
        yield f"sqlite://{tmp_path}/wallet.db"
    else:
        # conftest's fixture: skips when the server is down, fails instead under CI.
        base = request.getfixturevalue("postgres_url")
        schema = "moi_test_" + uuid.uuid4().hex[:12]
        try:
            yield f"{base}?schema={schema}"
        finally:
            await drop_schema(base, schema)


@pytest.fixture(params=BACKENDS)
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh location on each backend (in-memory SQLite included)."""
    async for url in _url_for(request, tmp_path):
        yield url


@pytest.fixture(params=DURABLE)
async def durable_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh location that outlives a closed store (SQLite file, PostgreSQL schema)."""
    async for url in _url_for(request, tmp_path):
        yield url


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres)])
async def postgres_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh PostgreSQL schema, for what only PostgreSQL does (row locks, schemas)."""
    async for url in _url_for(request, tmp_path):
        yield url


@pytest.fixture(params=["sqlite", "memory"])
async def sqlite_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async for url in _url_for(request, tmp_path):
        s = await create_store(url, passphrase=PASSPHRASE, kdf=KDF)
        try:
            yield s
        finally:
            await s.close()


@pytest.fixture
async def postgres_store(postgres_store_url: str) -> AsyncIterator[Store]:
    s = await create_store(postgres_store_url, passphrase=PASSPHRASE, kdf=KDF)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = await create_store(store_url, passphrase=PASSPHRASE, kdf=KDF)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def durable_store(durable_url: str) -> AsyncIterator[Store]:
    s = await create_store(durable_url, passphrase=PASSPHRASE, kdf=KDF)
    try:
        yield s
    finally:
        await s.close()


async def increment(store: Store, category: str = "counter", id: str = "n") -> int:
    """Read-modify-write one counter under a row lock; returns the new count."""
    async with store.transaction() as tx:
        record = await tx.get(category, id, for_update=True)
        value = int(record.value) + 1
        await tx.update(category, id, str(value).encode())
        return value


async def run_workers(url: str, processes: int, each: int) -> None:
    """Start ``processes`` copies of this module's worker on ``url`` and wait for them."""
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.storage_fixtures",
            url,
            str(each),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(processes)
    ]
    results = await asyncio.gather(*(p.communicate(PASSPHRASE.encode()) for p in procs))
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err.decode()
        assert out.decode().strip() == "done"


async def _worker(url: str, each: int) -> None:
    passphrase = sys.stdin.readline().strip()
    async with await open_store(url, passphrase=passphrase) as store:
        for _ in range(each):
            await increment(store)
    print("done")


if __name__ == "__main__":
    asyncio.run(_worker(sys.argv[1], int(sys.argv[2])))
