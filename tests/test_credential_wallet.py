"""The credential wallet: issue -> store -> present -> verify, per format, with real wallets."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from wallet import Wallet
from wallet.credentials.data_integrity import add_proof
from wallet.credentials.did_keys import ASSERTION, own_signing_key
from wallet.credentials.errors import ExpiredCredential, HolderBindingError
from wallet.credentials.formats import CredentialFormat
from wallet.credentials.holder import DuplicateCredential, Holder
from wallet.credentials.issuer import OwnDIDRequired, issue_credential
from wallet.credentials.sd_jwt_core import ChallengeMismatch, Disclosure, split_sd_jwt
from wallet.credentials.verifier import verify
from wallet.credentials.verifier_report import VerificationReport
from wallet.errors import InputError, RecordNotFound

FORMATS = [f.value for f in CredentialFormat]
NONCE = "n-0S6_WzA2Mj"
AUDIENCE = "did:web:verifier.example"
CLAIMS = {
    "given_name": "Erika",
    "family_name": "Mustermann",
    "birthdate": "1963-08-12",
    "age_over_18": True,
    "address": {"locality": "Köln", "country": "DE"},
}


@dataclass
class Parties:
    issuer_wallet: Wallet
    holder_wallet: Wallet
    issuer: str
    holder: str
    holder_store: Holder


@pytest.fixture
async def parties(tmp_path: Path) -> AsyncIterator[Parties]:
    iw = await Wallet.create(f"sqlite://{tmp_path}/issuer.db", passphrase="i", kdf="argon2id-test")
    hw = await Wallet.create(f"sqlite://{tmp_path}/holder.db", passphrase="h", kdf="argon2id-test")
    issuer = await iw.create_did("key")
    holder = await hw.create_did("peer2")
    yield Parties(iw, hw, issuer, holder, Holder(hw))
    await iw.close()
    await hw.close()


async def check(
    p: Parties, data: Any, *, nonce: str | None = NONCE, audience: str | None = AUDIENCE, **kw: Any
) -> VerificationReport:
    if isinstance(data, dict):
        data = json.dumps(data)
    return await verify(
        data,
        nonce=nonce,
        audience=audience,
        now=kw.pop("now", datetime.now(UTC)),
        resolver=p.holder_wallet.resolver,
        status_fetcher=None,
    )


async def issue(p: Parties, fmt: str, **kw: Any) -> Any:
    sd = ["given_name", "family_name", "birthdate", "age_over_18", "address"]
    return await issue_credential(
        p.issuer_wallet,
        issuer=p.issuer,
        subject=p.holder,
        format=fmt,
        claims=CLAIMS,
        types=["urn:example:Pid"] if fmt == "sd-jwt" else ["IdentityCredential"],
        disclose=sd if fmt == "sd-jwt" else [],
        **kw,
    )


@pytest.mark.parametrize("fmt", FORMATS)
async def test_round_trip(parties: Parties, fmt: str) -> None:
    issued = await issue(parties, fmt)
    report = await check(parties, issued.serialize(), nonce=None, audience=None)
    assert report.verified, report.to_json()
    assert report.checks["signature"] == report.checks["issuer"] == "ok"
    assert report.checks["status"] == "absent" and report.checks["holder_binding"] == "absent"
    assert report.issuer == parties.issuer and report.subject == parties.holder

    stored = await parties.holder_store.store(issued.serialize())
    assert stored.id == issued.id and stored.format.value == fmt
    held = await parties.holder_store.list()
    assert [c.id for c in held] == [issued.id]
    summary = held[0].summary(datetime.now(UTC))
    assert summary["issuer"] == parties.issuer and summary["subject"] == parties.holder
    assert summary["status"] == "valid" and summary["revocable"] is False

    disclose = ["given_name", "address"] if fmt == "sd-jwt" else []
    presentation = await parties.holder_store.present(
        stored.id, disclose=disclose, nonce=NONCE, audience=AUDIENCE
    )
    report = await check(parties, presentation)
    assert report.verified, report.to_json()
    assert report.presentation and report.holder == parties.holder
    assert report.checks == {
        "signature": "ok",
        "issuer": "ok",
        "validity": "absent" if fmt == "sd-jwt" else "ok",
        "status": "absent",
        "holder_binding": "ok",
    }
    if fmt == "sd-jwt":
        assert report.claims == {"given_name": "Erika", "address": CLAIMS["address"]}
    else:
        assert report.claims == CLAIMS
    assert report.to_json()["verified"] is True


@pytest.mark.parametrize("fmt", FORMATS)
async def test_replayed_presentation_fails_holder_binding(parties: Parties, fmt: str) -> None:
    stored = await parties.holder_store.store((await issue(parties, fmt)).serialize())
    presentation = await parties.holder_store.present(stored.id, nonce=NONCE, audience=AUDIENCE)
    for nonce, audience in (("another-nonce", AUDIENCE), (NONCE, "did:web:someone.else")):
        report = await check(parties, presentation, nonce=nonce, audience=audience)
        assert not report.verified
        assert report.checks["signature"] == "ok"
        assert report.checks["holder_binding"].startswith("failed: ")
        assert any(isinstance(e, ChallengeMismatch) for e in report.exceptions)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_credential_is_not_a_presentation(parties: Parties, fmt: str) -> None:
    """A verifier that asks for a nonce must not accept a bare credential (anyone's copy)."""
    issued = await issue(parties, fmt)
    report = await check(parties, issued.serialize())
    assert not report.verified
    assert report.checks["holder_binding"].startswith("failed: ")


async def test_selective_disclosure_sends_only_the_requested_claim(parties: Parties) -> None:
    issued = await issue(parties, "sd-jwt")
    stored = await parties.holder_store.store(issued.serialize())
    preview = await parties.holder_store.preview(
        stored.id, disclose=["age_over_18"], audience=AUDIENCE
    )
    assert preview.disclosed == {"age_over_18": True}
    assert set(preview.withheld) == {
        "given_name",
        "family_name",
        "birthdate",
        "address.locality",
        "address.country",
    }
    assert preview.audience == AUDIENCE and preview.holder == parties.holder

    presentation = await parties.holder_store.present(
        stored.id, disclose=["age_over_18"], nonce=NONCE, audience=AUDIENCE
    )
    # On the wire: one Disclosure, and none of the other values anywhere in it.
    parts = split_sd_jwt(presentation)
    sent = [Disclosure.decode(d) for d in parts.disclosures]
    assert [(d.name, d.value) for d in sent] == [("age_over_18", True)]
    issued_parts = split_sd_jwt(issued.serialize())
    assert len(issued_parts.disclosures) == 5
    for encoded in issued_parts.disclosures:
        if Disclosure.decode(encoded).name != "age_over_18":
            assert encoded not in presentation
    assert parts.kb_jwt is not None
    report = await check(parties, presentation)
    assert report.verified and report.claims == {"age_over_18": True}


async def test_decoys_hide_the_number_of_claims(parties: Parties) -> None:
    issued = await issue(parties, "sd-jwt")
    parts = split_sd_jwt(issued.serialize())
    from wallet.credentials.sd_jwt_core import decode_jwt

    _, payload = decode_jwt(parts.issuer_jwt, "jwt")
    assert len(payload["_sd"]) > len(parts.disclosures)
    assert payload["cnf"]["jwk"]["kty"] == "OKP"
    assert payload["sub"] == parties.holder and payload["jti"] == issued.id


async def test_preview_refuses_partial_disclosure_of_whole_credentials(parties: Parties) -> None:
    stored = await parties.holder_store.store((await issue(parties, "di-jcs")).serialize())
    preview = await parties.holder_store.preview(stored.id, audience=AUDIENCE)
    assert not preview.selective and preview.disclosed == CLAIMS and preview.withheld == ()
    with pytest.raises(InputError, match="shown whole"):
        await parties.holder_store.preview(stored.id, disclose=["age_over_18"])
    with pytest.raises(InputError, match="shown whole"):
        await parties.holder_store.present(
            stored.id, disclose=["age_over_18"], nonce=NONCE, audience=AUDIENCE
        )


async def test_present_needs_nonce_and_audience(parties: Parties) -> None:
    stored = await parties.holder_store.store((await issue(parties, "vc-jwt")).serialize())
    with pytest.raises(InputError, match="nonce"):
        await parties.holder_store.present(stored.id, nonce="", audience=AUDIENCE)


async def test_only_the_subject_can_present(parties: Parties) -> None:
    other = await parties.holder_wallet.create_did("key")
    for fmt in ("di-jcs", "sd-jwt"):
        stored = await parties.holder_store.store((await issue(parties, fmt)).serialize())
        with pytest.raises(HolderBindingError):
            await parties.holder_store.present(
                stored.id, holder=other, nonce=NONCE, audience=AUDIENCE
            )


@pytest.mark.parametrize("fmt", FORMATS)
async def test_expired_credential(parties: Parties, fmt: str) -> None:
    now = datetime.now(UTC)
    issued = await issue(parties, fmt, valid_until=now + timedelta(days=1))
    later = now + timedelta(days=2)
    report = await check(parties, issued.serialize(), nonce=None, audience=None, now=later)
    assert not report.verified
    assert report.checks["signature"] == "ok" and report.checks["issuer"] == "ok"
    assert report.checks["validity"].startswith("failed: ")
    assert isinstance(report.exceptions[0], ExpiredCredential)
    report = await check(parties, issued.serialize(), nonce=None, audience=None, now=now)
    assert report.verified and report.checks["validity"] == "ok" and report.valid_until


async def test_store_is_by_id_and_idempotent(parties: Parties) -> None:
    issued = await issue(parties, "di-rdfc")
    first = await parties.holder_store.store(issued.serialize())
    again = await parties.holder_store.store(json.loads(issued.serialize()))
    assert first.id == again.id
    assert len(await parties.holder_store.list()) == 1
    shown = await parties.holder_store.get(first.id)
    assert shown.credential == json.loads(issued.serialize())
    await parties.holder_store.delete(first.id)
    with pytest.raises(RecordNotFound):
        await parties.holder_store.get(first.id)
    with pytest.raises(RecordNotFound):
        await parties.holder_store.delete(first.id)


async def test_another_credential_under_a_held_id_is_refused(parties: Parties) -> None:
    """Storing tries the insert first; a clash is then read and compared, never overwritten
    (alone and in an import)."""
    issued = await issue(parties, "di-jcs")
    held = await parties.holder_store.store(issued.serialize())
    other = json.loads(issued.serialize())
    other.pop("proof")
    other["credentialSubject"]["given_name"] = "Mallory"
    wallet = parties.issuer_wallet
    vm, key = await own_signing_key(wallet, wallet.resolver, parties.issuer, ASSERTION)
    signed = await add_proof(
        other,
        cryptosuite="eddsa-jcs-2022",
        key=key,
        verification_method=vm,
        proof_purpose=ASSERTION,
        created=datetime.now(UTC).replace(microsecond=0),
    )
    with pytest.raises(DuplicateCredential):
        await parties.holder_store.store(signed)
    with pytest.raises(DuplicateCredential):
        await parties.holder_store.store_many([signed])
    kept = await parties.holder_store.get(held.id)
    assert kept.credential["credentialSubject"]["given_name"] == "Erika"
    assert len(await parties.holder_store.list()) == 1


async def test_search_by_index_terms(parties: Parties) -> None:
    for fmt in FORMATS:
        await parties.holder_store.store((await issue(parties, fmt)).serialize())
    found = await parties.holder_store.search(types=["IdentityCredential"])
    assert sorted(c.format.value for c in found) == ["di-jcs", "di-rdfc", "vc-jwt"]
    assert [c.format.value for c in await parties.holder_store.search(vct="urn:example:Pid")] == [
        "sd-jwt"
    ]
    assert len(await parties.holder_store.search(issuer=parties.issuer)) == 4
    assert len(await parties.holder_store.search(issuer="did:example:nobody")) == 0
    assert len(await parties.holder_store.search(format="vc-jwt")) == 1


async def test_issue_from_a_did_the_wallet_does_not_own(parties: Parties) -> None:
    with pytest.raises(OwnDIDRequired):
        await issue_credential(
            parties.issuer_wallet,
            issuer=parties.holder,
            subject=parties.holder,
            format="di-jcs",
            claims={"a": 1},
        )


async def test_issue_refuses_bad_requests(parties: Parties) -> None:
    base: dict[str, Any] = {
        "issuer": parties.issuer,
        "subject": parties.holder,
        "claims": {"a": 1},
    }
    cases: list[tuple[dict[str, Any], str]] = [
        ({"format": "ldp"}, "unknown credential format"),
        ({"format": "di-jcs", "disclose": ["a"]}, "sd-jwt"),
        ({"format": "sd-jwt", "disclose": ["iss"]}, "cannot be selectively"),
        ({"format": "di-jcs", "claims": {"id": "x"}}, "set by moi"),
        ({"format": "sd-jwt", "claims": {"cnf": 1}}, "set by moi"),
        ({"format": "di-jcs", "claims": {}}, "non-empty"),
        ({"format": "di-jcs", "types": ["has space"]}, "short word"),
        ({"format": "sd-jwt", "types": ["A", "B"]}, "one type"),
        ({"format": "di-jcs", "subject": "not a did"}, "DID"),
        ({"format": "di-jcs", "status": True}, "public URL"),
        ({"format": "di-jcs", "valid_until": datetime(2000, 1, 1, tzinfo=UTC)}, "future"),
    ]
    for change, message in cases:
        with pytest.raises(InputError, match=message):
            await issue_credential(parties.issuer_wallet, **{**base, **change})


@pytest.mark.parametrize("fmt", ["di-jcs", "vc-jwt"])
async def test_issuer_clock_ahead(parties: Parties, fmt: str) -> None:
    """A minute of clock difference is tolerated on validFrom; more is not."""
    now = datetime.now(UTC)
    slightly = await issue(parties, fmt, now=now + timedelta(seconds=30))
    report = await check(parties, slightly.serialize(), nonce=None, audience=None, now=now)
    assert report.verified and report.checks["validity"] == "ok", report.to_json()
    far = await issue(parties, fmt, now=now + timedelta(minutes=10))
    report = await check(parties, far.serialize(), nonce=None, audience=None, now=now)
    assert not report.verified and report.checks["validity"].startswith("failed: ")
    assert type(report.exceptions[0]).__name__ == "NotYetValid"
