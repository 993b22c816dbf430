"""SD-JWT: the draft's vectors verify (and reproduce), tampered copies fail, moi round trips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from wallet.credentials.errors import (
    HolderBindingError,
    MalformedCredential,
)
from wallet.credentials.sd_jwt import (
    ClaimPathError,
    Disclosure,
    HeldSdJwt,
    MalformedSdJwt,
    claim_path,
    issue_sd_jwt,
    present_sd_jwt,
    receive_sd_jwt,
    sd_hash,
    sd_jwt_from_json,
    split_sd_jwt,
    verify_sd_jwt,
)
from wallet.encoding import b64url_decode
from wallet.errors import UnsupportedKeyType
from wallet.keys import KeyType, PrivateKey, PublicKey

VECTORS = Path(__file__).parent / "vectors" / "sd-jwt"
SECTION5 = json.loads((VECTORS / "draft-22-section5-example.json").read_text())
APPENDIX = json.loads((VECTORS / "draft-22-appendix-examples.json").read_text())
JSON_SER = json.loads((VECTORS / "draft-22-json-serialization.json").read_text())
# examples-settings.yml: the drafts' issuer and holder keys (P-256).
ISSUER = PrivateKey.from_jwk(
    {
        "kty": "EC",
        "crv": "P-256",
        "d": "Ur2bNKuBPOrAaxsRnbSH6hIhmNTxSGXshDSUD1a1y7g",
        "x": "b28d4MwZMjw8-00CG4xfnn9SLMVMM19SlqZpVb_uNtQ",
        "y": "Xv5zWwuoaTgdS6hV43yI6gBwTnjukmFQQnJ_kCxzqk8",
    }
)
HOLDER = PrivateKey.from_jwk(
    {
        "kty": "EC",
        "crv": "P-256",
        "d": "5K5SCos8zf9zRemGGUl6yfok-_NiiryNZsvANWMhF-I",
        "x": "TCAER19Zvu3OHF4j4W4vfSVoHIP1ILilDls7vCeGemc",
        "y": "ZxjiWWbZMQGHVWKVQ4hbSIirsVfuecCE6t4jT9F2HZQ",
    }
)
ISSUER_PUB = PublicKey.from_jwk(SECTION5["issuer_public_jwk"])
NONCE = SECTION5["verifier"]["nonce"]
AUD = SECTION5["verifier"]["aud"]
KB_IAT = SECTION5["kb_jwt_payload"]["iat"]


def _verify(token: str, **kw: Any) -> Any:
    kw.setdefault("now", KB_IAT)
    return verify_sd_jwt(token, ISSUER_PUB, **kw)


def _verify_kb(token: str, **kw: Any) -> Any:
    return _verify(token, key_binding=True, nonce=NONCE, aud=AUD, **kw)


# -- the draft's vectors --------------------------------------------------------------------


def test_section5_presentation_verifies_to_the_expected_payload() -> None:
    v = _verify_kb(SECTION5["sd_jwt_kb_presentation"])
    assert v.claims == SECTION5["expected_verified_payload"]
    assert v.key_binding == SECTION5["kb_jwt_payload"]
    assert v.holder_key == HOLDER.public
    assert v.header == {"alg": "ES256", "typ": "example+sd-jwt"}


def test_section5_issuance_discloses_everything() -> None:
    v = _verify(SECTION5["sd_jwt_issuance"], typ=["example+sd-jwt"])
    user = SECTION5["user_claims"]
    assert {k: v.claims[k] for k in user} == user
    assert split_sd_jwt(SECTION5["sd_jwt_issuance"]).sd_jwt == SECTION5["sd_jwt_issuance"]


def test_section5_disclosure_digests() -> None:
    payload = SECTION5["sd_jwt_payload"]
    referenced = set(payload["_sd"]) | {e["..."] for e in payload["nationalities"]}
    for entry in SECTION5["disclosures"]:
        d = Disclosure.decode(entry["disclosure"])
        assert d.digest == entry["digest"]
        assert d.digest in referenced
    assert {e["digest"] for e in SECTION5["disclosures"]} == referenced


def test_section5_kb_sd_hash() -> None:
    parts = split_sd_jwt(SECTION5["sd_jwt_kb_presentation"])
    assert sd_hash(parts.sd_jwt) == SECTION5["kb_jwt_payload"]["sd_hash"]


def test_reproduce_section5_issuer_signed_payload() -> None:
    """Issue the draft's claims with its salts and JSON spacing: the same digests result."""
    salts: dict[tuple, str] = {}
    for entry in SECTION5["disclosures"]:
        d = Disclosure.decode(entry["disclosure"])
        if d.name is not None:
            salts[(d.name,)] = d.salt
        else:
            salts[("nationalities", SECTION5["user_claims"]["nationalities"].index(d.value))] = (
                d.salt
            )
    claims = {"iss": "https://issuer.example.com", "iat": 1683000000, "exp": 1883000000}
    claims |= SECTION5["user_claims"]
    disclosable = [p for p in salts]
    issued = issue_sd_jwt(
        claims,
        ISSUER,
        disclosable=disclosable,
        holder_key=HOLDER.public,
        typ="example+sd-jwt",
        salt=lambda path: salts[path],
        disclosure_json=lambda v: json.dumps(v, ensure_ascii=False),
    )
    parts = split_sd_jwt(issued)
    payload = json.loads(b64url_decode(parts.issuer_jwt.split(".")[1]))
    assert payload == SECTION5["sd_jwt_payload"]
    assert sorted(parts.disclosures) == sorted(e["disclosure"] for e in SECTION5["disclosures"])
    assert _verify(issued).claims == _verify(SECTION5["sd_jwt_issuance"]).claims


