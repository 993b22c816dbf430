"""The ``moi`` CLI's error contract: exactly one line on stderr naming what was wrong, a
non-zero exit, nothing on stdout, no traceback, no library warning — and nothing in any
wallet changes.

Every case runs the real command in a subprocess. The cases that cannot touch a wallet's
state run together (a few at a time), and the three homes are compared byte for byte, and
row for row, before and after all of them.
"""

from __future__ import annotations

import asyncio
import base64
import http.server
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from wallet import Wallet
from wallet.did import default_registry
from wallet.didcomm.packing import ENCRYPTED_TYP
from wallet.jose import jwe
from wallet.keys import KeyType, PrivateKey

from .test_cli_support import (
    PASSPHRASE,
    Run,
    base_env,
    failed,
    home_digest,
    moi,
    ok,
    parallel,
    store_rows,
)

BIG = 1024 * 1024 + 1


@dataclass(frozen=True)
class Err:
    """A command that must fail. ``{name}`` in an argument is a DID or a file of the setup."""

    home: str | None
    args: tuple[str, ...]
    pattern: str  # searched (case-insensitive) in the one line on stderr
    stdin: str | None = None  # the name of a setup file to pipe in
    code: int | None = None
    env: tuple[tuple[str, str | None], ...] = ()  # overrides (None unsets)


