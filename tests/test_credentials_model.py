"""The VC Data Model views: what they accept, what they refuse, and validity periods."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from wallet.credentials.errors import (
    CredentialError,
    ExpiredCredential,
    MalformedCredential,
    NotYetValid,
    PresentationError,
)
from wallet.credentials.model import (
    CredentialTooLarge,
    ValidityState,
    Version,
    check_validity,
    format_datetime,
    parse_credential,
    parse_datetime,
    parse_presentation,
)
from wallet.errors import InputError, TooLargeError

V = Path(__file__).parent / "vectors" / "vc-di-eddsa"


def load(rel: str) -> Any:
    return json.loads((V / rel).read_text())


V11 = {
    "@context": ["https://www.w3.org/2018/credentials/v1"],
    "id": "http://example.edu/credentials/3732",
    "type": ["VerifiableCredential", "UniversityDegreeCredential"],
    "issuer": {"id": "did:example:issuer", "name": "Example University"},
    "issuanceDate": "2010-01-01T19:23:24Z",
    "expirationDate": "2030-01-01T19:23:24+02:00",
    "credentialSubject": [{"id": "did:example:a", "degree": "BSc"}, {"name": "anon"}],
    "credentialStatus": {
        "id": "https://example.edu/status/24#94567",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "94567",
        "statusListCredential": "https://example.edu/status/24",
    },
}


def test_v2_vectors_parse() -> None:
    cred = parse_credential(load("unsigned.json"))
    assert cred.version is Version.V2_0
    assert cred.id == "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33"
    assert cred.types == ("VerifiableCredential", "AlumniCredential")
    assert cred.issuer == "https://vc.example/issuers/5678"
    assert cred.subject_ids == ("did:example:abcdefgh",)
    assert cred.valid_from == datetime(2023, 1, 1, tzinfo=UTC)
    assert cred.valid_until is None and cred.proofs == ()

    employ = parse_credential(load("eddsa-rdfc-2022/employ/signedDataInt.json"))
    assert employ.issuer == "did:key:zDnaegE6RR3atJtHKwTRTWHsJ3kNHqFwv7n9YjTgmU7TyfU76"
    assert employ.id is None and employ.subject_ids == ()
    assert employ.valid_until == datetime(2029, 12, 3, tzinfo=UTC)
    assert len(employ.proofs) == 1 and "proof" not in employ.unsecured

    chained = parse_credential(load("proof-set-chain/signedProofChain2.json"))
    assert len(chained.proofs) == 4


def test_v11_reads_issuance_and_expiration() -> None:
    cred = parse_credential(json.dumps(V11))
    assert cred.version is Version.V1_1
    assert cred.issuer == "did:example:issuer"
    assert cred.valid_from == datetime(2010, 1, 1, 19, 23, 24, tzinfo=UTC)
    assert cred.valid_until == datetime(2030, 1, 1, 17, 23, 24, tzinfo=UTC)
    assert len(cred.subjects) == 2 and cred.subject_ids == ("did:example:a",)
    assert cred.status[0].types == ("BitstringStatusListEntry",)
    assert cred.status[0].id == "https://example.edu/status/24#94567"


def mutate(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(base)
    for key, value in changes.items():
        key = key.replace("_at_", "@")
        if value is ...:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


BASE = load("unsigned.json")


@pytest.mark.parametrize(
    ("changes", "word"),
    [
        ({"_at_context": ...}, "@context is missing"),
        ({"_at_context": ["https://www.w3.org/ns/credentials/examples/v2"]}, "must start"),
        (
            {
                "_at_context": [
                    "https://www.w3.org/ns/credentials/examples/v2",
                    "https://www.w3.org/ns/credentials/v2",
                ]
            },
            "must start",
        ),
        ({"_at_context": ["https://www.w3.org/ns/credentials/v2", "relative/ctx"]}, "URL"),
        ({"_at_context": ["https://www.w3.org/ns/credentials/v2", 7]}, "@context entries"),
        ({"type": ...}, "VerifiableCredential"),
        ({"type": ["AlumniCredential"]}, "VerifiableCredential"),
        ({"type": []}, "type"),
        ({"type": [1]}, "type"),
        ({"id": "not a url"}, "id must be a URL"),
        ({"issuer": ...}, "issuer is missing"),
        ({"issuer": "example.com"}, "issuer must be a URL"),
        ({"issuer": {"name": "x"}}, "issuer object must have an id"),
        ({"issuer": {"id": 5}}, "issuer id"),
        ({"issuer": 42}, "issuer"),
        ({"credentialSubject": ...}, "credentialSubject is missing"),
        ({"credentialSubject": []}, "empty list"),
        ({"credentialSubject": {}}, "at least one claim"),
        ({"credentialSubject": "did:example:a"}, "object"),
        ({"credentialSubject": {"id": "nope"}}, "credentialSubject id"),
        ({"validFrom": "2023-01-01T00:00:00"}, "timezone"),
        ({"validFrom": "2023-01-01"}, "timezone"),
        ({"validFrom": "2023-02-30T00:00:00Z"}, "not a valid date-time"),
        ({"validFrom": "2023-01-01T00:00:00+25:00"}, "not a valid date-time"),
        ({"validFrom": 1672531200}, "date-time string"),
        ({"validUntil": "2022-12-31T23:59:59Z"}, "ends before it starts"),
        ({"credentialStatus": {"id": "https://x.example/s#1"}}, "must have a type"),
        ({"credentialStatus": {"type": "X", "id": "no"}}, "credentialStatus id"),
        ({"credentialStatus": [{"type": "X"}] * 101}, "more than 100"),
        ({"credentialSchema": {"id": "https://x.example/schema"}}, "must have a type"),
        ({"proof": "zabc"}, "proof"),
    ],
)
def test_malformed_credentials(changes: dict[str, Any], word: str) -> None:
    with pytest.raises(MalformedCredential, match=word) as info:
        parse_credential(mutate(BASE, **changes))
    assert isinstance(info.value, InputError) and isinstance(info.value, CredentialError)


def test_v11_requires_issuance_date() -> None:
    with pytest.raises(MalformedCredential, match="issuanceDate"):
        parse_credential(mutate(V11, issuanceDate=...))


def test_bounded_and_strict_text() -> None:
    with pytest.raises(CredentialTooLarge) as info:
        parse_credential(json.dumps(BASE), max_bytes=100)
    assert isinstance(info.value, TooLargeError)
    with pytest.raises(MalformedCredential, match="duplicate"):
        parse_credential('{"type": 1, "type": 2}')
    with pytest.raises(MalformedCredential):
        parse_credential("[1]")
    with pytest.raises(MalformedCredential):
        parse_credential(b"\xff\xfe")
    with pytest.raises(MalformedCredential):
        parse_credential(42)  # type: ignore[arg-type]


def test_check_validity() -> None:
    cred = parse_credential(load("eddsa-rdfc-2022/employ/signedDataInt.json"))
    before = check_validity(cred, datetime(2019, 12, 2, 23, 59, tzinfo=UTC))
    assert before.state is ValidityState.NOT_YET_VALID and not before.valid
    with pytest.raises(NotYetValid):
        before.raise_for_state()
    inside = check_validity(cred, datetime(2025, 1, 1, tzinfo=UTC))
    assert inside.valid
    inside.raise_for_state()
    # the same instant written in another zone
    edge = check_validity(cred, datetime(2029, 12, 3, 1, 0, tzinfo=timezone(timedelta(hours=1))))
    assert edge.valid
    after = check_validity(cred, datetime(2029, 12, 3, 0, 0, 1, tzinfo=UTC))
    assert after.state is ValidityState.EXPIRED
    with pytest.raises(ExpiredCredential):
        after.raise_for_state()
    with pytest.raises(InputError):
        check_validity(cred, datetime(2025, 1, 1))
    open_ended = parse_credential(mutate(BASE, validFrom=...))
    assert check_validity(open_ended, datetime(1970, 1, 1, tzinfo=UTC)).valid


def test_datetimes() -> None:
    assert parse_datetime("2023-01-01T00:00:00.123456789-05:30") == datetime(
        2023, 1, 1, 5, 30, 0, 123456, tzinfo=UTC
    )
    assert format_datetime(datetime(2023, 2, 24, 23, 36, 38, tzinfo=UTC)) == "2023-02-24T23:36:38Z"
    assert (
        format_datetime(datetime(2023, 1, 1, 1, 0, 0, 500000, tzinfo=timezone(timedelta(hours=1))))
        == "2023-01-01T00:00:00.5Z"
    )
    with pytest.raises(InputError):
        format_datetime(datetime(2023, 1, 1))
    with pytest.raises(MalformedCredential):
        parse_datetime("2023-01-01T00:00:00Z" + "0" * 100)


def test_presentation() -> None:
    vp = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiablePresentation"],
        "holder": "did:example:holder",
        "verifiableCredential": [
            load("eddsa-jcs-2022/signedJCS.json"),
            {
                "@context": "https://www.w3.org/ns/credentials/v2",
                "type": "EnvelopedVerifiableCredential",
                "id": "data:application/vc+jwt,eyJ...",
            },
        ],
    }
    pres = parse_presentation(json.dumps(vp))
    assert pres.version is Version.V2_0 and pres.holder == "did:example:holder"
    assert len(pres.credentials) == 1 and len(pres.enveloped) == 1
    assert pres.credentials[0].issuer == "https://vc.example/issuers/5678"

    with pytest.raises(PresentationError, match="VerifiablePresentation"):
        parse_presentation(mutate(vp, type=["VerifiableCredential"]))
    with pytest.raises(PresentationError, match="holder"):
        parse_presentation(mutate(vp, holder="me"))
    broken = mutate(vp)
    del broken["verifiableCredential"][0]["issuer"]
    with pytest.raises(MalformedCredential, match=r"verifiableCredential\[0\].*issuer"):
        parse_presentation(broken)
    with pytest.raises(PresentationError, match="at most"):
        parse_presentation(mutate(vp, verifiableCredential=["x"] * 101))
    with pytest.raises(PresentationError):
        parse_presentation(mutate(vp, verifiableCredential=[5]))
