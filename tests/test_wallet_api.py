"""The Python API of issue 2: the documented example runs as written, every DID method
packs and unpacks in every mode, and a wallet reopened with its passphrase keeps its DIDs
and keys (and refuses a wrong one without touching the file)."""

from __future__ import annotations

import ast
import asyncio
import hashlib
import os
import textwrap
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import wallet.wallet as wallet_module
from wallet import Wallet
from wallet.didcomm import packing
from wallet.didcomm.message import BASIC_MESSAGE_V2, Message
from wallet.didcomm.packing import OFFLOAD_BYTES, Mode
from wallet.encoding import dumps_compact
from wallet.errors import DIDNotFound, WalletLocked
from wallet.keys import KeyType

METHODS = ("key", "peer2", "peer4")
PASSPHRASE = "seven ravens"


def docstring_example() -> str:
    """The code block after '::' in wallet.wallet's module docstring."""
    doc = wallet_module.__doc__ or ""
    _, found, after = doc.partition("::\n")
    assert found, "wallet/wallet.py's docstring has no example block"
    lines = []
    for line in after.splitlines():
        if line.strip() and not line.startswith("    "):
            break
        lines.append(line)
    code = textwrap.dedent("\n".join(lines)).strip()
    assert "await" in code and "unpack" in code
    return code


async def test_the_documented_example_runs_as_written(tmp_path: Path) -> None:
    code = docstring_example()
    # The example writes its wallets under /tmp; here they go to this test's own directory.
    assert code.count("sqlite:///tmp/") == 2
    code = code.replace("sqlite:///tmp/", f"sqlite://{tmp_path}/")
    namespace: dict[str, Any] = {}
    compiled = compile(
        code, "wallet.wallet docstring", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    )
    try:
        result = eval(compiled, namespace)  # the example is top-level-await code
        if result is not None:
            await result
        received = namespace["received"]
        assert received.message["body"] == {"content": "hi"}
        assert received.message["type"] == BASIC_MESSAGE_V2
        assert received.message["from"] == namespace["a"]
        assert received.message["to"] == [namespace["b"]]
        meta = received.metadata
        assert (meta.version, meta.encrypted, meta.authenticated) == ("v2", True, True)
        assert meta.sender_kid.startswith(namespace["a"] + "#")
        assert meta.recipient_kid.startswith(namespace["b"] + "#")
    finally:
        for name in ("alice", "bob"):
            if isinstance(namespace.get(name), Wallet):
                await namespace[name].close()


# -- round trips: every method, every mode ----------------------------------------------------


@dataclass
class Pair:
    alice: Wallet
    bob: Wallet
    a: dict[str, str]
    b: dict[str, str]


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    alice = await Wallet.create("sqlite://:memory:", raw_key=os.urandom(32))
    bob = await Wallet.create("sqlite://:memory:", raw_key=os.urandom(32))
    try:
        a = {m: await alice.create_did(m) for m in METHODS}
        b = {m: await bob.create_did(m, **_endpoint(m)) for m in METHODS}
        yield Pair(alice, bob, a, b)
    finally:
        await alice.close()
        await bob.close()


def _endpoint(method: str) -> dict[str, Any]:
    return {} if method == "key" else {"endpoints": ["https://bob.example/didcomm"]}


MODES = [
    ("plain", {"mode": "plain"}),
    ("signed", {"mode": "signed"}),
    *(
        (f"anoncrypt-{e}", {"mode": "anoncrypt", "enc": e})
        for e in ("XC20P", "A256GCM", "A256CBC-HS512")
    ),
    ("anoncrypt-signed", {"mode": "anoncrypt", "sign": True}),
    ("authcrypt", {"mode": "authcrypt"}),
    ("authcrypt-signed", {"mode": "authcrypt", "sign": True}),
    ("v1-authcrypt", {"mode": "authcrypt", "v1": True}),
    ("v1-anoncrypt", {"mode": "anoncrypt", "v1": True}),
]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("name", "options"), MODES, ids=[m[0] for m in MODES])
async def test_round_trip(pair: Pair, method: str, name: str, options: dict[str, Any]) -> None:
    frm, to = pair.a[method], pair.b[method]
    mode = Mode(options["mode"])
    if options.get("v1"):
        message: dict[str, Any] = {
            "@type": "https://didcomm.org/basicmessage/1.0/message",
            "@id": f"id-{name}",
            "content": "hello",
            "~l10n": {"locale": "en"},
        }
    else:
        message = {"type": BASIC_MESSAGE_V2, "id": f"id-{name}", "body": {"content": "hello"}}
    packed = await pair.alice.pack(message, to=[to], frm=frm, **options)
    got = await pair.bob.unpack(packed)
    meta = got.metadata
    if options.get("v1"):
        assert got.message == message
        assert meta.version == "v1" and meta.encrypted
        assert meta.authenticated is (mode is Mode.AUTHCRYPT)
        return
    assert got.message["id"] == f"id-{name}" and got.message["body"] == {"content": "hello"}
    assert got.message["from"] == frm and got.message["to"] == [to]
    encrypted = mode in (Mode.ANONCRYPT, Mode.AUTHCRYPT)
    signed = mode is Mode.SIGNED or bool(options.get("sign"))
    assert meta.version == "v2"
    assert meta.encrypted is encrypted
    assert meta.authenticated is (mode is Mode.AUTHCRYPT)
    assert meta.non_repudiation is signed
    assert meta.anonymous_sender is (mode is Mode.ANONCRYPT)
    if encrypted:
        assert meta.recipient_kid is not None and meta.recipient_kid.startswith(to + "#")
        assert await pair.bob.secret_for(meta.recipient_kid) is not None
    if mode is Mode.AUTHCRYPT or signed:
        assert meta.sender_kid is not None and meta.sender_kid.startswith(frm + "#")
    if signed:
        assert meta.signed_message is not None


