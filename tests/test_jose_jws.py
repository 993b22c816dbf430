"""JWS: compact tokens, and DIDComm v2 signed messages (General JSON) from the spec vectors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wallet.errors import MalformedEnvelope, SignatureError, UnsupportedAlgorithm
from wallet.jose import (
    AlgorithmRefused,
    decode_compact,
    parse_general,
    sign_compact,
    sign_general,
    verify_compact,
    verify_signature,
)
from wallet.jose._util import b64e
from wallet.keys import KeyType, PrivateKey

VECTORS = Path(__file__).parent / "vectors" / "didcomm-v2"
SIGNING_TYPES = [KeyType.ED25519, KeyType.P256, KeyType.SECP256K1, KeyType.P384, KeyType.P521]


def _load(name: str):
    return json.loads((VECTORS / name).read_text())


def _alice_keys() -> dict[str, PrivateKey]:
    return {jwk["kid"]: PrivateKey.from_jwk(jwk) for jwk in _load("alice-secrets.json")}


# -- compact ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kty", SIGNING_TYPES)
def test_compact_round_trip(kty: KeyType) -> None:
    key = PrivateKey.generate(kty)
    token = sign_compact({"typ": "JWT", "kid": "k1"}, b'{"sub":"x"}', key)
    jws = verify_compact(token, key.public)
    assert jws.payload == b'{"sub":"x"}'
    assert jws.header["typ"] == "JWT"
    assert jws.kid == "k1"
    expected = {"Ed25519": "EdDSA", "P-256": "ES256", "secp256k1": "ES256K"}
    assert jws.alg == expected.get(kty.value, jws.alg)
    assert jws.signing_input == token.rsplit(".", 1)[0].encode()


def test_compact_wrong_key_and_tampering() -> None:
    key = PrivateKey.generate(KeyType.ED25519)
    token = sign_compact({}, b"hello", key)
    with pytest.raises(SignatureError):
        verify_compact(token, PrivateKey.generate(KeyType.ED25519).public)
    h, p, s = token.split(".")
    with pytest.raises(SignatureError):
        verify_compact(f"{h}.{b64e(b'hellp')}.{s}", key.public)
    sig = bytearray(decode_compact(token).signature)
    sig[5] ^= 1
    with pytest.raises(SignatureError):
        verify_compact(f"{h}.{p}.{b64e(bytes(sig))}", key.public)


def test_compact_refuses_none_and_mismatched_alg() -> None:
    ed = PrivateKey.generate(KeyType.ED25519)
    p256 = PrivateKey.generate(KeyType.P256)
    none_token = b64e(b'{"alg":"none"}') + "." + b64e(b"x") + "."
    with pytest.raises(AlgorithmRefused):
        verify_compact(none_token, ed.public)
    # A token signed by a P-256 key must not be checked against an Ed25519 key, and vice versa.
    with pytest.raises(AlgorithmRefused):
        verify_compact(sign_compact({}, b"x", p256), ed.public)
    hs = b64e(b'{"alg":"HS256"}') + "." + b64e(b"x") + "." + b64e(b"0" * 32)
    with pytest.raises(AlgorithmRefused) as info:
        verify_compact(hs, ed.public)
    assert isinstance(info.value, SignatureError) and isinstance(info.value, UnsupportedAlgorithm)
    with pytest.raises(AlgorithmRefused):
        sign_compact({"alg": "ES256"}, b"x", ed)
    with pytest.raises(AlgorithmRefused):
        verify_compact(sign_compact({"crit": ["b64"], "b64": False}, b"x", ed), ed.public)


@pytest.mark.parametrize(
    "token",
    [
        "a.b",
        "a.b.c.d",
        "..",
        "e30.e30.e30",  # {} header: no alg
        b64e(b"[1]") + ".e30.",
        b64e(b'{"alg":"EdDSA","alg":"ES256"}') + ".e30.",
        b64e(b'{"alg":"EdDSA"}') + "=.e30.",
        b64e(b'{"alg":"EdDSA"}') + ".e3+.",
        b64e(b'{"alg":"EdDSA"}') + ".e31.",  # non-canonical trailing bits
        "\u00e9.a.b",
        42,
    ],
)
def test_decode_compact_rejects_malformed(token) -> None:
    with pytest.raises(MalformedEnvelope):
        decode_compact(token)


def test_decode_compact_is_bounded() -> None:
    token = sign_compact({}, b"x" * 3000, PrivateKey.generate(KeyType.ED25519))
    decode_compact(token, max_bytes=5000)
    with pytest.raises(MalformedEnvelope):
        decode_compact(token, max_bytes=1000)


# -- General JSON (DIDComm signed) ----------------------------------------------------------


@pytest.mark.parametrize("name", ["signed-eddsa.json", "signed-es256.json", "signed-es256k.json"])
def test_didcomm_signed_vectors_verify(name: str) -> None:
    keys = _alice_keys()
    parsed = parse_general(_load(name))
    # The vectors sign an earlier draft of plaintext.json (http scheme, with "typ").
    message, plain = json.loads(parsed.payload), _load("plaintext.json")
    assert {k: message[k] for k in ("id", "from", "to", "body")} == {
        k: plain[k] for k in ("id", "from", "to", "body")
    }
    (sig,) = parsed.signatures
    assert sig.protected["typ"] == "application/didcomm-signed+json"
    assert verify_signature(sig, keys[sig.kid].public)
    other = "did:example:alice#key-2" if sig.kid != "did:example:alice#key-2" else None
    if other:
        with pytest.raises(AlgorithmRefused):
            verify_signature(sig, keys[other].public)
    # A flipped payload byte must not verify.
    vec = _load(name)
    payload = bytearray(parsed.payload)
    payload[10] ^= 1
    vec["payload"] = b64e(bytes(payload))
    assert not verify_signature(parse_general(vec).signatures[0], keys[sig.kid].public)


def test_sign_general_round_trip_two_signers() -> None:
    ed, k1 = PrivateKey.generate(KeyType.ED25519), PrivateKey.generate(KeyType.SECP256K1)
    jws = sign_general(b'{"id":"1"}', [("did:x#1", ed), ("did:x#2", k1)])
    parsed = parse_general(json.loads(json.dumps(jws)))
    assert parsed.payload == b'{"id":"1"}'
    assert parsed.kids == ["did:x#1", "did:x#2"]
    assert [s.alg for s in parsed.signatures] == ["EdDSA", "ES256K"]
    assert verify_signature(parsed.signatures[0], ed.public)
    assert verify_signature(parsed.signatures[1], k1.public)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda j: j.pop("payload"),
        lambda j: j.update(signatures=[]),
        lambda j: j.update(signatures="x"),
        lambda j: j.update(signatures=[j["signatures"][0]] * 101),
        lambda j: j["signatures"][0].update(header=[]),
        lambda j: j["signatures"][0].update(header={"alg": "EdDSA"}),
        lambda j: j["signatures"][0].update(protected=b64e(b'{"typ":"x"}')),
        lambda j: j["signatures"][0].update(header={"kid": 5}),
        lambda j: j["signatures"][0].update(signature=None),
        lambda j: j.update(signature="AA"),
    ],
)
def test_parse_general_rejects_malformed(mutate) -> None:
    jws = _load("signed-eddsa.json")
    mutate(jws)
    with pytest.raises(MalformedEnvelope):
        parse_general(jws)