def test_disclosure_examples_of_section_4_2() -> None:
    spaced = lambda v: json.dumps(v, ensure_ascii=False)  # noqa: E731
    d = Disclosure.create("family_name", "Möbius", salt="_26bc4LT-ac6q2KI6cBW5es", dumps=spaced)
    assert d.encoded == "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0"
    assert d.digest == "X9yH0Ajrdm1Oij4tWso9UzzKJvPoDxwmuEcO3XAdRC0"
    e = Disclosure.create(None, "FR", salt="lklxF5jMYlGTPUovMNIvCA", dumps=spaced)
    assert e.encoded == "WyJsa2x4RjVqTVlsR1RQVW92TU5JdkNBIiwgIkZSIl0"
    # Other spellings of the same claim are valid Disclosures with their own digests.
    for other in (
        "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNXHUwMGY2Yml1cyJd",
        "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsImZhbWlseV9uYW1lIiwiTcO2Yml1cyJd",
        "WwoiXzI2YmM0TFQtYWM2cTJLSTZjQlc1ZXMiLAoiZmFtaWx5X25hbWUiLAoiTcO2Yml1cyIKXQ",
    ):
        decoded = Disclosure.decode(other)
        assert (decoded.name, decoded.value) == ("family_name", "Möbius")
        assert decoded.digest != d.digest


@pytest.mark.parametrize("name", ["A.1", "A.2", "A.3", "A.4"])
def test_appendix_examples_verify(name: str) -> None:
    ex = APPENDIX[name]
    kb = not ex["presentation"].endswith("~")
    v = _verify(ex["presentation"], key_binding=kb, nonce=NONCE if kb else None, aud=AUD)
    assert v.claims == ex["expected_verified_payload"]
    if "kb_jwt_payload" in ex:
        assert v.key_binding == ex["kb_jwt_payload"]
    if "issued" in ex:
        held = receive_sd_jwt(ex["issued"], ISSUER_PUB, now=KB_IAT)
        assert len(held.disclosures) > len(split_sd_jwt(ex["presentation"]).disclosures)


def test_json_serialization_examples_verify() -> None:
    v = _verify(sd_jwt_from_json(JSON_SER["flattened_issuance"]))
    assert v.claims["sub"] == "john_doe_42"
    for key in ("flattened_presentation_kb", "general_presentation_kb"):
        v = _verify_kb(sd_jwt_from_json(json.dumps(JSON_SER[key])))
        assert (v.claims["given_name"], v.claims["family_name"]) == ("John", "Doe")
        assert "birthdate" not in v.claims


