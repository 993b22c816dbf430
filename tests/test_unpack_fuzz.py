"""Property tests for ``Wallet.unpack`` on hostile input (issue 2: "unpacking mutated or random
input raises only moi's own error types; at least 10,000 examples in CI").

Bob's wallet (a real SQLite file) unpacks random bytes, random JSON, and mutations of valid
messages of every mode Alice can send him — plain, signed, anoncrypt with each enc, signed
then anoncrypt, authcrypt, signed then authcrypt, anoncrypt around authcrypt, two recipients,
DIDComm v1 authcrypt and anoncrypt: bytes flipped, dropped or inserted; fields dropped,
duplicated or retyped, also inside the base64url headers and payloads; parts and recipients
swapped between messages. Every example must either raise a :class:`MoiError` or, when the
message had any protection, give back exactly a plaintext Alice sent; and no example may
write to the wallet (its files are checked after each example, every row after each test).

The examples are derandomized (the same on every run) and number 10,500 across the tests.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wallet import Wallet
from wallet.didcomm.packing import ENCRYPTED_TYP
from wallet.encoding import dumps_compact
from wallet.errors import MoiError
from wallet.jose import jwe

from .test_cli_support import store_rows


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@dataclass
class World:
    loop: asyncio.AbstractEventLoop
    bob: Wallet
    home: Path
    rows: list[tuple[Any, ...]]
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    sent: list[dict[str, Any]] = field(default_factory=list)  # every plaintext Alice sent
    counted: dict[str, int] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Records per category the wallet keeps (keys, key ids, DIDs, peer long forms)."""
        count = self.bob.store.count
        return {
            c: self.loop.run_until_complete(count(c)) for c in ("key", "kid", "did", "peer4-long")
        }

    def files(self) -> tuple[tuple[str, int, int], ...]:
        """Size and modification time of the wallet file and its write-ahead log (every
        write goes to the log first); -shm is shared memory that readers touch too."""
        out = []
        for name in ("wallet.db", "wallet.db-wal"):
            path = self.home / name
            if path.exists():
                stat = path.stat()
                out.append((name, stat.st_size, stat.st_mtime_ns))
        return tuple(out)

    def unpack(self, data: Any, source: str | None = None) -> None:
        """Unpack as Bob: only a MoiError may come out, and nothing may be written."""
        before = self.files()
        try:
            got = self.loop.run_until_complete(self.bob.unpack(data))
        except MoiError:
            pass
        else:
            if source != "plain":
                # Protection held: whatever read must be something Alice really sent.
                assert got.message in self.sent, (source, got.message)
        assert self.files() == before, "unpack wrote to the wallet"


MODES: dict[str, dict[str, Any]] = {
    "plain": {"mode": "plain"},
    "signed": {"mode": "signed"},
    "anoncrypt-XC20P": {"mode": "anoncrypt", "enc": "XC20P"},
    "anoncrypt-A256GCM": {"mode": "anoncrypt", "enc": "A256GCM"},
    "anoncrypt-A256CBC-HS512": {"mode": "anoncrypt", "enc": "A256CBC-HS512"},
    "anoncrypt-signed": {"mode": "anoncrypt", "sign": True},
    "authcrypt": {"mode": "authcrypt"},
    "authcrypt-signed": {"mode": "authcrypt", "sign": True},
    "v1-authcrypt": {"mode": "authcrypt", "v1": True},
    "v1-anoncrypt": {"mode": "anoncrypt", "v1": True},
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    loop = asyncio.new_event_loop()
    home = tmp_path_factory.mktemp("fuzz")
    run = loop.run_until_complete
    bob = run(Wallet.create(f"sqlite://{home / 'wallet.db'}", raw_key=os.urandom(32)))
    alice = run(Wallet.create("sqlite://:memory:", raw_key=os.urandom(32)))
    carol = run(Wallet.create("sqlite://:memory:", raw_key=os.urandom(32)))
    try:
        b = {m: run(bob.create_did(m)) for m in ("key", "peer2", "peer4")}
        a = {m: run(alice.create_did(m)) for m in ("key", "peer2", "peer4")}
        c = run(carol.create_did("peer2"))
        w = World(loop, bob, home, [])
        senders = ["peer2", "peer4", "key"]
        for i, (name, options) in enumerate(MODES.items()):
            method = senders[i % 3]
            to = b[method]
            if options.get("v1"):
                msg: dict[str, Any] = {
                    "@type": "https://didcomm.org/basicmessage/1.0/message",
                    "@id": f"v1-{i}",
                    "content": "hi ✓",
                }
            else:
                msg = {
                    "type": "https://didcomm.org/basicmessage/2.0/message",
                    "id": f"m-{i}",
                    "body": {"content": "hi ✓", "n": i},
                }
            w.messages[name] = run(alice.pack(msg, to=[to], frm=a[method], **options))
        both = {"type": "t", "id": "two", "body": {}}
        w.messages["two-recipients"] = run(alice.pack(both, to=[b["peer2"], c], frm=a["peer2"]))
        w.messages["to-carol"] = run(alice.pack(both, to=[c], frm=a["peer2"]))
        # anoncrypt around authcrypt, as a mediator's forward would carry it
        bob_kid = run(bob.resolve(b["peer2"])).key_agreement_keys()[0]
        inner = dumps_compact(w.messages["authcrypt"]).encode()
        w.messages["anoncrypt-authcrypt"] = jwe.encrypt(
            inner, [(bob_kid.id, bob_kid.public_key)], enc="XC20P", typ=ENCRYPTED_TYP
        )
        for name, packed in w.messages.items():
            if name != "to-carol":
                w.sent.append(run(bob.unpack(packed)).message)  # also warms Bob's caches
        w.rows, w.counted = store_rows(home), w.counts()
        assert w.counted["did"] == 3
        yield w
    finally:
        for wallet in (alice, bob, carol):
            run(wallet.close())
        loop.close()


SOURCES = [
    "plain", "signed", "anoncrypt-XC20P", "anoncrypt-A256GCM", "anoncrypt-A256CBC-HS512",
    "anoncrypt-signed", "authcrypt", "authcrypt-signed", "v1-authcrypt", "v1-anoncrypt",
    "two-recipients", "anoncrypt-authcrypt",
]  # fmt: skip


# -- JSON, and the base64url JSON nested in envelopes ------------------------------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["", "A", "AA==", "eyJ9", "did:peer:2", "did:key:z6Mk", "X25519"])
)


