"""The ``moi`` CLI contract of issue 2, run as a user runs it: the real command in a
subprocess, a fresh home per wallet, the passphrase from ``MOI_PASSPHRASE``.

Two homes are two wallets talking: Alice packs, Bob unpacks, for every mode and option of
``message pack``; each result is checked field by field against the contract (the message as
sent, and the exact metadata object). Error paths are in ``test_cli_errors.py``.
"""

from __future__ import annotations

import asyncio
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from wallet.did import default_registry
from wallet.didcomm.message import BASIC_MESSAGE_V2

from .test_cli_support import (
    MODULE,
    Run,
    base_env,
    doc_ids,
    failed,
    first_ed25519_verkey,
    moi,
    ok,
    parallel,
)

METHODS = ("key", "peer2", "peer4")
DID_SHAPES = {
    "key": re.compile(r"did:key:z6Mk[1-9A-HJ-NP-Za-km-z]+"),
    "peer2": re.compile(r"did:peer:2(\.[EVS][A-Za-z0-9_-]+)+"),
    # the long form: short form (multihash of the document), then the encoded document
    "peer4": re.compile(r"did:peer:4zQm[1-9A-HJ-NP-Za-km-z]+:z[1-9A-HJ-NP-Za-km-z]+"),
}
ENDPOINTS = ("https://alice.example/didcomm", "wss://alice.example/ws")


@dataclass
class World:
    env: dict[str, str]
    scratch: Path
    homes: dict[str, Path] = field(default_factory=dict)
    created: dict[tuple[str, str], Run] = field(default_factory=dict)
    docs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def did(self, party: str, method: str) -> str:
        return self.created[(party, method)].out.strip()

    def run(self, party: str | None, *args: str | Path, stdin: bytes | None = None) -> Run:
        home = self.homes[party] if party else None
        return moi(*args, home=home, env=self.env, stdin=stdin)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    scratch = tmp_path_factory.mktemp("cli")
    w = World(env=base_env(scratch), scratch=scratch)
    w.homes = {party: scratch / party for party in ("alice", "bob")}
    for run in parallel([(p,) for p in w.homes], lambda p: w.run(p, "init")):
        ok(run)
    jobs = [(party, method) for party in w.homes for method in METHODS]
    extra = ["--endpoint", ENDPOINTS[0], "--endpoint", ENDPOINTS[1], "--label", "Alice ☀"]

    def create(party: str, method: str) -> Run:
        options = extra if (party, method) == ("alice", "peer2") else []
        return w.run(party, "did", "create", "--method", method, *options)

    w.created = dict(zip(jobs, parallel(jobs, create), strict=True))
    for run in w.created.values():
        ok(run)
    # Expected values come from the resolver in this process; the CLI's own ``did resolve``
    # is checked against them below.
    registry = default_registry()
    for party, method in jobs:
        did = w.did(party, method)
        w.docs[did] = asyncio.run(registry.resolve(did)).to_json()
    return w


# -- help, init, DIDs -------------------------------------------------------------------------


def test_help_names_every_command_and_the_environment(world: World) -> None:
    for command in (None, MODULE):
        run = ok(
            moi("--help", home=None, env=world.env, **({"command": command} if command else {}))
        )
        for word in ("init", "did", "message", "--home", "MOI_HOME", "MOI_PASSPHRASE", "MOI_KDF"):
            assert word in run.out
    run = ok(world.run(None, "message", "pack", "--help"))
    for option in ("--to", "--from", "--mode", "--sign", "--v1", "--enc", "--type", "--id"):
        assert option in run.out


def test_init_uses_moi_home_and_keeps_the_wallet_private(world: World, tmp_path: Path) -> None:
    home = tmp_path / "nested" / "moi-home"
    env = {**world.env, "MOI_HOME": str(home)}
    run = ok(moi("init", home=None, env=env))
    assert run.out == f"{home.resolve()}\n"
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(home / "wallet.db").st_mode) == 0o600
    assert ok(moi("did", "list", home=None, env=env)).json() == []


@pytest.mark.parametrize("method", METHODS)
def test_did_create_prints_the_did_alone_on_one_line(world: World, method: str) -> None:
    for party in ("alice", "bob"):
        out = world.created[(party, method)].out
        assert out.count("\n") == 1 and out.endswith("\n")
        assert DID_SHAPES[method].fullmatch(out.strip()), out


def test_did_list_shows_every_own_did_with_its_method(world: World) -> None:
    listed = ok(world.run("alice", "did", "list")).json()
    assert isinstance(listed, list)
    assert {(d["did"], d["method"]) for d in listed} == {
        (world.did("alice", m), m) for m in METHODS
    }
    peer2 = next(d for d in listed if d["method"] == "peer2")
    assert peer2["label"] == "Alice ☀"
    assert peer2["endpoints"] == list(ENDPOINTS)
    peer4 = next(d for d in listed if d["method"] == "peer4")
    assert peer4["did"].startswith(peer4["short_form"] + ":")