async def test_a_message_object_packs_in_either_family(pair: Pair) -> None:
    frm, to = pair.a["peer2"], pair.b["peer4"]
    message = Message(type=BASIC_MESSAGE_V2, body={"content": "hi"}, id="m-1", frm=frm, to=(to,))
    v2 = await pair.bob.unpack(await pair.alice.pack(message, to=[to], frm=frm))
    assert v2.message == message.to_json()
    v1 = await pair.bob.unpack(await pair.alice.pack(message, to=[to], frm=frm, v1=True))
    assert v1.message == {"@type": BASIC_MESSAGE_V2, "@id": "m-1", "content": "hi"}


async def test_several_recipients_each_read_the_message(pair: Pair) -> None:
    carol = await Wallet.create("sqlite://:memory:", raw_key=os.urandom(32))
    try:
        c = await carol.create_did("peer2")
        to = [pair.b["peer2"], c]
        packed = await pair.alice.pack({"type": "t", "body": {}}, to=to, frm=pair.a["peer2"])
        assert len(packed["recipients"]) == 2
        for reader, did in ((pair.bob, to[0]), (carol, c)):
            got = await reader.unpack(packed)
            assert got.message["to"] == to
            assert got.metadata.recipient_kid.startswith(did + "#")
    finally:
        await carol.close()


# -- reopening --------------------------------------------------------------------------------


def _digest(path: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.iterdir())
        if p.is_file()
    }


async def _kids(wallet: Wallet) -> dict[str, bytes]:
    out = {}
    for info in await wallet.list_dids():
        for method in (await wallet.resolve(info.did)).verification_methods:
            secret = await wallet.secret_for(method.id)
            assert secret is not None
            out[method.id] = secret.secret
            if method.public_key.type is KeyType.ED25519:
                v1_secret = await wallet.secret_for(method.public_key.base58)
                assert v1_secret is not None and v1_secret.secret == secret.secret
    return out