def _json(leaves: int) -> st.SearchStrategy[Any]:
    return st.recursive(
        _scalars,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=10), children, max_size=4)
        ),
        max_leaves=leaves,
    )


json_values = _json(8)
#: for replacing one field: small, so that drawing it costs less than the unpack it feeds
small_json = _json(3)
ENVELOPE_KEYS = ["protected", "recipients", "iv", "ciphertext", "tag", "payload", "signatures",
                 "header", "kid", "encrypted_key", "id", "type", "body", "from", "to", "@type",
                 "@id", "alg", "enc", "epk", "skid", "apu", "apv", "typ"]  # fmt: skip
shaped = st.dictionaries(
    st.sampled_from(ENVELOPE_KEYS),
    json_values | st.binary(max_size=48).map(lambda b: base64.urlsafe_b64encode(b).decode()),
    max_size=8,
)


class Encoded(dict):  # type: ignore[type-arg]
    """A base64url-encoded JSON value, opened so that mutations reach inside it."""


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def opened(obj: Any, key: str | None = None) -> Any:
    """Open the base64url JSON inside: 'protected' headers and JWS 'payload'."""
    if key in ("protected", "payload") and isinstance(obj, str):
        try:
            inner = json.loads(_b64d(obj))
        except ValueError:
            return obj
        if isinstance(inner, dict):
            return Encoded(opened(inner))
    if isinstance(obj, dict):
        return type(obj)({k: opened(v, k) for k, v in obj.items()})
    if isinstance(obj, list):
        return [opened(v) for v in obj]
    return obj


