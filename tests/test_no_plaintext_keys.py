"""No private key is on disk in the clear.

A wallet is made and used as a person would (DIDs of every method, messages packed and
unpacked both ways, v1 too); then every private key is read back through the wallet itself
(``Wallet.secret_for`` on every key id of every own DID), and every file under the home —
the SQLite file and its -wal / -shm companions while the wallet is open, and after it is
closed — is searched for each key in every text form a careless encoder could leave:
raw bytes, hex in both cases, base58, a private Multikey, and standard and URL-safe base64,
padded or not, at each of the three byte alignments it could have inside a longer blob.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable
from pathlib import Path

import base58
import pytest

from wallet import Wallet
from wallet.keys import KeyType, PrivateKey

from .test_cli_support import base_env, moi, ok

PASSPHRASE = "a passphrase nobody guesses"
_PRIVATE_MULTICODEC = {KeyType.ED25519: b"\x80\x26", KeyType.X25519: b"\x82\x26"}


def _b64_forms(secret: bytes) -> set[bytes]:
    """Each base64 alphabet at byte offsets 0, 1 and 2 within a longer blob: the characters
    that depend on the secret's bytes alone. Each is a substring of the secret's own
    encoding (padded or not) too, so these find a key encoded by itself as well."""
    forms = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for shift in (0, 1, 2):
            text = encode(bytes(shift) + secret + bytes(3))
            forms.add(text[4 if shift else 0 : 4 * ((shift + len(secret)) // 3)])
    return forms


def encodings(key: PrivateKey) -> dict[str, bytes]:
    """Every form of the secret (and of the X25519 secret derived from an Ed25519 one)."""
    secrets = [(key.type, key.secret)]
    if key.type is KeyType.ED25519:
        secrets.append((KeyType.X25519, key.to_x25519().secret))
    out: dict[str, bytes] = {}
    for kty, raw in secrets:
        assert len(raw) == 32
        tag = f"{kty.value}:{raw[:2].hex()}"
        out[f"{tag} raw"] = raw
        out[f"{tag} hex"] = raw.hex().encode()
        out[f"{tag} HEX"] = raw.hex().upper().encode()
        out[f"{tag} base58"] = base58.b58encode(raw)
        if kty in _PRIVATE_MULTICODEC:
            out[f"{tag} multikey"] = b"z" + base58.b58encode(_PRIVATE_MULTICODEC[kty] + raw)
        for i, form in enumerate(sorted(_b64_forms(raw))):
            out[f"{tag} base64 #{i}"] = form
    return out


def scan(home: Path, keys: Iterable[PrivateKey]) -> list[str]:
    """Which (file, key form) pairs occur in the files under ``home``."""
    forms = {name: form for key in keys for name, form in encodings(key).items()}
    found = []
    files = [p for p in home.rglob("*") if p.is_file()]
    assert files, f"nothing to scan under {home}"
    for path in files:
        data = path.read_bytes()
        found += [f"{path.name}: {name}" for name, form in forms.items() if form in data]
    return found


async def own_key_ids(wallet: Wallet) -> list[str]:
    """Every key id of every own DID: DID URLs (both forms for did:peer:4) and v1 verkeys."""
    kids: list[str] = []
    for info in await wallet.list_dids():
        doc = await wallet.resolve(info.did)
        for method in doc.verification_methods:
            kids.append(method.id)
            if info.short_form:
                kids.append(info.short_form + "#" + method.id.split("#", 1)[1])
            if method.public_key.type is KeyType.ED25519:
                kids.append(method.public_key.base58)
    return kids


async def read_back(wallet: Wallet) -> dict[str, bytes]:
    """Every private key, by key id, read through the wallet's own interface."""
    secrets = {}
    for kid in await own_key_ids(wallet):
        secret = await wallet.secret_for(kid)
        assert secret is not None, f"the wallet cannot find its own key {kid}"
        secrets[kid] = secret
    assert len({s.secret for s in secrets.values()}) == await wallet.store.count("key")
    return secrets


# -- the scanner finds what it looks for ------------------------------------------------------


@pytest.mark.parametrize("form", ["raw", "hex", "HEX", "base58", "multikey", "base64"])
def test_the_scanner_finds_a_planted_key(tmp_path: Path, form: str) -> None:
    key = PrivateKey.generate(KeyType.ED25519)
    planted = next(v for k, v in encodings(key).items() if k.split(" ", 1)[1].startswith(form))
    (tmp_path / "blob.bin").write_bytes(os.urandom(100) + planted + os.urandom(100))
    assert scan(tmp_path, [key])
    (tmp_path / "blob.bin").write_bytes(os.urandom(300))
    assert not scan(tmp_path, [key])