def test_did_resolve_prints_the_document(world: World) -> None:
    dids = [world.did("alice", method) for method in METHODS]
    runs = parallel([(d,) for d in dids], lambda d: world.run("bob", "did", "resolve", d))
    for did, run in zip(dids, runs, strict=True):
        doc = ok(run).json()
        assert doc == world.docs[did]
        assert doc["id"] == did
        assert doc_ids(doc, "keyAgreement") and doc_ids(doc, "authentication")
        first_ed25519_verkey(doc)  # every moi DID carries one, for DIDComm v1


def test_did_peer2_services_carry_the_endpoints(world: World) -> None:
    doc = world.docs[world.did("alice", "peer2")]
    services = doc["service"]
    assert [s["type"] for s in services] == ["DIDCommMessaging"] * 2
    endpoints = [s["serviceEndpoint"] for s in services]
    assert [e["uri"] for e in endpoints] == list(ENDPOINTS)
    for endpoint in endpoints:
        assert "didcomm/v2" in endpoint["accept"] and endpoint["routingKeys"] == []


def test_did_peer4_short_form_resolves_once_the_long_form_is_seen(
    world: World, tmp_path: Path
) -> None:
    long_form = world.did("bob", "peer4")
    short_form = long_form.rsplit(":", 1)[0]
    home = tmp_path / "dave"
    ok(moi("init", home=home, env=world.env))
    line = failed(moi("did", "resolve", short_form, home=home, env=world.env))
    assert "short form" in line and "long form" in line
    ok(moi("did", "resolve", long_form, home=home, env=world.env))
    doc = ok(moi("did", "resolve", short_form, home=home, env=world.env)).json()
    assert short_form in (doc["id"], *doc.get("alsoKnownAs", []))
    assert doc_ids(doc, "keyAgreement")
    # and in the home that created it, from the first
    ok(world.run("bob", "did", "resolve", short_form))


# -- message pack | unpack: every mode, two wallets --------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    mode: str
    sender: str = "peer2"
    recipients: tuple[str, ...] = ("peer2",)
    frm: bool = True
    sign: bool = False
    v1: bool = False
    enc: str | None = None
    options: tuple[str, ...] = ()
    via: str = "file"  # how unpack reads it: "file", "-" (stdin named), "stdin" (no argument)
    body: dict[str, Any] = field(default_factory=lambda: {"content": "hello ✓"})
    msg_type: str = BASIC_MESSAGE_V2
    msg_id: str | None = None


BODY_FILE = {"content": "from a file", "nested": {"list": [1, 2.5, None, True], "ü": "ß"}}
CASES = [
    Case("plain", "plain", via="-"),
    Case("signed", "signed", via="stdin"),
    Case("anoncrypt-XC20P", "anoncrypt", frm=False, enc="XC20P"),
    Case("anoncrypt-A256GCM-from", "anoncrypt", sender="key", enc="A256GCM", via="-"),
    Case(
        "anoncrypt-A256CBC-HS512-sign",
        "anoncrypt",
        sender="peer4",
        recipients=("key",),
        enc="A256CBC-HS512",
        sign=True,
    ),
    Case("authcrypt-key", "authcrypt", sender="key", recipients=("key",)),
    Case("authcrypt-sign", "authcrypt", sign=True, via="stdin"),
    Case(
        "authcrypt-peer4-type-id-body-file",
        "authcrypt",
        sender="peer4",
        recipients=("peer4",),
        options=("--type", "https://example.org/thing/1.0/ping", "--id", "msg-42"),
        body=BODY_FILE,
        msg_type="https://example.org/thing/1.0/ping",
        msg_id="msg-42",
    ),
    Case("authcrypt-two-recipients", "authcrypt", recipients=("peer2", "key")),
    Case("v1-authcrypt-key", "authcrypt", sender="key", recipients=("key",), v1=True),
    Case("v1-authcrypt-peer4", "authcrypt", sender="peer4", recipients=("peer4",), v1=True),
    Case(
        "v1-authcrypt-peer2-type-id",
        "authcrypt",
        v1=True,
        options=("--type", "https://didcomm.org/trust_ping/1.0/ping", "--id", "ping-7"),
        body={"response_requested": False},
        msg_type="https://didcomm.org/trust_ping/1.0/ping",
        msg_id="ping-7",
        via="-",
    ),
    Case("v1-anoncrypt", "anoncrypt", frm=False, v1=True),
]


@dataclass
class Exchange:
    case: Case
    packed: Run
    unpacked: Run


