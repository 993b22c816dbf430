"""did:key: the W3C CCG test vectors, creation, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import base58
import pytest

from wallet.did import (
    DIDDocument,
    DIDTooLong,
    InvalidDIDKey,
    UnsupportedKeyCodec,
    create_did_key,
    did_key_public_key,
    resolve_did_key,
)
from wallet.errors import InvalidDID, KeyFormatError
from wallet.keys import KeyType, PrivateKey, PublicKey

VECTORS = Path(__file__).parent / "vectors" / "did-key"
RELATIONSHIPS = (
    "authentication",
    "assertion_method",
    "key_agreement",
    "capability_invocation",
    "capability_delegation",
)


def _load(name: str) -> dict:
    return json.loads((VECTORS / name).read_text())


def _vector_docs(name: str) -> list[tuple[str, dict, dict]]:
    data = _load(name)
    if name == "x25519.json":
        return [(did, {}, doc) for did, doc in data["didDocument"].items()]
    return [(did, entry, entry["didDocument"]) for did, entry in data.items()]


def _view(doc: DIDDocument) -> dict:
    """What must agree between moi's document and a vector's: ids, keys and relationships.

    The vectors were made before the did:key draft moved to Multikey: their methods are
    Ed25519VerificationKey2018, X25519KeyAgreementKey2019, JsonWebKey2020... where moi writes
    Multikey. The type strings therefore differ by design; the keys and ids must not.
    """
    return {
        "id": doc.id,
        "keys": {vm.id: vm.public_key for vm in doc.verification_methods},
        **{name: getattr(doc, name) for name in RELATIONSHIPS},
    }


ALL = [
    (name, did, entry, doc)
    for name in ("ed25519-x25519.json", "x25519.json", "nist-curves.json", "secp256k1.json")
    for did, entry, doc in _vector_docs(name)
]


@pytest.mark.parametrize(("name", "did", "entry", "vector_doc"), ALL, ids=[a[1][8:30] for a in ALL])
def test_resolution_matches_vector(name: str, did: str, entry: dict, vector_doc: dict) -> None:
    ours = DIDDocument.parse(resolve_did_key(did), did=did)
    theirs = DIDDocument.parse(vector_doc, did=did)
    assert _view(ours) == _view(theirs)
    assert all(vm.type == "Multikey" for vm in ours.verification_methods)
    assert ours.to_json()["@context"][1] == "https://w3id.org/security/multikey/v1"


@pytest.mark.parametrize(
    ("did", "entry"),
    [(did, entry) for did, entry, _ in _vector_docs("ed25519-x25519.json")],
)
def test_ed25519_seed_gives_did_and_derived_x25519(did: str, entry: dict) -> None:
    secret = PrivateKey.from_secret(KeyType.ED25519, bytes.fromhex(entry["seed"]))
    assert create_did_key(secret.public) == did
    assert did_key_public_key(did) == secret.public
    doc = DIDDocument.parse(resolve_did_key(did))
    (agreement,) = doc.key_agreement_keys()
    assert agreement.public_key == secret.to_x25519().public
    pair = entry["keyAgreementKeyPair"]
    if "privateKeyBase58" in pair:
        assert secret.to_x25519().secret == base58.b58decode(pair["privateKeyBase58"])
    else:
        assert PrivateKey.from_jwk(pair["privateKeyJwk"]) == secret.to_x25519()
    assert agreement.id.endswith("#" + agreement.public_key.multikey)


def test_secp256k1_and_nist_private_keys_give_their_dids() -> None:
    for did, entry, _ in _vector_docs("secp256k1.json"):
        if "seed" in entry:
            secret = PrivateKey.from_secret(KeyType.SECP256K1, bytes.fromhex(entry["seed"]))
            assert create_did_key(secret.public) == did
    seen = set()
    for did, entry, _ in _vector_docs("nist-curves.json"):
        pair = entry["verificationMethod"]
        if "privateKeyJwk" in pair:
            secret = PrivateKey.from_jwk(pair["privateKeyJwk"])
            assert create_did_key(secret.public) == did
            seen.add(secret.type)
    assert seen == {KeyType.P256, KeyType.P384, KeyType.P521}


def test_x25519_did_key_is_for_key_agreement_only() -> None:
    key = PrivateKey.generate(KeyType.X25519).public
    doc = DIDDocument.parse(resolve_did_key(create_did_key(key)))
    assert [vm.public_key for vm in doc.key_agreement_keys()] == [key]
    assert doc.authentication == () and doc.assertion_method == ()


def test_ed25519_document_shape() -> None:
    key = PrivateKey.generate(KeyType.ED25519).public
    did = create_did_key(key)
    raw = resolve_did_key(did)
    main = f"{did}#{key.multikey}"
    agreement = f"{did}#{key.to_x25519().multikey}"
    assert raw["verificationMethod"][0] == {
        "id": main,
        "type": "Multikey",
        "controller": did,
        "publicKeyMultibase": key.multikey,
    }
    for name in ("authentication", "assertionMethod", "capabilityInvocation"):
        assert raw[name] == [main]
    assert raw["keyAgreement"] == [agreement]


def test_bls_did_key_is_an_unsupported_codec() -> None:
    for did in _load("bls12381.json"):
        with pytest.raises(UnsupportedKeyCodec):
            resolve_did_key(did)


@pytest.mark.parametrize(
    ("did", "error"),
    [
        ("did:key:", InvalidDID),
        ("did:key:6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp", InvalidDID),  # no "z"
        ("did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooW", InvalidDIDKey),  # truncated
        ("did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp0", InvalidDID),  # 0 not b58
        ("did:key:zOOOO", InvalidDID),
        ("did:key:z" + "1" * 300, DIDTooLong),
        ("did:web:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp", InvalidDID),
        ("did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp#frag", InvalidDID),
    ],
)
def test_bad_did_keys(did: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        resolve_did_key(did)


def test_wrong_codec_and_bad_points() -> None:
    # sha2-256 multihash prefix instead of a key codec
    with pytest.raises(InvalidDIDKey, match="not a public key codec"):
        resolve_did_key("did:key:z" + base58.b58encode(b"\x12\x20" + bytes(32)).decode())
    # a P-256 "compressed point" whose x is not on the curve
    with pytest.raises(InvalidDIDKey):
        resolve_did_key("did:key:z" + base58.b58encode(b"\x80\x24\x02" + b"\xff" * 32).decode())
    # an error is also a KeyFormatError, for callers that think in keys
    with pytest.raises(KeyFormatError):
        resolve_did_key("did:key:z" + base58.b58encode(b"\xed\x01" + bytes(31)).decode())


def test_create_refuses_non_keys() -> None:
    with pytest.raises(KeyFormatError):
        create_did_key("z6Mk...")  # type: ignore[arg-type]
    key = PublicKey(KeyType.ED25519, bytes(range(32)))
    assert create_did_key(key).startswith("did:key:z6Mk")
