"""Data Integrity EdDSA proofs against the W3C vc-di-eddsa test vectors (v1.1).

moi must verify every signed vector, reject tampered copies, and reproduce each vector's
canonical forms, hashes and proof value from its key pair and unsigned input (Ed25519 is
deterministic, so the proof values must match byte for byte).
"""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import base58
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wallet.credentials import ld
from wallet.credentials.contexts import ContextLoader
from wallet.credentials.data_integrity import add_proof, verify_proof
from wallet.credentials.di_jcs import jcs
from wallet.credentials.errors import ProofError
from wallet.credentials.multibase import b58decode, b58encode
from wallet.errors import KeyNotFound
from wallet.keys import KeyType, PrivateKey, PublicKey

V = Path(__file__).parent / "vectors" / "vc-di-eddsa"
CTX = Path(__file__).parent / "vectors" / "jsonld-contexts"
NOW = datetime(2025, 1, 1, tzinfo=UTC)
CREATED = datetime(2023, 2, 24, 23, 36, 38, tzinfo=UTC)


def load(rel: str) -> Any:
    return json.loads((V / rel).read_text())


def text(rel: str) -> str:
    return (V / rel).read_text()


def private_from_multibase(value: str) -> PrivateKey:
    raw = base58.b58decode(value[1:])
    assert raw[:2] == b"\x80\x26"  # multicodec ed25519-priv
    return PrivateKey.from_secret(KeyType.ED25519, raw[2:])


KEY = private_from_multibase(load("keyPair.json")["privateKeyMultibase"])
PAIRS = {
    name: private_from_multibase(p["privateKeyMultibase"])
    for name, p in load("proof-set-chain/multiKeyPairs.json").items()
}
CITIZENSHIP = ContextLoader(
    {
        "https://w3id.org/citizenship/v4rc1": json.loads(
            (CTX / "citizenship-v4rc1.jsonld").read_text()
        )
    }
)


def vm_of(key: PrivateKey) -> str:
    mk = key.public.multikey
    return f"did:key:{mk}#{mk}"


async def resolve(vm: str) -> PublicKey:
    """did:key resolution for the tests: the key is in the DID itself."""
    did, _, fragment = vm.partition("#")
    if not did.startswith("did:key:z6Mk") or fragment != did[len("did:key:") :]:
        raise KeyNotFound(f"unknown verification method {vm}")
    return PublicKey.from_multikey(fragment)


SIGNED = [
    ("eddsa-jcs-2022/signedJCS.json", None),
    ("eddsa-rdfc-2022/signedDataInt.json", None),
    ("eddsa-rdfc-2022/employ/signedDataInt.json", CITIZENSHIP),
    ("Ed25519Signature2020/signedEdSig.json", None),
    ("proof-set-chain/signedProofSet1.json", None),
    ("proof-set-chain/signedProofSet2.json", None),
    ("proof-set-chain/signedProofChain1.json", None),
    ("proof-set-chain/signedProofChain2.json", None),
]


def test_public_key_matches_vector() -> None:
    assert KEY.public.multikey == load("keyPair.json")["publicKeyMultibase"]
    for name, key in PAIRS.items():
        assert (
            key.public.multikey
            == load("proof-set-chain/multiKeyPairs.json")[name]["publicKeyMultibase"]
        )


@pytest.mark.parametrize(("rel", "loader"), SIGNED)
async def test_signed_vectors_verify(rel: str, loader: ContextLoader | None) -> None:
    doc = load(rel)
    result = await verify_proof(doc, resolve_key=resolve, now=NOW, contexts=loader)
    assert result.verified, result.reason
    proofs = doc["proof"] if isinstance(doc["proof"], list) else [doc["proof"]]
    assert len(result.checks) == len(proofs)
    for check, proof in zip(result.checks, proofs, strict=True):
        assert check.verified
        assert check.verification_method == proof["verificationMethod"]
        assert check.proof_id == proof.get("id")


# -- reproducing the vectors -----------------------------------------------------------------


def test_jcs_canonical_forms_and_hashes() -> None:
    doc = load("unsigned.json")
    config = load("eddsa-jcs-2022/proofConfigJCS.json")
    assert jcs(doc).decode() == text("eddsa-jcs-2022/canonDocJCS.txt")
    assert jcs(config).decode() == text("eddsa-jcs-2022/proofCanonJCS.txt")
    assert hashlib.sha256(jcs(doc)).hexdigest() == text("eddsa-jcs-2022/docHashJCS.txt").strip()
    assert (
        hashlib.sha256(jcs(config)).hexdigest() == text("eddsa-jcs-2022/proofHashJCS.txt").strip()
    )