def closed(obj: Any) -> Any:
    if isinstance(obj, Encoded):
        return _b64e(json.dumps(closed(dict(obj)), separators=(",", ":")).encode())
    if isinstance(obj, dict):
        return {k: closed(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [closed(v) for v in obj]
    return obj


def paths(obj: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [at]
    if isinstance(obj, dict):
        for key, value in obj.items():
            out += paths(value, (*at, key))
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            out += paths(value, (*at, index))
    return out


def get(obj: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        obj = obj[step]
    return obj


SAME = object()


def dumps_duplicating(
    obj: Any, target: tuple[Any, ...], value: Any = SAME, at: tuple[Any, ...] = ()
) -> str:
    """JSON text in which the object at ``target`` repeats its first member's name, with the
    same value or with ``value`` (a parser that keeps the last one would read that)."""
    if isinstance(obj, dict):
        items = [
            f"{json.dumps(str(k))}:{dumps_duplicating(v, target, value, (*at, k))}"
            for k, v in obj.items()
        ]
        if at == target and items:
            first = next(iter(obj))
            twin = items[0] if value is SAME else f"{json.dumps(str(first))}:{json.dumps(value)}"
            items.insert(1, twin)
        return "{" + ",".join(items) + "}"
    if isinstance(obj, list):
        inner = (dumps_duplicating(v, target, value, (*at, i)) for i, v in enumerate(obj))
        return "[" + ",".join(inner) + "]"
    return json.dumps(obj)


# -- the properties ---------------------------------------------------------------------------


@fuzz(1500)
@given(data=st.binary(max_size=2048))
def test_random_bytes(world: World, data: bytes) -> None:
    world.unpack(data)


@fuzz(1000)
@given(value=json_values | shaped, as_text=st.booleans())
def test_random_json(world: World, value: Any, as_text: bool) -> None:
    world.unpack(json.dumps(value) if as_text or not isinstance(value, dict) else value)


@fuzz(2500)
@given(source=st.sampled_from(SOURCES), data=st.data())
def test_bytes_flipped_dropped_inserted(world: World, source: str, data: st.DataObject) -> None:
    text = bytearray(json.dumps(world.messages[source]).encode())
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, len(text) - 1))
        op = data.draw(st.sampled_from(["flip", "drop", "insert"]))
        if op == "flip":
            text[pos] ^= data.draw(st.integers(1, 255))
        elif op == "drop":
            del text[pos]
        else:
            text.insert(pos, data.draw(st.integers(0, 255)))
    world.unpack(bytes(text), source)


MUTATIONS = ["drop", "retype", "string", "random"]


@fuzz(3000)
@given(source=st.sampled_from(SOURCES), data=st.data())
def test_fields_dropped_retyped_changed(world: World, source: str, data: st.DataObject) -> None:
    obj = opened(copy.deepcopy(world.messages[source]))
    for _ in range(data.draw(st.integers(1, 2))):
        path = data.draw(st.sampled_from(paths(obj)[1:] or [()]))
        if not path:
            break
        parent, last = get(obj, path[:-1]), path[-1]
        op = data.draw(st.sampled_from(MUTATIONS))
        value = parent[last]
        if op == "drop":
            del parent[last]
        elif op == "retype":
            choices = [None, True, 0, -1, 2**63, 1.5, "", [], {}, [value], {"v": value}]
            parent[last] = data.draw(st.sampled_from(choices))
        elif op == "string" and isinstance(value, str) and value:
            i = data.draw(st.integers(0, len(value) - 1))
            tweak = data.draw(st.sampled_from(["flip", "cut", "grow"]))
            if tweak == "flip":
                new = "A" if value[i] != "A" else "B"
                parent[last] = value[:i] + new + value[i + 1 :]
            elif tweak == "cut":
                parent[last] = value[:i]
            else:
                parent[last] = value + data.draw(st.text(min_size=1, max_size=8))
        else:
            parent[last] = data.draw(small_json)
    world.unpack(closed(obj), source)


@fuzz(1000)
@given(source=st.sampled_from(SOURCES), data=st.data())
def test_fields_duplicated(world: World, source: str, data: st.DataObject) -> None:
    obj = opened(copy.deepcopy(world.messages[source]))
    objects = [p for p in paths(obj) if isinstance(get(obj, p), dict) and get(obj, p)]
    target = data.draw(st.sampled_from(objects))
    value = data.draw(st.just(SAME) | small_json)
    # A target inside an encoded header or payload is duplicated in that layer's own JSON.
    layers = [i for i in range(1, len(target) + 1) if isinstance(get(obj, target[:i]), Encoded)]
    if layers:
        split = layers[-1]
        inner = dumps_duplicating(closed(dict(get(obj, target[:split]))), target[split:], value)
        get(obj, target[: split - 1])[target[split - 1]] = _b64e(inner.encode())
        world.unpack(json.dumps(closed(obj)), source)
    else:
        world.unpack(dumps_duplicating(closed(obj), target, value), source)


@fuzz(1500)
@given(source=st.sampled_from(SOURCES), other=st.sampled_from([*SOURCES, "to-carol"]),
       data=st.data())  # fmt: skip
def test_parts_and_recipients_swapped(
    world: World, source: str, other: str, data: st.DataObject
) -> None:
    mine, theirs = copy.deepcopy(world.messages[source]), world.messages[other]
    shared = sorted(set(mine) & set(theirs)) or sorted(mine)
    how = data.draw(st.sampled_from(["part", "recipients", "reorder", "merge"]))
    if how == "part" and set(mine) & set(theirs):
        key = data.draw(st.sampled_from(shared))
        mine[key] = copy.deepcopy(theirs[key])
    elif isinstance(mine.get("recipients"), list):
        entries = mine["recipients"]
        extra = theirs.get("recipients") if isinstance(theirs.get("recipients"), list) else []
        if how == "recipients" and extra:
            mine["recipients"] = copy.deepcopy(extra)
        elif how == "merge":
            mine["recipients"] = entries + copy.deepcopy(extra)
        else:
            mine["recipients"] = data.draw(st.permutations(entries))
    else:
        # v1 and JWS keep their recipients or signatures elsewhere: swap the protected
        # header's recipients (v1) or the signatures (JWS) instead.
        header = opened(mine)
        if isinstance(header.get("protected"), Encoded):
            theirs_header = opened(theirs).get("protected")
            if isinstance(theirs_header, Encoded) and "recipients" in theirs_header:
                header["protected"]["recipients"] = theirs_header["recipients"]
        elif "signatures" in header and "signatures" in theirs:
            header["signatures"] = copy.deepcopy(theirs["signatures"])
        mine = closed(header)
    world.unpack(mine if data.draw(st.booleans()) else json.dumps(mine), source)


def test_the_wallet_is_unchanged_after_all_the_examples(world: World) -> None:
    assert store_rows(world.home) == world.rows
    assert world.counts() == world.counted
