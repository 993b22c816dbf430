"""Bad input: each is rejected by ``verify`` with a specific error; the holder stores nothing."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from wallet import Wallet
from wallet.credentials.data_integrity import add_proof
from wallet.credentials.did_keys import IssuerError, NoSigningKey
from wallet.credentials.errors import (
    ContextError,
    CredentialError,
    MalformedCredential,
    PresentationError,
    ProofError,
    UnsupportedCryptosuite,
)
from wallet.credentials.holder import Holder
from wallet.credentials.issuer import issue_credential
from wallet.credentials.model import CredentialTooLarge
from wallet.credentials.sd_jwt_core import (
    ChallengeMismatch,
    Disclosure,
    DisclosureError,
    MalformedSdJwt,
    UnreferencedDisclosure,
    split_sd_jwt,
)
from wallet.credentials.verifier import verify
from wallet.credentials.verifier_report import VerificationReport
from wallet.credentials.verifier_status import UnsupportedStatus
from wallet.errors import TooLargeError


@dataclass
class Setup:
    issuer_wallet: Wallet
    holder_wallet: Wallet
    issuer: str
    holder: str
    holder_store: Holder

    async def issue(self, fmt: str, claims: dict[str, Any] | None = None, **kw: Any) -> Any:
        issued = await issue_credential(
            self.issuer_wallet,
            issuer=kw.pop("issuer", self.issuer),
            subject=self.holder,
            format=fmt,
            claims=claims or {"name": "Alice", "age_over_18": True},
            disclose=["name", "age_over_18"] if fmt == "sd-jwt" else [],
            **kw,
        )
        return issued.credential

    async def verify(self, data: Any, **kw: Any) -> VerificationReport:
        return await verify(
            data if isinstance(data, (str, bytes)) else json.dumps(data),
            now=datetime.now(UTC),
            resolver=self.holder_wallet.resolver,
            status_fetcher=None,
            **kw,
        )

    async def rejected(self, data: Any, error: type[Exception]) -> VerificationReport:
        """``verify`` reports ``error`` first; storing raises it and keeps nothing."""
        report = await self.verify(data)
        assert not report.verified
        assert report.exceptions and isinstance(report.exceptions[0], error), report.to_json()
        assert report.errors[0]["error"] == type(report.exceptions[0]).__name__
        with pytest.raises(error):
            await self.holder_store.store(data if isinstance(data, (str, bytes)) else dict(data))
        assert await self.holder_store.list() == []
        return report


@pytest.fixture
async def s(tmp_path: Path) -> AsyncIterator[Setup]:
    iw = await Wallet.create(f"sqlite://{tmp_path}/i.db", passphrase="i", kdf="argon2id-test")
    hw = await Wallet.create(f"sqlite://{tmp_path}/h.db", passphrase="h", kdf="argon2id-test")
    setup = Setup(iw, hw, await iw.create_did("key"), await hw.create_did("peer2"), Holder(hw))
    yield setup
    await iw.close()
    await hw.close()


# -- malformed ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "not a credential",
        "{not json",
        '{"a": 1, "a": 2}',
        "[1, 2, 3]",
        "eyJhbGciOiJFZERTQSJ9.e30",
        "a.b.c",
    ],
)
async def test_malformed_text(s: Setup, text: str) -> None:
    report = await s.rejected(text, MalformedCredential)
    assert report.checks["signature"].startswith("failed: ")


async def test_malformed_credential_json(s: Setup) -> None:
    cred = await s.issue("di-jcs")
    for key in ("issuer", "credentialSubject", "@context", "type"):
        broken = {k: v for k, v in cred.items() if k != key}
        await s.rejected(broken, MalformedCredential)
    await s.rejected({**cred, "validFrom": "yesterday"}, MalformedCredential)


async def test_too_large(s: Setup) -> None:
    cred = await s.issue("di-jcs")
    padded = json.dumps(cred)[:-1] + ', "pad": "' + "x" * (1024 * 1024) + '"}'
    report = await s.verify(padded)
    assert isinstance(report.exceptions[0], TooLargeError)
    with pytest.raises(CredentialTooLarge):
        await s.holder_store.store(padded)
    assert await s.holder_store.list() == []


async def test_malformed_sd_jwt(s: Setup) -> None:
    token = await s.issue("sd-jwt")
    await s.rejected(token + "not-base64!~", DisclosureError)
    await s.rejected(token.replace("~", "~~", 1), MalformedSdJwt)
    await s.rejected("~" + token, MalformedSdJwt)


# -- cryptosuites and contexts --------------------------------------------------------------


async def test_unknown_cryptosuite(s: Setup) -> None:
    cred = await s.issue("di-jcs")
    cred["proof"]["cryptosuite"] = "eddsa-2099"
    await s.rejected(cred, UnsupportedCryptosuite)
    cred["proof"] = {**cred["proof"], "type": "RsaSignature2018"}
    del cred["proof"]["cryptosuite"]
    await s.rejected(cred, UnsupportedCryptosuite)


@pytest.mark.parametrize("fmt", ["di-jcs", "di-rdfc"])
async def test_wrong_contexts(s: Setup, fmt: str) -> None:
    cred = await s.issue(fmt)
    unknown = copy.deepcopy(cred)
    unknown["@context"].append("https://evil.example/context/v1")
    await s.rejected(unknown, ContextError)
    reordered = copy.deepcopy(cred)
    reordered["@context"] = list(reversed(reordered["@context"]))
    await s.rejected(reordered, MalformedCredential)


async def test_jwt_with_foreign_typ(s: Setup) -> None:
    token = await s.issue("sd-jwt")
    await s.rejected(token.split("~", 1)[0], MalformedCredential)


# -- proofs over other documents ------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["di-jcs", "di-rdfc"])
async def test_data_integrity_proof_over_another_document(s: Setup, fmt: str) -> None:
    a = await s.issue(fmt, {"name": "Alice"})
    b = await s.issue(fmt, {"name": "Mallory"})
    swapped = {**b, "proof": a["proof"]}
    report = await s.rejected(swapped, ProofError)
    assert "signature does not match" in report.checks["signature"]
    edited = copy.deepcopy(a)
    edited["credentialSubject"]["name"] = "Mallory"
    await s.rejected(edited, ProofError)


async def test_vc_jwt_signature_over_another_payload(s: Setup) -> None:
    a = (await s.issue("vc-jwt", {"name": "Alice"})).split(".")
    b = (await s.issue("vc-jwt", {"name": "Mallory"})).split(".")
    await s.rejected(".".join([a[0], b[1], a[2]]), ProofError)


async def test_sd_jwt_disclosure_from_another_credential(s: Setup) -> None:
    a = await s.issue("sd-jwt", {"name": "Alice", "age_over_18": False})
    b = await s.issue("sd-jwt", {"name": "Mallory", "age_over_18": True})
    foreign = next(
        d for d in split_sd_jwt(b).disclosures if Disclosure.decode(d).name == "age_over_18"
    )
    await s.rejected(a + foreign + "~", UnreferencedDisclosure)
    # And the issuer-signed JWT of one with the other's Disclosures.
    await s.rejected(a.split("~", 1)[0] + "~" + b.split("~", 1)[1], UnreferencedDisclosure)


# -- issuers --------------------------------------------------------------------------------


async def test_signed_by_a_key_that_is_not_the_issuers(s: Setup) -> None:
    mallory = await s.issuer_wallet.create_did("key")
    cred = await s.issue("di-jcs", issuer=mallory)
    claimed = {k: v for k, v in cred.items() if k != "proof"}
    claimed["issuer"] = s.issuer  # says the honest issuer issued it; Mallory signs
    doc = await s.issuer_wallet.resolve(mallory)
    key = await s.issuer_wallet.secret_for(doc.assertion_method[0])
    assert key is not None
    forged = await add_proof(
        claimed, cryptosuite="eddsa-jcs-2022", key=key, verification_method=doc.assertion_method[0]
    )
    report = await s.rejected(forged, IssuerError)
    assert report.checks["signature"] == "ok"  # a good signature, by the wrong party
    assert report.checks["issuer"].startswith("failed: ")


async def test_signed_with_an_authentication_key_only(s: Setup) -> None:
    """did:peer:2 DIDs made by the wallet have no assertion method: they cannot issue, and a
    credential signed with their authentication key is not the DID's assertion."""
    peer = await s.issuer_wallet.create_did("peer2")
    with pytest.raises(NoSigningKey):
        await s.issue("di-jcs", issuer=peer)
    doc = await s.issuer_wallet.resolve(peer)
    vm = doc.authentication[0]
    key = await s.issuer_wallet.secret_for(vm)
    assert key is not None
    cred = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential"],
        "issuer": peer,
        "credentialSubject": {"id": s.holder, "name": "Alice"},
    }
    signed = await add_proof(cred, cryptosuite="eddsa-jcs-2022", key=key, verification_method=vm)
    await s.rejected(signed, IssuerError)