USAGE = 2
CASES: dict[str, Err] = {
    # -- bad flags and arguments (argparse, exit 2) --
    "no-command": Err("alice", (), "required: COMMAND", code=USAGE),
    "unknown-flag": Err("alice", ("did", "list", "--bogus"), "unrecognized arguments", code=USAGE),
    "no-mode": Err("alice", ("message", "pack", "--to", "{bob}"), "--mode", code=USAGE),
    "bad-mode": Err("alice", ("message", "pack", "--mode", "loud"), "invalid choice", code=USAGE),
    "bad-enc": Err(
        "alice",
        ("message", "pack", "--to", "{bob}", "--mode", "anoncrypt", "--enc", "ROT13"),
        "--enc: invalid choice",
        code=USAGE,
    ),
    "bad-method": Err("alice", ("did", "create", "--method", "web"), "invalid choice", code=USAGE),
    "no-action": Err("alice", ("message",), "required: ACTION", code=USAGE),
    # -- bad option combinations and bodies --
    "body-not-json": Err(
        "alice",
        ("message", "pack", "--to", "{bob}", "--mode", "plain", "--body", "{bad"),
        "--body is not valid JSON",
    ),
    "body-duplicate-key": Err(
        "alice",
        ("message", "pack", "--to", "{bob}", "--mode", "plain", "--body", '{"a":1,"a":2}'),
        "duplicate key 'a'",
    ),
    "body-array": Err(
        "alice",
        ("message", "pack", "--to", "{bob}", "--mode", "plain", "--body", "[1]"),
        "--body must be a JSON object",
    ),
    "body-file-missing": Err(
        "alice",
        ("message", "pack", "--to", "{bob}", "--mode", "plain", "--body", "@/nonexistent"),
        "cannot read body file '/nonexistent'",
    ),
    "body-file-oversized": Err(
        "alice",
        ("message", "pack", "--to", "{bob}", "--mode", "plain", "--body", "@{oversized}"),
        "larger than the limit",
    ),
    "authcrypt-without-from": Err(
        "alice", ("message", "pack", "--to", "{bob}", "--mode", "authcrypt"), "needs --from"
    ),
    "signed-without-from": Err(
        "alice", ("message", "pack", "--to", "{bob}", "--mode", "signed"), "needs --from"
    ),
    "anoncrypt-without-to": Err("alice", ("message", "pack", "--mode", "anoncrypt"), "--to"),
    "sign-with-plain": Err(
        "alice", ("message", "pack", "--to", "{bob}", "--mode", "plain", "--sign"), "--sign"
    ),
    "v1-signed": Err(
        "alice",
        ("message", "pack", "--to", "{bob}", "--from", "{alice}", "--mode", "signed", "--v1"),
        "--v1",
    ),
    "enc-with-authcrypt": Err(
        "alice",
        (
            "message",
            "pack",
            "--to",
            "{bob}",
            "--from",
            "{alice}",
            "--mode",
            "authcrypt",
            "--enc",
            "A256GCM",
        ),
        "A256CBC-HS512",
    ),
    "from-not-mine": Err(
        "alice",
        ("message", "pack", "--to", "{bob}", "--from", "{carol}", "--mode", "authcrypt"),
        "holds no key agreement key of did:peer:2",
    ),
    "endpoint-not-a-url": Err(
        "alice", ("did", "create", "--method", "peer2", "--endpoint", "ftp://x"), "endpoint"
    ),
    "endpoint-on-did-key": Err(
        "alice",
        ("did", "create", "--method", "key", "--endpoint", "https://x.example"),
        "did:key cannot carry service endpoints",
    ),
    # -- DIDs that do not resolve --
    "unknown-method-to": Err(
        "alice",
        ("message", "pack", "--to", "did:example:123", "--mode", "anoncrypt"),
        "no resolver for did:example",
    ),
    "not-a-did": Err("alice", ("did", "resolve", "not-a-did"), "not a valid DID"),
    "bad-peer2": Err(
        "alice",
        ("message", "pack", "--to", "did:peer:2.Ez6LSbogus", "--mode", "anoncrypt"),
        "did:peer:2",
    ),
    "unknown-recipient-peer4-short": Err(
        "alice",
        ("message", "pack", "--to", "{unseen_short}", "--mode", "anoncrypt"),
        "short form; its long form has not been seen",
    ),
    "did-web-closed-port": Err(
        "alice",
        ("did", "resolve", "did:web:127.0.0.1%3A1"),
        "did:web host 127.0.0.1:1: cannot connect",
    ),
    "did-web-recipient-closed-port": Err(
        "alice",
        ("message", "pack", "--to", "did:web:localhost%3A1", "--mode", "anoncrypt"),
        "did:web host localhost:1: cannot connect",
    ),
    # did:web is HTTPS only: a plain HTTP server on loopback fails the TLS handshake
    # A loopback host is refused before any connection (not a public address).
    "did-web-plain-http": Err(
        "alice",
        ("did", "resolve", "{web_did}"),
        r"did:web host 127\.0\.0\.1:\d+: cannot connect: not a public address",
    ),
    # -- messages that must not unpack --
    "unpack-missing-file": Err("bob", ("message", "unpack", "/nonexistent"), "cannot read message"),
    "truncated": Err("bob", ("message", "unpack", "{truncated}"), "not valid JSON"),
    "oversized-file": Err("bob", ("message", "unpack", "{oversized}"), "larger than the limit"),
    "oversized-stdin": Err("bob", ("message", "unpack"), "larger than the limit", "oversized"),
    "non-json": Err("bob", ("message", "unpack", "-"), "not valid (UTF-8|JSON)", "garbage"),
    "json-array": Err("bob", ("message", "unpack", "{array}"), "must be a JSON object"),
    "duplicate-key": Err("bob", ("message", "unpack", "{duplicate}"), "duplicate key"),
    "not-didcomm": Err("bob", ("message", "unpack", "{not_didcomm}"), "not a DIDComm message"),
    "bare-aries": Err("bob", ("message", "unpack", "{bare_aries}"), "RFC 0019 envelope"),
    "protected-wrong-type": Err("bob", ("message", "unpack", "{protected_int}"), "protected"),
    "recipients-wrong-type": Err("bob", ("message", "unpack", "{recipients_str}"), "recipients"),
    "tampered-ciphertext": Err("bob", ("message", "unpack", "{t_ciphertext}"), "tag mismatch"),
    # ECDH-1PU derives the wrapping key from the tag, so a changed tag fails the unwrap
    "tampered-tag": Err("bob", ("message", "unpack", "{t_tag}"), "key unwrap failed"),
    "tampered-header": Err("bob", ("message", "unpack", "{t_header}"), "tag mismatch|apv"),
    "tampered-key": Err("bob", ("message", "unpack", "{t_key}"), "key unwrap failed"),
    "tampered-signature": Err("bob", ("message", "unpack", "{t_signature}"), "does not verify"),
    "tampered-v1": Err("bob", ("message", "unpack", "{t_v1}"), "does not decrypt"),
    "for-another-recipient": Err(
        "bob", ("message", "unpack", "{to_carol}"), "none of the message's recipients"
    ),
    "v1-for-another-recipient": Err(
        "bob", ("message", "unpack", "{v1_to_carol}"), "none of the message's recipients"
    ),
    "replayed-to-another-recipient": Err(
        "carol", ("message", "unpack", "{replayed}"), "not addressed to this recipient"
    ),
    "spoofed-from": Err("bob", ("message", "unpack", "{spoofed}"), "is not the message's 'from'"),
    "sender-unknown-method": Err(
        "bob",
        ("message", "unpack", "{skid_unknown}"),
        "cannot resolve the sender key: no resolver for did:example",
    ),
    "sender-did-web-unreachable": Err(
        "bob", ("message", "unpack", "{skid_web}"), "sender key: did:web host 127.0.0.1:1"
    ),
    # -- the wallet itself --
    "wrong-passphrase-read": Err(
        "alice", ("did", "list"), "wrong passphrase", env=(("MOI_PASSPHRASE", "wrong"),)
    ),
    "wrong-passphrase-write": Err(
        "alice",
        ("did", "create", "--method", "key"),
        "wrong passphrase",
        env=(("MOI_PASSPHRASE", "wrong"),),
    ),
    "no-passphrase": Err(
        "alice",
        ("did", "list"),
        "no passphrase: set MOI_PASSPHRASE",
        env=(("MOI_PASSPHRASE", None),),
    ),
    "init-twice": Err("alice", ("init",), "a wallet already exists"),
    "no-wallet": Err("nowhere", ("did", "list"), "no wallet in .*run 'moi init' first"),
    "bad-kdf": Err("fresh", ("init",), "MOI_KDF must be one of", env=(("MOI_KDF", "md5"),)),
    "bad-raw-key": Err(
        "fresh", ("init",), "MOI_WALLET_KEY must be 32 bytes", env=(("MOI_WALLET_KEY", "abc"),)
    ),
}
STATEFUL = ("alice", "bob", "carol")


