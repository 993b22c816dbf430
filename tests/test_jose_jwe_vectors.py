"""DIDComm v2.1 appendix C.3 encrypted messages, read at the JOSE level with the spec's keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wallet.errors import DecryptionError, NoRecipientKey
from wallet.jose import SenderKeyError, decrypt, parse, parse_general, verify_signature
from wallet.keys import KeyType, PrivateKey

VECTORS = Path(__file__).parent / "vectors" / "didcomm-v2"


def _load(name: str):
    return json.loads((VECTORS / name).read_text())


def _secrets(name: str) -> dict[str, PrivateKey]:
    return {jwk["kid"]: PrivateKey.from_jwk(jwk) for jwk in _load(name)}


ALICE = _secrets("alice-secrets.json")
BOB = _secrets("bob-secrets.json")
PLAIN = _load("plaintext.json")

ANONCRYPT = {
    "anoncrypt-x25519-xc20p.json": ("XC20P", KeyType.X25519, 3),
    "anoncrypt-p384-a256cbc-hs512.json": ("A256CBC-HS512", KeyType.P384, 2),
    "anoncrypt-p521-a256gcm.json": ("A256GCM", KeyType.P521, 2),
}
AUTHCRYPT = {
    "authcrypt-x25519-a256cbc-hs512.json": ("did:example:alice#key-x25519-1", KeyType.X25519, 3),
    "authcrypt-signed-p256-a256cbc-hs512.json": ("did:example:alice#key-p256-1", KeyType.P256, 2),
}


def _same_message(raw: bytes) -> None:
    # The vectors were made from an earlier plaintext.json (http scheme, a "typ" member).
    message = json.loads(raw)
    for name in ("id", "from", "to", "created_time", "expires_time", "body"):
        assert message[name] == PLAIN[name]


def _signed_by_alice(raw: bytes) -> bytes:
    jws = parse_general(json.loads(raw))
    (sig,) = jws.signatures
    assert sig.kid == "did:example:alice#key-1"
    assert verify_signature(sig, ALICE[sig.kid].public)
    return jws.payload


@pytest.mark.parametrize("name", sorted(ANONCRYPT))
def test_anoncrypt_vectors_decrypt_for_each_recipient(name: str) -> None:
    enc, kty, count = ANONCRYPT[name]
    parsed = parse(_load(name))
    assert (parsed.alg, parsed.enc, parsed.epk.type) == ("ECDH-ES+A256KW", enc, kty)
    assert parsed.protected["typ"] == "application/didcomm-encrypted+json"
    assert len(parsed.recipients) == count
    assert not parsed.is_authcrypt and parsed.skid is None and parsed.sender_kid is None
    for kid in parsed.recipient_kids:
        _same_message(decrypt(parsed, kid, BOB[kid]))


@pytest.mark.parametrize("name", sorted(AUTHCRYPT))
def test_authcrypt_vectors_decrypt_for_each_recipient(name: str) -> None:
    skid, kty, count = AUTHCRYPT[name]
    parsed = parse(_load(name))
    assert (parsed.alg, parsed.enc, parsed.epk.type) == ("ECDH-1PU+A256KW", "A256CBC-HS512", kty)
    assert parsed.skid == skid and parsed.sender_kid == skid and parsed.apu == skid.encode()
    assert len(parsed.recipients) == count
    for kid in parsed.recipient_kids:
        plaintext = decrypt(parsed, kid, BOB[kid], ALICE[skid].public)
        _same_message(_signed_by_alice(plaintext) if "signed" in name else plaintext)


def test_nested_anoncrypt_authcrypt_signed() -> None:
    outer = parse(_load("anoncrypt-of-authcrypt-signed-p521-xc20p.json"))
    assert (outer.alg, outer.enc, outer.epk.type) == ("ECDH-ES+A256KW", "XC20P", KeyType.P521)
    for outer_kid in outer.recipient_kids:
        inner = parse(json.loads(decrypt(outer, outer_kid, BOB[outer_kid])))
        assert inner.alg == "ECDH-1PU+A256KW"
        sender = ALICE[inner.skid].public
        for kid in inner.recipient_kids:
            _same_message(_signed_by_alice(decrypt(inner, kid, BOB[kid], sender)))


def test_authcrypt_vector_refuses_wrong_or_missing_sender() -> None:
    parsed = parse(_load("authcrypt-x25519-a256cbc-hs512.json"))
    kid = "did:example:bob#key-x25519-1"
    with pytest.raises(SenderKeyError):
        decrypt(parsed, kid, BOB[kid])
    impostor = PrivateKey.generate(KeyType.X25519).public
    with pytest.raises(DecryptionError, match="key unwrap failed"):
        decrypt(parsed, kid, BOB[kid], impostor)
    with pytest.raises(SenderKeyError):
        decrypt(parsed, kid, BOB[kid], ALICE["did:example:alice#key-p256-1"].public)


def test_anoncrypt_vector_refuses_a_sender_key_and_foreign_keys() -> None:
    parsed = parse(_load("anoncrypt-x25519-xc20p.json"))
    kid = "did:example:bob#key-x25519-1"
    with pytest.raises(SenderKeyError):
        decrypt(parsed, kid, BOB[kid], ALICE["did:example:alice#key-x25519-1"].public)
    with pytest.raises(NoRecipientKey):
        decrypt(parsed, "did:example:bob#key-x25519-9", BOB[kid])
    # Bob's key 2 under key 1's kid: the KEK is wrong, so the unwrap fails.
    with pytest.raises(DecryptionError, match="key unwrap failed"):
        decrypt(parsed, kid, BOB["did:example:bob#key-x25519-2"])
    with pytest.raises(DecryptionError):
        decrypt(parsed, kid, BOB["did:example:bob#key-p256-1"])