async def test_unresolvable_issuer(s: Setup) -> None:
    cred = await s.issue("vc-jwt")
    header, payload, sig = cred.split(".")
    import base64

    def patch(part: str, old: str, new: str) -> str:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode()
        return base64.urlsafe_b64encode(raw.replace(old, new).encode()).rstrip(b"=").decode()

    bogus = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
    forged = ".".join([patch(header, s.issuer, bogus), patch(payload, s.issuer, bogus), sig])
    report = await s.rejected(forged, IssuerError)
    assert report.checks["signature"].startswith("failed: the signing key could not be found")


# -- presentations --------------------------------------------------------------------------


async def test_presentations_are_not_stored(s: Setup) -> None:
    stored = await s.holder_store.store(await s.issue("sd-jwt"))
    presentation = await s.holder_store.present(stored.id, nonce="n", audience="a")
    await s.holder_store.delete(stored.id)
    with pytest.raises(PresentationError):
        await s.holder_store.store(presentation)
    assert await s.holder_store.list() == []


@pytest.mark.parametrize("fmt", ["di-jcs", "di-rdfc", "vc-jwt", "sd-jwt"])
async def test_replayed_presentation_with_a_wrong_challenge(s: Setup, fmt: str) -> None:
    stored = await s.holder_store.store(await s.issue(fmt))
    presentation = await s.holder_store.present(stored.id, nonce="first", audience="did:web:v")
    report = await s.verify(presentation, nonce="second", audience="did:web:v")
    assert not report.verified
    assert isinstance(report.exceptions[0], ChallengeMismatch), report.to_json()
    assert report.errors[0] == {
        "check": "holder_binding",
        "error": "ChallengeMismatch",
        "message": report.checks["holder_binding"][len("failed: ") :],
    }


async def test_tampered_presentation(s: Setup) -> None:
    stored = await s.holder_store.store(await s.issue("di-jcs"))
    vp = await s.holder_store.present(stored.id, nonce="n", audience="did:web:v")
    assert isinstance(vp, dict)
    vp["holder"] = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
    report = await s.verify(vp, nonce="n", audience="did:web:v")
    assert report.checks["holder_binding"].startswith("failed: ")
    assert isinstance(report.exceptions[0], CredentialError)


async def test_unsupported_status_mechanism(s: Setup) -> None:
    cred = await s.issue("di-jcs")
    claimed = {k: v for k, v in cred.items() if k != "proof"}
    claimed["credentialStatus"] = {"type": "StatusList2021Entry", "id": "https://x.example/1#2"}
    doc = await s.issuer_wallet.resolve(s.issuer)
    key = await s.issuer_wallet.secret_for(doc.assertion_method[0])
    assert key is not None
    signed = await add_proof(
        claimed, cryptosuite="eddsa-jcs-2022", key=key, verification_method=doc.assertion_method[0]
    )
    report = await s.verify(signed)
    assert not report.verified and isinstance(report.exceptions[0], UnsupportedStatus)