@pytest.mark.parametrize("shift", [0, 1, 2])
def test_the_scanner_finds_a_key_inside_a_base64_blob(tmp_path: Path, shift: int) -> None:
    key = PrivateKey.generate(KeyType.X25519)
    blob = os.urandom(30 + shift) + key.secret + os.urandom(31)
    (tmp_path / "doc.json").write_bytes(b'{"d": "' + base64.urlsafe_b64encode(blob) + b'"}')
    assert scan(tmp_path, [key])


# -- the wallet -------------------------------------------------------------------------------


async def _exercise(wallet: Wallet, dids: dict[str, str], peer: Wallet, peer_did: str) -> None:
    """Messages both ways in every mode, so that every key is used and cached."""
    body = {"type": "https://didcomm.org/basicmessage/2.0/message", "body": {"content": "hi"}}
    aries = {"@type": "https://didcomm.org/basicmessage/1.0/message", "@id": "1", "content": "x"}
    for did in dids.values():
        for mode, sign in (("authcrypt", False), ("authcrypt", True), ("signed", False)):
            await peer.unpack(await wallet.pack(body, to=[peer_did], frm=did, mode=mode, sign=sign))
        await wallet.unpack(await peer.pack(body, to=[did], frm=peer_did, mode="authcrypt"))
        await wallet.unpack(await peer.pack(body, to=[did], mode="anoncrypt", enc="A256GCM"))
        await peer.unpack(
            await wallet.pack(aries, to=[peer_did], frm=did, mode="authcrypt", v1=True)
        )
        await wallet.unpack(
            await peer.pack(aries, to=[did], frm=peer_did, mode="authcrypt", v1=True)
        )


async def test_no_private_key_in_any_file_of_the_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    url = f"sqlite://{home / 'wallet.db'}"
    wallet = await Wallet.create(url, passphrase=PASSPHRASE, kdf="argon2id-test")
    peer = await Wallet.create(f"sqlite://{tmp_path / 'peer.db'}", raw_key=os.urandom(32))
    try:
        dids = {
            "key": await wallet.create_did("key", label="k"),
            "peer2": await wallet.create_did("peer2", endpoints=["https://me.example/dc"]),
            "peer4": await wallet.create_did("peer4", endpoints=["https://me.example/dc"]),
        }
        peer_did = await peer.create_did("peer2")
        await _exercise(wallet, dids, peer, peer_did)
        first = await read_back(wallet)
        assert len(first) >= 3 * 3
        # While open, the newest pages are in the -wal file.
        assert (home / "wallet.db-wal").exists()
        assert scan(home, first.values()) == []
    finally:
        await wallet.close()
        await peer.close()
    assert scan(home, first.values()) == []

    reopened = await Wallet.open(url, passphrase=PASSPHRASE)
    try:
        again = await read_back(reopened)
        assert {k: v.secret for k, v in again.items()} == {k: v.secret for k, v in first.items()}
        assert scan(home, again.values()) == []
    finally:
        await reopened.close()
    assert scan(home, again.values()) == []


async def test_no_private_key_in_a_home_made_by_the_cli(tmp_path: Path) -> None:
    env = base_env(tmp_path, MOI_PASSPHRASE=PASSPHRASE)
    home = tmp_path / "moi"
    ok(moi("init", home=home, env=env))
    dids = [
        ok(moi("did", "create", "--method", m, home=home, env=env)).out.strip()
        for m in ("key", "peer2", "peer4")
    ]
    packed = ok(
        moi(
            "message",
            "pack",
            "--to",
            dids[1],
            "--from",
            dids[2],
            "--mode",
            "authcrypt",
            "--sign",
            "--body",
            '{"content": "note to self"}',
            home=home,
            env=env,
        )
    )
    ok(moi("message", "unpack", home=home, env=env, stdin=packed.out.encode()))
    wallet = await Wallet.open(f"sqlite://{home / 'wallet.db'}", passphrase=PASSPHRASE)
    try:
        secrets = await read_back(wallet)
        assert len(secrets) >= 9
        assert scan(home, secrets.values()) == []
    finally:
        await wallet.close()
    assert scan(home, secrets.values()) == []
