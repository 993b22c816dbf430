"""did:peer:2, :3 and :4 against the DIF spec's examples, the did-peer-4 library's example
documents, the legacy encodings peers still send, and bad input."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path

import base58
import pytest

from wallet.did import (
    DIDDocument,
    DIDTooLong,
    InMemoryLongFormCache,
    InvalidDIDKey,
    PeerDIDHashMismatch,
    PeerResolver,
    Purpose,
    UnsupportedKeyCodec,
    UnsupportedPeerNumalgo,
    create_peer2,
    create_peer4,
    long_to_short,
    peer2_to_peer3,
    resolve_peer2,
    resolve_peer3,
    resolve_peer4,
    resolve_peer4_short,
)
from wallet.did._base58 import b58encode
from wallet.errors import DIDNotFound, InputError, InvalidDID
from wallet.keys import KeyType, PrivateKey, PublicKey

VECTORS = Path(__file__).parent / "vectors" / "did-peer"
PEER2 = json.loads((VECTORS / "peer2-spec-example.json").read_text())
PEER3 = json.loads((VECTORS / "peer3-spec-example.json").read_text())
PEER4 = json.loads((VECTORS / "peer4-spec-example.json").read_text())
LIB_EXAMPLES = sorted((VECTORS / "did-peer-4-lib-examples").glob("*.json"))


DEEP: object = 1
for _ in range(30):
    DEEP = {"x": [DEEP]}


def _b64(value: object) -> str:
    text = json.dumps(value, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _spec_inputs() -> tuple[list[tuple[Purpose, PublicKey]], list[dict]]:
    purposes = {"verification": Purpose.VERIFICATION, "encryption": Purpose.ENCRYPTION}
    keys = [
        (purposes[k["purpose"]], PublicKey.from_multikey(k["publicKeyMultibase"]))
        for k in PEER2["input_keys"]
    ]
    # The spec shows only the first service as input; the DID encodes a second one, like
    # the first with another uri and routing key.
    first = PEER2["input_service_first"]
    second = copy.deepcopy(first)
    second["serviceEndpoint"]["uri"] = "http://example.com/another"
    second["serviceEndpoint"]["routingKeys"] = ["did:example:123456789abcdefghi#key-2"]
    return keys, [first, second]


# -- did:peer:2 -------------------------------------------------------------------------------


def test_peer2_spec_example_creates_the_exact_did() -> None:
    keys, services = _spec_inputs()
    assert create_peer2(keys, services) == PEER2["did"]


def test_peer2_spec_example_resolves_to_the_exact_document() -> None:
    assert resolve_peer2(PEER2["did"]) == PEER2["resolved_document"]
    assert PEER2["resolved_document"]["alsoKnownAs"] == PEER2["also_known_as_peer3"]


def test_peer2_document_view() -> None:
    did = PEER2["did"]
    doc = DIDDocument.parse(resolve_peer2(did), did=did)
    assert doc.authentication == (f"{did}#key-1",)
    assert doc.key_agreement == (f"{did}#key-2",)
    assert [vm.public_key.type for vm in doc.key_agreement_keys()] == [KeyType.X25519]
    first, second = doc.didcomm_services()
    assert (first.id, first.uri, first.accept) == (
        f"{did}#service",
        "http://example.com/didcomm",
        ("didcomm/v2",),
    )
    assert second.id == f"{did}#service-1"
    assert second.routing_keys == ("did:example:123456789abcdefghi#key-2",)
    # the did:peer:3 form names the same keys
    assert doc.method(peer2_to_peer3(did) + "#key-1") is doc.method("#key-1")


def test_peer3_spec_example() -> None:
    assert peer2_to_peer3(PEER3["peer2_did"]) == PEER3["peer3_did"]
    assert peer2_to_peer3(PEER2["did"]) == PEER2["also_known_as_peer3"][0]
    doc = resolve_peer3(PEER3["peer3_did"], PEER3["peer2_did"])
    assert doc["id"] == PEER3["peer3_did"] and doc["alsoKnownAs"] == [PEER3["peer2_did"]]
    with pytest.raises(InvalidDID):
        resolve_peer3(PEER3["peer3_did"], PEER2["did"])


async def test_peer3_resolves_after_its_peer2() -> None:
    resolver = PeerResolver()
    with pytest.raises(DIDNotFound):
        await resolver.resolve(PEER3["peer3_did"])
    await resolver.resolve(PEER3["peer2_did"])
    doc = DIDDocument.parse(await resolver.resolve(PEER3["peer3_did"]))
    assert doc.id == PEER3["peer3_did"]
    assert len(doc.verification_methods) == 3
    assert doc.didcomm_services()[0].uri == "https://example.com/endpoint"


def test_peer2_round_trip_with_all_purposes() -> None:
    ed = [PrivateKey.generate(KeyType.ED25519).public for _ in range(4)]
    x = PrivateKey.generate(KeyType.X25519).public
    p256 = PrivateKey.generate(KeyType.P256).public
    keys = [
        (Purpose.ASSERTION, ed[0]),
        (Purpose.KEY_AGREEMENT, x),
        (Purpose.AUTHENTICATION, ed[1]),
        (Purpose.CAPABILITY_INVOCATION, ed[2]),
        (Purpose.CAPABILITY_DELEGATION, ed[3]),
        (Purpose.AGREEMENT, p256),
    ]
    services = [{"id": "#didcomm", "type": "did-communication", "serviceEndpoint": "https://x"}]
    did = create_peer2(keys, services)
    doc = DIDDocument.parse(resolve_peer2(did))
    assert [vm.public_key for vm in doc.verification_methods] == [k for _, k in keys]
    assert doc.assertion_method == (f"{did}#key-1",)
    assert doc.key_agreement == (f"{did}#key-2", f"{did}#key-6")
    assert doc.capability_delegation == (f"{did}#key-5",)
    assert doc.services[0].id == f"{did}#didcomm"


def test_peer2_legacy_peerdid_encoding() -> None:
    """peerdid 0.5.2: E keys before V keys, several services as one JSON list, the v2.0
    service shape (string endpoint, r and a beside it), key ids of 8 base58 characters."""
    x = PrivateKey.generate(KeyType.X25519).public
    ed = PrivateKey.generate(KeyType.ED25519).public
    services = [
        {"t": "dm", "s": "https://a.example", "r": ["did:example:m#k"], "a": ["didcomm/v2"]},
        {"t": "dm", "s": {"uri": "https://b.example", "routingKeys": [], "accept": []}},
    ]
    did = f"did:peer:2.E{x.multikey}.V{ed.multikey}.S{_b64(services)}"
    doc = DIDDocument.parse(resolve_peer2(did))
    a, b = doc.didcomm_services()
    assert (a.uri, a.routing_keys, a.accept) == (
        "https://a.example",
        ("did:example:m#k",),
        ("didcomm/v2",),
    )
    assert (b.uri, b.routing_keys) == ("https://b.example", ())
    assert (a.id, b.id) == (f"{did}#service", f"{did}#service-1")
    # peerdid named the keys by 8 characters of their multibase
    assert doc.method(f"{did}#{x.multikey[1:9]}").public_key == x
    assert doc.method(f"#{ed.multikey[1:9]}").public_key == ed


def test_peer2_old_padding_and_v1_service() -> None:
    ed = PrivateKey.generate(KeyType.ED25519).public
    service = {
        "t": "did-communication",
        "s": "https://agent.example",
        "recipientKeys": [ed.base58],
        "priority": 0,
    }
    padded = base64.urlsafe_b64encode(json.dumps(service).encode()).decode()
    did = f"did:peer:2.V{ed.multikey}.S{padded.rstrip('=')}"
    (svc,) = DIDDocument.parse(resolve_peer2(did)).didcomm_services()
    assert svc.type == "did-communication" and svc.recipient_keys == (ed.base58,)


@pytest.mark.parametrize(
    ("suffix", "error"),
    [
        ("", InvalidDID),
        (".", InvalidDID),
        (".Vz6Mkj3PUd1WjvaDhNZhhhXQdz5UnZXmS7ehtx8bsPpD47kKc.", InvalidDID),  # empty element
        (".Xz6Mkj3PUd1WjvaDhNZhhhXQdz5UnZXmS7ehtx8bsPpD47kKc", InvalidDID),  # purpose X
        (".Vz6Mkj3PUd1WjvaDhNZhhhXQdz5UnZXmS7ehtx8bsPpD47k", InvalidDIDKey),  # truncated
        (".V6Mkj3PUd1WjvaDhNZhhhXQdz5UnZXmS7ehtx8bsPpD47kKc", InvalidDIDKey),  # no multibase
        (".Vz6Mkj3PUd1WjvaDhNZhhhXQdz5UnZXmS7ehtx8bsPpD47kK0", InvalidDIDKey),  # "0" not b58
        (".Ez6Mkj3PUd1WjvaDhNZhhhXQdz5UnZXmS7ehtx8bsPpD47kKc", InvalidDIDKey),  # Ed25519 as E
        (".Vz6LSg8zQom395jKLrGiBNruB9MM6V8PWuf2FpEy4uRFiqQBR", InvalidDIDKey),  # X25519 as V
        (".S!!!", InvalidDID),
        (".S" + _b64("just a string"), InvalidDID),
        (".S" + _b64([1, 2]), InvalidDID),
        (".SeyJ0IjoiZG0iLCJ0IjoiZG0ifQ", InvalidDID),  # duplicate key in the JSON
        (".S" + _b64({"t": "dm", "type": "x", "s": "u"}), InvalidDID),  # t and type both
        (".S" + _b64(DEEP), InvalidDID),  # nested deeper than any service needs
    ],
)
def test_peer2_bad_input(suffix: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        resolve_peer2("did:peer:2" + suffix)


def test_peer2_wrong_codec_and_huge_did() -> None:
    bls = "z" + base58.b58encode(b"\xeb\x01" + bytes(96)).decode()
    with pytest.raises(UnsupportedKeyCodec):
        resolve_peer2(f"did:peer:2.V{bls}")
    key = "z6Mkj3PUd1WjvaDhNZhhhXQdz5UnZXmS7ehtx8bsPpD47kKc"
    with pytest.raises(DIDTooLong):
        resolve_peer2("did:peer:2" + f".V{key}" * 400)
    with pytest.raises(InvalidDID):
        resolve_peer2("did:peer:2" + f".V{key}" * 65)


def test_create_peer2_refuses_bad_input() -> None:
    ed = PrivateKey.generate(KeyType.ED25519).public
    x = PrivateKey.generate(KeyType.X25519).public
    with pytest.raises(InvalidDIDKey):
        create_peer2([(Purpose.KEY_AGREEMENT, ed)])
    with pytest.raises(InvalidDIDKey):
        create_peer2([(Purpose.AUTHENTICATION, x)])
    with pytest.raises(InputError):
        create_peer2([])
    with pytest.raises(InputError):
        create_peer2([("Q", ed)])
    bad_services = [
        {"type": "dm", "serviceEndpoint": "https://x"},  # "dm" would read back as a type
        {"type": "X", "serviceEndpoint": {"uri": "https://x", "a": []}},  # "a" is taken
        {"id": "did:example:1#s", "type": "X", "serviceEndpoint": "https://x"},
        {"type": "X"},
        {"type": "X", "serviceEndpoint": float("nan")},
        {"type": "X", "serviceEndpoint": object()},
    ]
    for service in bad_services:
        with pytest.raises(InputError):
            create_peer2([(Purpose.AUTHENTICATION, ed)], [service])


# -- did:peer:4 -------------------------------------------------------------------------------


def test_peer4_spec_example() -> None:
    long, short = create_peer4(PEER4["input_document"])
    assert long == PEER4["long_form_did"]
    assert short == PEER4["short_form_did"]
    assert long_to_short(long) == short
    assert resolve_peer4(long) == PEER4["resolved_long_form_document"]
    assert resolve_peer4_short(short, long) == PEER4["resolved_short_form_document"]


async def test_peer4_short_form_resolves_once_long_form_seen() -> None:
    cache = InMemoryLongFormCache()
    resolver = PeerResolver(cache)
    short, long = PEER4["short_form_did"], PEER4["long_form_did"]
    with pytest.raises(DIDNotFound):
        await resolver.resolve(short)
    assert await resolver.resolve(long) == PEER4["resolved_long_form_document"]
    assert await cache.get(short) == long
    assert await resolver.resolve(short) == PEER4["resolved_short_form_document"]
    # a cache that was tampered with cannot make a short form resolve to another document
    other_long, _ = create_peer4({"service": []})
    await cache.put(short, other_long)
    with pytest.raises(InvalidDID):
        await resolver.resolve(short)


@pytest.mark.parametrize("path", LIB_EXAMPLES, ids=[p.stem for p in LIB_EXAMPLES])
def test_peer4_library_examples_round_trip(path: Path) -> None:
    input_doc = json.loads(path.read_text())
    long, short = create_peer4(input_doc)
    resolved = resolve_peer4(long)
    assert resolved["id"] == long and resolved["alsoKnownAs"][-1] == short
    doc = DIDDocument.parse(resolved, did=long)
    assert doc.verification_methods, "every example has at least one usable key"
    assert all(vm.controller == long for vm in doc.verification_methods)
    assert doc.to_json() == DIDDocument.parse(doc.to_json()).to_json()
    # decoding gives back exactly the input document
    decoded = resolve_peer4(long)
    del decoded["id"]
    decoded["alsoKnownAs"].pop()
    if not decoded["alsoKnownAs"]:
        del decoded["alsoKnownAs"]
    for name in ("verificationMethod", "authentication", "keyAgreement"):
        for entry in decoded.get(name, []):
            if isinstance(entry, dict):
                entry.pop("controller")
    assert decoded == input_doc
    short_doc = DIDDocument.parse(resolve_peer4_short(short, long))
    assert short_doc.id == short and long in short_doc.equivalent_ids
    assert [vm.public_key for vm in short_doc.verification_methods] == [
        vm.public_key for vm in doc.verification_methods
    ]


def test_peer4_bad_hash_and_bad_encodings() -> None:
    long = PEER4["long_form_did"]
    flipped = long[:-1] + ("a" if long[-1] != "a" else "b")
    with pytest.raises(PeerDIDHashMismatch):
        resolve_peer4(flipped)
    other_hash = create_peer4({"service": []})[1]
    with pytest.raises(PeerDIDHashMismatch):
        resolve_peer4(other_hash + long[long.rindex(":") :])
    with pytest.raises(InvalidDID):
        resolve_peer4(PEER4["short_form_did"])  # a short form has no document
    with pytest.raises(InvalidDID):
        resolve_peer4(long.replace(":z", ":m"))  # not base58btc

    def forge(payload: bytes) -> str:
        encoded = "z" + b58encode(payload)
        digest = base58.b58encode(b"\x12\x20" + hashlib.sha256(encoded.encode()).digest())
        return f"did:peer:4z{digest.decode()}:{encoded}"

    with pytest.raises(InvalidDID):
        resolve_peer4(forge(b"\x55\x01{}"))  # not the JSON multicodec
    with pytest.raises(InvalidDID):
        resolve_peer4(forge(b"\x80\x04not json"))
    with pytest.raises(InvalidDID):
        resolve_peer4(forge(b"\x80\x04[1]"))
    with pytest.raises(InvalidDID):
        resolve_peer4(forge(b'\x80\x04{"alsoKnownAs":"x"}'))
    assert resolve_peer4(forge(b"\x80\x04{}"))["alsoKnownAs"]  # odd but well formed
    with pytest.raises(DIDTooLong):
        resolve_peer4(forge(b"\x80\x04" + b" " * 20000 + b"{}"))


def test_create_peer4_refuses_bad_input_documents() -> None:
    ok_vm = {"id": "#k", "type": "Multikey", "publicKeyMultibase": "z6Mk"}
    for bad in (
        {},
        {"id": "did:example:1"},
        {"alsoKnownAs": "did:example:1"},
        {"verificationMethod": {"id": "#k"}},
        {"verificationMethod": [{"type": "Multikey"}]},
        {"verificationMethod": [{**ok_vm, "id": "did:example:1#k"}]},
        {"authentication": [{"id": "#k"}]},
        {"service": [42]},
        {"service": [{"id": "#s", "type": "X", "serviceEndpoint": float("inf")}]},
        {"verificationMethod": [{**ok_vm, "publicKeyMultibase": "z" * 20000}]},
    ):
        with pytest.raises(InputError):
            create_peer4(bad)


async def test_numalgo_0_and_1_are_refused() -> None:
    resolver = PeerResolver()
    for did in (
        "did:peer:0z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH",
        "did:peer:1zQmZMygzYqNwU6Uhmewx5Xepf2VLp5S4HLSwwgf2aiKZuwa",
        "did:peer:9zQmZMygzYqNwU6Uhmewx5Xepf2VLp5S4HLSwwgf2aiKZuwa",
    ):
        with pytest.raises(UnsupportedPeerNumalgo):
            await resolver.resolve(did)
    for did in ("did:peer:", "did:peer:x", "did:peer:3zQmbad", "did:peer:4zQmbad"):
        with pytest.raises(InvalidDID):
            await resolver.resolve(did)
