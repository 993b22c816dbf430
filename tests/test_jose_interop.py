"""moi's JOSE against jwcrypto, an independent implementation in moi's own environment.

jwcrypto has neither ECDH-1PU nor XC20P, so this covers anoncrypt with A256GCM and
A256CBC-HS512 on every curve (jwcrypto decrypts moi's multi-recipient JWE), and JWS both
ways for every signing algorithm. ECDH-1PU is covered by the draft's appendix, the DIDComm
vectors and the DIDComm interop tests against SICPA and didcomm-messaging.
"""

from __future__ import annotations

import json

import pytest
from jwcrypto import jwe as jc_jwe
from jwcrypto import jwk as jc_jwk
from jwcrypto import jws as jc_jws
from jwcrypto.common import JWException

from wallet.errors import SignatureError
from wallet.jose import (
    decode_compact,
    encrypt,
    parse_general,
    sign_compact,
    sign_general,
    verify_compact,
    verify_signature,
)
from wallet.keys import KeyType, PrivateKey

ALGS = {
    KeyType.ED25519: "EdDSA",
    KeyType.P256: "ES256",
    KeyType.P384: "ES384",
    KeyType.P521: "ES512",
    KeyType.SECP256K1: "ES256K",
}


@pytest.mark.parametrize("enc", ["A256GCM", "A256CBC-HS512"])
@pytest.mark.parametrize("kty", [KeyType.X25519, KeyType.P256, KeyType.P384, KeyType.P521])
def test_jwcrypto_decrypts_moi_anoncrypt(kty: KeyType, enc: str) -> None:
    keys = {f"did:example:bob#key-{i}": PrivateKey.generate(kty) for i in range(3)}
    envelope = encrypt(b"hello jwcrypto", [(k, v.public) for k, v in keys.items()], enc=enc)
    for key in keys.values():
        token = jc_jwe.JWE()
        token.deserialize(json.dumps(envelope), key=jc_jwk.JWK(**key.to_jwk()))
        assert token.payload == b"hello jwcrypto"
    # And a stranger's key cannot.
    with pytest.raises(JWException):
        jc_jwe.JWE().deserialize(
            json.dumps(envelope), key=jc_jwk.JWK(**PrivateKey.generate(kty).to_jwk())
        )


@pytest.mark.parametrize("kty", list(ALGS))
def test_compact_jws_both_ways(kty: KeyType) -> None:
    key = PrivateKey.generate(kty)
    public = jc_jwk.JWK(**key.public.to_jwk())

    theirs = jc_jws.JWS()
    theirs.deserialize(sign_compact({"typ": "JWT", "kid": "k"}, b'{"sub":"moi"}', key))
    theirs.verify(public)
    assert theirs.payload == b'{"sub":"moi"}'

    made = jc_jws.JWS(b'{"sub":"jwcrypto"}')
    made.add_signature(
        jc_jwk.JWK(**key.to_jwk()), alg=ALGS[kty], protected=json.dumps({"alg": ALGS[kty]})
    )
    token = made.serialize(compact=True)
    assert verify_compact(token, key.public).payload == b'{"sub":"jwcrypto"}'
    with pytest.raises(SignatureError):
        verify_compact(token, PrivateKey.generate(kty).public)
    assert decode_compact(token).alg == ALGS[kty]


@pytest.mark.parametrize("kty", list(ALGS))
def test_general_jws_both_ways(kty: KeyType) -> None:
    key = PrivateKey.generate(kty)
    theirs = jc_jws.JWS()
    theirs.deserialize(json.dumps(sign_general(b'{"id":"1"}', [("did:example:a#1", key)])))
    theirs.verify(jc_jwk.JWK(**key.public.to_jwk()))

    made = jc_jws.JWS(b'{"id":"2"}')
    made.add_signature(
        jc_jwk.JWK(**key.to_jwk()),
        alg=ALGS[kty],
        protected=json.dumps({"typ": "application/didcomm-signed+json", "alg": ALGS[kty]}),
        header=json.dumps({"kid": "did:example:a#1"}),
    )
    parsed = parse_general(json.loads(made.serialize()))
    (sig,) = parsed.signatures
    assert sig.kid == "did:example:a#1" and parsed.payload == b'{"id":"2"}'
    assert verify_signature(sig, key.public)