@pytest.fixture(scope="module")
def exchanges(world: World) -> dict[str, Exchange]:
    body_file = world.scratch / "body.json"
    body_file.write_text(
        '{"content": "from a file", "nested": {"list": [1, 2.5, null, true], "ü": "ß"}}',
        encoding="utf-8",
    )

    def pack(case: Case) -> Run:
        args = ["message", "pack", "--mode", case.mode]
        for method in case.recipients:
            args += ["--to", world.did("bob", method)]
        if case.frm:
            args += ["--from", world.did("alice", case.sender)]
        args += ["--sign"] * case.sign + ["--v1"] * case.v1
        args += ["--enc", case.enc] if case.enc else []
        args += list(case.options)
        args += ["--body", f"@{body_file}" if case.body is BODY_FILE else _json(case.body)]
        return world.run("alice", *args)

    packed = parallel([(c,) for c in CASES], pack)

    def unpack(case: Case, run: Run) -> Run:
        ok(run)
        if case.via == "file":
            path = world.scratch / f"{case.name}.json"
            path.write_text(run.out, encoding="utf-8")
            return world.run("bob", "message", "unpack", path)
        args = ("message", "unpack", "-") if case.via == "-" else ("message", "unpack")
        return world.run("bob", *args, stdin=run.out.encode("utf-8"))

    unpacked = parallel(list(zip(CASES, packed, strict=True)), unpack)
    return {c.name: Exchange(c, p, u) for c, p, u in zip(CASES, packed, unpacked, strict=True)}


def _json(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def _expected_metadata(world: World, case: Case) -> dict[str, Any]:
    alice = world.docs[world.did("alice", case.sender)]
    bob = world.docs[world.did("bob", case.recipients[0])]
    if case.v1:
        auth = case.mode == "authcrypt"
        return {
            "version": "v1",
            "encrypted": True,
            "authenticated": auth,
            "non_repudiation": False,
            "anonymous_sender": not auth,
            "sender_kid": first_ed25519_verkey(alice) if auth else None,
            "recipient_kid": first_ed25519_verkey(bob),
        }
    encrypted = case.mode in ("anoncrypt", "authcrypt")
    signed = case.mode == "signed" or case.sign
    if case.mode == "authcrypt":
        sender_kid = doc_ids(alice, "keyAgreement")[0]
    elif signed:
        sender_kid = doc_ids(alice, "authentication")[0]
    else:
        sender_kid = None
    return {
        "version": "v2",
        "encrypted": encrypted,
        "authenticated": case.mode == "authcrypt",
        "non_repudiation": signed,
        "anonymous_sender": case.mode == "anoncrypt",
        "sender_kid": sender_kid,
        "recipient_kid": doc_ids(bob, "keyAgreement")[0] if encrypted else None,
    }


@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_unpack_prints_the_message_and_exact_metadata(
    world: World, exchanges: dict[str, Exchange], name: str
) -> None:
    ex = exchanges[name]
    case = ex.case
    out = ok(ex.unpacked).json()
    assert set(out) == {"message", "metadata"}
    expected = _expected_metadata(world, case)
    if len(case.recipients) > 1:
        # Bob holds both keys; he may decrypt with either.
        bob_kids = {
            doc_ids(world.docs[world.did("bob", m)], "keyAgreement")[0] for m in case.recipients
        }
        assert out["metadata"].pop("recipient_kid") in bob_kids
        expected.pop("recipient_kid")
    assert out["metadata"] == expected
    message = out["message"]
    if case.v1:
        assert message == {
            "@type": case.msg_type,
            "@id": case.msg_id or message["@id"],
            **case.body,
        }
        assert isinstance(message["@id"], str) and message["@id"]
        return
    assert message["type"] == case.msg_type
    assert message["id"] == (case.msg_id or message["id"]) and message["id"]
    assert message["body"] == case.body
    assert message["to"] == [world.did("bob", m) for m in case.recipients]
    if case.frm:
        assert message["from"] == world.did("alice", case.sender)
    else:
        assert "from" not in message
    assert isinstance(message["created_time"], int)


@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_pack_prints_the_envelope_the_mode_asks_for(
    world: World, exchanges: dict[str, Exchange], name: str
) -> None:
    import base64
    import json

    ex = exchanges[name]
    case = ex.case
    assert ex.packed.out.endswith("\n")
    env = ex.packed.json()
    if case.mode == "plain":
        assert env["body"] == case.body and env["typ"] == "application/didcomm-plain+json"
        return
    if case.mode == "signed":
        assert set(env) == {"payload", "signatures"} and len(env["signatures"]) == 1
        assert (
            env["signatures"][0]["header"]["kid"] == _expected_metadata(world, case)["sender_kid"]
        )
        return
    assert {"protected", "iv", "ciphertext", "tag"} <= set(env)
    text = env["protected"]
    header = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    if case.v1:
        assert header["alg"] == ("Authcrypt" if case.mode == "authcrypt" else "Anoncrypt")
        assert len(header["recipients"]) == len(case.recipients)
        return
    kids = [r["header"]["kid"] for r in env["recipients"]]
    assert len(kids) == len(case.recipients)
    if case.mode == "authcrypt":
        assert (header["alg"], header["enc"]) == ("ECDH-1PU+A256KW", "A256CBC-HS512")
        assert header["skid"] == _expected_metadata(world, case)["sender_kid"]
    else:
        assert header["alg"] == "ECDH-ES+A256KW"
        assert header["enc"] == (case.enc or "XC20P")
        assert "skid" not in header
