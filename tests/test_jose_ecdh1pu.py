"""ECDH-1PU against draft-madden-jose-ecdh-1pu-04 appendix B: every intermediate value."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from wallet.errors import MalformedEnvelope
from wallet.jose import decrypt, parse
from wallet.jose._util import b64d
from wallet.jose.content import CONTENT_ALGS, unwrap_key, wrap_key
from wallet.jose.ecdh import agree, concat_kdf, fixed_info
from wallet.keys import PrivateKey

HERE = Path(__file__).parent / "vectors" / "ecdh-1pu"
VEC = json.loads((HERE / "draft-madden-jose-ecdh-1pu-04.appendix-B.json").read_text())
TEXT = (HERE / "draft-madden-jose-ecdh-1pu-04.appendix-B.txt").read_text()


def _hex_block(section: str, label: str) -> bytes:
    """The hex octets the draft prints after ``label`` within ``section`` (page breaks skipped)."""
    start = TEXT.index(section)
    at = TEXT.index(label, start)
    colon = TEXT.index(":", at)
    out = []
    for line in TEXT[colon + 1 :].splitlines()[1:]:
        line = line.strip()
        if not line:
            if out:
                break
            continue
        if not re.fullmatch(r"([0-9a-f]{2} ?)+", line):
            break
        out.append(line)
    return bytes.fromhex("".join(out))


ALICE = PrivateKey.from_jwk(VEC["alice_static"])
EPHEMERAL = PrivateKey.from_jwk(VEC["alice_ephemeral"])
RECIPIENTS = {
    "bob": (PrivateKey.from_jwk(VEC["bob_static"]), "B.9."),
    "charlie": (PrivateKey.from_jwk(VEC["charlie_static"]), "B.10."),
}
CEK = bytes.fromhex(VEC["cek_hex"])
IV = bytes.fromhex(VEC["iv_hex"])
JWE = VEC["jwe_json"]


def test_content_encryption_reproduces_ciphertext_and_tag() -> None:
    enc = CONTENT_ALGS["A256CBC-HS512"]
    aad = JWE["protected"].encode("ascii")
    ciphertext, tag = enc.encrypt(CEK, IV, VEC["plaintext"].encode(), aad)
    assert ciphertext == b64d(JWE["ciphertext"], "ct")
    assert tag == b64d(JWE["tag"], "tag")
    assert enc.decrypt(CEK, IV, ciphertext, tag, aad) == VEC["plaintext"].encode()


def test_fixed_info_matches_the_draft() -> None:
    info = fixed_info("ECDH-1PU+A128KW", b"Alice", b"Bob and Charlie", 128, b64d(JWE["tag"], "t"))
    assert info == _hex_block("B.9.", "Concatenating the parameters AlgorithmID")


@pytest.mark.parametrize("name", ["bob", "charlie"])
def test_key_agreement_and_wrap(name: str) -> None:
    static, section = RECIPIENTS[name]
    ze = agree(EPHEMERAL, static.public)
    zs = agree(ALICE, static.public)
    assert ze == _hex_block(section, "Ze  This is set")
    assert zs == _hex_block(section, "Zs  This is set")
    # The recipient computes the same values from its side.
    assert agree(static, EPHEMERAL.public) == ze
    assert agree(static, ALICE.public) == zs
    assert ze + zs == _hex_block(section, "Z  Z is the concatenation")

    info = fixed_info("ECDH-1PU+A128KW", b"Alice", b"Bob and Charlie", 128, b64d(JWE["tag"], "t"))
    kek = concat_kdf(ze + zs, info, 16)
    assert kek.hex() == VEC[f"derived_kek_{name}_hex"]
    kid = VEC["recipient_kids"][name]
    entry = next(r for r in JWE["recipients"] if r["header"]["kid"] == kid)
    wrapped = b64d(entry["encrypted_key"], "ek")
    assert wrap_key(kek, CEK) == wrapped  # AES key wrap is deterministic
    assert unwrap_key(kek, wrapped) == CEK


@pytest.mark.parametrize("name", ["bob", "charlie"])
def test_full_jwe_decrypts_for_each_recipient(name: str) -> None:
    static, _ = RECIPIENTS[name]
    parsed = parse(JWE)
    assert parsed.alg == "ECDH-1PU+A128KW" and parsed.enc == "A256CBC-HS512"
    assert parsed.apu == b"Alice" and parsed.apv == b"Bob and Charlie"
    assert parsed.unprotected == {"jku": "https://alice.example.com/keys.jwks"}
    kid = VEC["recipient_kids"][name]
    # The draft's apv is free text, not DIDComm's digest of kids: read it as plain JOSE.
    plaintext = decrypt(parsed, kid, static, ALICE.public, didcomm=False)
    assert plaintext == VEC["plaintext"].encode()
    with pytest.raises(MalformedEnvelope, match="apv"):
        decrypt(parsed, kid, static, ALICE.public)