# -- moi to moi -----------------------------------------------------------------------------

CLAIMS = {
    "iss": "did:example:issuer",
    "iat": 1_700_000_000,
    "exp": 1_900_000_000,
    "given_name": "Erika",
    "family_name": "Mustermann",
    "address": {"street_address": "Heidestraße 17", "locality": "Köln", "country": "DE"},
    "nationalities": ["DE", "FR", "UK"],
    "degrees": [
        {"type": "Bachelor", "university": "Köln"},
        {"university": "Bonn"},
    ],
    "age_over_18": True,
}
SD_PATHS = [
    "given_name",
    "family_name",
    "address",
    "address.street_address",
    "address.locality",
    "nationalities",
    "nationalities.*",
    "degrees.*",
    "degrees.*.type",
    "age_over_18",
]
NOW = 1_800_000_000


@pytest.mark.parametrize("issuer_type", [KeyType.ED25519, KeyType.P256])
@pytest.mark.parametrize("holder_type", [KeyType.ED25519, KeyType.P256])
def test_round_trip_with_key_binding(issuer_type: KeyType, holder_type: KeyType) -> None:
    issuer, holder = PrivateKey.generate(issuer_type), PrivateKey.generate(holder_type)
    issued = issue_sd_jwt(
        CLAIMS, issuer, disclosable=SD_PATHS, holder_key=holder.public, decoys=3, typ="x+sd-jwt"
    )
    held = receive_sd_jwt(issued, issuer.public, now=NOW, typ=["x+sd-jwt"])
    assert {k: v for k, v in held.claims.items() if k != "cnf"} == CLAIMS
    token = held.present(
        ["address.locality", "nationalities.1", "degrees.*.type"],
        holder_key=holder,
        nonce="n-1",
        aud="did:example:verifier",
        iat=NOW,
    )
    v = verify_sd_jwt(
        token, issuer.public, now=NOW, key_binding=True, nonce="n-1", aud="did:example:verifier"
    )
    assert v.claims == {
        "iss": "did:example:issuer",
        "iat": 1_700_000_000,
        "exp": 1_900_000_000,
        "address": {"country": "DE", "locality": "Köln"},
        "nationalities": ["FR"],
        "degrees": [{"type": "Bachelor", "university": "Köln"}],
        "cnf": {"jwk": holder.public.to_jwk()},
    }


def test_issuer_payload_hides_what_is_disclosable() -> None:
    issued = issue_sd_jwt(CLAIMS, ISSUER, disclosable=SD_PATHS, decoys=5)
    body = b64url_decode(split_sd_jwt(issued).issuer_jwt.split(".")[1]).decode()
    for secret in ("Erika", "Mustermann", "Heidestra", "given_name", "age_over_18", "Bachelor"):
        assert secret not in body
    payload = json.loads(body)
    assert payload["_sd_alg"] == "sha-256"
    # 5 real top-level digests plus 1..5 decoys, sorted.
    assert 6 <= len(payload["_sd"]) <= 10 and payload["_sd"] == sorted(payload["_sd"])
    salts = {Disclosure.decode(d).salt for d in split_sd_jwt(issued).disclosures}
    assert len(salts) == len(split_sd_jwt(issued).disclosures)
    assert all(len(b64url_decode(s)) >= 16 for s in salts)


def test_holder_selection_includes_parents_and_children_only() -> None:
    held = HeldSdJwt.parse(issue_sd_jwt(CLAIMS, ISSUER, disclosable=SD_PATHS))
    names = lambda ds: sorted(str(d.name if d.name else d.value) for d in ds)  # noqa: E731
    # A nested claim brings the parent Disclosure it needs, not its siblings.
    assert names(held.select(["address.locality"])) == ["address", "locality"]
    # A claim brings everything inside it.
    assert names(held.select([["address"]])) == ["address", "locality", "street_address"]
    # A wildcard reveals only the elements that have the claim.
    picked = held.select(["degrees.*.type"])
    assert len(picked) == 2 and held.preview(["degrees.*.type"])["degrees"] == [
        {"type": "Bachelor", "university": "Köln"}
    ]
    # degrees itself is always disclosed; its elements are not.
    assert held.preview([]) == {
        "iss": CLAIMS["iss"],
        "iat": CLAIMS["iat"],
        "exp": CLAIMS["exp"],
        "degrees": [],
    }
    with pytest.raises(ClaimPathError):
        held.select(["email"])
    with pytest.raises(ClaimPathError):
        held.select(["nationalities.7"])
    with pytest.raises(ClaimPathError):
        held.select("given_name")


