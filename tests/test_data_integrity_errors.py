"""Data Integrity proofs that must not verify, and the precise error each one gets."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import base58
import pytest

from wallet.credentials.contexts import ContextLoader
from wallet.credentials.data_integrity import add_proof, verify_proof
from wallet.credentials.errors import (
    ContextError,
    CredentialError,
    MalformedCredential,
    ProofError,
    UnsupportedCryptosuite,
)
from wallet.errors import KeyNotFound
from wallet.keys import KeyType, PrivateKey, PublicKey

V = Path(__file__).parent / "vectors" / "vc-di-eddsa"
NOW = datetime(2025, 1, 1, tzinfo=UTC)
SIGNED = {
    "eddsa-jcs-2022": "eddsa-jcs-2022/signedJCS.json",
    "eddsa-rdfc-2022": "eddsa-rdfc-2022/signedDataInt.json",
    "Ed25519Signature2020": "Ed25519Signature2020/signedEdSig.json",
}
SUITES = list(SIGNED)


def load(rel: str) -> Any:
    return json.loads((V / rel).read_text())


async def resolve(vm: str) -> PublicKey:
    did, _, fragment = vm.partition("#")
    if not did.startswith("did:key:z6Mk") or fragment != did[len("did:key:") :]:
        raise KeyNotFound(f"unknown verification method {vm}")
    return PublicKey.from_multikey(fragment)


def first_proof(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["proof"][0] if isinstance(doc["proof"], list) else doc["proof"]


async def failure(doc: Any, **kw: Any) -> CredentialError:
    result = await verify_proof(doc, resolve_key=kw.pop("resolve_key", resolve), now=NOW, **kw)
    assert not result.verified
    assert result.error is not None and result.reason
    with pytest.raises(type(result.error)):
        result.raise_for_failure()
    return result.error


@pytest.mark.parametrize("suite", SUITES)
async def test_changed_claim(suite: str) -> None:
    doc = load(SIGNED[suite])
    doc["credentialSubject"]["alumniOf"] = "The School of Forgeries"
    err = await failure(doc)
    assert type(err) is ProofError and "signature" in str(err)


@pytest.mark.parametrize("suite", SUITES)
async def test_added_claim(suite: str) -> None:
    doc = load(SIGNED[suite])
    doc["credentialSubject"]["degree"] = "PhD"
    assert type(await failure(doc)) is ProofError


@pytest.mark.parametrize("suite", SUITES)
async def test_changed_proof_value(suite: str) -> None:
    doc = load(SIGNED[suite])
    raw = bytearray(base58.b58decode(first_proof(doc)["proofValue"][1:]))
    raw[10] ^= 1
    first_proof(doc)["proofValue"] = "z" + base58.b58encode(bytes(raw)).decode()
    assert type(await failure(doc)) is ProofError


@pytest.mark.parametrize("suite", SUITES)
async def test_changed_proof_options(suite: str) -> None:
    doc = load(SIGNED[suite])
    first_proof(doc)["created"] = "2023-02-24T23:36:39Z"
    assert type(await failure(doc)) is ProofError


@pytest.mark.parametrize("suite", SUITES)
async def test_proof_over_another_document(suite: str) -> None:
    other = load("employmentAuth.json")
    other["@context"] = load(SIGNED[suite])["@context"] + ["https://w3id.org/citizenship/v4rc1"]
    other["proof"] = first_proof(load(SIGNED[suite]))
    loader = ContextLoader(
        {
            "https://w3id.org/citizenship/v4rc1": json.loads(
                (V.parent / "jsonld-contexts" / "citizenship-v4rc1.jsonld").read_text()
            )
        }
    )
    err = await failure(other, contexts=loader)
    assert isinstance(err, ProofError)


@pytest.mark.parametrize("suite", SUITES)
async def test_wrong_key(suite: str) -> None:
    wrong = PrivateKey.generate(KeyType.ED25519).public

    async def resolve_wrong(vm: str) -> PublicKey:
        return wrong

    err = await failure(load(SIGNED[suite]), resolve_key=resolve_wrong)
    assert type(err) is ProofError and "signature" in str(err)


async def test_key_not_resolvable_and_not_ed25519() -> None:
    async def missing(vm: str) -> PublicKey:
        raise KeyNotFound("no such key")

    err = await failure(load(SIGNED["eddsa-jcs-2022"]), resolve_key=missing)
    assert type(err) is ProofError and "could not be resolved" in str(err)

    async def p256(vm: str) -> PublicKey:
        return PrivateKey.generate(KeyType.P256).public

    err = await failure(load(SIGNED["eddsa-jcs-2022"]), resolve_key=p256)
    assert "Ed25519" in str(err)


async def test_unknown_cryptosuite_and_type() -> None:
    doc = load(SIGNED["eddsa-rdfc-2022"])
    doc["proof"]["cryptosuite"] = "ecdsa-rdfc-2019"
    err = await failure(doc)
    assert type(err) is UnsupportedCryptosuite and "ecdsa-rdfc-2019" in str(err)
    doc["proof"]["type"] = "BbsBlsSignature2020"
    assert type(await failure(doc)) is UnsupportedCryptosuite
    with pytest.raises(UnsupportedCryptosuite):
        await add_proof(
            load("unsigned.json"),
            cryptosuite="ecdsa-jcs-2019",
            key=PrivateKey.generate(),
            verification_method="did:example:1#k",
        )
    # Ed25519Signature2018 is verified only, never issued.
    with pytest.raises(UnsupportedCryptosuite):
        await add_proof(
            load("unsigned.json"),
            cryptosuite="Ed25519Signature2018",
            key=PrivateKey.generate(),
            verification_method="did:example:1#k",
        )


@pytest.mark.parametrize("suite", SUITES)
async def test_unknown_context_is_refused_not_fetched(suite: str) -> None:
    doc = load(SIGNED[suite])
    doc["@context"] = [*doc["@context"], "https://attacker.example/context.jsonld"]
    err = await failure(doc)
    assert type(err) is ContextError and "attacker.example" in str(err)


async def test_context_outside_bundle_refused_when_signing() -> None:
    doc = load("unsigned.json")
    doc["@context"].append("https://attacker.example/v1")
    for suite in SUITES:
        with pytest.raises(ContextError):
            await add_proof(
                doc,
                cryptosuite=suite,
                key=PrivateKey.generate(),
                verification_method="did:example:1#k",
            )


async def test_wrong_context_redefining_terms() -> None:
    doc = load(SIGNED["eddsa-rdfc-2022"])
    doc["@context"] = [*doc["@context"], {"name": "https://attacker.example/name"}]
    err = await failure(doc)
    assert isinstance(err, ContextError) and "protected" in str(err)


async def test_undefined_term_is_an_error_not_silently_dropped() -> None:
    # With the v1 context (no @vocab), JSON-LD would drop an undefined property: an unsigned
    # claim a reader would believe signed. Safe mode makes it an error.
    doc = {
        "@context": [
            "https://www.w3.org/2018/credentials/v1",
            "https://w3id.org/security/suites/ed25519-2020/v1",
        ],
        "type": ["VerifiableCredential"],
        "issuer": "did:example:issuer",
        "issuanceDate": "2024-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:s", "undefinedClaim": "x"},
    }
    with pytest.raises(ContextError, match="undefinedClaim"):
        await add_proof(
            doc,
            cryptosuite="Ed25519Signature2020",
            key=PrivateKey.generate(),
            verification_method="did:example:1#k",
        )


async def test_purpose_challenge_domain_expires() -> None:
    key = PrivateKey.generate()
    vm = f"did:key:{key.public.multikey}#{key.public.multikey}"
    doc = {k: v for k, v in load("unsigned.json").items()}
    signed = await add_proof(
        doc,
        cryptosuite="eddsa-jcs-2022",
        key=key,
        verification_method=vm,
        proof_purpose="authentication",
        challenge="c-123",
        domain="https://verifier.example",
        expires=NOW + timedelta(minutes=5),
    )
    ok = await verify_proof(
        signed,
        resolve_key=resolve,
        expected_purpose="authentication",
        challenge="c-123",
        domain="https://verifier.example",
        now=NOW,
    )
    assert ok.verified, ok.reason
    cases = [
        ({"expected_purpose": "assertionMethod"}, "purpose"),
        ({"expected_purpose": "authentication", "challenge": "replayed"}, "challenge"),
        ({"expected_purpose": "authentication", "domain": "https://other.example"}, "domain"),
    ]
    for kwargs, word in cases:
        result = await verify_proof(signed, resolve_key=resolve, now=NOW, **kwargs)
        assert not result.verified and word in (result.reason or "")
    late = await verify_proof(
        signed,
        resolve_key=resolve,
        expected_purpose="authentication",
        now=NOW + timedelta(hours=1),
    )
    assert not late.verified and "expired" in (late.reason or "")


async def test_malformed_documents_and_proofs() -> None:
    assert type(await failure("not json")) is MalformedCredential
    assert type(await failure(b"[1, 2]")) is MalformedCredential
    assert type(await failure(load("unsigned.json"))) is ProofError  # no proof
    doc = load(SIGNED["eddsa-jcs-2022"])
    for bad in ["", "u" + doc["proof"]["proofValue"][1:], "z0OIl", "z" + "1" * 20, 5]:
        d = copy.deepcopy(doc)
        d["proof"]["proofValue"] = bad
        assert type(await failure(d)) is MalformedCredential
    d = copy.deepcopy(doc)
    d["proof"] = [doc["proof"]] * 40
    assert type(await failure(d)) is MalformedCredential
    d = copy.deepcopy(doc)
    d["proof"]["verificationMethod"] = "not a url"
    assert isinstance(await failure(d), ProofError)
    d = copy.deepcopy(doc)
    d["proof"]["created"] = "yesterday"
    assert type(await failure(d)) is MalformedCredential


async def test_previous_proof_must_exist() -> None:
    doc = load("proof-set-chain/signedProofChain2.json")
    doc["proof"] = [
        p for p in doc["proof"] if p.get("id") != "urn:uuid:d94f792a-c546-4d06-b38a-da070ab56c23"
    ]
    err = await failure(doc)
    assert type(err) is ProofError and "previousProof" in str(err)
    with pytest.raises(ProofError, match="previousProof"):
        await add_proof(
            load("unsigned.json"),
            cryptosuite="eddsa-rdfc-2022",
            key=PrivateKey.generate(),
            verification_method="did:example:1#k",
            previous_proof="urn:uuid:missing",
        )


async def test_one_bad_proof_in_a_set_fails_the_set() -> None:
    doc = load("proof-set-chain/signedProofSet2.json")
    doc["proof"][1]["proofValue"] = doc["proof"][0]["proofValue"]
    result = await verify_proof(doc, resolve_key=resolve, now=NOW)
    assert not result.verified
    assert [c.verified for c in result.checks] == [True, False]
    assert result.checks[1].proof_id == "urn:uuid:8cc9022b-6b14-4cf3-8571-74972c5feb54"


async def test_round_trip_fresh_key_each_suite() -> None:
    key = PrivateKey.generate()
    vm = f"did:key:{key.public.multikey}#{key.public.multikey}"
    for suite in SUITES:
        signed = await add_proof(
            load("unsigned.json") | {"@context": load(SIGNED[suite])["@context"]},
            cryptosuite=suite,
            key=key,
            verification_method=vm,
            created=NOW,
        )
        result = await verify_proof(signed, resolve_key=resolve, now=NOW)
        assert result.verified, (suite, result.reason)
        assert result.checks[0].created == NOW
