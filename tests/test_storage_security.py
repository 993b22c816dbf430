"""Encryption at rest, keys, wrong keys, tampering, and what errors and reprs reveal."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
import unicodedata
from pathlib import Path

import asyncpg
import pytest

from wallet.errors import (
    InputError,
    KeyFormatError,
    WalletExists,
    WalletLocked,
    WalletNotFound,
)
from wallet.storage import (
    CorruptRecord,
    Store,
    create_store,
    generate_raw_key,
    open_store,
    parse_raw_key,
    redact,
)
from wallet.storage.crypto import KDF_LEVELS

pytest_plugins = ["tests.storage_fixtures"]

PASS = "correct horse battery staple"
KDF = "argon2id-test"
SECRETS = {
    "category": "CategoryMarkerQ7",
    "id": "IdentifierMarkerZ3",
    "value": "ValueMarkerK9",
    "tag_name": "TagNameMarkerW2",
    "tag_value": "TagValueMarkerJ5",
}


async def _fill_with_markers(store: Store) -> None:
    m = SECRETS
    for i in range(20):
        await store.add(
            m["category"],
            f"{m['id']}-{i}",
            f'{{"note": "{m["value"]}"}}'.encode(),
            {m["tag_name"]: m["tag_value"], "~plain": "PlainValueVisibleP1"},
        )


def _scan(path: Path) -> bytes:
    data = b""
    for suffix in ("", "-wal"):
        file = Path(str(path) + suffix)
        if file.exists():
            data += file.read_bytes()
    return data


async def test_sqlite_file_holds_no_plaintext(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    store = await create_store(f"sqlite://{path}", passphrase=PASS, kdf=KDF)
    await _fill_with_markers(store)
    for data in (_scan(path), None):  # while open (WAL) and after close (checkpointed)
        if data is None:
            await store.close()
            data = _scan(path)
        for what, marker in SECRETS.items():
            for encoded in (marker.encode(), marker.encode("utf-16-le")):
                assert encoded not in data, f"{what} found in clear"
        # The scan does see clear text where it is meant to be: plain tag values.
        assert b"PlainValueVisibleP1" in data


async def test_postgres_tables_hold_no_plaintext(
    postgres_store: Store, postgres_store_url: str
) -> None:
    await _fill_with_markers(postgres_store)
    dump = await _pg_dump(postgres_store_url)
    for what, marker in SECRETS.items():
        assert marker.encode() not in dump, f"{what} found in clear"
    assert b"PlainValueVisibleP1" in dump


async def _snapshot(url: str) -> bytes:
    """Every byte of the store: the SQLite file, or the rows of the schema's tables."""
    if url.startswith("sqlite"):
        return await asyncio.to_thread(Path(url.removeprefix("sqlite://")).read_bytes)
    return await _pg_dump(url)


async def _pg_dump(url: str) -> bytes:
    base, schema = url.split("?schema=")
    conn = await asyncpg.connect(base)
    try:
        out = b""
        for table in ("keyring", "records", "tags", "ptags"):
            rows = await conn.fetch(f'SELECT * FROM "{schema}".{table} ORDER BY 1')
            out += repr([tuple(r) for r in rows]).encode()
        return out
    finally:
        await conn.close()


async def test_wrong_passphrase_is_locked_and_writes_nothing(durable_url: str) -> None:
    store = await create_store(durable_url, passphrase=PASS, kdf=KDF)
    await _fill_with_markers(store)
    await store.close()
    before = await _snapshot(durable_url)
    for attempt in ({"passphrase": "Not-The-Passphrase-X1"}, {"raw_key": bytes(32)}):
        with pytest.raises(WalletLocked) as caught:
            await open_store(durable_url, **attempt)  # type: ignore[arg-type]
        assert "X1" not in str(caught.value)
    assert await _snapshot(durable_url) == before
    async with await open_store(durable_url, passphrase=PASS) as store:
        assert await store.count(SECRETS["category"]) == 20


async def test_raw_keys(durable_url: str) -> None:
    key = os.urandom(32)
    store = await create_store(durable_url, raw_key=key)
    await store.add("c", "a", b"v")
    await store.close()
    for form in (key, key.hex(), key.hex().upper(), parse_raw_key(_b58(key))):
        async with await open_store(durable_url, raw_key=form) as store:
            assert (await store.get("c", "a")).value == b"v"
    with pytest.raises(WalletLocked, match="raw key"):
        await open_store(durable_url, passphrase=PASS)
    with pytest.raises(WalletLocked):
        await open_store(durable_url, raw_key=bytes(32))


def _b58(key: bytes) -> str:
    import base58

    return base58.b58encode(key).decode()


