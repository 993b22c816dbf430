"""Presentation Exchange 2.0: definitions in the spirit of the spec's examples, evaluated."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from wallet.credentials.errors import PresentationError
from wallet.credentials.pex import (
    Candidate,
    MalformedDefinition,
    NoMatch,
    PresentationDefinition,
    build_submission,
    evaluate,
    presented_credentials,
)
from wallet.credentials.pex_verify import (
    MalformedSubmission,
    SubmissionMismatch,
    check_submission,
)

DEGREE = Candidate(
    "degree",
    "ldp_vc",
    {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential", "UniversityDegreeCredential"],
        "issuer": {"id": "did:example:university", "name": "Example University"},
        "validFrom": "2020-06-01T00:00:00Z",
        "credentialSubject": {
            "id": "did:example:alice",
            "degree": {"type": "BachelorDegree", "name": "BSc Physics"},
            "gpa": 3.7,
        },
    },
    proof_type="DataIntegrityProof",
    cryptosuite="eddsa-jcs-2022",
)
PID = Candidate(
    "pid",
    "dc+sd-jwt",
    {
        "iss": "https://pid-issuer.example",
        "vct": "urn:eudi:pid:1",
        "given_name": "Erika",
        "family_name": "Mustermann",
        "birthdate": "1990-02-01",
        "age_equal_or_over": {"18": True, "21": True, "65": False},
        "address": {"locality": "Berlin", "country": "DE"},
        "nationalities": ["DE"],
    },
    alg="ES256",
)
EMPLOYMENT = Candidate(
    "job",
    "jwt_vc",
    {
        "iss": "did:example:acme",
        "vc": {
            "type": ["VerifiableCredential", "EmploymentCredential"],
            "credentialSubject": {"employer": "ACME", "role": "Engineer", "since": "2019-05-01"},
        },
    },
    alg="EdDSA",
)
BANK = Candidate(
    "bank",
    "ldp_vc",
    {
        "type": ["VerifiableCredential", "BankAccountCredential"],
        "issuer": "did:example:bank",
        "credentialSubject": {
            "accounts": [
                {"number": "0123456789", "currency": "USD"},
                {"iban": "DE89370400440532013000", "currency": "EUR"},
            ],
            "portfolioValue": 2_500_000,
        },
    },
)
WALLET = [DEGREE, PID, EMPLOYMENT, BANK]


def definition(*descriptors: dict[str, Any], **top: Any) -> PresentationDefinition:
    return PresentationDefinition.parse(
        {"id": "def-1", "input_descriptors": list(descriptors), **top}
    )


def by_type(desc_id: str, vc_type: str, **extra: Any) -> dict[str, Any]:
    fields = [
        {
            "path": ["$.type", "$.vc.type"],
            "filter": {"type": "array", "contains": {"const": vc_type}},
        }
    ]
    fields.extend(extra.pop("fields", []))
    return {
        "id": desc_id,
        "constraints": {"fields": fields, **extra.pop("constraints", {})},
        **extra,
    }


def matched(evaluation: Any, desc_id: str) -> list[str]:
    return [m.candidate.id for m in evaluation.matches[desc_id]]


# -- matching -------------------------------------------------------------------------------


def test_filter_by_credential_type_across_formats() -> None:
    d = definition(
        by_type("degree", "UniversityDegreeCredential"), by_type("job", "EmploymentCredential")
    )
    ev = evaluate(d, WALLET)
    assert matched(ev, "degree") == ["degree"] and matched(ev, "job") == ["job"]
    selection = ev.select()
    sub = build_submission(d, selection, submission_id="sub-1")
    assert sub == {
        "id": "sub-1",
        "definition_id": "def-1",
        "descriptor_map": [
            {"id": "degree", "format": "ldp_vc", "path": "$.verifiableCredential[0]"},
            {"id": "job", "format": "jwt_vc", "path": "$.verifiableCredential[1]"},
        ],
    }
    assert selection[0].disclose is None  # no limit: the whole credential goes


def test_over_18_from_sd_jwt_discloses_exactly_that_claim() -> None:
    d = definition(
        {
            "id": "age",
            "purpose": "We only need to know you are an adult",
            "format": {
                "dc+sd-jwt": {"sd-jwt_alg_values": ["ES256"], "kb-jwt_alg_values": ["ES256"]}
            },
            "constraints": {
                "limit_disclosure": "required",
                "fields": [
                    {"path": ["$.vct"], "filter": {"type": "string", "const": "urn:eudi:pid:1"}},
                    {
                        "path": ["$.age_equal_or_over['18']"],
                        "filter": {"type": "boolean", "const": True},
                    },
                ],
            },
        }
    )
    ev = evaluate(d, WALLET)
    assert matched(ev, "age") == ["pid"]
    [match] = ev.select()
    assert match.disclose == (("vct",), ("age_equal_or_over", "18"))
    assert [f.jsonpath for f in match.fields] == ["$['vct']", "$['age_equal_or_over']['18']"]


def test_limit_disclosure_required_refuses_formats_that_cannot_limit() -> None:
    d = definition(
        by_type(
            "degree", "UniversityDegreeCredential", constraints={"limit_disclosure": "required"}
        )
    )
    ev = evaluate(d, WALLET)
    assert not ev.satisfied
    assert "cannot disclose selectively" in ev.reasons["degree"]["degree"]
    with pytest.raises(NoMatch) as info:
        ev.select()
    assert "degree" in info.value.reasons


def test_limit_disclosure_preferred() -> None:
    fields = [{"path": ["$.address.country"], "filter": {"type": "string", "enum": ["DE", "FR"]}}]
    d = definition(
        {"id": "country", "constraints": {"limit_disclosure": "preferred", "fields": fields}}
    )
    [match] = evaluate(d, WALLET).select()
    assert match.candidate is PID and match.disclose == (("address", "country"),)
    ldp = Candidate("x", "ldp_vc", {"address": {"country": "FR"}})
    [m] = evaluate(d, [ldp]).select()
    assert m.disclose is None  # preferred: a format that cannot limit still answers


def test_optional_fields() -> None:
    fields = [
        {"path": ["$.given_name"]},
        {"id": "nick", "path": ["$.nickname"], "optional": True},
        {"id": "fam", "path": ["$.family_name"], "optional": True},
    ]
    d = definition(
        {"id": "name", "constraints": {"limit_disclosure": "required", "fields": fields}}
    )
    [m] = evaluate(d, WALLET).select()
    assert m.disclose == (("given_name",), ("family_name",))
    assert m.optional_paths == (("family_name",),)


def test_optional_field_must_still_pass_its_filter_when_present() -> None:
    fields = [{"path": ["$.birthdate"], "optional": True, "filter": {"type": "number"}}]
    d = definition({"id": "d", "constraints": {"fields": fields}})
    [m] = evaluate(d, [PID]).select()
    assert m.fields == ()  # present but failing: not disclosed, still a match


@pytest.mark.parametrize(
    ("path", "flt", "expected"),
    [
        ("$.credentialSubject.portfolioValue", {"type": "number", "minimum": 1_000_000}, ["bank"]),
        ("$.credentialSubject.portfolioValue", {"type": "number", "exclusiveMaximum": 1_000}, []),
        (
            "$.credentialSubject.accounts[*].iban",
            {"type": "string", "pattern": "^(DE|FR)[0-9]{2}"},
            ["bank"],
        ),
        ("$.credentialSubject.accounts[*].currency", {"const": "EUR"}, ["bank"]),
        (
            "$.birthdate",
            {"type": "string", "format": "date", "formatMaximum": "2007-01-01"},
            ["pid"],
        ),
        ("$.birthdate", {"type": "string", "format": "date", "formatMinimum": "2000-01-01"}, []),
        (
            "$.credentialSubject.gpa",
            {"type": "number", "exclusiveMinimum": 3.5, "maximum": 4},
            ["degree"],
        ),
        ("$.credentialSubject.gpa", {"type": "integer"}, []),
        ("$.given_name", {"type": "string", "minLength": 2, "maxLength": 5}, ["pid"]),
        ("$.family_name", {"type": "string", "maxLength": 5}, []),
        ("$.nationalities", {"type": "array", "contains": {"enum": ["DE", "AT"]}}, ["pid"]),
        ("$.address.country", {"not": {"const": "FR"}}, ["pid"]),
        ("$..name", {"type": "string", "pattern": "Physics$"}, ["degree"]),
        ("$.vc.credentialSubject.since", {"type": "string", "format": "date"}, ["job"]),
        (
            "$.issuer.id",
            {"anyOf": [{"const": "did:example:university"}, {"const": "x"}]},
            ["degree"],
        ),
    ],
)
def test_filters(path: str, flt: dict[str, Any], expected: list[str]) -> None:
    d = definition({"id": "d", "constraints": {"fields": [{"path": [path], "filter": flt}]}})
    assert matched(evaluate(d, WALLET), "d") == expected


def test_path_alternatives_are_tried_in_order() -> None:
    field = {"path": ["$.credentialSubject.role", "$.vc.credentialSubject.role", "$.role"]}
    d = definition({"id": "d", "constraints": {"fields": [field]}})
    [m] = evaluate(d, WALLET).select()
    assert m.candidate is EMPLOYMENT and m.fields[0].path == ("vc", "credentialSubject", "role")


def test_format_declarations() -> None:
    job = by_type("job", "EmploymentCredential")
    ok = definition(job, format={"jwt_vc": {"alg": ["EdDSA", "ES256"]}})
    assert matched(evaluate(ok, WALLET), "job") == ["job"]
    wrong_alg = definition(job, format={"jwt_vc": {"alg": ["ES256K"]}})
    ev = evaluate(wrong_alg, WALLET)
    assert not ev.satisfied and "alg EdDSA" in ev.reasons["job"]["job"]
    alias = definition(job, format={"jwt_vc_json": {"alg": ["EdDSA"]}})
    [m] = evaluate(alias, WALLET).select()
    assert m.format == "jwt_vc_json"  # the verifier's spelling goes into the descriptor_map
    old_sd = definition({"id": "p", "constraints": {}}, format={"vc+sd-jwt": {}})
    assert matched(evaluate(old_sd, WALLET), "p") == ["pid"]


def test_descriptor_format_overrides_definition_format() -> None:
    d = definition(
        {
            **by_type("degree", "UniversityDegreeCredential"),
            "format": {"ldp_vc": {"proof_type": ["DataIntegrityProof"]}},
        },
        format={"jwt_vc": {"alg": ["EdDSA"]}},
    )
    assert matched(evaluate(d, WALLET), "degree") == ["degree"]


def test_derived_predicates_are_not_offered() -> None:
    fields = [
        {
            "path": ["$.credentialSubject.gpa"],
            "filter": {"type": "number", "minimum": 3},
            "predicate": "required",
        }
    ]
    d = definition({"id": "d", "constraints": {"fields": fields}})
    ev = evaluate(d, WALLET)
    assert "predicates are not supported" in ev.reasons["d"]["degree"]
    fields[0]["predicate"] = "preferred"
    assert matched(
        evaluate(definition({"id": "d", "constraints": {"fields": fields}}), WALLET), "d"
    ) == ["degree"]


def test_no_credentials_no_match() -> None:
    d = definition(by_type("degree", "UniversityDegreeCredential"))
    ev = evaluate(d, [])
    assert not ev.satisfied
    with pytest.raises(NoMatch):
        ev.select()
    ev = evaluate(d, [PID, BANK])
    assert set(ev.reasons["degree"]) == {"pid", "bank"}
    assert "no value at" in ev.reasons["degree"]["bank"]


def test_empty_constraints_match_anything_and_choices_pick() -> None:
    d = definition({"id": "any", "constraints": {}})
    ev = evaluate(d, WALLET)
    assert matched(ev, "any") == ["degree", "pid", "job", "bank"]
    assert ev.select({"any": "bank"})[0].candidate is BANK
    with pytest.raises(PresentationError, match="does not match"):
        ev.select({"any": "nope"})


# -- submission requirements ----------------------------------------------------------------


def grouped(desc: dict[str, Any], *groups: str) -> dict[str, Any]:
    return {**desc, "group": list(groups)}


BANK_US = grouped(
    {
        "id": "bank_us",
        "constraints": {
            "fields": [
                {
                    "path": ["$.credentialSubject.accounts[*].number"],
                    "filter": {"pattern": "^[0-9]{10}$"},
                }
            ]
        },
    },
    "A",
)
BANK_EU = grouped(
    {
        "id": "bank_eu",
        "constraints": {
            "fields": [
                {
                    "path": ["$.credentialSubject.accounts[*].iban"],
                    "filter": {"pattern": "^(DE|FR)"},
                }
            ]
        },
    },
    "A",
)
BANK_JP = grouped(
    {
        "id": "bank_jp",
        "constraints": {"fields": [{"path": ["$.credentialSubject.accounts[*].zengin"]}]},
    },
    "A",
)
JOB = grouped(by_type("job", "EmploymentCredential"), "B")
DEGREE_D = grouped(by_type("degree", "UniversityDegreeCredential"), "B")
DRIVING = grouped(by_type("driving", "DrivingLicenceCredential"), "C")


def selected(d: PresentationDefinition) -> list[str]:
    return [m.descriptor_id for m in evaluate(d, WALLET).select()]


def test_pick_one_from_a_group() -> None:
    d = definition(
        BANK_US,
        BANK_EU,
        BANK_JP,
        JOB,
        submission_requirements=[{"rule": "pick", "count": 1, "from": "A"}],
    )
    assert selected(d) == ["bank_us"]  # as few as asked; the unused descriptors are ignored


def test_all_and_pick_min_max() -> None:
    reqs = [{"rule": "all", "from": "B"}, {"rule": "pick", "min": 1, "max": 2, "from": "A"}]
    d = definition(BANK_US, BANK_EU, BANK_JP, JOB, DEGREE_D, submission_requirements=reqs)
    assert selected(d) == ["bank_us", "job", "degree"]
    too_many = [{"rule": "pick", "min": 3, "from": "A"}]
    assert not evaluate(
        definition(BANK_US, BANK_EU, BANK_JP, submission_requirements=too_many), WALLET
    ).satisfied
    count_two = [{"rule": "pick", "count": 2, "from": "A"}]
    assert selected(definition(BANK_US, BANK_EU, BANK_JP, submission_requirements=count_two)) == [
        "bank_us",
        "bank_eu",
    ]


def test_all_fails_when_one_member_cannot_be_answered() -> None:
    d = definition(
        JOB, DEGREE_D, grouped(DRIVING, "B"), submission_requirements=[{"rule": "all", "from": "B"}]
    )
    assert not evaluate(d, WALLET).satisfied


def test_nested_pick_either_all_of_c_or_two_of_a() -> None:
    reqs = [
        {
            "name": "Proof of identity",
            "rule": "pick",
            "count": 1,
            "from_nested": [
                {"rule": "all", "from": "C"},
                {"rule": "pick", "count": 2, "from": "A"},
            ],
        }
    ]
    d = definition(BANK_US, BANK_EU, BANK_JP, DRIVING, submission_requirements=reqs)
    assert selected(d) == ["bank_us", "bank_eu"]
    poorer = [c for c in WALLET if c is not BANK]
    assert not evaluate(d, poorer).satisfied


# -- malformed definitions ------------------------------------------------------------------

GOOD: dict[str, Any] = {
    "id": "d",
    "input_descriptors": [
        {
            "id": "a",
            "group": ["G"],
            "constraints": {
                "fields": [{"id": "f1", "path": ["$.x"], "filter": {"type": "string"}}]
            },
        }
    ],
    "submission_requirements": [{"rule": "all", "from": "G"}],
}


def broken(mutate: Any) -> dict[str, Any]:
    doc = copy.deepcopy(GOOD)
    mutate(doc)
    return doc


def field0(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["input_descriptors"][0]["constraints"]["fields"][0]


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d.pop("id"), ".id"),
        (lambda d: d.update(input_descriptors={}), ".input_descriptors"),
        (
            lambda d: d["input_descriptors"].append({"id": "a", "group": ["G"], "constraints": {}}),
            ".input_descriptors",
        ),
        (
            lambda d: d["input_descriptors"][0].pop("constraints"),
            ".input_descriptors[0].constraints",
        ),
        (
            lambda d: d["input_descriptors"][0]["constraints"].update(limit_disclosure="always"),
            ".input_descriptors[0].constraints.limit_disclosure",
        ),
        (
            lambda d: field0(d).update(path="$.x"),
            ".input_descriptors[0].constraints.fields[0].path",
        ),
        (lambda d: field0(d).update(path=[]), ".input_descriptors[0].constraints.fields[0].path"),
        (
            lambda d: field0(d).update(path=["$.x", "$[?(@.a=='b')]"]),
            ".input_descriptors[0].constraints.fields[0].path[1]",
        ),
        (
            lambda d: field0(d).update(path=["x"]),
            ".input_descriptors[0].constraints.fields[0].path[0]",
        ),
        (
            lambda d: field0(d).update(filter={"type": "text"}),
            ".input_descriptors[0].constraints.fields[0].filter",
        ),
        (
            lambda d: field0(d).update(filter={"$ref": "https://example.com/s.json"}),
            ".input_descriptors[0].constraints.fields[0].filter",
        ),
        (
            lambda d: field0(d).update(filter={"pattern": "(unclosed"}),
            ".input_descriptors[0].constraints.fields[0].filter",
        ),
        (
            lambda d: field0(d).update(filter={"minimum": "3"}),
            ".input_descriptors[0].constraints.fields[0].filter",
        ),
        (
            lambda d: field0(d).update(filter={"enum": []}),
            ".input_descriptors[0].constraints.fields[0].filter",
        ),
        (
            lambda d: field0(d).update(filter="string"),
            ".input_descriptors[0].constraints.fields[0].filter",
        ),
        (
            lambda d: field0(d).update(optional="yes"),
            ".input_descriptors[0].constraints.fields[0].optional",
        ),
        (
            lambda d: (field0(d).pop("filter"), field0(d).update(predicate="required")),
            ".input_descriptors[0].constraints.fields[0].predicate",
        ),
        (
            lambda d: d["input_descriptors"][0]["constraints"]["fields"].append(
                {"id": "f1", "path": ["$.y"]}
            ),
            ".input_descriptors[0].constraints.fields[1].id",
        ),
        (
            lambda d: d["submission_requirements"][0].update(
                from_nested=[{"rule": "all", "from": "G"}]
            ),
            ".submission_requirements[0]",
        ),
        (
            lambda d: d["submission_requirements"][0].update(rule="some"),
            ".submission_requirements[0].rule",
        ),
        (
            lambda d: d["submission_requirements"][0].update(**{"from": "H"}),
            ".submission_requirements[0].from",
        ),
        (
            lambda d: d["submission_requirements"][0].update(rule="pick", count=0),
            ".submission_requirements[0].count",
        ),
        (
            lambda d: d["submission_requirements"][0].update(rule="pick", min=2, max=1),
            ".submission_requirements[0].max",
        ),
        (
            lambda d: d["input_descriptors"].append({"id": "b", "constraints": {}}),
            ".input_descriptors[1].group",
        ),
        (lambda d: d.update(format={"jwt_vc": {"alg": "EdDSA"}}), ".format.jwt_vc.alg"),
        (lambda d: d.update(format=[]), ".format"),
    ],
)
def test_malformed_definitions_rejected_precisely(mutate: Any, where: str) -> None:
    PresentationDefinition.parse(GOOD)
    with pytest.raises(MalformedDefinition) as info:
        PresentationDefinition.parse(broken(mutate))
    assert info.value.where == where


def test_envelope_and_extra_properties() -> None:
    d = PresentationDefinition.parse(
        {"presentation_definition": {**GOOD, "frame": {}, "x-vendor": 1}}
    )
    assert d.id == "d" and d.input_descriptors[0].group == ("G",)
    with pytest.raises(MalformedDefinition):
        PresentationDefinition.parse([GOOD])


# -- submissions, and the verifier's check --------------------------------------------------


def presentation(d: PresentationDefinition, credentials: list[Candidate]) -> dict[str, Any]:
    selection = evaluate(d, credentials).select()
    return {
        "type": ["VerifiablePresentation"],
        "verifiableCredential": [dict(c.claims) for c in presented_credentials(selection)],
        "presentation_submission": build_submission(d, selection),
    }


def test_one_credential_answering_two_descriptors_is_sent_once() -> None:
    d = definition(
        {"id": "name", "constraints": {"fields": [{"path": ["$.given_name"]}]}},
        {
            "id": "age",
            "constraints": {
                "fields": [{"path": ["$.age_equal_or_over['18']"], "filter": {"const": True}}]
            },
        },
    )
    selection = evaluate(d, WALLET).select()
    sub = build_submission(d, selection)
    assert [e["path"] for e in sub["descriptor_map"]] == ["$.verifiableCredential[0]"] * 2
    assert presented_credentials(selection) == [PID]


def test_verifier_accepts_the_holders_submission() -> None:
    reqs = [{"rule": "all", "from": "B"}, {"rule": "pick", "count": 1, "from": "A"}]
    d = definition(BANK_US, BANK_EU, JOB, DEGREE_D, submission_requirements=reqs)
    vp = presentation(d, WALLET)
    got = check_submission(d, vp["presentation_submission"], vp)
    assert sorted(m.descriptor_id for m in got) == ["bank_us", "degree", "job"]


def test_verifier_refuses_bad_submissions() -> None:
    reqs = [{"rule": "pick", "count": 1, "from": "A"}]
    d = definition(BANK_US, BANK_EU, submission_requirements=reqs)
    vp = presentation(d, WALLET)
    sub = vp["presentation_submission"]
    with pytest.raises(SubmissionMismatch, match="definition_id"):
        check_submission(d, {**sub, "definition_id": "other"}, vp)
    swapped = {**vp, "verifiableCredential": [dict(DEGREE.claims)]}
    with pytest.raises(SubmissionMismatch, match="does not satisfy"):
        check_submission(d, sub, swapped)
    both = {
        **sub,
        "descriptor_map": [
            *sub["descriptor_map"],
            {"id": "bank_eu", "format": "ldp_vc", "path": "$.verifiableCredential[0]"},
        ],
    }
    with pytest.raises(SubmissionMismatch, match="requirement"):
        check_submission(d, both, vp)  # pick count 1: exactly one, not two
    with pytest.raises(SubmissionMismatch, match="exactly one"):
        check_submission(
            d,
            {
                **sub,
                "descriptor_map": [
                    {"id": "bank_us", "format": "ldp_vc", "path": "$.verifiableCredential[5]"}
                ],
            },
            vp,
        )
    with pytest.raises(MalformedSubmission):
        check_submission(d, {**sub, "descriptor_map": [{"id": "bank_us", "path": "$"}]}, vp)
    with pytest.raises(SubmissionMismatch, match="not answered"):
        plain = definition(BANK_US, JOB)
        check_submission(plain, {"id": "s", "definition_id": "def-1", "descriptor_map": []}, {})


def test_nested_paths_with_a_decoder() -> None:
    d = definition(by_type("job", "EmploymentCredential"))
    selection = evaluate(d, WALLET).select()
    sub = build_submission(d, selection, nested_under="jwt_vp")
    assert sub["descriptor_map"][0] == {
        "id": "job",
        "format": "jwt_vp",
        "path": "$",
        "path_nested": {"id": "job", "format": "jwt_vc", "path": "$.verifiableCredential[0]"},
    }
    tokens = {
        "vp-token": {"vp": {}, "verifiableCredential": ["vc-token"]},
        "vc-token": dict(EMPLOYMENT.claims),
    }

    def decode(fmt: str, value: Any) -> Any:
        assert fmt in ("jwt_vp", "jwt_vc") and isinstance(value, str)
        return tokens[value]

    [m] = check_submission(d, sub, "vp-token", decode=decode)
    assert m.descriptor_id == "job" and m.format == "jwt_vc"
