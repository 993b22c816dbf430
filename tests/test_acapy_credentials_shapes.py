"""The shapes ACA-Py 1.7 sends and expects in credential exchanges, checked without ACA-Py.

``tests/test_acapy_credentials.py`` proves the flows against a running ACA-Py; these tests
pin down, in-process and fast, each thing those flows needed from moi:

- ACA-Py issues Ed25519Signature2020 credentials: moi's holder keeps them (as di-rdfc, the
  proof type recorded) and refuses a tampered one;
- ACA-Py's proof requests name only the presentation format (``ldp_vp``): they select
  ``ldp_vc`` credentials, submitted under that format;
- ACA-Py's presentations name DIF's submission context and carry no ``holder``: the context
  is bundled, and the holder is the DID whose authentication key signed (not anyone else);
- what moi asks ACA-Py's prover: dot-notation paths and a PE 1.0 ``schema``.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from protocols.present_proof.definitions import VC_TYPE_IRI, simple_definition
from wallet import Wallet
from wallet.credentials.data_integrity import add_proof
from wallet.credentials.did_keys import ASSERTION, AUTHENTICATION, own_signing_key
from wallet.credentials.errors import CredentialError
from wallet.credentials.holder import Holder
from wallet.credentials.pex import PresentationDefinition, build_submission
from wallet.credentials.pex_jsonpath import JsonPath
from wallet.credentials.verifier import verify

CREDENTIALS_V1 = "https://www.w3.org/2018/credentials/v1"
ED25519_2020 = "https://w3id.org/security/suites/ed25519-2020/v1"
SUBMISSION_V1 = "https://identity.foundation/presentation-exchange/submission/v1"
CHALLENGE = str(uuid.uuid4())
NOW = datetime(2026, 6, 1, tzinfo=UTC)


@dataclass
class Parties:
    issuer_wallet: Wallet
    holder_wallet: Wallet
    issuer: str
    holder: str
    stranger: str


@pytest.fixture
async def parties(tmp_path: Path) -> AsyncIterator[Parties]:
    iw = await Wallet.create(f"sqlite://{tmp_path}/issuer.db", passphrase="i", kdf="argon2id-test")
    hw = await Wallet.create(f"sqlite://{tmp_path}/holder.db", passphrase="h", kdf="argon2id-test")
    parties = Parties(
        iw, hw, await iw.create_did("key"), await hw.create_did("key"), await hw.create_did("key")
    )
    yield parties
    await iw.close()
    await hw.close()


async def _acapy_like_credential(p: Parties, subject: str) -> dict[str, Any]:
    """A credential as ACA-Py's ld_proof issuer writes it: VCDM 1.1, the suite's context
    appended, an Ed25519Signature2020 proof by a did:key."""
    credential = {
        "@context": [CREDENTIALS_V1, {"@vocab": "https://moi.example/vocab#"}, ED25519_2020],
        "type": ["VerifiableCredential", "MembershipCard"],
        "issuer": p.issuer,
        "issuanceDate": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": subject, "member": "m-1", "over18": True},
    }
    vm, key = await own_signing_key(p.issuer_wallet, p.issuer_wallet.resolver, p.issuer, ASSERTION)
    return await add_proof(
        credential,
        cryptosuite="Ed25519Signature2020",
        key=key,
        verification_method=vm,
        proof_purpose=ASSERTION,
        created=datetime(2026, 1, 1, tzinfo=UTC),
    )


def _acapy_definition(fmt: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "format": fmt,
        "input_descriptors": [
            {
                "id": "membership",
                "schema": [{"uri": VC_TYPE_IRI}],
                "constraints": {
                    "fields": [{"path": ["$.credentialSubject.over18"], "filter": {"const": True}}]
                },
            }
        ],
    }


async def test_holder_keeps_an_ed25519_2020_credential(parties: Parties) -> None:
    credential = await _acapy_like_credential(parties, parties.holder)
    holder = Holder(parties.holder_wallet)
    stored = await holder.store(credential, now=NOW)
    assert stored.format.value == "di-rdfc"
    assert stored.pex == {
        "format": "ldp_vc",
        "proof_type": "Ed25519Signature2020",
        "cryptosuite": None,
    }
    assert (stored.issuer, stored.subject) == (parties.issuer, parties.holder)
    tampered = copy.deepcopy(credential)
    tampered["credentialSubject"]["member"] = "m-2"
    with pytest.raises(CredentialError):
        await holder.store(tampered, now=NOW)
    assert [c.id for c in await holder.list()] == [stored.id]


@pytest.mark.parametrize(
    ("fmt", "selected"),
    [
        ({"ldp_vp": {"proof_type": ["Ed25519Signature2020"]}}, True),
        ({"di_vp": {}}, True),
        ({"ldp_vp": {"proof_type": ["Ed25519Signature2018"]}}, False),
        ({"jwt_vp": {"alg": ["EdDSA"]}}, False),
    ],
)
async def test_a_presentation_format_selects_the_credentials_it_carries(
    parties: Parties, fmt: dict[str, Any], selected: bool
) -> None:
    holder = Holder(parties.holder_wallet)
    stored = await holder.store(await _acapy_like_credential(parties, parties.holder), now=NOW)
    definition = PresentationDefinition.parse(_acapy_definition(fmt))
    evaluation = await holder.preselect(definition)
    matches = evaluation.matches["membership"]
    if not selected:
        assert matches == ()
        return
    (match,) = matches
    assert match.candidate.id == stored.id
    assert match.format == "ldp_vc"  # the claim at the path is a credential, not a VP
    submission = build_submission(definition, evaluation.select())
    (entry,) = submission["descriptor_map"]
    assert entry["format"] == "ldp_vc"


async def _acapy_like_presentation(
    p: Parties, credential: dict[str, Any], signer: str, definition_id: str
) -> dict[str, Any]:
    """A presentation as ACA-Py's prover writes it: VCDM 1.1 with DIF's submission context,
    no ``holder``, signed for authentication with the challenge and without a domain."""
    vp = {
        "@context": [CREDENTIALS_V1, SUBMISSION_V1],
        "type": ["VerifiablePresentation", "PresentationSubmission"],
        "verifiableCredential": [credential],
        "presentation_submission": {
            "id": str(uuid.uuid4()),
            "definition_id": definition_id,
            "descriptor_map": [
                {"id": "membership", "format": "ldp_vc", "path": "$.verifiableCredential[0]"}
            ],
        },
    }
    vm, key = await own_signing_key(
        p.holder_wallet, p.holder_wallet.resolver, signer, AUTHENTICATION
    )
    vp["@context"].append(ED25519_2020)
    return await add_proof(
        vp,
        cryptosuite="Ed25519Signature2020",
        key=key,
        verification_method=vm,
        proof_purpose=AUTHENTICATION,
        challenge=CHALLENGE,
        created=NOW,
    )


async def test_a_presentation_without_holder_is_held_by_its_signer(parties: Parties) -> None:
    credential = await _acapy_like_credential(parties, parties.holder)
    vp = await _acapy_like_presentation(parties, credential, parties.holder, "d-1")
    report = await verify(
        vp, nonce=CHALLENGE, now=NOW, resolver=parties.holder_wallet.resolver, status_fetcher=None
    )
    assert report.verified, report.errors
    assert report.holder == parties.holder
    assert report.checks["holder_binding"] == "ok"

    # Signed by someone else than the subject: no holder to fall back on, so it fails.
    forged = await _acapy_like_presentation(parties, credential, parties.stranger, "d-1")
    report = await verify(
        forged,
        nonce=CHALLENGE,
        now=NOW,
        resolver=parties.holder_wallet.resolver,
        status_fetcher=None,
    )
    assert not report.verified
    assert report.holder == parties.stranger
    assert report.checks["holder_binding"].startswith("failed")
    assert "subject is not the presentation's holder" in report.checks["holder_binding"]

    # Replayed to another verifier (another challenge): refused before any signature.
    report = await verify(
        vp,
        nonce=str(uuid.uuid4()),
        now=NOW,
        resolver=parties.holder_wallet.resolver,
        status_fetcher=None,
    )
    assert report.checks["holder_binding"].startswith("failed")


def test_claim_requests_are_in_the_shape_acapy_reads() -> None:
    definition = simple_definition(["over18=true", "address.locality"], format="ed25519-2020")
    (descriptor,) = definition["input_descriptors"]
    assert descriptor["schema"] == [{"uri": VC_TYPE_IRI}]
    first, second = descriptor["constraints"]["fields"]
    assert first["path"] == ["$.credentialSubject.over18", "$.over18"]
    assert second["path"] == ["$.credentialSubject.address.locality", "$.address.locality"]
    claims = {"credentialSubject": {"over18": True, "address": {"locality": "Köln"}}}
    assert JsonPath.parse(first["path"][0]).find(claims) == [
        (("credentialSubject", "over18"), True)
    ]
    # SD-JWT VCs have no JSON-LD types: no schema there.
    (sd,) = simple_definition(["over18"], format="sd-jwt")["input_descriptors"]
    assert "schema" not in sd
