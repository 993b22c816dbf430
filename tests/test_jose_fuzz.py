"""Mutated envelopes and tokens: only moi's own errors may escape, and nothing forged decrypts."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wallet.encoding import dumps_compact, loads_object
from wallet.errors import MoiError
from wallet.jose import decode_compact, decrypt, encrypt, parse, sign_compact, verify_compact
from wallet.jose._util import b64d, b64e
from wallet.keys import KeyType, PrivateKey

PLAINTEXT = b'{"id":"1","body":{}}'
KID = "did:example:bob#key-1"
BOB = {kty: PrivateKey.generate(kty) for kty in (KeyType.X25519, KeyType.P256)}
ALICE = PrivateKey.generate(KeyType.X25519)
ENVELOPES = [
    encrypt(PLAINTEXT, [(KID, BOB[KeyType.X25519].public), ("other", ALICE.public)], enc="XC20P"),
    encrypt(
        PLAINTEXT,
        [(KID, BOB[KeyType.X25519].public)],
        enc="A256CBC-HS512",
        sender=("did:example:alice#key-1", ALICE),
    ),
    encrypt(PLAINTEXT, [(KID, BOB[KeyType.P256].public)], enc="A256GCM"),
]
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["", "AA", "A", "AAA=", "X25519", "P-256", "OKP", "EC", "ECDH-1PU+A256KW"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)


def _attempt(jwe: Any) -> None:
    """parse + decrypt as Bob; success must yield the original plaintext."""
    try:
        parsed = parse(jwe)
        entry = next((r for r in parsed.recipients if r.kid == KID), None)
        epk = parsed.epk or (entry.epk if entry is not None else None)
        key = BOB[epk.type] if epk is not None and epk.type in BOB else BOB[KeyType.X25519]
        sender = ALICE.public if parsed.is_authcrypt else None
        plaintext = decrypt(parsed, KID, key, sender)
    except MoiError:
        return
    assert plaintext == PLAINTEXT


def _header(jwe: dict) -> dict:
    return json.loads(b64d(jwe["protected"], "protected"))


@SETTINGS
@given(st.sampled_from(ENVELOPES), st.data())
def test_mutated_json_text(envelope: dict, data: st.DataObject) -> None:
    text = bytearray(json.dumps(envelope).encode())
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(text) - 1))
        op = data.draw(st.sampled_from(["flip", "delete", "insert"]))
        if op == "flip":
            text[pos] ^= data.draw(st.integers(1, 255))
        elif op == "delete":
            del text[pos]
        else:
            text.insert(pos, data.draw(st.integers(0, 255)))
    try:
        jwe = loads_object(bytes(text))
    except MoiError:
        return
    _attempt(jwe)


_TOP = ["protected", "recipients", "iv", "ciphertext", "tag", "unprotected", "aad", "header"]
_HDR = ["alg", "enc", "epk", "apv", "apu", "skid", "typ", "crit", "zip", "kid"]
_OTHER_EPK = PrivateKey.generate(KeyType.X25519).public.to_jwk()
_EPK = ["kty", "crv", "x", "y", "d"]


@SETTINGS
@given(st.sampled_from(ENVELOPES), st.data(), json_values)
def test_mutated_structure(envelope: dict, data: st.DataObject, value: Any) -> None:
    jwe = copy.deepcopy(envelope)
    where = data.draw(st.sampled_from(["top", "recipient", "recipient-header", "header", "epk"]))
    if where == "top":
        jwe[data.draw(st.sampled_from(_TOP))] = value
    elif where == "recipient":
        jwe["recipients"][0][data.draw(st.sampled_from(["header", "encrypted_key", "x"]))] = value
    elif where == "recipient-header":
        name = data.draw(st.sampled_from(_HDR))
        # Sometimes move the epk out of the protected header into the recipient's own.
        if name == "epk" and data.draw(st.booleans()):
            header = _header(jwe)
            moved = header.pop("epk")
            jwe["protected"] = b64e(dumps_compact(header).encode())
            value = data.draw(st.sampled_from([moved, _OTHER_EPK, value]))
        jwe["recipients"][0]["header"][name] = value
    else:
        header = _header(jwe)
        if where == "header":
            header[data.draw(st.sampled_from(_HDR))] = value
        else:
            header["epk"][data.draw(st.sampled_from(_EPK))] = value
        jwe["protected"] = b64e(dumps_compact(header).encode())
    _attempt(jwe)


@SETTINGS
@given(
    st.sampled_from(ENVELOPES),
    st.sampled_from(["protected", "iv", "ciphertext", "tag", "encrypted_key", "apv", "epk.x"]),
    st.data(),
)
def test_mutated_bytes(envelope: dict, field: str, data: st.DataObject) -> None:
    jwe = copy.deepcopy(envelope)
    if field == "encrypted_key":
        raw = b64d(jwe["recipients"][0][field], field)
    elif field in ("apv", "epk.x"):
        header = _header(jwe)
        raw = b64d(header["epk"]["x"] if field == "epk.x" else header[field], field)
    else:
        raw = b64d(jwe[field], field)
    mutated = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 3))):
        if mutated and data.draw(st.booleans()):
            mutated[data.draw(st.integers(0, len(mutated) - 1))] ^= data.draw(st.integers(1, 255))
        else:
            mutated.insert(data.draw(st.integers(0, len(mutated))), data.draw(st.integers(0, 255)))
    encoded = b64e(bytes(mutated))
    if field == "encrypted_key":
        jwe["recipients"][0][field] = encoded
    elif field in ("apv", "epk.x"):
        if field == "epk.x":
            header["epk"]["x"] = encoded
        else:
            header[field] = encoded
        jwe["protected"] = b64e(dumps_compact(header).encode())
    else:
        jwe[field] = encoded
    _attempt(jwe)


SIGNER = PrivateKey.generate(KeyType.ED25519)
TOKEN = sign_compact({"typ": "JWT"}, b'{"sub":"bob"}', SIGNER)


@SETTINGS
@given(st.data())
def test_mutated_compact_jws(data: st.DataObject) -> None:
    text = bytearray(TOKEN.encode())
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, len(text) - 1))
        text[pos] = data.draw(st.integers(0, 127))
    try:
        jws = verify_compact(decode_compact(text.decode("ascii")), SIGNER.public)
    except MoiError:
        return
    assert jws.payload == b'{"sub":"bob"}'