@pytest.mark.parametrize(
    ("folder", "suffix", "unsigned", "loader"),
    [
        ("eddsa-rdfc-2022", "DataInt", "unsigned.json", None),
        ("eddsa-rdfc-2022/employ", "DataInt", "employmentAuth.json", CITIZENSHIP),
        ("Ed25519Signature2020", "EdSig", "unsigned.json", None),
    ],
)
def test_rdfc_canonical_forms_and_hashes(
    folder: str, suffix: str, unsigned: str, loader: ContextLoader | None
) -> None:
    doc = load(unsigned)
    if folder == "Ed25519Signature2020":
        doc["@context"] = load("Ed25519Signature2020/signedEdSig.json")["@context"]
    config = load(f"{folder}/proofConfig{suffix}.json")
    doc_nq = ld.canonical_nquads(doc, loader)
    config_nq = ld.canonical_nquads(config, loader)
    assert doc_nq == text(f"{folder}/canonDoc{suffix}.txt")
    assert config_nq == text(f"{folder}/proofCanon{suffix}.txt")
    doc_hash = hashlib.sha256(doc_nq.encode()).hexdigest()
    config_hash = hashlib.sha256(config_nq.encode()).hexdigest()
    assert doc_hash == text(f"{folder}/docHash{suffix}.txt").strip()
    assert config_hash == text(f"{folder}/proofHash{suffix}.txt").strip()
    assert config_hash + doc_hash == text(f"{folder}/combinedHash{suffix}.txt").strip()


@pytest.mark.parametrize(
    ("suite", "unsigned", "signed", "loader"),
    [
        ("eddsa-jcs-2022", "unsigned.json", "eddsa-jcs-2022/signedJCS.json", None),
        ("eddsa-rdfc-2022", "unsigned.json", "eddsa-rdfc-2022/signedDataInt.json", None),
        (
            "eddsa-rdfc-2022",
            "employmentAuth.json",
            "eddsa-rdfc-2022/employ/signedDataInt.json",
            CITIZENSHIP,
        ),
        (
            "Ed25519Signature2020",
            "unsigned.json",
            "Ed25519Signature2020/signedEdSig.json",
            None,
        ),
    ],
)
async def test_reproduce_signed_vectors(
    suite: str, unsigned: str, signed: str, loader: ContextLoader | None
) -> None:
    doc = load(unsigned)
    expected = load(signed)
    doc["@context"] = expected["@context"]
    out = await add_proof(
        doc,
        cryptosuite=suite,
        key=KEY,
        verification_method=vm_of(KEY),
        created=CREATED,
        contexts=loader,
    )
    assert out == expected
    assert doc == load(unsigned) | {"@context": expected["@context"]}  # input untouched


async def test_reproduce_proof_set_and_chain() -> None:
    doc = load("proof-set-chain/unsigned.json")
    configs = [
        ("proofSetConfig1.json", "keyPair1"),
        ("proofSetConfig2.json", "keyPair2"),
        ("proofChainConfig1.json", "keyPair3"),
        ("proofChainConfig2.json", "keyPair4"),
    ]
    expected_docs = [
        "signedProofSet1.json",
        "signedProofSet2.json",
        "signedProofChain1.json",
        "signedProofChain2.json",
    ]
    for (config_name, key_name), expected in zip(configs, expected_docs, strict=True):
        config = load(f"proof-set-chain/{config_name}")
        key = PAIRS[key_name]
        assert config["verificationMethod"] == vm_of(key)
        doc = await add_proof(
            doc,
            cryptosuite=config["cryptosuite"],
            key=key,
            verification_method=config["verificationMethod"],
            created=datetime.fromisoformat(config["created"]),
            proof_id=config.get("id"),
            previous_proof=config.get("previousProof"),
        )
        signed_config = load(f"proof-set-chain/{config_name.replace('Config', 'ConfigSigned')}")
        last = doc["proof"][-1] if isinstance(doc["proof"], list) else doc["proof"]
        assert last == signed_config
        assert doc == load(f"proof-set-chain/{expected}")


async def test_jcs_proof_after_context_is_extended() -> None:
    # eddsa-jcs-2022 signs the contexts listed in the proof; more appended later are allowed.
    doc = load("eddsa-jcs-2022/signedJCS.json")
    doc["@context"] = [*doc["@context"], "https://w3id.org/security/data-integrity/v2"]
    assert (await verify_proof(doc, resolve_key=resolve, now=NOW)).verified
    doc["@context"] = doc["@context"][1:]
    result = await verify_proof(doc, resolve_key=resolve, now=NOW)
    assert not result.verified
    assert isinstance(result.error, ProofError)


def test_vectors_are_not_mutated_by_loader() -> None:
    before = copy.deepcopy(load("eddsa-rdfc-2022/signedDataInt.json"))
    ld.canonical_nquads(before)
    assert before == load("eddsa-rdfc-2022/signedDataInt.json")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80), st.integers(0, 4))
def test_base58btc_matches_reference(data: bytes, zeros: int) -> None:
    data = b"\0" * zeros + data
    text = base58.b58encode(data).decode()
    assert b58encode(data) == text
    assert b58decode(text) == data
