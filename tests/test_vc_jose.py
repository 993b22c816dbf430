"""VC-JOSE: vc+jwt credentials and vp+jwt presentations, EdDSA and ES256; checked against an
independent JOSE library (jwcrypto) both ways, and refused when tampered with."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto import jws as jwcrypto_jws

from wallet.credentials.errors import (
    ExpiredCredential,
    HolderBindingError,
    MalformedCredential,
    NotYetValid,
    PresentationError,
    ProofError,
)
from wallet.credentials.sd_jwt import ChallengeMismatch
from wallet.credentials.vc_jose import (
    StalePresentation,
    envelope,
    issue_vc_jwt,
    present_vp_jwt,
    verify_vc_jwt,
    verify_vp_jwt,
)
from wallet.encoding import b64url_decode, b64url_encode, dumps_compact
from wallet.jose.jws import sign_compact
from wallet.keys import KeyType, PrivateKey, PublicKey

ISSUER_DID, HOLDER_DID = "did:example:university", "did:example:alice"
ISSUER_KID, HOLDER_KID = ISSUER_DID + "#key-1", HOLDER_DID + "#key-1"
NOW = 1_750_000_000
CREDENTIAL = {
    "@context": [
        "https://www.w3.org/ns/credentials/v2",
        "https://www.w3.org/ns/credentials/examples/v2",
    ],
    "id": "http://university.example/credentials/3732",
    "type": ["VerifiableCredential", "ExampleDegreeCredential"],
    "issuer": ISSUER_DID,
    "validFrom": "2010-01-01T19:23:24Z",
    "validUntil": "2030-01-01T19:23:24Z",
    "credentialSubject": {
        "id": HOLDER_DID,
        "degree": {"type": "ExampleBachelorDegree", "name": "Bachelor of Science and Arts"},
    },
}


class Keys:
    def __init__(self, issuer_type: KeyType, holder_type: KeyType) -> None:
        self.issuer = PrivateKey.generate(issuer_type)
        self.holder = PrivateKey.generate(holder_type)
        self.table = {
            (ISSUER_DID, ISSUER_KID): self.issuer.public,
            (HOLDER_DID, HOLDER_KID): self.holder.public,
        }
        self.calls: list[tuple[str | None, str | None]] = []

    def __call__(self, who: str | None, kid: str | None) -> PublicKey:
        self.calls.append((who, kid))
        try:
            return self.table[(who, kid)]
        except KeyError:
            raise ProofError(f"no key for {who} {kid}") from None


TYPES = [KeyType.ED25519, KeyType.P256]


@pytest.fixture(params=TYPES, ids=["EdDSA", "ES256"])
def keys(request: pytest.FixtureRequest) -> Keys:
    return Keys(
        request.param, KeyType.P256 if request.param is KeyType.ED25519 else KeyType.ED25519
    )


def _vc(keys: Keys, **kw: Any) -> str:
    return issue_vc_jwt(kw.pop("credential", CREDENTIAL), keys.issuer, kid=ISSUER_KID, **kw)


def _vp(keys: Keys, tokens: list[str], **kw: Any) -> str:
    args = {"nonce": "n-1", "aud": "did:example:verifier", "iat": NOW, "holder": HOLDER_DID}
    args |= {"kid": HOLDER_KID} | kw
    return present_vp_jwt(tokens, keys.holder, **args)


def _verify_vp(token: str, keys: Keys, **kw: Any) -> Any:
    args = {"now": NOW, "nonce": "n-1", "aud": "did:example:verifier"} | kw
    return verify_vp_jwt(token, keys, **args)


def _payload(token: str) -> dict[str, Any]:
    return json.loads(b64url_decode(token.split(".")[1]))


# -- credentials ----------------------------------------------------------------------------


def test_issue_and_verify(keys: Keys) -> None:
    token = _vc(keys, iat=NOW - 10, exp=NOW + 3600)
    header = json.loads(b64url_decode(token.split(".")[0]))
    alg = "EdDSA" if keys.issuer.type is KeyType.ED25519 else "ES256"
    assert header == {"alg": alg, "typ": "vc+jwt", "kid": ISSUER_KID}
    payload = _payload(token)
    assert {k: payload[k] for k in CREDENTIAL} == CREDENTIAL  # the credential is the payload
    assert "vc" not in payload
    v = verify_vc_jwt(token, keys, now=NOW)
    assert v.credential.issuer == ISSUER_DID
    assert v.credential.subject_ids == (HOLDER_DID,)
    assert keys.calls == [(ISSUER_DID, ISSUER_KID)]


def test_independent_jose_library_agrees(keys: Keys) -> None:
    token = _vc(keys)
    verifier = jwcrypto_jws.JWS()
    verifier.deserialize(token)
    verifier.verify(jwcrypto_jwk.JWK(**keys.issuer.public.to_jwk()))
    assert json.loads(verifier.payload) == CREDENTIAL
    # A vc+jwt signed by jwcrypto verifies in moi.
    alg = "EdDSA" if keys.issuer.type is KeyType.ED25519 else "ES256"
    signer = jwcrypto_jws.JWS(json.dumps(CREDENTIAL).encode())
    signer.add_signature(
        jwcrypto_jwk.JWK(**keys.issuer.to_jwk()),
        alg=alg,
        protected=json.dumps({"alg": alg, "typ": "application/vc+jwt", "kid": ISSUER_KID}),
    )
    assert (
        verify_vc_jwt(signer.serialize(compact=True), keys, now=NOW).credential.id
        == (CREDENTIAL["id"])
    )


def test_tampered_credentials_are_refused(keys: Keys) -> None:
    head, body, sig = _vc(keys).split(".")
    forged = dict(CREDENTIAL, credentialSubject={"id": HOLDER_DID, "degree": "PhD"})
    with pytest.raises(ProofError):
        verify_vc_jwt(
            f"{head}.{b64url_encode(dumps_compact(forged).encode())}.{sig}", keys, now=NOW
        )
    short = b64url_encode(b64url_decode(sig)[:-1])
    with pytest.raises(ProofError):
        verify_vc_jwt(f"{head}.{body}.{short}", keys, now=NOW)
    other = Keys(KeyType.ED25519, KeyType.ED25519)
    other.table = {(ISSUER_DID, ISSUER_KID): other.issuer.public}
    with pytest.raises(ProofError):
        verify_vc_jwt(f"{head}.{body}.{sig}", other, now=NOW)
    none = b64url_encode(b'{"alg":"none","typ":"vc+jwt"}')
    with pytest.raises(ProofError):
        verify_vc_jwt(f"{none}.{body}.", keys, now=NOW)


def test_validity_periods(keys: Keys) -> None:
    token = _vc(keys, exp=NOW + 60)
    with pytest.raises(ExpiredCredential):  # the JWT's exp: the signature's lifetime
        verify_vc_jwt(token, keys, now=NOW + 600)
    with pytest.raises(ExpiredCredential):  # validUntil: the data's
        verify_vc_jwt(_vc(keys), keys, now=1_893_542_400)
    with pytest.raises(NotYetValid):
        verify_vc_jwt(_vc(keys), keys, now=1_000_000_000)
    with pytest.raises(NotYetValid):
        verify_vc_jwt(_vc(keys, iat=NOW + 3600), keys, now=NOW)


def _signed(payload: dict[str, Any], key: PrivateKey, **header: Any) -> str:
    return sign_compact({"kid": ISSUER_KID, **header}, dumps_compact(payload).encode(), key)


def test_data_model_and_header_rules(keys: Keys) -> None:
    for typ in ("vp+jwt", "dc+sd-jwt", "kb+jwt", "JWT"):
        with pytest.raises(MalformedCredential, match="typ"):
            verify_vc_jwt(_signed(CREDENTIAL, keys.issuer, typ=typ), keys, now=NOW)
    # typ is a SHOULD: absent is accepted.
    assert verify_vc_jwt(_signed(CREDENTIAL, keys.issuer), keys, now=NOW)
    v1 = dict(CREDENTIAL, **{"@context": ["https://www.w3.org/2018/credentials/v1"]})
    v1["issuanceDate"] = "2010-01-01T19:23:24Z"
    with pytest.raises(MalformedCredential):
        verify_vc_jwt(_signed(v1, keys.issuer, typ="vc+jwt"), keys, now=NOW)
    with pytest.raises(MalformedCredential):
        issue_vc_jwt(v1, keys.issuer, kid=ISSUER_KID)
    with pytest.raises(MalformedCredential, match="'vc'"):
        verify_vc_jwt(_signed(CREDENTIAL | {"vc": {}}, keys.issuer), keys, now=NOW)
    with pytest.raises(MalformedCredential, match="iss"):
        verify_vc_jwt(_signed(CREDENTIAL | {"iss": "did:example:x"}, keys.issuer), keys, now=NOW)
    no_type = {k: v for k, v in CREDENTIAL.items() if k != "type"}
    with pytest.raises(MalformedCredential):
        verify_vc_jwt(_signed(no_type, keys.issuer), keys, now=NOW)
    with pytest.raises(MalformedCredential, match="kid"):
        issue_vc_jwt(CREDENTIAL, keys.issuer)
    with pytest.raises(ProofError, match="another DID"):
        issue_vc_jwt(CREDENTIAL, keys.issuer, kid="did:example:mallory#key-1")
    with pytest.raises(ProofError, match="another DID"):
        verify_vc_jwt(_signed(CREDENTIAL, keys.issuer, kid="did:example:m#1"), keys, now=NOW)
    for junk in ("", "a.b", "a.b.c", "x" * 2_000_000):
        with pytest.raises(MalformedCredential):
            verify_vc_jwt(junk, keys, now=NOW)


# -- presentations --------------------------------------------------------------------------


def test_presentation_round_trip(keys: Keys) -> None:
    tokens = [_vc(keys), _vc(keys, credential=CREDENTIAL | {"id": "urn:uuid:2"})]
    vp = _vp(keys, tokens)
    payload = _payload(vp)
    assert payload["type"] == ["VerifiablePresentation"]
    assert payload["verifiableCredential"][0] == envelope(tokens[0])
    assert payload["verifiableCredential"][0]["id"].startswith("data:application/vc+jwt,ey")
    v = _verify_vp(vp, keys)
    assert [c.credential.id for c in v.credentials] == [CREDENTIAL["id"], "urn:uuid:2"]
    assert v.presentation.holder == HOLDER_DID
    assert v.holder_key == keys.holder.public


def test_presentation_replay_and_freshness(keys: Keys) -> None:
    vp = _vp(keys, [_vc(keys)])
    with pytest.raises(ChallengeMismatch):
        _verify_vp(vp, keys, nonce="n-2")
    with pytest.raises(ChallengeMismatch):
        _verify_vp(vp, keys, aud="did:example:other-verifier")
    with pytest.raises(StalePresentation):
        _verify_vp(vp, keys, now=NOW + 3600)


def test_presentation_tampering(keys: Keys) -> None:
    token = _vc(keys)
    head, body, sig = _vp(keys, [token]).split(".")
    payload = json.loads(b64url_decode(body))
    payload["nonce"] = "n-2"
    with pytest.raises(ProofError):
        _verify_vp(
            f"{head}.{b64url_encode(dumps_compact(payload).encode())}.{sig}", keys, nonce="n-2"
        )
    # A credential changed inside the presentation fails its own signature.
    h, _, s = token.split(".")
    forged = dict(CREDENTIAL, validUntil="2099-01-01T00:00:00Z")
    bad = f"{h}.{b64url_encode(dumps_compact(forged).encode())}.{s}"
    with pytest.raises(ProofError):
        _verify_vp(_vp(keys, [bad]), keys)
    # Signed by someone other than the holder it names.
    with pytest.raises(ProofError):
        _verify_vp(
            present_vp_jwt(
                [token],
                keys.issuer,
                nonce="n-1",
                aud="did:example:verifier",
                iat=NOW,
                holder=HOLDER_DID,
                kid=HOLDER_KID,
            ),
            keys,
        )


def test_holder_binding(keys: Keys) -> None:
    stranger = CREDENTIAL | {"credentialSubject": {"id": "did:example:bob", "degree": "BA"}}
    vp = _vp(keys, [_vc(keys, credential=stranger)])
    with pytest.raises(HolderBindingError):
        _verify_vp(vp, keys)
    assert _verify_vp(vp, keys, holder_binding=False)
    # cnf binds to a key, whatever the subject says.
    bound = _vc(keys, credential=stranger, holder_key=keys.holder.public)
    assert _payload(bound)["cnf"] == {"jwk": keys.holder.public.to_jwk()}
    assert _verify_vp(_vp(keys, [bound]), keys)
    elsewhere = _vc(keys, holder_key=PrivateKey.generate().public)
    with pytest.raises(HolderBindingError):
        _verify_vp(_vp(keys, [elsewhere]), keys)


def test_presentation_rules(keys: Keys) -> None:
    base = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiablePresentation"],
        "holder": HOLDER_DID,
        "nonce": "n-1",
        "aud": "did:example:verifier",
        "iat": NOW,
    }

    def vp(drop: str = "", **extra: Any) -> str:
        body = {k: v for k, v in (base | extra).items() if k != drop}
        return sign_compact(
            {"typ": "vp+jwt", "kid": HOLDER_KID}, dumps_compact(body).encode(), keys.holder
        )

    assert _verify_vp(vp(), keys).credentials == ()
    assert _verify_vp(vp(aud=["did:example:x", "did:example:verifier"]), keys)
    with pytest.raises(ChallengeMismatch):
        _verify_vp(vp(aud=["did:example:x"]), keys)
    with pytest.raises(PresentationError, match="enveloped"):
        _verify_vp(vp(verifiableCredential=[CREDENTIAL]), keys)
    wrong = {"type": "EnvelopedVerifiableCredential", "id": "data:application/vc+sd-jwt,abc"}
    with pytest.raises(PresentationError, match="data:application/vc\\+jwt"):
        _verify_vp(vp(verifiableCredential=[wrong]), keys)
    with pytest.raises(MalformedCredential):
        _verify_vp(vp(iat="now"), keys)
    with pytest.raises(PresentationError, match="iat"):
        _verify_vp(vp(drop="iat"), keys)
    with pytest.raises(ChallengeMismatch):
        _verify_vp(vp(nonce=None), keys)
    with pytest.raises(MalformedCredential, match="typ"):
        _verify_vp(_vc(keys), keys)
    with pytest.raises(ValueError):
        present_vp_jwt([], keys.holder, nonce=None, aud="a", iat=NOW)  # type: ignore[arg-type]