async def test_reopen_keeps_dids_and_keys_and_refuses_a_wrong_passphrase(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    url = f"sqlite://{home / 'wallet.db'}"
    peer = await Wallet.create("sqlite://:memory:", raw_key=os.urandom(32))
    wallet = await Wallet.create(url, passphrase=PASSPHRASE, kdf="argon2id-test")
    try:
        dids = {m: await wallet.create_did(m, label=f"my {m}") for m in METHODS}
        listed = [i.to_json() for i in await wallet.list_dids()]
        keys = await _kids(wallet)
        # messages for every DID, packed while the wallet is open, read after it reopens
        sender = await peer.create_did("peer2")
        waiting = [
            await peer.pack({"type": "t", "body": {"n": i}}, to=[did], frm=sender)
            for i, did in enumerate(dids.values())
        ]
    finally:
        await wallet.close()
    before = _digest(home)

    for wrong in ("seven raven", PASSPHRASE.upper(), PASSPHRASE + " "):
        with pytest.raises(WalletLocked):
            await Wallet.open(url, passphrase=wrong)
    assert _digest(home) == before  # a wrong passphrase wrote nothing

    reopened = await Wallet.open(url, passphrase=PASSPHRASE)
    try:
        assert [i.to_json() for i in await reopened.list_dids()] == listed
        assert await _kids(reopened) == keys
        for i, packed in enumerate(waiting):
            assert (await reopened.unpack(packed)).message["body"] == {"n": i}
        for method, did in dids.items():
            assert (await reopened.get_did(did)).label == f"my {method}"
    finally:
        await reopened.close()
        await peer.close()


async def test_peer4_short_forms_resolve_after_reopen(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'wallet.db'}"
    other = await Wallet.create("sqlite://:memory:", raw_key=os.urandom(32))
    wallet = await Wallet.create(url, passphrase=PASSPHRASE, kdf="argon2id-test")
    try:
        own = await wallet.create_did("peer4")
        theirs = await other.create_did("peer4")
        unpacked_only = await other.create_did("peer4")
        await wallet.resolve(theirs)  # seen on purpose: remembered
        # seen only inside a message: kept in memory, never written by unpack
        got = await wallet.unpack(
            await other.pack({"type": "t", "body": {}}, to=[own], frm=unpacked_only)
        )
        assert got.metadata.sender_kid.startswith(unpacked_only + "#")
        assert (await wallet.resolve(_short(unpacked_only))).id == _short(unpacked_only)
    finally:
        await wallet.close()
        await other.close()

    reopened = await Wallet.open(url, passphrase=PASSPHRASE)
    try:
        for long_form in (own, theirs):
            doc = await reopened.resolve(_short(long_form))
            assert doc.id == _short(long_form)
            assert long_form in doc.to_json()["alsoKnownAs"]
        assert (await reopened.get_did(_short(own))).did == own
        # and the keys answer to the short form's key ids too
        kid = (await reopened.resolve(_short(own))).key_agreement_keys()[0].id
        assert kid.startswith(_short(own) + "#")
        assert await reopened.secret_for(kid) is not None
        with pytest.raises(DIDNotFound):
            await reopened.resolve(_short(unpacked_only))
    finally:
        await reopened.close()


def _short(long_form: str) -> str:
    return long_form.rsplit(":", 1)[0]


async def test_authcrypt_reuses_the_static_agreement_and_forgets_it_on_close() -> None:
    alice = await Wallet.create("sqlite://:memory:", raw_key=os.urandom(32))
    bob = await Wallet.create("sqlite://:memory:", raw_key=os.urandom(32))
    try:
        a, b = await alice.create_did("peer2"), await bob.create_did("peer2")
        for n in range(3):
            packed = await alice.pack({"type": "t", "body": {"n": n}}, to=[b], frm=a)
            assert (await bob.unpack(packed)).message["body"] == {"n": n}
        # one Zs per pair of keys, on each side, however many messages
        assert len(alice.agreement_cache) == 1 and len(bob.agreement_cache) == 1
    finally:
        await alice.close()
        await bob.close()
    assert len(alice.agreement_cache) == 0 and len(bob.agreement_cache) == 0


# -- large messages: bulk work off the event loop ---------------------------------------------


LARGE_MODES = [m for m in MODES if m[0] != "plain"]


@pytest.mark.parametrize(("name", "options"), LARGE_MODES, ids=[m[0] for m in LARGE_MODES])
@pytest.mark.parametrize("size", [1024, 3 * OFFLOAD_BYTES])
async def test_bulk_work_of_a_large_message_runs_in_a_worker_thread(
    pair: Pair,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    options: dict[str, Any],
    size: int,
) -> None:
    """Small messages are packed and unpacked on the loop (a thread hop would cost more than
    the work); above OFFLOAD_BYTES the ciphers, base64 and the payload's JSON run in a thread,
    with the same results."""
    threads: list[str] = []
    real = asyncio.to_thread

    async def counting(fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        def run() -> Any:
            threads.append(threading.current_thread().name)
            return fn(*args, **kwargs)

        return await real(run)

    monkeypatch.setattr(packing.asyncio, "to_thread", counting)
    frm, to = pair.a["peer2"], pair.b["peer2"]
    content = "x" * size
    if options.get("v1"):
        message: dict[str, Any] = {"@type": BASIC_MESSAGE_V2, "@id": "big", "content": content}
    else:
        message = {"type": BASIC_MESSAGE_V2, "id": "big", "body": {"content": content}}
    packed = await pair.alice.pack(message, to=[to], frm=frm, **options)
    got = await pair.bob.unpack(dumps_compact(packed).encode("utf-8"))
    body = got.message if options.get("v1") else got.message["body"]
    assert body["content"] == content
    if size < OFFLOAD_BYTES:
        assert threads == []
    else:
        # pack (sign and/or encrypt) and unpack (the wire's JSON, then each layer) both hop
        assert len(threads) >= 3
        assert threading.main_thread().name not in threads


async def test_an_oversized_message_is_refused_before_any_thread_hop(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_hop(*_: Any, **__: Any) -> Any:
        raise AssertionError("no thread for a message over the limit")

    monkeypatch.setattr(packing.asyncio, "to_thread", no_hop)
    with pytest.raises(packing.MessageTooLarge):
        await pair.bob.unpack(b'{"ciphertext":"' + b"A" * (2 * 1024 * 1024) + b'"}')
