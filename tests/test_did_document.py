"""The parsed DID document: the forms peers send, the typed views, and malformed documents."""

from __future__ import annotations

import copy

import pytest

from wallet.did import DIDDocument, InvalidDIDDocument
from wallet.errors import InputError, KeyNotFound, ResolutionError
from wallet.keys import KeyType, PrivateKey

DID = "did:example:alice"
ED = PrivateKey.from_secret(KeyType.ED25519, bytes(range(32))).public
X = PrivateKey.from_secret(KeyType.X25519, bytes(range(1, 33))).public
P256 = PrivateKey.generate(KeyType.P256).public
K1 = PrivateKey.generate(KeyType.SECP256K1).public


def _mixed_document() -> dict:
    """Every key suite and service shape the parser promises to read."""
    return {
        "@context": ["https://www.w3.org/ns/did/v1", {"@vocab": "inline contexts are dropped"}],
        "id": DID,
        "alsoKnownAs": ["https://alice.example"],
        "verificationMethod": [
            {"id": "#ed18", "type": "Ed25519VerificationKey2018", "publicKeyBase58": ED.base58},
            {
                "id": f"{DID}#ed20",
                "type": "Ed25519VerificationKey2020",
                "controller": DID,
                "publicKeyMultibase": ED.multikey,
            },
            {"id": "#x19", "type": "X25519KeyAgreementKey2019", "publicKeyBase58": X.base58},
            {"id": "#x20", "type": "X25519KeyAgreementKey2020", "publicKeyMultibase": X.multikey},
            {"id": "#jwk", "type": "JsonWebKey2020", "publicKeyJwk": P256.to_jwk()},
            {
                "id": "#k1",
                "type": "EcdsaSecp256k1VerificationKey2019",
                "publicKeyBase58": K1.base58,
            },
            {"id": "#bls", "type": "Bls12381G2Key2020", "publicKeyBase58": "25ETdUZDVnME6yYuA"},
        ],
        "authentication": [
            "#ed18",
            {"id": "#embedded", "type": "Multikey", "publicKeyMultibase": ED.multikey},
            "did:example:bob#key-1",
        ],
        "assertionMethod": [f"{DID}#ed20", "#bls"],
        "keyAgreement": [
            "#x19",
            {"id": "#xjwk", "type": "JsonWebKey2020", "publicKeyJwk": X.to_jwk()},
        ],
        "service": [
            {
                "id": "#v21",
                "type": "DIDCommMessaging",
                "serviceEndpoint": {
                    "uri": "https://a.example",
                    "accept": ["didcomm/v2"],
                    "routingKeys": ["#x20"],
                },
            },
            {
                "id": "#v20",
                "type": "DIDCommMessaging",
                "serviceEndpoint": "https://b.example",
                "routingKeys": ["did:key:z6Mk#z6Mk"],
                "accept": ["didcomm/v2", "didcomm/aip2;env=rfc587"],
            },
            {
                "id": "#list",
                "type": ["DIDCommMessaging"],
                "serviceEndpoint": [
                    {"uri": "https://c1.example"},
                    {"uri": "wss://c2.example", "accept": ["didcomm/v2"]},
                ],
                "accept": ["didcomm/v2"],
            },
            {
                "id": "#v1",
                "type": "did-communication",
                "priority": 1,
                "recipientKeys": ["#ed18"],
                "routingKeys": [ED.base58],
                "serviceEndpoint": "https://d.example",
            },
            {"id": "#v1first", "type": "IndyAgent", "serviceEndpoint": "https://e.example"},
            {
                "id": "#ld",
                "type": "LinkedDomains",
                "serviceEndpoint": {"origins": ["https://a.example"]},
            },
        ],
    }