def test_raw_key_formats() -> None:
    key = bytes(range(32))
    assert parse_raw_key(key.hex()) == key
    assert parse_raw_key(_b58(key)) == key
    assert len(parse_raw_key(generate_raw_key())) == 32
    for bad in ("00" * 31, "zz" * 32, "0OIl" * 11, b"short", 42):
        with pytest.raises(KeyFormatError) as caught:
            parse_raw_key(bad)
        assert str(bad) not in str(caught.value)


async def test_create_on_existing_and_open_on_missing(durable_url: str) -> None:
    async with await create_store(durable_url, passphrase=PASS, kdf=KDF):
        pass
    with pytest.raises(WalletExists):
        await create_store(durable_url, passphrase=PASS, kdf=KDF)
    async with await open_store(durable_url, passphrase=PASS):
        pass
    missing = (
        durable_url.replace("wallet.db", "missing.db")
        if durable_url.startswith("sqlite")
        else durable_url + "_missing"
    )
    with pytest.raises(WalletNotFound):
        await open_store(missing, passphrase=PASS)
    if durable_url.startswith("sqlite"):
        never_created = Path(missing.removeprefix("sqlite://"))
        assert not await asyncio.to_thread(never_created.exists)  # open never creates


async def test_sqlite_specifics(tmp_path: Path) -> None:
    with pytest.raises(WalletNotFound):
        await open_store("sqlite://:memory:", passphrase=PASS)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(WalletExists):
        await create_store(f"sqlite://{other}", passphrase=PASS, kdf=KDF)
    with pytest.raises(WalletNotFound):
        await open_store(f"sqlite://{other}", passphrase=PASS)
    path = tmp_path / "w.db"
    async with await create_store(f"sqlite://{path}", passphrase=PASS, kdf=KDF):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(Exception, match="cannot create"):
        await create_store(f"sqlite://{tmp_path}/no/such/dir.db", passphrase=PASS, kdf=KDF)


