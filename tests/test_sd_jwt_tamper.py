"""SD-JWT: tampered copies of the draft's vectors, and crafted misuse of ``_sd`` / ``...``,
are refused with precise errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.test_sd_jwt import (
    APPENDIX,
    AUD,
    HOLDER,
    ISSUER,
    ISSUER_PUB,
    KB_IAT,
    NONCE,
    SECTION5,
    _verify,
    _verify_kb,
)
from wallet.credentials.errors import (
    ExpiredCredential,
    HolderBindingError,
    NotYetValid,
    ProofError,
)
from wallet.credentials.sd_jwt import (
    ChallengeMismatch,
    Disclosure,
    DisclosureError,
    DuplicateDigest,
    KeyBindingRequired,
    MalformedSdJwt,
    SdJwtLimits,
    SdJwtTooLarge,
    StaleKeyBinding,
    UnreferencedDisclosure,
    UnsupportedHashAlgorithm,
    issue_sd_jwt,
    sd_hash,
    split_sd_jwt,
    verify_sd_jwt,
)
from wallet.encoding import b64url_decode, b64url_encode, dumps_compact
from wallet.jose.jws import sign_compact
from wallet.keys import KeyType, PrivateKey, PublicKey

# -- tampering ------------------------------------------------------------------------------


def _replace_part(token: str, index: int, new: str) -> str:
    parts = token.split("~")
    parts[index] = new
    return "~".join(parts)


def _no_kb(token: str) -> str:
    return token.rsplit("~", 1)[0] + "~"


PRESENTATION = SECTION5["sd_jwt_kb_presentation"]
ISSUANCE = SECTION5["sd_jwt_issuance"]


def test_changed_disclosure_is_rejected() -> None:
    d = Disclosure.decode(split_sd_jwt(PRESENTATION).disclosures[0])
    forged = Disclosure.create(d.name, "Mallory", salt=d.salt)
    with pytest.raises(UnreferencedDisclosure):
        _verify(_replace_part(_no_kb(PRESENTATION), 1, forged.encoded))
    # With the KB-JWT kept, the same forgery fails the same way before sd_hash is looked at.
    with pytest.raises(UnreferencedDisclosure):
        _verify_kb(_replace_part(PRESENTATION, 1, forged.encoded))


def test_removed_signature_byte_is_rejected() -> None:
    jwt = split_sd_jwt(PRESENTATION).issuer_jwt
    head, body, sig = jwt.split(".")
    short = b64url_encode(b64url_decode(sig)[:-1])
    with pytest.raises(ProofError):
        _verify_kb(_replace_part(PRESENTATION, 0, f"{head}.{body}.{short}"))


def test_flipped_signature_bit_is_rejected() -> None:
    jwt = split_sd_jwt(PRESENTATION).issuer_jwt
    head, body, sig = jwt.split(".")
    raw = bytearray(b64url_decode(sig))
    raw[10] ^= 1
    with pytest.raises(ProofError):
        _verify(_replace_part(ISSUANCE, 0, f"{head}.{body}.{b64url_encode(bytes(raw))}"))


def test_changed_payload_is_rejected() -> None:
    head, body, sig = split_sd_jwt(ISSUANCE).issuer_jwt.split(".")
    payload = json.loads(b64url_decode(body))
    payload["sub"] = "user_43"
    forged = f"{head}.{b64url_encode(json.dumps(payload).encode())}.{sig}"
    with pytest.raises(ProofError):
        _verify(_replace_part(ISSUANCE, 0, forged))


def test_duplicated_disclosure_is_rejected() -> None:
    token = _no_kb(PRESENTATION)
    first = split_sd_jwt(token).disclosures[0]
    with pytest.raises(DuplicateDigest):
        _verify(token + first + "~")


def test_disclosure_not_referenced_is_rejected() -> None:
    stranger = Disclosure.create("email", "mallory@example.com")
    with pytest.raises(UnreferencedDisclosure):
        _verify(_no_kb(PRESENTATION) + stranger.encoded + "~")
    # A real Disclosure of another SD-JWT (A.1, same issuer) is just as foreign.
    other = split_sd_jwt(APPENDIX["A.1"]["presentation"]).disclosures[0]
    with pytest.raises(UnreferencedDisclosure):
        _verify(_no_kb(PRESENTATION) + other + "~")


def test_wrong_nonce_and_aud_are_rejected() -> None:
    with pytest.raises(ChallengeMismatch):
        _verify(PRESENTATION, key_binding=True, nonce="other", aud=AUD)
    with pytest.raises(ChallengeMismatch):
        _verify(PRESENTATION, key_binding=True, nonce=NONCE, aud="https://evil.example")


def test_kb_over_another_sd_jwt_is_rejected() -> None:
    kb = split_sd_jwt(PRESENTATION).kb_jwt
    assert kb is not None
    # Fewer Disclosures than the holder signed for.
    fewer = _replace_part(PRESENTATION, 1, "").replace("~~", "~")
    with pytest.raises(HolderBindingError, match="sd_hash"):
        _verify_kb(fewer)
    # The whole issuance (every Disclosure) under the presentation's KB-JWT.
    with pytest.raises(HolderBindingError, match="sd_hash"):
        _verify_kb(ISSUANCE + kb)
    # A.3's KB-JWT is by the same holder key, over another SD-JWT.
    a3_kb = split_sd_jwt(APPENDIX["A.3"]["presentation"]).kb_jwt
    with pytest.raises(HolderBindingError, match="sd_hash"):
        _verify_kb(_no_kb(PRESENTATION) + a3_kb)


def test_missing_kb_is_rejected_when_required() -> None:
    with pytest.raises(KeyBindingRequired):
        _verify_kb(_no_kb(PRESENTATION))
    # Without the requirement the same SD-JWT is fine: policy, not input, decides.
    assert _verify(_no_kb(PRESENTATION)).key_binding is None
    with pytest.raises(ValueError):
        _verify(PRESENTATION, key_binding=True)


def test_kb_freshness_window() -> None:
    with pytest.raises(StaleKeyBinding):
        _verify_kb(PRESENTATION, now=KB_IAT + 3600)
    with pytest.raises(StaleKeyBinding):
        _verify_kb(PRESENTATION, now=KB_IAT - 3600)
    assert _verify_kb(PRESENTATION, now=KB_IAT + 200).claims


def _kb(sd_jwt: str, key: PrivateKey, **overrides: Any) -> str:
    header = {"alg": "ES256", "typ": overrides.pop("typ", "kb+jwt")}
    body = {"iat": KB_IAT, "aud": AUD, "nonce": NONCE, "sd_hash": sd_hash(sd_jwt)} | overrides
    return sign_compact(header, json.dumps(body).encode(), key)


def test_kb_checks_typ_key_and_claims() -> None:
    sd = _no_kb(PRESENTATION)
    assert _verify_kb(sd + _kb(sd, HOLDER)).claims
    with pytest.raises(HolderBindingError, match="typ"):
        _verify_kb(sd + _kb(sd, HOLDER, typ="JWT"))
    with pytest.raises(HolderBindingError, match="cnf key"):
        _verify_kb(sd + _kb(sd, PrivateKey.generate(KeyType.P256)))
    with pytest.raises(HolderBindingError, match="iat"):
        _verify_kb(sd + _kb(sd, HOLDER, iat="yesterday"))
    with pytest.raises(HolderBindingError, match="nonce"):
        _verify_kb(sd + _kb(sd, HOLDER, nonce=1234567890))
    with pytest.raises(StaleKeyBinding):
        _verify_kb(sd + _kb(sd, HOLDER, exp=KB_IAT - 3600))


def test_validity_claims_use_the_clock_given() -> None:
    exp = SECTION5["expected_verified_payload"]["exp"]
    with pytest.raises(ExpiredCredential):
        _verify(ISSUANCE, now=exp + 61)
    assert _verify(ISSUANCE, now=exp + 30).claims  # within the leeway
    with pytest.raises(ExpiredCredential):
        _verify(ISSUANCE, now=exp + 30, leeway=0)
    future = issue_sd_jwt({"nbf": 2_000_000_000, "a": 1}, ISSUER, disclosable=["a"])
    with pytest.raises(NotYetValid):
        _verify(future, now=1_900_000_000)
    assert _verify(future, now=2_000_000_000).claims["a"] == 1
    with pytest.raises(NotYetValid):
        _verify(issue_sd_jwt({"iat": 2_000_000_000}, ISSUER), now=1_900_000_000)
    with pytest.raises(MalformedSdJwt):
        _verify(issue_sd_jwt({"exp": "tomorrow"}, ISSUER))


def test_issuer_key_and_alg_policy() -> None:
    with pytest.raises(ProofError):
        verify_sd_jwt(ISSUANCE, HOLDER.public, now=KB_IAT)
    with pytest.raises(ProofError, match="alg"):
        verify_sd_jwt(ISSUANCE, ISSUER_PUB, now=KB_IAT, allowed_algs={"EdDSA"})
    with pytest.raises(MalformedSdJwt, match="typ"):
        _verify(ISSUANCE, typ=["dc+sd-jwt"])
    unsigned = b64url_encode(b'{"alg":"none"}') + "." + ISSUANCE.split(".", 1)[1]
    with pytest.raises(ProofError):
        _verify(unsigned)
    seen = []

    def resolver(header: Any, payload: Any) -> PublicKey:
        seen.append((header["alg"], payload["iss"]))
        return ISSUER_PUB

    assert verify_sd_jwt(ISSUANCE, resolver, now=KB_IAT).claims
    assert seen == [("ES256", "https://issuer.example.com")]


# -- _sd / ... misuse, crafted by signing bad payloads --------------------------------------


def _signed(payload: dict[str, Any], *disclosures: Disclosure) -> str:
    jwt = sign_compact({"alg": "ES256"}, dumps_compact(payload).encode(), ISSUER)
    return jwt + "~" + "".join(d.encoded + "~" for d in disclosures)


GIVEN = Disclosure.create("given_name", "John")
ELEMENT = Disclosure.create(None, "DE")


@pytest.mark.parametrize(
    ("payload", "disclosures", "error"),
    [
        ({"_sd": GIVEN.digest}, [GIVEN], DisclosureError),
        ({"_sd": [42]}, [], DisclosureError),
        ({"_sd": [GIVEN.digest], "given_name": "Jane"}, [GIVEN], DisclosureError),
        ({"_sd": [GIVEN.digest, GIVEN.digest]}, [GIVEN], DuplicateDigest),
        ({"_sd": [GIVEN.digest], "a": {"_sd": [GIVEN.digest]}}, [GIVEN], DuplicateDigest),
        ({"_sd": ["x"], "n": [{"...": "x"}]}, [], DuplicateDigest),
        ({"_sd": [ELEMENT.digest]}, [ELEMENT], DisclosureError),
        ({"n": [{"...": GIVEN.digest}]}, [GIVEN], DisclosureError),
        ({"n": [{"...": ELEMENT.digest, "x": 1}]}, [ELEMENT], DisclosureError),
        ({"n": [{"...": 7}]}, [], DisclosureError),
        ({"...": ELEMENT.digest}, [], DisclosureError),
        ({"a": {"...": "x"}}, [], DisclosureError),
        ({"a": {"_sd_alg": "sha-256"}}, [], DisclosureError),
        ({"_sd_alg": "sha-512"}, [], UnsupportedHashAlgorithm),
        ({"_sd_alg": "SHA-256"}, [], UnsupportedHashAlgorithm),
    ],
)
def test_sd_misuse_is_rejected(payload: dict, disclosures: list, error: type) -> None:
    with pytest.raises(error):
        _verify(_signed(payload, *disclosures))


def test_recursive_cycle_is_a_duplicate() -> None:
    # A Disclosure whose value refers to its own digest cannot exist (the digest covers the
    # value), but two that refer to each other's digests are caught as duplicates.
    inner = Disclosure.create("b", 1)
    outer = Disclosure.create("a", {"_sd": [inner.digest]})
    assert _verify(_signed({"_sd": [outer.digest]}, outer, inner)).claims["a"] == {"b": 1}
    with pytest.raises(DuplicateDigest):
        _verify(_signed({"_sd": [outer.digest, inner.digest]}, outer, inner))


@pytest.mark.parametrize(
    "encoded",
    [
        "WyJzYWx0Il0",  # ["salt"]: one element
        b64url_encode(b'["s", "a", 1, 2]'),
        b64url_encode(b'[1, "a", 1]'),
        b64url_encode(b'["s", 1, 1]'),
        b64url_encode(b'["s", "_sd", 1]'),
        b64url_encode(b'["s", "...", 1]'),
        b64url_encode(b'{"s": 1}'),
        b64url_encode(b'["s", "a", NaN]'),
        b64url_encode(b'["s", "a", 1, "a"]'),
        "not base64!",
        "WyJzIiwgImEiLCAxXQ==",  # padded
    ],
)
def test_malformed_disclosures_are_rejected(encoded: str) -> None:
    with pytest.raises(DisclosureError):
        Disclosure.decode(encoded)
    with pytest.raises(MalformedSdJwt):
        _verify(_no_kb(PRESENTATION) + encoded + "~")


@pytest.mark.parametrize(
    "token",
    ["", "~", "abc", "a.b.c", ISSUANCE.replace("~", "~~", 1), 42, "é~"],
)
def test_malformed_sd_jwts_are_rejected(token: Any) -> None:
    with pytest.raises(MalformedSdJwt):
        _verify(token)


def test_limits() -> None:
    with pytest.raises(SdJwtTooLarge):
        _verify(ISSUANCE, limits=SdJwtLimits(max_bytes=1000))
    with pytest.raises(SdJwtTooLarge):
        _verify(ISSUANCE, limits=SdJwtLimits(max_disclosures=5))
    deep: Any = "x"
    for _ in range(40):
        deep = {"a": deep}
    with pytest.raises(SdJwtTooLarge):
        _verify(_signed({"deep": deep}))
    many = ISSUANCE + "~".join(["WyJzIiwgMV0"] * 2000) + "~"
    with pytest.raises(SdJwtTooLarge):
        _verify(many)
