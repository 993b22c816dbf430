"""Interop with didkit 0.3.3 (SpruceID's Rust implementation, in the "sicpa" venv).

didkit issues VC 1.1 credentials with Ed25519Signature2020 and Ed25519Signature2018 proofs
for a fresh did:key; moi must verify them (and reject tampered copies). The other way, didkit
must accept moi's Ed25519Signature2020 credentials. didkit knows no DataIntegrityProof, so
the eddsa cryptosuites are covered by the W3C vectors instead.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from typing import Any

import base58
import pytest

from tests.peers import HERE, ensure_venv
from wallet.credentials.data_integrity import add_proof, verify_proof
from wallet.credentials.model import parse_credential
from wallet.errors import KeyNotFound
from wallet.keys import KeyType, PrivateKey, PublicKey

pytestmark = pytest.mark.interop

CREDENTIAL = {
    "@context": ["https://www.w3.org/2018/credentials/v1"],
    "type": ["VerifiableCredential"],
    "issuanceDate": "2024-01-01T00:00:00Z",
    "credentialSubject": {"id": "did:example:alice"},
}


def didkit(request: dict[str, Any]) -> dict[str, Any]:
    """Run the peer; judge by the JSON it printed, not by how the process ended."""
    python = ensure_venv("sicpa") / "bin" / "python"
    for _ in range(3):
        proc = subprocess.run(
            [str(python), str(HERE / "didkit_peer.py")],
            input=json.dumps(request).encode(),
            capture_output=True,
            timeout=120,
            check=False,
        )
        lines = proc.stdout.decode().strip().splitlines()
        if lines:
            answer = json.loads(lines[-1])
            assert "error" not in answer, answer["error"]
            return answer
    raise AssertionError(f"didkit printed nothing: {proc.stderr.decode()[-2000:]}")


def did_key_public(did: str) -> PublicKey:
    """did:key:z6Mk... -> the Ed25519 key it carries (multibase base58btc, codec 0xed)."""
    if not did.startswith("did:key:z"):
        raise KeyNotFound(f"not a base58btc did:key: {did}")
    raw = base58.b58decode(did[len("did:key:z") :])
    if raw[:2] != b"\xed\x01" or len(raw) != 34:
        raise KeyNotFound("not an Ed25519 did:key")
    return PublicKey(KeyType.ED25519, raw[2:])


async def resolve(vm: str) -> PublicKey:
    did, _, fragment = vm.partition("#")
    if fragment != did[len("did:key:") :]:
        raise KeyNotFound(f"not a did:key verification method: {vm}")
    return did_key_public(did)


@pytest.mark.parametrize("proof_type", ["Ed25519Signature2020", "Ed25519Signature2018"])
async def test_didkit_credentials_verify_in_moi(proof_type: str) -> None:
    answer = didkit({"op": "issue", "proof_type": proof_type, "credential": CREDENTIAL})
    signed = answer["credential"]
    assert signed["proof"]["type"] == proof_type
    assert signed["issuer"] == answer["did"]

    parsed = parse_credential(signed)
    assert parsed.issuer == answer["did"]
    result = await verify_proof(signed, resolve_key=resolve)
    assert result.verified, result.reason
    assert result.checks[0].verification_method == answer["verification_method"]
    # the method belongs to the issuer: the binding a full verifier checks
    assert result.checks[0].verification_method.split("#")[0] == parsed.issuer

    tampered = json.loads(json.dumps(signed))
    tampered["credentialSubject"]["id"] = "did:example:mallory"
    bad = await verify_proof(tampered, resolve_key=resolve)
    assert not bad.verified and "signature" in (bad.reason or "")


async def test_moi_ed25519signature2020_verifies_in_didkit() -> None:
    key = PrivateKey.generate()
    did = f"did:key:{key.public.multikey}"
    cred = dict(
        CREDENTIAL,
        **{
            "@context": [
                "https://www.w3.org/2018/credentials/v1",
                "https://w3id.org/security/suites/ed25519-2020/v1",
            ],
            "issuer": did,
        },
    )
    signed = await add_proof(
        cred,
        cryptosuite="Ed25519Signature2020",
        key=key,
        verification_method=f"{did}#{key.public.multikey}",
        created=datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC),
    )
    answer = didkit({"op": "verify", "credential": signed})
    assert answer["errors"] == [], answer
    tampered = json.loads(json.dumps(signed))
    tampered["issuanceDate"] = "2024-01-02T00:00:00Z"
    assert didkit({"op": "verify", "credential": tampered})["errors"]