def test_present_refuses_a_key_it_is_not_bound_to() -> None:
    issued = issue_sd_jwt(CLAIMS, ISSUER, disclosable=SD_PATHS, holder_key=HOLDER.public)
    with pytest.raises(HolderBindingError):
        present_sd_jwt(issued, ["given_name"], holder_key=ISSUER, nonce="n", aud="a", iat=NOW)
    unbound = issue_sd_jwt(CLAIMS, ISSUER, disclosable=SD_PATHS)
    with pytest.raises(HolderBindingError):
        present_sd_jwt(unbound, ["given_name"], holder_key=HOLDER, nonce="n", aud="a", iat=NOW)
    with pytest.raises(ValueError):
        present_sd_jwt(issued, ["given_name"], holder_key=HOLDER, nonce="n", aud="a")


def test_holder_refuses_a_kb_at_receipt() -> None:
    with pytest.raises(MalformedSdJwt):
        receive_sd_jwt(SECTION5["sd_jwt_kb_presentation"], ISSUER_PUB, now=KB_IAT)
    with pytest.raises(MalformedSdJwt):
        HeldSdJwt.parse(SECTION5["sd_jwt_kb_presentation"])


def test_issuer_refuses_bad_input() -> None:
    with pytest.raises(ClaimPathError):
        issue_sd_jwt(CLAIMS, ISSUER, disclosable=["nope"])
    with pytest.raises(ClaimPathError):
        issue_sd_jwt(CLAIMS, ISSUER, disclosable=["nationalities.name"])
    for bad in ({"_sd": []}, {"a": [{"...": "x"}]}, {"_sd_alg": "sha-256"}, {"a": {1, 2}}):
        with pytest.raises(MalformedCredential):
            issue_sd_jwt(bad, ISSUER, disclosable=[])
    with pytest.raises(UnsupportedKeyType):
        issue_sd_jwt(CLAIMS, PrivateKey.generate(KeyType.SECP256K1))
    with pytest.raises(MalformedCredential):
        issue_sd_jwt({"cnf": {}}, ISSUER, holder_key=HOLDER.public)


def test_claim_path_forms() -> None:
    assert claim_path("degrees.*.type") == ("degrees", None, "type")
    assert claim_path("nationalities.0") == ("nationalities", 0)
    assert claim_path(["https://example.com/claim"]) == ("https://example.com/claim",)
    for bad in ("", "a..b", [], [True], [-1], [1.5]):
        with pytest.raises(ClaimPathError):
            claim_path(bad)


def test_no_disclosures_and_recursive_only() -> None:
    plain = issue_sd_jwt({"a": 1}, ISSUER)
    assert plain.endswith("~") and plain.count("~") == 1
    assert _verify(plain).claims == {"a": 1}
    assert "_sd" not in json.loads(b64url_decode(plain.split(".")[1]))
    held = HeldSdJwt.parse(
        issue_sd_jwt({"a": {"b": {"c": 1}}}, ISSUER, disclosable=["a", "a.b", "a.b.c"])
    )
    token = held.present(["a.b.c"])
    assert _verify(token).claims == {"a": {"b": {"c": 1}}}
    assert _verify(held.present(["a"])).claims == {"a": {"b": {"c": 1}}}
    assert len(split_sd_jwt(held.present(["a"])).disclosures) == 3


def test_kb_without_disclosures() -> None:
    issued = issue_sd_jwt({"a": 1}, ISSUER, disclosable=["a"], holder_key=HOLDER.public)
    token = present_sd_jwt(issued, [], holder_key=HOLDER, nonce=NONCE, aud=AUD, iat=KB_IAT)
    assert token.count("~") == 1
    assert _verify_kb(token).claims == {"cnf": {"jwk": HOLDER.public.to_jwk()}}
