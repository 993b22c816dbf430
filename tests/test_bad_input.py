"""Bad input through the Python API (issue 2, "Bad input"): truncated, oversized, non-JSON,
wrong-type, wrong-key, tampered and replayed messages, spoofed senders, unknown DID methods
and unreachable did:web hosts. Each raises the precise moi error, with a message naming what
was wrong, and leaves every record of the wallet as it was. (The CLI face of the same cases is
``test_cli_errors.py``.)"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from wallet import Wallet
from wallet.did import default_registry
from wallet.did.errors import WebHostUnreachable
from wallet.didcomm.packing import ENCRYPTED_TYP, RecipientMismatch, SenderMismatch
from wallet.errors import (
    DecryptionError,
    DIDNotFound,
    InputError,
    InvalidDID,
    KeyNotFound,
    MalformedEnvelope,
    MalformedMessage,
    NoRecipientKey,
    ResolutionError,
    SignatureError,
    TooLargeError,
    UnsupportedAlgorithm,
    UnsupportedDIDMethod,
)
from wallet.jose import jwe
from wallet.keys import KeyType, PrivateKey

from .test_cli_support import store_rows

MESSAGE = {"type": "https://didcomm.org/basicmessage/2.0/message", "body": {"content": "hi"}}


@dataclass
class Parties:
    alice: Wallet
    bob: Wallet
    carol: Wallet
    a: str
    b: str
    c: str
    homes: dict[str, Path]
    packed: dict[str, dict[str, Any]]


@pytest.fixture
async def parties(tmp_path: Path) -> AsyncIterator[Parties]:
    homes = {name: tmp_path / name for name in ("alice", "bob", "carol")}
    wallets = {}
    for name, home in homes.items():
        home.mkdir()
        wallets[name] = await Wallet.create(
            f"sqlite://{home / 'wallet.db'}", raw_key=os.urandom(32)
        )
    alice, bob, carol = wallets["alice"], wallets["bob"], wallets["carol"]
    try:
        a, b, c = [await w.create_did("peer2") for w in (alice, bob, carol)]
        packed = {
            "authcrypt": await alice.pack(MESSAGE, to=[b], frm=a, mode="authcrypt"),
            "signed": await alice.pack(MESSAGE, to=[b], frm=a, mode="signed"),
            "to_carol": await alice.pack(MESSAGE, to=[c], frm=a, mode="authcrypt"),
            "v1": await alice.pack(_aries(), to=[b], frm=a, mode="authcrypt", v1=True),
            "v1_to_carol": await alice.pack(_aries(), to=[c], frm=a, mode="authcrypt", v1=True),
        }
        yield Parties(alice, bob, carol, a, b, c, homes, packed)
    finally:
        for wallet in wallets.values():
            await wallet.close()


def _aries() -> dict[str, Any]:
    return {"@type": "https://didcomm.org/basicmessage/1.0/message", "@id": "1", "content": "x"}


def _flip(text: str) -> str:
    return ("B" if text[0] == "A" else "A") + text[1:]


def _reheader(protected: str, **changes: Any) -> str:
    header = json.loads(base64.urlsafe_b64decode(protected + "=" * (-len(protected) % 4)))
    header.update(changes)
    return base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()


async def _agreement(did: str) -> tuple[str, Any]:
    registry = default_registry()
    try:
        method = (await registry.resolve(did)).key_agreement_keys()[0]
    finally:
        await registry.close()
    return method.id, method.public_key


def _encrypt_to(kid_key: tuple[str, Any], payload: Any, **options: Any) -> dict[str, Any]:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return jwe.encrypt(
        data, [kid_key], enc=options.pop("enc", "XC20P"), typ=ENCRYPTED_TYP, **options
    )


# Each case: (what to unpack, given the parties) -> (the error class, words of its message).
Unpack = Callable[[Parties], Awaitable[Any]]
UNPACK_CASES: dict[str, tuple[Unpack, type[Exception], str]] = {}


def case(name: str, error: type[Exception], words: str) -> Callable[[Unpack], Unpack]:
    def register(build: Unpack) -> Unpack:
        UNPACK_CASES[name] = (build, error, words)
        return build

    return register


@case("truncated", MalformedEnvelope, "not valid JSON")
async def _truncated(p: Parties) -> Any:
    text = json.dumps(p.packed["authcrypt"])
    return text[: len(text) // 2]


@case("oversized", TooLargeError, "over the limit of 1048576")
async def _oversized(p: Parties) -> Any:
    return b'{"ciphertext": "' + b"A" * (1024 * 1024) + b'"}'


@case("non-json", MalformedEnvelope, "not valid JSON")
async def _non_json(p: Parties) -> Any:
    return b"this is not JSON"


@case("non-utf8", MalformedEnvelope, "UTF-8")
async def _non_utf8(p: Parties) -> Any:
    return b'{"id": "\xff"}'


@case("duplicate-key", MalformedEnvelope, "duplicate key 'ciphertext'")
async def _duplicate(p: Parties) -> Any:
    return b'{"ciphertext": "a", "ciphertext": "b", "protected": "x"}'


@case("nan", MalformedEnvelope, "NaN")
async def _nan(p: Parties) -> Any:
    return b'{"id": "1", "type": "t", "body": {"x": NaN}}'


@case("json-array", MalformedEnvelope, "must be a JSON object")
async def _array(p: Parties) -> Any:
    return b"[1, 2]"


@case("not-text", MalformedEnvelope, "text or bytes")
async def _number(p: Parties) -> Any:
    return 42


@case("not-didcomm", MalformedEnvelope, "not a DIDComm message")
async def _not_didcomm(p: Parties) -> Any:
    return {"hello": "world"}


@case("protected-wrong-type", MalformedEnvelope, "protected")
async def _protected_int(p: Parties) -> Any:
    return {**p.packed["authcrypt"], "protected": 5}


@case("recipients-wrong-type", MalformedEnvelope, "recipients")
async def _recipients(p: Parties) -> Any:
    return {**p.packed["authcrypt"], "recipients": {"kid": "x"}}


@case("unknown-alg", UnsupportedAlgorithm, "RSA-OAEP")
async def _unknown_alg(p: Parties) -> Any:
    env = p.packed["authcrypt"]
    return {**env, "protected": _reheader(env["protected"], alg="RSA-OAEP")}


@case("plaintext-without-id", MalformedMessage, "no 'id'")
async def _no_id(p: Parties) -> Any:
    return {"type": "t", "body": {}}


@case("plaintext-body-not-object", MalformedMessage, "'body' must be a JSON object")
async def _body_list(p: Parties) -> Any:
    return {"id": "1", "type": "t", "body": []}


@case("for-another-recipient", NoRecipientKey, "none of the message's recipients")
async def _to_carol(p: Parties) -> Any:
    return p.packed["to_carol"]


@case("v1-for-another-recipient", NoRecipientKey, "none of the message's recipients")
async def _v1_to_carol(p: Parties) -> Any:
    return p.packed["v1_to_carol"]


@case("tampered-ciphertext", DecryptionError, "tag mismatch")
async def _t_ciphertext(p: Parties) -> Any:
    env = p.packed["authcrypt"]
    return {**env, "ciphertext": _flip(env["ciphertext"])}


@case("tampered-header", DecryptionError, "tag mismatch")
async def _t_header(p: Parties) -> Any:
    env = p.packed["authcrypt"]
    return {**env, "protected": _reheader(env["protected"], extra="x")}


@case("tampered-v1", DecryptionError, "does not decrypt")
async def _t_v1(p: Parties) -> Any:
    env = p.packed["v1"]
    return {**env, "ciphertext": _flip(env["ciphertext"])}


@case("tampered-signature", SignatureError, "does not verify")
async def _t_signature(p: Parties) -> Any:
    env = p.packed["signed"]
    sig = env["signatures"][0]
    return {**env, "signatures": [{**sig, "signature": _flip(sig["signature"])}]}


@case("replayed-to-another-recipient", RecipientMismatch, "not addressed to this recipient")
async def _replayed(p: Parties) -> Any:
    # Alice signed a message for Carol; whoever holds it re-encrypts it for Bob. The
    # signature still verifies, but Bob is not in its 'to'.
    signed_for_carol = await p.alice.pack(MESSAGE, to=[p.c], frm=p.a, mode="signed")
    return _encrypt_to(await _agreement(p.b), signed_for_carol)


@case("spoofed-from", SenderMismatch, "not the message's 'from'")
async def _spoofed(p: Parties) -> Any:
    return await p.alice.pack({**MESSAGE, "from": p.c}, to=[p.b], frm=p.a, mode="authcrypt")


@case("signer-not-from", SenderMismatch, "signer is not the message's 'from'")
async def _signer(p: Parties) -> Any:
    return await p.alice.pack({**MESSAGE, "from": p.c}, to=[p.b], frm=p.a, mode="signed")


@case("sender-unknown-method", ResolutionError, "no resolver for did:example")
async def _skid_unknown(p: Parties) -> Any:
    return await _from_stranger(p, "did:example:mallory")


@case("sender-did-web-unreachable", ResolutionError, "did:web host 127.0.0.1:1: cannot connect")
async def _skid_web(p: Parties) -> Any:
    return await _from_stranger(p, "did:web:127.0.0.1%3A1")


@case("too-many-layers", MalformedEnvelope, "nested envelope layers")
async def _layers(p: Parties) -> Any:
    bob = await _agreement(p.b)
    env: Any = p.packed["authcrypt"]
    for _ in range(4):
        env = _encrypt_to(bob, env)
    return env


@case("v1-inside-v2", MalformedEnvelope, "v1 envelope cannot be nested")
async def _v1_inside(p: Parties) -> Any:
    return _encrypt_to(await _agreement(p.b), p.packed["v1"])


async def _from_stranger(p: Parties, did: str) -> dict[str, Any]:
    plaintext = {"id": "1", "type": "t", "from": did, "to": [p.b], "body": {}}
    sender = (f"{did}#key-1", PrivateKey.generate(KeyType.X25519))
    return _encrypt_to(await _agreement(p.b), plaintext, enc="A256CBC-HS512", sender=sender)


@pytest.mark.parametrize("name", list(UNPACK_CASES))
async def test_unpack_refuses_precisely_and_changes_nothing(parties: Parties, name: str) -> None:
    build, error, words = UNPACK_CASES[name]
    data = await build(parties)
    before = store_rows(parties.homes["bob"])
    with pytest.raises(error) as caught:
        await parties.bob.unpack(data)
    assert words in str(caught.value)
    assert len(str(caught.value)) < 600
    assert store_rows(parties.homes["bob"]) == before


async def test_every_valid_message_still_unpacks(parties: Parties) -> None:
    """The control: the messages the cases above break are good to begin with."""
    for name in ("authcrypt", "signed", "v1"):
        got = await parties.bob.unpack(parties.packed[name])
        assert got.message.get("body", got.message.get("content")) in (MESSAGE["body"], "x")
    got = await parties.carol.unpack(parties.packed["to_carol"])
    assert got.metadata.authenticated


# -- packing and DIDs -------------------------------------------------------------------------

Pack = Callable[[Parties], Awaitable[Any]]
PACK_CASES: dict[str, tuple[Pack, type[Exception], str]] = {
    "unknown-method": (
        lambda p: p.alice.pack(MESSAGE, to=["did:example:123"], mode="anoncrypt"),
        UnsupportedDIDMethod,
        "no resolver for did:example",
    ),
    "not-a-did": (
        lambda p: p.alice.pack(MESSAGE, to=["bob"], mode="anoncrypt"),
        InvalidDID,
        "not a valid DID: 'bob'",
    ),
    "did-web-unreachable": (
        lambda p: p.alice.pack(MESSAGE, to=["did:web:127.0.0.1%3A1"], mode="anoncrypt"),
        WebHostUnreachable,
        "127.0.0.1:1",
    ),
    "peer4-short-unseen": (
        lambda p: p.alice.pack(
            MESSAGE,
            to=["did:peer:4zQmd8CpeFPci817KDsbSAKWcXAE2mjvCQSasRewvbSF54Bd"],
            mode="anoncrypt",
        ),
        DIDNotFound,
        "long form has not been seen",
    ),
    "body-not-object": (
        lambda p: p.alice.pack({"type": "t", "body": [1]}, to=[p.b], frm=p.a),
        MalformedMessage,
        "'body' must be a JSON object",
    ),
    "authcrypt-without-from": (
        lambda p: p.alice.pack(MESSAGE, to=[p.b], mode="authcrypt"),
        MalformedMessage,
        "needs a sender",
    ),
    "from-not-mine": (
        lambda p: p.alice.pack(MESSAGE, to=[p.b], frm=p.c, mode="authcrypt"),
        KeyNotFound,
        "holds no key agreement key",
    ),
    "unknown-enc": (
        lambda p: p.alice.pack(MESSAGE, to=[p.b], mode="anoncrypt", enc="ROT13"),
        UnsupportedAlgorithm,
        "ROT13",
    ),
    "v1-signed": (
        lambda p: p.alice.pack(_aries(), to=[p.b], frm=p.a, mode="signed", v1=True),
        InputError,
        "unsigned",
    ),
    "did-unknown-method": (
        lambda p: p.alice.create_did("web"),
        InputError,
        "unknown DID method 'web'",
    ),
    "did-bad-endpoint": (
        lambda p: p.alice.create_did("peer2", endpoints=["file:///etc/passwd"]),
        InputError,
        "endpoint",
    ),
    "did-long-label": (lambda p: p.alice.create_did("key", label="x" * 1000), InputError, "label"),
}


@pytest.mark.parametrize("name", list(PACK_CASES))
async def test_pack_and_create_refuse_precisely_and_change_nothing(
    parties: Parties, name: str
) -> None:
    call, error, words = PACK_CASES[name]
    before = store_rows(parties.homes["alice"])
    with pytest.raises(error) as caught:
        await call(parties)
    assert words in str(caught.value)
    assert store_rows(parties.homes["alice"]) == before
