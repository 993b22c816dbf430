"""The rules of issue-credential and present-proof, with no agent: attachments in both
families, ACA-Py's message shapes, what an issuer may be asked for and what a holder accepts,
state by state, and proof requests built from a claim list."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from agent.errors import LocalProtocolError, RemoteProtocolError
from agent.plugin import Family
from protocols.issue_credential import attachments as att
from protocols.issue_credential import formats, machine
from protocols.issue_credential.attachments import Attached
from protocols.issue_credential.formats import OfferFormat, OfferInput
from protocols.issue_credential.messages import (
    Ack,
    IssueCredential,
    OfferCredential,
    ProblemReport,
    RequestCredential,
)
from protocols.issue_credential.policy import CredentialPolicy
from protocols.issue_credential.records import HolderState, IssuerState
from protocols.present_proof import definitions
from protocols.present_proof import machine as proof_machine
from protocols.present_proof.messages import (
    DEFINITIONS,
    SUBMISSION,
    Presentation,
    RequestPresentation,
)
from wallet.didcomm.message import from_aries, to_aries
from wallet.errors import InputError

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ISSUER = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
HOLDER = "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG"
CLAIMS = {"given_name": "Erika", "age_over_18": True}


def offer(fmt: OfferFormat, **kw: object) -> formats.Detail:
    spec = OfferInput(
        format=fmt,
        issuer=ISSUER,
        subject=kw.pop("subject", HOLDER),  # type: ignore[arg-type]
        claims=kw.pop("claims", CLAIMS),  # type: ignore[arg-type]
        types=("Membership",),
        disclose=("age_over_18",) if fmt is OfferFormat.SD_JWT else (),
        **kw,  # type: ignore[arg-type]
    )
    return formats.read_detail(formats.build_offer(spec, NOW))


# -- attachments -------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [{"a": [1, "two"]}, "eyJ.eyJ.sig~WyJ~"])
def test_attachments_round_trip_in_both_families(data: object) -> None:
    item = Attached("x/y@v1.0", data)  # type: ignore[arg-type]
    v1 = att.to_v1([item], "offers~attach")
    assert v1["formats"][0]["format"] == "x/y@v1.0"
    raw = v1["offers~attach"][0]["data"]["base64"]
    assert raw == base64.b64encode(raw and base64.b64decode(raw)).decode()  # padded standard
    (back,) = att.from_v1(v1, "offers~attach")
    assert (back.format, back.data) == ("x/y@v1.0", data)
    (again,) = att.from_v2(att.to_v2([item]))
    assert (again.format, again.data) == ("x/y@v1.0", data)


def test_aca_py_offer_is_read() -> None:
    """An offer as ACA-Py 1.7 sends it: empty ~thread, attach_id ld_proof, padded base64."""
    detail = {
        "credential": {
            "@context": [
                "https://www.w3.org/ns/credentials/v2",
                {"@vocab": "https://moi.example/vocab#"},
                "https://w3id.org/security/suites/ed25519-2020/v1",
            ],
            "type": ["VerifiableCredential"],
            "issuer": ISSUER,
            "credentialSubject": {"id": HOLDER, "name": "Alice"},
        },
        "options": {"proofType": "Ed25519Signature2020"},
    }
    aries = {
        "@type": "https://didcomm.org/issue-credential/2.0/offer-credential",
        "@id": "a8b1",
        "~thread": {},
        "formats": [{"attach_id": "ld_proof", "format": "aries/ld-proof-vc-detail@v1.0"}],
        "offers~attach": [
            {
                "@id": "ld_proof",
                "mime-type": "application/json",
                "data": {"base64": base64.b64encode(json.dumps(detail).encode()).decode()},
            }
        ],
    }
    message = from_aries(aries)
    parsed = OfferCredential.from_message(message, Family.V1)
    record = machine.on_offer(
        None,
        connection_id="c",
        family=Family.V1,
        thread_id=message.thread_id,
        offer=parsed,
        now=1.0,
    )
    assert record.state == HolderState.OFFER_RECEIVED
    assert record.format == "ed25519-2020"
    assert record.summary["claims"] == {"name": "Alice"}
    requested, request = machine.accept(record, HOLDER, 2.0)
    assert to_aries(request)["requests~attach"][0]["@id"]  # answered on ACA-Py's thread
    assert request.thid == "a8b1" and requested.request["data"] == detail


def test_v1_attachments_must_be_listed_and_bounded() -> None:
    body = att.to_v1([Attached("f", {"a": 1})], "offers~attach")
    body["formats"][0]["attach_id"] = "other"
    with pytest.raises(RemoteProtocolError, match="not listed"):
        att.from_v1(body, "offers~attach")
    many = att.to_v1([Attached("f", {"a": n}) for n in range(att.MAX_ATTACHMENTS + 1)], "x~attach")
    with pytest.raises(RemoteProtocolError, match="more than"):
        att.from_v1(many, "x~attach")
    bad = att.to_v1([Attached("f", {"a": 1})], "x~attach")
    bad["x~attach"][0]["data"] = {"base64": "!!!"}
    with pytest.raises(RemoteProtocolError, match="base64"):
        att.from_v1(bad, "x~attach")
    huge = att.to_v1([Attached("f", "A" * (att.MAX_ATTACHMENT_BYTES + 10))], "x~attach")
    with pytest.raises(RemoteProtocolError, match="larger"):
        att.from_v1(huge, "x~attach")


def test_messages_in_both_families() -> None:
    detail = offer(OfferFormat.DI_JCS)
    v1 = OfferCredential(attachments=(detail.attached,), comment="hi").to_message(
        Family.V1, thid=None
    )
    aries = to_aries(v1)
    assert aries["@type"] == "https://didcomm.org/issue-credential/2.0/offer-credential"
    assert aries["formats"][0]["format"] == formats.LD_DETAIL
    v2 = OfferCredential(attachments=(detail.attached,)).to_message(Family.V2, thid="t")
    assert v2.type == "https://didcomm.org/issue-credential/3.0/offer-credential"
    assert v2.attachments[0]["format"] == formats.LD_DETAIL and "json" in v2.attachments[0]["data"]
    assert OfferCredential.from_message(v2, Family.V2).attachments[0].data == detail.attached.data
    assert Ack.from_body({"status": "OK"}).status == "OK"
    report = ProblemReport("declined", "no thanks").to_message(Family.V1, thid="t")
    assert report.body == {"description": {"code": "declined", "en": "no thanks"}}
    assert ProblemReport.from_body({"code": 3}).code == "unknown"  # lenient, never a new error


# -- what is offered, requested and issued --------------------------------------------------------


@pytest.mark.parametrize("fmt", list(OfferFormat))
def test_offers_read_back_as_offered(fmt: OfferFormat) -> None:
    detail = offer(fmt, status=True, valid_until=NOW + timedelta(days=30))
    assert detail.format is fmt
    assert detail.issuer == ISSUER and detail.subject == HOLDER and detail.status
    summary = detail.summary()
    assert summary["claims"] == CLAIMS and summary["revocable"]
    assert formats.check_request(detail, detail.attached).attached == detail.attached


def test_ld_offers_carry_the_suite_and_follow_rfc_0593() -> None:
    jcs = offer(OfferFormat.DI_JCS, status=True)
    assert jcs.options == {
        "proofType": "DataIntegrityProof",
        "cryptosuite": "eddsa-jcs-2022",
        "proofPurpose": "assertionMethod",
        "credentialStatus": {"type": "BitstringStatusListEntry"},
    }
    assert "credentialStatus" not in jcs.credential and "proof" not in jcs.credential
    legacy = offer(OfferFormat.ED25519_2020)
    assert legacy.options["proofType"] == "Ed25519Signature2020"
    assert "https://w3id.org/security/suites/ed25519-2020/v1" in legacy.credential["@context"]


def test_a_request_must_ask_for_what_was_offered() -> None:
    detail = offer(OfferFormat.DI_JCS)
    changed = json.loads(json.dumps(detail.attached.data))
    changed["credential"]["credentialSubject"]["age_over_18"] = "maybe"
    with pytest.raises(RemoteProtocolError, match="differs from the offer"):
        formats.check_request(detail, Attached(formats.LD_DETAIL, changed))
    other = json.loads(json.dumps(detail.attached.data))
    other["credential"]["credentialSubject"]["id"] = ISSUER
    with pytest.raises(RemoteProtocolError, match="another subject"):
        formats.check_request(detail, Attached(formats.LD_DETAIL, other))
    with pytest.raises(RemoteProtocolError, match="is in"):
        formats.check_request(detail, Attached(formats.VC_JWT_DETAIL, detail.attached.data))


def test_an_open_subject_is_bound_by_the_holder() -> None:
    detail = offer(OfferFormat.SD_JWT, subject=None)
    assert detail.subject is None
    bound = formats.bind_request(detail, HOLDER)
    asked = formats.check_request(detail, bound)
    assert asked.subject == HOLDER
    with pytest.raises(RemoteProtocolError, match="names no subject"):
        formats.check_request(detail, detail.attached)


def test_bad_offers_are_refused() -> None:
    with pytest.raises(InputError, match="claims"):
        formats.build_offer(OfferInput(OfferFormat.DI_JCS, ISSUER, HOLDER, {}), NOW)
    with pytest.raises(InputError, match="sd-jwt"):
        formats.build_offer(
            OfferInput(OfferFormat.DI_JCS, ISSUER, HOLDER, CLAIMS, disclose=("a",)), NOW
        )
    with pytest.raises(InputError, match="set by moi"):
        formats.build_offer(OfferInput(OfferFormat.SD_JWT, ISSUER, HOLDER, {"cnf": 1}), NOW)
    with pytest.raises(InputError, match="not allowed"):
        formats.build_offer(OfferInput(OfferFormat.DI_JCS, ISSUER, HOLDER, {"@id": 1}), NOW)
    unsupported = {"credential": offer(OfferFormat.DI_JCS).credential, "options": {}}
    unsupported["options"]["proofType"] = "BbsBlsSignature2020"
    with pytest.raises(RemoteProtocolError, match="does not issue proofType"):
        formats.read_detail(Attached(formats.LD_DETAIL, unsupported))
    unsupported["options"] = {"proofType": "DataIntegrityProof", "cryptosuite": "ecdsa-rdfc-2019"}
    with pytest.raises(RemoteProtocolError, match="cryptosuite"):
        formats.read_detail(Attached(formats.LD_DETAIL, unsupported))


def test_the_holder_checks_the_issued_credential_against_its_request() -> None:
    request = offer(OfferFormat.DI_JCS)
    proof = {"type": "DataIntegrityProof", "cryptosuite": "eddsa-jcs-2022", "proofValue": "z1"}
    good = {**request.credential, "proof": proof}
    assert formats.check_issued(request, Attached(formats.LD_CREDENTIAL, good)) == good
    cases = [
        ({**good, "issuer": HOLDER}, "not the one requested"),
        ({**good, "proof": {**proof, "cryptosuite": "eddsa-rdfc-2022"}}, "cryptosuite"),
        ({**good, "proof": {**proof, "type": "Ed25519Signature2020"}}, "type requested"),
        ({**good, "credentialStatus": {"type": "BitstringStatusListEntry"}}, "status"),
        ({**good, "proof": [proof, proof]}, "one proof"),
    ]
    for credential, why in cases:
        with pytest.raises(RemoteProtocolError, match=why):
            formats.check_issued(request, Attached(formats.LD_CREDENTIAL, credential))
    with pytest.raises(RemoteProtocolError, match="is in"):
        formats.check_issued(request, Attached(formats.VC_JWT_CREDENTIAL, good))


# -- states ------------------------------------------------------------------------------------


def test_issue_credential_states() -> None:
    detail = offer(OfferFormat.DI_JCS)
    record, message = machine.offer(connection_id="c", family=Family.V2, detail=detail, now=1.0)
    assert record.state == IssuerState.OFFER_SENT and record.thread_id == message.id
    with pytest.raises(RemoteProtocolError, match="only what it offered"):
        machine.on_request(None, RequestCredential(attachments=(detail.attached,)))
    with pytest.raises(RemoteProtocolError, match="does not expect"):
        machine.on_ack(record, 2.0)
    record, asked = machine.on_request(record, RequestCredential(attachments=(detail.attached,)))
    issued, sent = machine.issued(record, asked, Attached(formats.LD_CREDENTIAL, {}), "urn:x", 3.0)
    assert issued.state == IssuerState.CREDENTIAL_ISSUED and sent.thid == record.thread_id
    done = machine.on_ack(issued, 4.0)
    assert done.state == IssuerState.DONE and done.finished
    with pytest.raises(LocalProtocolError, match="already"):
        machine.abandon(done, "x", "y", 5.0)
    assert machine.on_problem(done, ProblemReport("x"), 5.0) is None

    held = machine.on_offer(
        None,
        connection_id="c",
        family=Family.V2,
        thread_id="t",
        offer=OfferCredential(attachments=(detail.attached,)),
        now=1.0,
    )
    with pytest.raises(RemoteProtocolError, match="does not expect"):
        machine.on_issue(held, IssueCredential(attachments=()))
    requested, request = machine.accept(held, HOLDER, 2.0)
    assert requested.state == HolderState.REQUEST_SENT and request.thid == "t"
    with pytest.raises(LocalProtocolError, match="not an offer"):
        machine.accept(requested, HOLDER, 3.0)
    abandoned, report = machine.abandon(requested, "issuance-abandoned", "no", 3.0)
    assert abandoned.state == "abandoned" and report.type.endswith("3.0/problem-report")


def test_policy_settings_are_checked() -> None:
    policy = CredentialPolicy()
    assert not policy.auto_accept_offers and not policy.auto_present
    assert policy.update({"auto_present": True}).auto_present
    for bad in (
        {"auto_present": "yes"},
        {"status_max_age": -1},
        {"issuer_did": "alice"},
        {"other": 1},
    ):
        with pytest.raises(InputError):
            policy.update(bad)


# -- proof requests ------------------------------------------------------------------------------


def test_a_claim_list_becomes_a_definition() -> None:
    definition = definitions.simple_definition(
        ["age_over_18=true", "address.locality"], format="sd-jwt"
    )
    (descriptor,) = definition["input_descriptors"]
    assert descriptor["constraints"]["limit_disclosure"] == "required"
    assert descriptor["format"] == {"dc+sd-jwt": definitions.CLAIM_FORMATS["sd-jwt"]["dc+sd-jwt"]}
    first, second = descriptor["constraints"]["fields"]
    assert first["filter"] == {"const": True}
    assert first["path"] == ["$.credentialSubject.age_over_18", "$.age_over_18"]
    assert second["path"][1] == "$.address.locality"
    assert "schema" not in descriptor  # PE 1.0's schema is for W3C credentials only
    typed = definitions.simple_definition([], types=["Membership"])
    assert typed["input_descriptors"][0]["constraints"]["fields"][0]["path"] == ["$.type", "$.vct"]
    for bad in (["$.x"], ["a b"], []):
        with pytest.raises(InputError):
            definitions.simple_definition(bad)


def test_requests_need_a_challenge_and_a_valid_definition() -> None:
    definition = definitions.simple_definition(["age_over_18"])
    attached = definitions.request_attachment(definition, challenge="c1", domain="did:example:v")
    detail = definitions.read_request(attached)
    assert (detail.challenge, detail.domain) == ("c1", "did:example:v")
    no_challenge = Attached(DEFINITIONS, {"presentation_definition": definition, "options": {}})
    with pytest.raises(RemoteProtocolError, match="challenge"):
        definitions.read_request(no_challenge)
    broken = Attached(
        DEFINITIONS, {"presentation_definition": {"id": "x"}, "options": {"challenge": "c"}}
    )
    with pytest.raises(RemoteProtocolError, match="not valid"):
        definitions.read_request(broken)
    with pytest.raises(InputError):
        definitions.request_attachment(definition, challenge="", domain=None)
    # A request we make is read once, and reads back as the prover will read it.
    made = definitions.claims_request(["age_over_18"], challenge="c2", domain=None)
    again = definitions.read_request(made.attached())
    assert (again.challenge, again.domain, again.data) == ("c2", None, made.data)
    assert again.definition.id == made.definition.id
    with pytest.raises(InputError):
        definitions.claims_request(["a b"], challenge="c2", domain=None)


def test_present_proof_states() -> None:
    definition = definitions.simple_definition(["age_over_18"])
    attached = definitions.request_attachment(definition, challenge="c1", domain=None)
    record, message = proof_machine.request(
        connection_id="c", family=Family.V1, attached=attached, now=1.0
    )
    assert to_aries(message)["will_confirm"] is True
    assert to_aries(message)["request_presentations~attach"][0]["data"]["json"]["options"] == {
        "challenge": "c1"
    }
    with pytest.raises(RemoteProtocolError, match="no request of ours"):
        proof_machine.on_presentation(None, Presentation(attachments=()))
    presented = Attached(SUBMISSION, {"vp_token": []})
    _, detail, got = proof_machine.on_presentation(record, Presentation(attachments=(presented,)))
    assert detail.challenge == "c1" and got.data == {"vp_token": []}
    done, ack = proof_machine.verified(record, presented, {"verified": True}, True, 2.0)
    assert done.state == "done" and done.verified and ack.type.endswith("present-proof/2.0/ack")
    report = {"errors": [{"check": "holder_binding", "message": "wrong challenge"}]}
    rejected, problem = proof_machine.verified(record, presented, report, False, 2.0)
    assert rejected.state == "abandoned" and rejected.verified is False
    assert problem.body["description"]["code"] == "abandoned"
    assert problem.body["description"]["en"].startswith(proof_machine.NOT_VERIFIED)
    assert "wrong challenge" in problem.body["description"]["en"]

    prover, detail = proof_machine.on_request(
        None,
        connection_id="c",
        family=Family.V2,
        thread_id="t",
        message=RequestPresentation.from_message(message, Family.V1),
        now=1.0,
    )
    assert prover.state == "request-received" and detail.challenge == "c1"
    with pytest.raises(RemoteProtocolError, match="no presentation of ours"):
        proof_machine.on_ack(None, 2.0)
    sent, _ = proof_machine.present(prover, presented, 2.0)
    with pytest.raises(LocalProtocolError, match="not a request"):
        proof_machine.present(sent, presented, 3.0)


# -- handlers, with a context built by hand --------------------------------------------------


class _NoRecords:
    async def get(self, category: str, id: str, *, for_update: bool = False) -> object:
        from wallet.errors import RecordNotFound

        raise RecordNotFound(id)

    async def find(self, category: str, query: object = None, **kw: object) -> list[object]:
        return []


class _Connection:
    id = "conn-1"
    state = "completed"
    family = "v1"
    my_did = HOLDER
    their_did = ISSUER
    their_label = "Shop"


def _context(message: object, family: Family = Family.V1) -> object:
    from agent.plugin import HandlerContext

    if family is Family.V1:
        message = from_aries(to_aries(message))  # as it arrives
    return HandlerContext(
        message=message,  # type: ignore[arg-type]
        connection=_Connection(),
        records=_NoRecords(),
        family=family,
        now=1.0,
        services={},
    )


async def test_handlers_refuse_with_a_problem_report_and_keep_nothing() -> None:
    from agent.plugin import Save, Send
    from protocols.issue_credential.handlers import HANDLERS as CREDENTIALS
    from protocols.present_proof.handlers import HANDLERS as PROOFS

    definition = definitions.simple_definition(["age_over_18"])
    no_challenge = Attached(DEFINITIONS, {"presentation_definition": definition, "options": {}})
    cases = [
        (
            CREDENTIALS["offer-credential"],
            OfferCredential(attachments=(Attached("hlindy/cred-abstract@v2.0", {"x": 1}),)),
            "a format moi speaks",
        ),
        (
            CREDENTIALS["request-credential"],
            RequestCredential(attachments=(offer(OfferFormat.DI_JCS).attached,)),
            "only what it offered",
        ),
        (
            PROOFS["request-presentation"],
            RequestPresentation(attachments=(no_challenge,)),
            "challenge",
        ),
        (
            PROOFS["presentation"],
            Presentation(attachments=(Attached(SUBMISSION, {"vp_token": ["x"]}),)),
            "no request of ours",
        ),
    ]
    for family in Family:
        for handler, message, why in cases:
            ctx = _context(message.to_message(family, thid="t-1"), family)  # type: ignore[attr-defined]
            await handler(ctx)  # type: ignore[arg-type]
            assert not [e for e in ctx.effects if isinstance(e, Save)]  # type: ignore[attr-defined]
            (sent,) = [e for e in ctx.effects if isinstance(e, Send)]  # type: ignore[attr-defined]
            report = sent.message
            assert report.type.endswith("/problem-report") and report.thid == "t-1"
            text = json.dumps(report.body)
            assert why in text and "abandoned" in text