async def test_swapped_or_altered_rows_fail_to_open(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    url = f"sqlite://{path}"
    async with await create_store(url, passphrase=PASS, kdf=KDF) as store:
        await store.add("c", "a", b"value a")
        await store.add("c", "b", b"value b")
        await store.add("c", "x", b"value x")
    conn = sqlite3.connect(path)
    (va,), (vb,) = conn.execute("SELECT value FROM records ORDER BY seq LIMIT 2").fetchall()
    conn.execute("UPDATE records SET value = ? WHERE seq = 1", (vb,))
    conn.execute("UPDATE records SET value = ? WHERE seq = 2", (va,))
    x = bytearray(conn.execute("SELECT meta FROM records WHERE seq = 3").fetchone()[0])
    x[-1] ^= 1
    conn.execute("UPDATE records SET meta = ? WHERE seq = 3", (bytes(x),))
    conn.commit()
    conn.close()
    async with await open_store(url, passphrase=PASS) as store:
        for id in ("a", "b", "x"):
            with pytest.raises(CorruptRecord):
                await store.get("c", id)
        with pytest.raises(CorruptRecord):
            await store.find("c")


async def test_lowered_kdf_cost_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    url = f"sqlite://{path}"
    async with await create_store(url, passphrase=PASS, kdf="argon2id-interactive"):
        pass
    conn = sqlite3.connect(path)
    doc = json.loads(conn.execute("SELECT doc FROM keyring").fetchone()[0])
    ops, mem = KDF_LEVELS["argon2id-interactive"]
    assert (doc["kdf"], doc["ops"], doc["mem"]) == ("argon2id", ops, mem)
    assert len(doc["salt"]) == 22  # 16 bytes, base64url
    doc["ops"] = 1
    conn.execute("UPDATE keyring SET doc = ?", (json.dumps(doc).encode(),))
    conn.commit()
    conn.close()
    with pytest.raises(WalletLocked):
        await open_store(url, passphrase=PASS)


async def test_change_key(durable_url: str) -> None:
    async with await create_store(durable_url, passphrase=PASS, kdf=KDF) as store:
        await store.add("c", "a", b"v", {"t": "1"})
        await store.change_key(passphrase="new passphrase", kdf=KDF)
        assert (await store.get("c", "a")).value == b"v"
    with pytest.raises(WalletLocked):
        await open_store(durable_url, passphrase=PASS)
    key = generate_raw_key()
    async with await open_store(durable_url, passphrase="new passphrase") as store:
        await store.change_key(raw_key=key)
    async with await open_store(durable_url, raw_key=key) as store:
        assert [r.id for r in await store.find("c", {"t": "1"})] == ["a"]


async def test_passphrase_is_unicode_normalised(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/w.db"
    composed = unicodedata.normalize("NFC", "pässwörd")
    async with await create_store(url, passphrase=composed, kdf=KDF):
        pass
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    async with await open_store(url, passphrase=decomposed):
        pass


async def test_secrets_stay_out_of_errors_and_reprs(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/w.db"
    key = bytes(range(32))
    store = await create_store(url, raw_key=key)
    texts = [repr(store), str(store), repr(store._db.keys)]  # type: ignore[attr-defined]
    await store.close()
    for attempt in ({"passphrase": "hunter2-secret"}, {"raw_key": "11" * 32}):
        with pytest.raises(WalletLocked) as caught:
            await open_store(url, **attempt)  # type: ignore[arg-type]
        texts.append(str(caught.value) + repr(caught.value.__cause__))
    with pytest.raises(InputError) as bad:
        await create_store(url, passphrase="hunter2-\udc80")
    texts.append(str(bad.value) + repr(bad.value.__cause__) + repr(bad.value.__context__))
    joined = "\n".join(texts)
    for secret in ("hunter2", key.hex(), "11" * 32, repr(key)):
        assert secret not in joined


def test_redact_hides_database_passwords() -> None:
    assert redact("postgresql://moi:s3cret@db:5432/x?schema=a") == (
        "postgresql://moi:***@db:5432/x?schema=a"
    )
    assert redact("sqlite:///a/b.db") == "sqlite:///a/b.db"


async def test_postgres_unreachable_error_hides_password() -> None:
    url = "postgresql://moi:s3cret@127.0.0.1:1/x?schema=a"
    with pytest.raises(Exception) as caught:
        await open_store(url, passphrase=PASS)
    assert "s3cret" not in str(caught.value)
    assert "StoreUnavailable" in type(caught.value).__name__


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://x", "must start with"),
        ("sqlite://relative.db", "absolute"),
        ("sqlite:///dir/", "absolute"),
        ("sqlite:///a#b.db", "fragment"),
        ("sqlite:///a.db?readers=x", "must be a number"),
        ("sqlite:///a.db?readers=99", "between"),
        ("sqlite:///a.db?colour=red", "unknown sqlite store option"),
        ("postgresql://h/db?schema=Bad-Name", "schema must be"),
        ("postgresql://h/db?schema=pg_x", "schema must be"),
        ("postgresql://h/db?min_size=5&max_size=2", "must not exceed"),
        ("x" * 5000, "too long"),
    ],
)
async def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        await create_store(url, passphrase=PASS, kdf=KDF)


async def test_key_arguments_are_checked() -> None:
    url = "sqlite://:memory:"
    with pytest.raises(InputError, match="exactly one"):
        await create_store(url)
    with pytest.raises(InputError, match="exactly one"):
        await create_store(url, passphrase=PASS, raw_key=bytes(32))
    with pytest.raises(InputError, match="unknown kdf"):
        await create_store(url, passphrase=PASS, kdf="md5")
    with pytest.raises(InputError, match="empty"):
        await create_store(url, passphrase="")


async def test_schemas_keep_tenants_apart(postgres_store_url: str) -> None:
    from tests.storage_fixtures import drop_schema

    base = postgres_store_url.split("?schema=")[0]
    other = postgres_store_url + "_b"
    async with (
        await create_store(postgres_store_url, passphrase=PASS, kdf=KDF) as a,
        await create_store(other, passphrase="other", kdf=KDF) as b,
    ):
        try:
            await a.add("c", "x", b"a's")
            await b.add("c", "x", b"b's")
            assert (await a.get("c", "x")).value == b"a's"
            assert (await b.get("c", "x")).value == b"b's"
            assert await a.count("c") == 1
        finally:
            await drop_schema(base, other.split("?schema=")[1])


def test_both_aead_paths_agree_and_detect_tampering() -> None:
    from wallet.storage import aead

    key, nonce = os.urandom(32), os.urandom(24)
    for message in (b"", b"x", os.urandom(70_000)):
        sealed = aead.encrypt(message, b"aad", nonce, key)
        assert sealed == aead.public_encrypt(message, b"aad", nonce, key)
        assert aead.decrypt(sealed, b"aad", nonce, key) == message
        assert aead.public_decrypt(sealed, b"aad", nonce, key) == message
        for bad in (
            (sealed[:-1] + bytes([sealed[-1] ^ 1]), b"aad"),
            (sealed, b"other aad"),
            (sealed[:10], b"aad"),
        ):
            with pytest.raises(aead.CryptoError):
                aead.decrypt(*bad, nonce, key)
    with pytest.raises(aead.CryptoError):
        aead.encrypt(b"m", b"", nonce[:12], key)