def test_mixed_document_views() -> None:
    doc = DIDDocument.parse(_mixed_document())
    assert doc.context == ("https://www.w3.org/ns/did/v1",)
    assert doc.also_known_as == ("https://alice.example",)
    keys = {vm.id.split("#")[1]: vm.public_key for vm in doc.verification_methods}
    assert keys == {
        "ed18": ED,
        "ed20": ED,
        "x19": X,
        "x20": X,
        "jwk": P256,
        "k1": K1,
        "embedded": ED,
        "xjwk": X,
    }
    assert doc.authentication == (f"{DID}#ed18", f"{DID}#embedded", "did:example:bob#key-1")
    assert [vm.id for vm in doc.authentication_keys()] == [f"{DID}#ed18", f"{DID}#embedded"]
    assert doc.assertion_method == (f"{DID}#ed20", f"{DID}#bls")
    assert [vm.public_key for vm in doc.key_agreement_keys()] == [X, X]
    assert doc.method("#jwk").type == "JsonWebKey2020"
    assert doc.method(f"{DID}#x20").public_key == X
    with pytest.raises(KeyNotFound, match="does not support"):
        doc.method("#bls")
    for bad in ("#nope", "did:example:bob#ed18", DID, "", "#", "x" * 20000):
        with pytest.raises(KeyNotFound):
            doc.method(bad)

    services = doc.didcomm_services()
    assert [(s.id.split("#")[1], s.uri) for s in services] == [
        ("v21", "https://a.example"),
        ("v20", "https://b.example"),
        ("list", "https://c1.example"),
        ("list", "wss://c2.example"),
        ("v1first", "https://e.example"),
        ("v1", "https://d.example"),  # priority 1 sorts after the v1 service of priority 0
    ]
    v21, v20, c1, c2, _, v1 = services
    assert v21.routing_keys == (f"{DID}#x20",) and v21.accept == ("didcomm/v2",)
    assert v20.routing_keys == ("did:key:z6Mk#z6Mk",) and len(v20.accept) == 2
    assert c1.accept == ("didcomm/v2",) and c2.accept == ("didcomm/v2",)
    assert v1.recipient_keys == (f"{DID}#ed18",) and v1.routing_keys == (ED.base58,)
    assert doc.service("#ld")[0].uri == ""


def test_normalised_document_round_trips() -> None:
    doc = DIDDocument.parse(_mixed_document())
    out = doc.to_json()
    again = DIDDocument.parse(out)
    assert again == doc and again.to_json() == out
    vms = {vm["id"].split("#")[1]: vm for vm in out["verificationMethod"]}
    assert vms["ed18"]["publicKeyBase58"] == ED.base58  # each suite keeps its key property
    assert vms["jwk"]["publicKeyJwk"] == P256.to_jwk()
    assert out["service"][0]["serviceEndpoint"]["routingKeys"] == [f"{DID}#x20"]
    assert all(ref.startswith("did:") for ref in out["authentication"])


def test_relative_id_document_without_id_takes_the_did() -> None:
    raw = {
        "verificationMethod": [{"id": "#1", "type": "Multikey", "publicKeyMultibase": ED.multikey}]
    }
    doc = DIDDocument.parse(raw, did=DID)
    assert doc.id == DID and doc.method("#1").controller == DID


def test_aries_era_forms() -> None:
    """publicKey instead of verificationMethod; RFC 0067 authentication objects."""
    raw = {
        "@context": "https://w3id.org/did/v1",
        "id": "did:sov:WgWxqztrNooG92RXvxSTWv",
        "publicKey": [
            {
                "id": "did:sov:WgWxqztrNooG92RXvxSTWv#1",
                "type": "Ed25519VerificationKey2018",
                "controller": "did:sov:WgWxqztrNooG92RXvxSTWv",
                "publicKeyBase58": ED.base58,
            }
        ],
        "authentication": [{"type": "Ed25519SignatureAuthentication2018", "publicKey": "#1"}],
    }
    doc = DIDDocument.parse(raw)
    assert [vm.public_key for vm in doc.authentication_keys()] == [ED]


def test_uncompressed_secp256k1_and_bare_multibase() -> None:
    import base58

    point = K1.ec_key().public_numbers()
    uncompressed = b"\x04" + point.x.to_bytes(32, "big") + point.y.to_bytes(32, "big")
    raw = {
        "id": DID,
        "verificationMethod": [
            {
                "id": "#k1",
                "type": "EcdsaSecp256k1VerificationKey2019",
                "publicKeyBase58": base58.b58encode(uncompressed).decode(),
            },
            {
                "id": "#bare",
                "type": "Ed25519VerificationKey2020",
                "publicKeyMultibase": "z" + ED.base58,
            },
        ],
    }
    doc = DIDDocument.parse(raw)
    assert doc.method("#k1").public_key == K1
    assert doc.method("#bare").public_key == ED