@dataclass
class Setup:
    scratch: Path
    env: dict[str, str]
    homes: dict[str, Path]
    names: dict[str, str]  # placeholder -> DID or file path


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _flip(text: str) -> str:
    """The same base64url text with its first character changed (always a real change)."""
    return ("B" if text[0] == "A" else "A") + text[1:]


class _QuietHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # the TLS hello it cannot read
        pass


@pytest.fixture(scope="module")
def web_server() -> Iterator[int]:
    """A plain HTTP server on loopback, where did:web (HTTPS only) must fail precisely."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, web_server: int) -> Setup:
    scratch = tmp_path_factory.mktemp("cli-errors")
    env = base_env(scratch)
    homes = {name: scratch / name for name in (*STATEFUL, "nowhere", "fresh")}

    def run(home: str, *args: str) -> Run:
        return ok(moi(*args, home=homes[home], env=env))

    parallel([(h, "init") for h in STATEFUL], run)
    dids = dict(
        zip(
            STATEFUL,
            (
                r.out.strip()
                for r in parallel(
                    [(h, "did", "create", "--method", "peer2") for h in STATEFUL], run
                )
            ),
            strict=True,
        )
    )
    alice, bob, carol = (dids[p] for p in STATEFUL)
    pack = ("message", "pack", "--from", alice, "--body", '{"content": "hi"}')
    packed = parallel(
        [
            ("alice", *pack, "--to", bob, "--mode", "authcrypt"),
            ("alice", *pack, "--to", bob, "--mode", "signed"),
            ("alice", *pack, "--to", carol, "--mode", "authcrypt"),
            ("alice", *pack, "--to", bob, "--mode", "authcrypt", "--v1"),
            ("alice", *pack, "--to", carol, "--mode", "authcrypt", "--v1"),
        ],
        run,
    )
    to_bob, signed, to_carol, v1_bob, v1_carol = (r.json() for r in packed)
    files: dict[str, bytes] = {
        "to_carol": _dump(to_carol),
        "v1_to_carol": _dump(v1_carol),
        "truncated": _dump(to_bob)[: len(_dump(to_bob)) // 2],
        "oversized": b'{"protected":"' + b"A" * BIG + b'"}',
        "garbage": b"\xff\xfe not json \x00",
        "array": b"[1, 2, 3]",
        "duplicate": b'{"id": "1", "id": "2", "type": "t", "body": {}}',
        "not_didcomm": b'{"hello": "world"}',
        "bare_aries": b'{"@type": "https://didcomm.org/basicmessage/1.0/message", "@id": "1"}',
        "protected_int": _dump({**to_bob, "protected": 5}),
        "recipients_str": _dump({**to_bob, "recipients": "bob"}),
        "t_ciphertext": _dump({**to_bob, "ciphertext": _flip(to_bob["ciphertext"])}),
        "t_tag": _dump({**to_bob, "tag": _flip(to_bob["tag"])}),
        "t_header": _dump({**to_bob, "protected": _with_header(to_bob["protected"], note="x")}),
        "t_key": _dump({**to_bob, "recipients": [_flip_key(r) for r in to_bob["recipients"]]}),
        "t_signature": _dump(
            {
                **signed,
                "signatures": [
                    {
                        **signed["signatures"][0],
                        "signature": _flip(signed["signatures"][0]["signature"]),
                    }
                ],
            }
        ),
        "t_v1": _dump({**v1_bob, "ciphertext": _flip(v1_bob["ciphertext"])}),
    }
    files.update(asyncio.run(_crafted(homes["alice"], alice, bob, carol, signed)))
    names = {name: str(scratch / f"{name}.json") for name in files}
    for name, data in files.items():
        Path(names[name]).write_bytes(data)
    names.update(alice=alice, bob=bob, carol=carol, web_did=f"did:web:127.0.0.1%3A{web_server}")
    names["unseen_short"] = _unseen_peer4_short()
    return Setup(scratch, env, homes, names)


def _dump(obj: Any) -> bytes:
    return json.dumps(obj).encode("utf-8")


def _with_header(protected: str, **extra: Any) -> str:
    return _b64(json.dumps({**json.loads(_unb64(protected)), **extra}).encode("utf-8"))


def _flip_key(recipient: dict[str, Any]) -> dict[str, Any]:
    return {**recipient, "encrypted_key": _flip(recipient["encrypted_key"])}


def _unseen_peer4_short() -> str:
    from wallet.did import create_peer4

    key = PrivateKey.generate(KeyType.ED25519).public
    _, short = create_peer4(
        {
            "@context": ["https://www.w3.org/ns/did/v1"],
            "verificationMethod": [
                {"id": "#key-1", "type": "Multikey", "publicKeyMultibase": key.multikey}
            ],
            "authentication": ["#key-1"],
        }
    )
    return short


async def _crafted(
    alice_home: Path, alice: str, bob: str, carol: str, signed: dict[str, Any]
) -> dict[str, bytes]:
    """Messages no honest moi writes, made with the library: a signed message re-encrypted
    for someone it was not addressed to, a plaintext 'from' that is not the authcrypt
    sender, and sender keys that do not resolve."""
    registry = default_registry()
    try:
        bob_doc, carol_doc = await registry.resolve(bob), await registry.resolve(carol)
    finally:
        await registry.close()
    bob_key = bob_doc.key_agreement_keys()[0]
    carol_key = carol_doc.key_agreement_keys()[0]
    out = {
        "replayed": _dump(
            jwe.encrypt(
                _dump(signed),
                [(carol_key.id, carol_key.public_key)],
                enc="XC20P",
                typ=ENCRYPTED_TYP,
            )
        )
    }
    stranger = PrivateKey.generate(KeyType.X25519)
    for name, skid in (
        ("skid_unknown", "did:example:mallory#key-1"),
        ("skid_web", "did:web:127.0.0.1%3A1#key-1"),
    ):
        plaintext = {"id": "1", "type": "t", "from": skid.split("#")[0], "to": [bob], "body": {}}
        out[name] = _dump(
            jwe.encrypt(
                _dump(plaintext),
                [(bob_key.id, bob_key.public_key)],
                enc="A256CBC-HS512",
                sender=(skid, stranger),
                typ=ENCRYPTED_TYP,
            )
        )
    wallet = await Wallet.open(f"sqlite://{alice_home / 'wallet.db'}", passphrase=PASSPHRASE)
    async with wallet:
        spoofed = {
            "type": "https://didcomm.org/basicmessage/2.0/message",
            "from": carol,
            "body": {"content": "I am Carol"},
        }
        out["spoofed"] = _dump(await wallet.pack(spoofed, to=[bob], frm=alice, mode="authcrypt"))
    return out


@dataclass
class Outcome:
    before: dict[str, Any]
    after: dict[str, Any]
    runs: dict[str, Run]


def _state(homes: dict[str, Path]) -> dict[str, Any]:
    return {h: (home_digest(homes[h]), store_rows(homes[h])) for h in STATEFUL}


@pytest.fixture(scope="module")
def outcome(setup: Setup) -> Outcome:
    def fill(text: str) -> str:
        return re.sub(r"\{(\w+)\}", lambda m: setup.names[m.group(1)], text)

    def attempt(case: Err) -> Run:
        env = dict(setup.env)
        for key, value in case.env:
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        stdin = None if case.stdin is None else Path(setup.names[case.stdin]).read_bytes()
        home = setup.homes[case.home] if case.home else None
        return moi(*map(fill, case.args), home=home, env=env, stdin=stdin)

    before = _state(setup.homes)
    runs = parallel([(c,) for c in CASES.values()], attempt)
    return Outcome(before, _state(setup.homes), dict(zip(CASES, runs, strict=True)))


@pytest.mark.parametrize("name", list(CASES))
def test_error_is_one_precise_line(outcome: Outcome, name: str) -> None:
    case = CASES[name]
    line = failed(outcome.runs[name], code=case.code)
    assert re.search(case.pattern, line, re.IGNORECASE), line
    assert len(line) <= 600


def test_no_error_changed_any_wallet(setup: Setup, outcome: Outcome) -> None:
    assert set(outcome.runs) == set(CASES)
    for home in STATEFUL:
        files, rows = outcome.before[home]
        changed = set(outcome.after[home][1]) ^ set(rows)
        assert not changed, f"{home}: rows changed: {sorted(changed, key=repr)[:4]}"
        assert outcome.after[home][0] == files, home
        assert set(files) == {"wallet.db"}, files  # no -wal or -shm left behind
    # commands that failed on a home with no wallet left no trace of one
    assert not setup.homes["nowhere"].exists()
    assert not setup.homes["fresh"].exists()


def test_debug_shows_the_traceback(setup: Setup) -> None:
    run = moi(
        "--debug", "did", "resolve", "did:example:123", home=setup.homes["alice"], env=setup.env
    )
    assert run.code != 0 and run.out == ""
    assert "Traceback (most recent call last)" in run.err
    assert "UnsupportedDIDMethod: no resolver for did:example" in run.err
