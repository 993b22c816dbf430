"""SD-JWT VC: the draft's example, the type rules, status and issuer-key callbacks, and
selective disclosure of a single claim."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from wallet.credentials.errors import (
    HolderBindingError,
    MalformedCredential,
    ProofError,
    StatusError,
)
from wallet.credentials.sd_jwt import (
    ChallengeMismatch,
    ClaimPathError,
    Disclosure,
    DuplicateDigest,
    KeyBindingRequired,
    MalformedSdJwt,
    UnreferencedDisclosure,
    split_sd_jwt,
)
from wallet.credentials.sd_jwt_vc import (
    issue_sd_jwt_vc,
    receive_sd_jwt_vc,
    verify_sd_jwt_vc,
)
from wallet.encoding import b64url_decode, b64url_encode, dumps_compact
from wallet.jose.jws import sign_compact
from wallet.keys import KeyType, PrivateKey, PublicKey

VECTOR = json.loads(
    (Path(__file__).parent / "vectors/sd-jwt-vc/draft-latest-section2.3-example.json").read_text()
)
# examples-settings.yml issuer_key (the draft does not print it next to the example).
ISSUER = PrivateKey.from_jwk(
    {
        "kty": "EC",
        "crv": "P-256",
        "d": "Ur2bNKuBPOrAaxsRnbSH6hIhmNTxSGXshDSUD1a1y7g",
        "x": "b28d4MwZMjw8-00CG4xfnn9SLMVMM19SlqZpVb_uNtQ",
        "y": "Xv5zWwuoaTgdS6hV43yI6gBwTnjukmFQQnJ_kCxzqk8",
    }
)
HOLDER_PUB = PublicKey.from_jwk(VECTOR["sd_jwt_payload"]["cnf"]["jwk"])
KB_IAT = 1787325881  # the vector's KB-JWT iat
NONCE, AUD = "1234567890", "https://example.com/verifier"


class Resolver:
    def __init__(self, keys: Mapping[tuple[str | None, str | None], PublicKey]) -> None:
        self.keys, self.calls = dict(keys), []

    def __call__(self, iss: str | None, kid: str | None) -> PublicKey:
        self.calls.append((iss, kid))
        try:
            return self.keys[(iss, kid)]
        except KeyError:
            raise ProofError(f"unknown issuer key {iss} {kid}") from None


def _vector_resolver() -> Resolver:
    iss = "https://example.com/issuer"
    return Resolver({(iss, "doc-signer-05-25-2022"): ISSUER.public, (iss, None): ISSUER.public})


def test_vector_presentation_with_key_binding() -> None:
    resolver = _vector_resolver()
    v = verify_sd_jwt_vc(
        VECTOR["sd_jwt_kb_presentation"],
        resolver,
        now=KB_IAT,
        key_binding=True,
        nonce=NONCE,
        aud=AUD,
        vct=["https://credentials.example.com/identity_credential"],
    )
    assert v.claims == VECTOR["expected_verified_payload"]
    assert v.vct == "https://credentials.example.com/identity_credential"
    assert v.iss == "https://example.com/issuer"
    assert v.holder_key == HOLDER_PUB
    assert resolver.calls == [("https://example.com/issuer", "doc-signer-05-25-2022")]
    assert v.status is None and not v.status_checked


def test_vector_presentation_without_key_binding() -> None:
    v = verify_sd_jwt_vc(VECTOR["sd_jwt_presentation_without_kb"], _vector_resolver(), now=KB_IAT)
    assert v.claims == VECTOR["expected_verified_payload_without_kb"]
    assert v.key_binding is None


def test_vector_issuance_and_digests() -> None:
    held = receive_sd_jwt_vc(VECTOR["sd_jwt_vc_issuance"], _vector_resolver(), now=KB_IAT)
    assert {k: held.claims[k] for k in VECTOR["unsecured_payload"]} == VECTOR["unsecured_payload"]
    for entry in VECTOR["disclosures"]:
        assert Disclosure.decode(entry["disclosure"]).digest == entry["digest"]
        assert entry["digest"] in VECTOR["sd_jwt_payload"]["_sd"]
    body = json.loads(
        b64url_decode(split_sd_jwt(VECTOR["sd_jwt_vc_issuance"]).issuer_jwt.split(".")[1])
    )
    assert body == VECTOR["sd_jwt_payload"]


def test_vector_tampering() -> None:
    token = VECTOR["sd_jwt_kb_presentation"]
    with pytest.raises(ChallengeMismatch):
        verify_sd_jwt_vc(
            token, _vector_resolver(), now=KB_IAT, key_binding=True, nonce="x", aud=AUD
        )
    with pytest.raises(ProofError):  # the resolver knows no such issuer key
        verify_sd_jwt_vc(token, Resolver({}), now=KB_IAT)
    with pytest.raises(MalformedSdJwt, match="vct"):
        verify_sd_jwt_vc(token, _vector_resolver(), now=KB_IAT, vct=["urn:other"])


# -- issuing and type rules -----------------------------------------------------------------

IS_OVER = {"age_over_18": True, "age_over_21": True, "age_over_65": False}
PERSON = {
    "given_name": "Erika",
    "family_name": "Mustermann",
    "birthdate": "1963-08-12",
    "address": {"locality": "Köln", "country": "DE"},
    **IS_OVER,
}
NOW = 1_800_000_000


def _issue(issuer: PrivateKey, holder: PrivateKey | None = None, **kw: Any) -> str:
    return issue_sd_jwt_vc(
        PERSON,
        issuer,
        vct="urn:eudi:pid:1",
        iss="did:example:issuer",
        kid="did:example:issuer#key-1",
        iat=NOW - 100,
        exp=NOW + 86400,
        holder_key=holder.public if holder else None,
        disclosable=[*PERSON, "address.locality"],
        **kw,
    )


@pytest.mark.parametrize("issuer_type", [KeyType.ED25519, KeyType.P256])
def test_selective_disclosure_of_age_over_18_only(issuer_type: KeyType) -> None:
    issuer, holder = PrivateKey.generate(issuer_type), PrivateKey.generate(KeyType.P256)
    issued = _issue(issuer, holder, decoys=4)
    resolver = Resolver({("did:example:issuer", "did:example:issuer#key-1"): issuer.public})
    held = receive_sd_jwt_vc(issued, resolver, now=NOW)
    # The verifier asks for age_over_18 and nothing else.
    wire = held.present(["age_over_18"], holder_key=holder, nonce="n-42", aud="x509:v", iat=NOW)
    v = verify_sd_jwt_vc(
        wire,
        resolver,
        now=NOW,
        key_binding=True,
        nonce="n-42",
        aud="x509:v",
        vct=["urn:eudi:pid:1"],
    )
    disclosed = {k: v.claims[k] for k in v.claims if k not in ("iss", "iat", "exp", "vct", "cnf")}
    assert disclosed == {"age_over_18": True}
    (only,) = split_sd_jwt(wire).disclosures
    assert Disclosure.decode(only).name == "age_over_18"
    # Nothing of the other claims is on the wire: not their Disclosures, salts or values.
    for d in held.disclosures:
        if d.name == "age_over_18":
            continue
        assert d.encoded not in wire and d.salt not in wire
    decoded = b"".join(b64url_decode(p) for p in wire.replace("~", ".").split(".") if p)
    for secret in ("Erika", "Mustermann", "1963", "age_over_21", "Köln", "given_name"):
        assert secret not in wire and secret.encode() not in decoded


def test_issue_rules() -> None:
    with pytest.raises(ClaimPathError):
        issue_sd_jwt_vc(PERSON, ISSUER, vct="urn:x", disclosable=["exp"])
    with pytest.raises(ClaimPathError):
        issue_sd_jwt_vc(PERSON, ISSUER, vct="urn:x", disclosable=["status.status_list"])
    with pytest.raises(MalformedCredential):
        issue_sd_jwt_vc({"vct": "urn:y"}, ISSUER, vct="urn:x")
    with pytest.raises(MalformedCredential):
        issue_sd_jwt_vc(PERSON, ISSUER, vct="")
    with pytest.raises(MalformedSdJwt, match="another DID"):
        issue_sd_jwt_vc(PERSON, ISSUER, vct="urn:x", iss="did:example:a", kid="did:example:b#1")
    token = issue_sd_jwt_vc({}, ISSUER, vct="urn:x")
    header = json.loads(b64url_decode(token.split(".")[0]))
    assert header == {"alg": "ES256", "typ": "dc+sd-jwt"}
    assert token.count("~") == 1 and "_sd" not in json.loads(b64url_decode(token.split(".")[1]))


def _signed(payload: dict[str, Any], typ: str = "dc+sd-jwt", *ds: Disclosure) -> str:
    jwt = sign_compact({"alg": "ES256", "typ": typ}, dumps_compact(payload).encode(), ISSUER)
    return jwt + "~" + "".join(d.encoded + "~" for d in ds)


ANY_KEY = Resolver({(None, None): ISSUER.public, ("https://i.example", None): ISSUER.public})


def test_typ_rules() -> None:
    assert verify_sd_jwt_vc(_signed({"vct": "urn:x"}), ANY_KEY, now=NOW).vct == "urn:x"
    assert verify_sd_jwt_vc(_signed({"vct": "urn:x"}, "vc+sd-jwt"), ANY_KEY, now=NOW)
    assert verify_sd_jwt_vc(_signed({"vct": "urn:x"}, "application/dc+sd-jwt"), ANY_KEY, now=NOW)
    with pytest.raises(MalformedSdJwt, match="typ"):
        verify_sd_jwt_vc(
            _signed({"vct": "urn:x"}, "vc+sd-jwt"), ANY_KEY, now=NOW, accept_legacy_typ=False
        )
    for typ in ("example+sd-jwt", "JWT", "kb+jwt", "vc+jwt"):
        with pytest.raises(MalformedSdJwt, match="typ"):
            verify_sd_jwt_vc(_signed({"vct": "urn:x"}, typ), ANY_KEY, now=NOW)


def test_vct_and_aka_vcts() -> None:
    with pytest.raises(MalformedSdJwt, match="vct"):
        verify_sd_jwt_vc(_signed({"a": 1}), ANY_KEY, now=NOW)
    with pytest.raises(MalformedSdJwt, match="vct"):
        verify_sd_jwt_vc(_signed({"vct": 7}), ANY_KEY, now=NOW)
    aka = _signed({"vct": "urn:pid:de:1", "aka_vcts": ["urn:pid"]})
    assert verify_sd_jwt_vc(aka, ANY_KEY, now=NOW, vct=["urn:pid"]).vct == "urn:pid:de:1"
    with pytest.raises(MalformedSdJwt):
        verify_sd_jwt_vc(
            _signed({"vct": "urn:x", "aka_vcts": "urn:y"}), ANY_KEY, now=NOW, vct=["urn:y"]
        )


@pytest.mark.parametrize("name", ["vct", "exp", "iss", "status", "cnf", "nbf"])
def test_never_disclosed_claims_are_refused_in_disclosures(name: str) -> None:
    value: Any = {"status_list": {"idx": 1, "uri": "https://s"}} if name == "status" else 1
    if name in ("vct", "iss"):
        value = "urn:x"
    if name == "cnf":
        value = {"jwk": ISSUER.public.to_jwk()}
    d = Disclosure.create(name, value)
    payload = {"_sd": [d.digest]} | ({} if name == "vct" else {"vct": "urn:x"})
    with pytest.raises(MalformedSdJwt):
        verify_sd_jwt_vc(_signed(payload, "dc+sd-jwt", d), ANY_KEY, now=1)


def test_sub_claims_of_never_disclosed_claims_are_refused() -> None:
    d = Disclosure.create("idx", 3)
    payload = {"vct": "urn:x", "status": {"status_list": {"uri": "https://s", "_sd": [d.digest]}}}
    with pytest.raises(MalformedSdJwt, match="status"):
        verify_sd_jwt_vc(_signed(payload, "dc+sd-jwt", d), ANY_KEY, now=NOW)
    # iat and sub may be selectively disclosed.
    sub = Disclosure.create("sub", "user-1")
    ok = verify_sd_jwt_vc(
        _signed({"vct": "urn:x", "_sd": [sub.digest]}, "dc+sd-jwt", sub), ANY_KEY, now=NOW
    )
    assert ok.claims["sub"] == "user-1"


def test_status_is_handed_to_the_callback() -> None:
    status = {"status_list": {"idx": 412, "uri": "https://issuer.example/statuslists/1"}}
    token = issue_sd_jwt_vc(PERSON, ISSUER, vct="urn:x", status=status)
    seen: list[Any] = []
    v = verify_sd_jwt_vc(token, ANY_KEY, now=NOW, check_status=seen.append)
    assert seen == [status] and v.status == status and v.status_checked
    assert not verify_sd_jwt_vc(token, ANY_KEY, now=NOW).status_checked

    def revoked(_: Mapping[str, Any]) -> None:
        raise StatusError("revoked")

    with pytest.raises(StatusError):
        verify_sd_jwt_vc(token, ANY_KEY, now=NOW, check_status=revoked)
    with pytest.raises(MalformedSdJwt, match="status"):
        verify_sd_jwt_vc(_signed({"vct": "urn:x", "status": "revoked"}), ANY_KEY, now=NOW)


def test_issuer_key_comes_from_iss_and_kid() -> None:
    issuer = PrivateKey.generate()
    token = _issue(issuer)
    resolver = Resolver({("did:example:issuer", "did:example:issuer#key-1"): issuer.public})
    assert verify_sd_jwt_vc(token, resolver, now=NOW).iss == "did:example:issuer"
    assert resolver.calls == [("did:example:issuer", "did:example:issuer#key-1")]
    # Another DID's key cannot vouch for this iss, whatever the resolver would say.
    forged = sign_compact(
        {"alg": "EdDSA", "typ": "dc+sd-jwt", "kid": "did:example:mallory#key-1"},
        dumps_compact({"vct": "urn:x", "iss": "did:example:issuer"}).encode(),
        issuer,
    )
    with pytest.raises(MalformedSdJwt, match="another DID"):
        verify_sd_jwt_vc(forged + "~", lambda iss, kid: issuer.public, now=NOW)
    with pytest.raises(ProofError):
        verify_sd_jwt_vc(token, lambda iss, kid: ISSUER.public, now=NOW)


def test_holder_refuses_kb_at_receipt() -> None:
    with pytest.raises(MalformedSdJwt):
        receive_sd_jwt_vc(VECTOR["sd_jwt_kb_presentation"], _vector_resolver(), now=KB_IAT)


def _tampered(kind: str) -> str:
    token = VECTOR["sd_jwt_kb_presentation"]
    parts = token.split("~")
    if kind == "changed disclosure":
        d = Disclosure.decode(parts[1])
        parts[1] = Disclosure.create(d.name, False, salt=d.salt).encoded
    elif kind == "removed signature byte":
        head, body, sig = parts[0].split(".")
        parts[0] = f"{head}.{body}.{b64url_encode(b64url_decode(sig)[:-1])}"
    elif kind == "duplicated disclosure":
        parts.insert(2, parts[1])
    elif kind == "disclosure not referenced":
        parts.insert(1, Disclosure.create("is_over_21", True).encoded)
    elif kind == "kb over another sd-jwt":
        # The issuance (all Disclosures) with the presentation's KB-JWT.
        return VECTOR["sd_jwt_vc_issuance"] + parts[-1]
    elif kind == "kb dropped":
        parts[-1] = ""
    return "~".join(parts)


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("changed disclosure", UnreferencedDisclosure),
        ("removed signature byte", ProofError),
        ("duplicated disclosure", DuplicateDigest),
        ("disclosure not referenced", UnreferencedDisclosure),
        ("kb over another sd-jwt", HolderBindingError),
        ("kb dropped", KeyBindingRequired),
    ],
)
def test_vector_tampered_copies_fail(kind: str, error: type) -> None:
    with pytest.raises(error):
        verify_sd_jwt_vc(
            _tampered(kind), _vector_resolver(), now=KB_IAT, key_binding=True, nonce=NONCE, aud=AUD
        )


def test_vector_wrong_audience_fails() -> None:
    with pytest.raises(ChallengeMismatch):
        verify_sd_jwt_vc(
            VECTOR["sd_jwt_kb_presentation"],
            _vector_resolver(),
            now=KB_IAT,
            key_binding=True,
            nonce=NONCE,
            aud="https://verifier.example.org",
        )