def _with(path: str, value: object) -> dict:
    raw = _mixed_document()
    target: object = raw
    *parents, last = path.split(".")
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]  # type: ignore[index]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value  # type: ignore[index]
    return raw


BAD = {
    "not an object": [1, 2],
    "id not a DID": {"id": "alice"},
    "id too long": {"id": "did:example:" + "a" * 20000},
    "no id at all": {"verificationMethod": []},
    "list expected": _with("verificationMethod", {"id": "#x"}),
    "method not an object": _with("verificationMethod.0", "#ed18"),
    "two key properties": _with(
        "verificationMethod.0",
        {
            "id": "#a",
            "type": "Multikey",
            "publicKeyMultibase": ED.multikey,
            "publicKeyBase58": ED.base58,
        },
    ),
    "no key property": _with("verificationMethod.0", {"id": "#a", "type": "Multikey"}),
    "private key in document": _with(
        "verificationMethod.4",
        {
            "id": "#jwk",
            "type": "JsonWebKey2020",
            "publicKeyJwk": PrivateKey.generate(KeyType.P256).to_jwk(),
        },
    ),
    "suite and key disagree": _with(
        "verificationMethod.0",
        {"id": "#ed18", "type": "Ed25519VerificationKey2020", "publicKeyMultibase": X.multikey},
    ),
    "multikey with base58 property": _with(
        "verificationMethod.0", {"id": "#ed18", "type": "Multikey", "publicKeyBase58": ED.base58}
    ),
    "bad multibase": _with(
        "verificationMethod.3",
        {"id": "#x20", "type": "Multikey", "publicKeyMultibase": "z6LS0OIl"},
    ),
    "truncated key": _with(
        "verificationMethod.3",
        {"id": "#x20", "type": "Multikey", "publicKeyMultibase": X.multikey[:-3]},
    ),
    "point off the curve": _with(
        "verificationMethod.4",
        {
            "id": "#jwk",
            "type": "JsonWebKey2020",
            "publicKeyJwk": {**P256.to_jwk(), "y": P256.to_jwk()["x"]},
        },
    ),
    "same id, other key": _with(
        "verificationMethod.2",
        {"id": "#ed18", "type": "Multikey", "publicKeyMultibase": X.multikey},
    ),
    "dangling reference": _with("keyAgreement.0", "#missing"),
    "bare reference": _with("keyAgreement.0", "x19"),
    "controller not a string": _with(
        "verificationMethod.0",
        {
            "id": "#ed18",
            "type": "Ed25519VerificationKey2018",
            "controller": [DID],
            "publicKeyBase58": ED.base58,
        },
    ),
    "service endpoint a number": _with(
        "service.0", {"id": "#s", "type": "X", "serviceEndpoint": 5}
    ),
    "didcomm endpoint without uri": _with(
        "service.0", {"id": "#s", "type": "DIDCommMessaging", "serviceEndpoint": {"accept": []}}
    ),
    "no endpoint": _with("service.0", {"id": "#s", "type": "X"}),
    "negative priority": _with(
        "service.3",
        {"id": "#v1", "type": "did-communication", "priority": -1, "serviceEndpoint": "x"},
    ),
    "huge uri": _with("service.0", {"id": "#s", "type": "X", "serviceEndpoint": "h" * 5000}),
    "too many accept entries": _with(
        "service.0", {"id": "#s", "type": "X", "serviceEndpoint": "x", "accept": ["a"] * 33}
    ),
    "too many methods": _with(
        "verificationMethod",
        [
            {"id": f"#k{i}", "type": "Multikey", "publicKeyMultibase": ED.multikey}
            for i in range(65)
        ],
    ),
    "too many services": _with("service", [{"id": "#s", "type": "X", "serviceEndpoint": "x"}] * 65),
    "alsoKnownAs not strings": _with("alsoKnownAs", [1]),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_malformed_documents(case: str) -> None:
    with pytest.raises(InvalidDIDDocument) as info:
        DIDDocument.parse(copy.deepcopy(BAD[case]))
    assert isinstance(info.value, ResolutionError) and isinstance(info.value, InputError)


def test_id_must_match_the_did_resolved() -> None:
    with pytest.raises(InvalidDIDDocument, match="not the DID resolved"):
        DIDDocument.parse(_mixed_document(), did="did:example:mallory")
