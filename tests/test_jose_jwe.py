"""JWE round trips for every alg/enc/curve, tampering, and refusal of malformed envelopes."""

from __future__ import annotations

import copy
import json

import pytest

from wallet.encoding import dumps_compact
from wallet.errors import (
    DecryptionError,
    KeyFormatError,
    MalformedEnvelope,
    UnsupportedAlgorithm,
)
from wallet.jose import (
    InvalidEphemeralKey,
    RecipientError,
    SenderKeyError,
    decrypt,
    encrypt,
    kids_digest,
    parse,
)
from wallet.jose._util import b64d, b64e
from wallet.keys import KeyType, PrivateKey

CURVES = [KeyType.X25519, KeyType.P256, KeyType.P384, KeyType.P521]
ENCS = ["XC20P", "A256GCM", "A256CBC-HS512"]
_KEYS: dict[KeyType, list[PrivateKey]] = {}


def keys(kty: KeyType, n: int = 3) -> list[PrivateKey]:
    have = _KEYS.setdefault(kty, [])
    while len(have) < n + 1:
        have.append(PrivateKey.generate(kty))
    return have[:n]


def sender(kty: KeyType) -> PrivateKey:
    keys(kty)
    return _KEYS[kty][-1]


def recipients(kty: KeyType, n: int = 3) -> list[tuple[str, PrivateKey]]:
    return [(f"did:example:r{i}#key-{kty.value}", k) for i, k in enumerate(keys(kty, n))]


def _header(jwe: dict) -> dict:
    return json.loads(b64d(jwe["protected"], "protected"))


# -- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("enc", ENCS)
@pytest.mark.parametrize("kty", CURVES)
def test_anoncrypt_round_trip(kty: KeyType, enc: str) -> None:
    recips = recipients(kty)
    jwe = encrypt(b"hello anon", [(kid, k.public) for kid, k in recips], enc=enc)
    header = _header(jwe)
    assert header["alg"] == "ECDH-ES+A256KW" and header["enc"] == enc
    assert header["typ"] == "application/didcomm-encrypted+json"
    assert "skid" not in header and "apu" not in header
    assert b64d(header["apv"], "apv") == kids_digest([kid for kid, _ in recips])
    assert header["epk"]["crv"] == kty.value
    parsed = parse(json.loads(json.dumps(jwe)))
    assert parsed.recipient_kids == [kid for kid, _ in recips]
    for kid, key in recips:
        assert decrypt(parsed, kid, key) == b"hello anon"


@pytest.mark.parametrize("kty", CURVES)
def test_authcrypt_round_trip(kty: KeyType) -> None:
    recips = recipients(kty)
    skid = f"did:example:alice#key-{kty.value}"
    alice = sender(kty)
    jwe = encrypt(
        b"hello auth",
        [(kid, k.public) for kid, k in recips],
        enc="A256CBC-HS512",
        sender=(skid, alice),
    )
    header = _header(jwe)
    assert header["alg"] == "ECDH-1PU+A256KW"
    assert header["skid"] == skid and b64d(header["apu"], "apu") == skid.encode()
    parsed = parse(jwe)
    assert parsed.skid == skid and parsed.is_authcrypt
    for kid, key in recips:
        assert decrypt(parsed, kid, key, alice.public) == b"hello auth"
        with pytest.raises(DecryptionError, match="key unwrap failed"):
            decrypt(parsed, kid, key, PrivateKey.generate(kty).public)


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 1024, 70_000])
@pytest.mark.parametrize("enc", ENCS)
def test_plaintext_sizes(enc: str, size: int) -> None:
    plaintext = bytes(range(256)) * (size // 256) + bytes(size % 256)
    ((kid, key),) = recipients(KeyType.X25519, 1)
    jwe = encrypt(plaintext, [(kid, key.public)], enc=enc, typ=None)
    assert "typ" not in _header(jwe)
    assert decrypt(parse(jwe), kid, key) == plaintext


def test_each_encryption_is_fresh() -> None:
    ((kid, key),) = recipients(KeyType.X25519, 1)
    a = encrypt(b"same", [(kid, key.public)], enc="XC20P")
    b = encrypt(b"same", [(kid, key.public)], enc="XC20P")
    assert _header(a)["epk"] != _header(b)["epk"]
    assert a["iv"] != b["iv"] and a["ciphertext"] != b["ciphertext"]


def test_recipients_cannot_be_swapped_between_envelopes() -> None:
    recips = recipients(KeyType.X25519, 2)
    pubs = [(kid, k.public) for kid, k in recips]
    one = encrypt(b"first", pubs, enc="A256GCM")
    two = encrypt(b"second", pubs, enc="A256GCM")
    spliced = {**one, "recipients": two["recipients"]}
    with pytest.raises(DecryptionError):
        decrypt(parse(spliced), recips[0][0], recips[0][1])


# -- encrypt refuses bad input ----------------------------------------------------------------


def test_encrypt_refusals() -> None:
    x = recipients(KeyType.X25519, 2)
    p = recipients(KeyType.P256, 1)
    pub = [(kid, k.public) for kid, k in x]
    with pytest.raises(RecipientError):
        encrypt(b"", [], enc="XC20P")
    with pytest.raises(RecipientError):
        encrypt(b"", [pub[0], pub[0]], enc="XC20P")
    with pytest.raises(RecipientError):
        encrypt(b"", [(f"k{i}", pub[0][1]) for i in range(101)], enc="XC20P")
    with pytest.raises(KeyFormatError):
        encrypt(b"", [pub[0], (p[0][0], p[0][1].public)], enc="XC20P")
    with pytest.raises(UnsupportedAlgorithm):
        encrypt(b"", pub, enc="A128GCM")
    with pytest.raises(UnsupportedAlgorithm):
        encrypt(b"", [("k", PrivateKey.generate(KeyType.ED25519).public)], enc="XC20P")
    with pytest.raises(UnsupportedAlgorithm):
        encrypt(b"", [("k", PrivateKey.generate(KeyType.SECP256K1).public)], enc="XC20P")
    with pytest.raises(UnsupportedAlgorithm):
        encrypt(b"", pub, enc="XC20P", sender=("s", sender(KeyType.X25519)))
    with pytest.raises(SenderKeyError):
        encrypt(b"", pub, enc="A256CBC-HS512", sender=("s", sender(KeyType.P256)))


def test_encrypt_refuses_low_order_recipient_key() -> None:
    from wallet.keys import PublicKey

    low = PublicKey(KeyType.X25519, (1).to_bytes(32, "little"))
    with pytest.raises(KeyFormatError, match="low-order"):
        encrypt(b"x", [("k", low)], enc="XC20P")


# -- tampering --------------------------------------------------------------------------------


def _envelopes() -> list[tuple[str, dict, str, PrivateKey, object]]:
    out = []
    ((kid, key),) = recipients(KeyType.X25519, 1)
    for enc in ENCS:
        out.append((f"anon-{enc}", encrypt(b"attack at dawn!", [(kid, key.public)], enc=enc)))
    alice = sender(KeyType.X25519)
    auth = encrypt(
        b"attack at dawn!", [(kid, key.public)], enc="A256CBC-HS512", sender=("a", alice)
    )
    out.append(("auth", auth))
    return [(name, jwe, kid, key, alice.public if name == "auth" else None) for name, jwe in out]


ENVELOPES = _envelopes()


def _flip(jwe: dict, field: str, index: int) -> dict:
    out = copy.deepcopy(jwe)
    if field == "encrypted_key":
        raw = bytearray(b64d(out["recipients"][0][field], field))
    else:
        raw = bytearray(b64d(out[field], field))
    raw[index] ^= 0x01
    if field == "encrypted_key":
        out["recipients"][0][field] = b64e(bytes(raw))
    else:
        out[field] = b64e(bytes(raw))
    return out


@pytest.mark.parametrize("field", ["ciphertext", "tag", "iv", "encrypted_key"])
@pytest.mark.parametrize("case", ENVELOPES, ids=[e[0] for e in ENVELOPES])
def test_tampering_any_byte_fails(case, field: str) -> None:
    _, jwe, kid, key, sender_key = case
    assert decrypt(parse(jwe), kid, key, sender_key) == b"attack at dawn!"
    part = jwe["recipients"][0][field] if field == "encrypted_key" else jwe[field]
    for index in range(len(b64d(part, field))):
        with pytest.raises(DecryptionError):
            decrypt(parse(_flip(jwe, field, index)), kid, key, sender_key)


@pytest.mark.parametrize("case", ENVELOPES, ids=[e[0] for e in ENVELOPES])
def test_tampering_protected_header_fails(case) -> None:
    _, jwe, kid, key, sender_key = case
    protected = b64d(jwe["protected"], "protected")
    for index in range(len(protected)):
        raw = bytearray(protected)
        raw[index] ^= 0x01
        # An edit can break the JSON, name an algorithm moi does not know, spoil the epk or
        # apv, or leave all well-formed: then the AAD differs and the tag fails.
        with pytest.raises((DecryptionError, MalformedEnvelope, UnsupportedAlgorithm)):
            decrypt(parse({**jwe, "protected": b64e(bytes(raw))}), kid, key, sender_key)


# -- parse refuses malformed envelopes --------------------------------------------------------

BASE_KID, BASE_KEY = recipients(KeyType.X25519, 1)[0]
BASE = encrypt(b"x", [(BASE_KID, BASE_KEY.public)], enc="XC20P")


def _with_header(**changes) -> dict:
    header = {**_header(BASE), **changes}
    header = {k: v for k, v in header.items() if v is not None}
    return {**BASE, "protected": b64e(dumps_compact(header).encode())}


@pytest.mark.parametrize(
    ("jwe", "error"),
    [
        ([], MalformedEnvelope),
        ({**BASE, "protected": "e30"}, MalformedEnvelope),
        ({k: v for k, v in BASE.items() if k != "protected"}, MalformedEnvelope),
        ({k: v for k, v in BASE.items() if k != "iv"}, MalformedEnvelope),
        ({k: v for k, v in BASE.items() if k != "tag"}, MalformedEnvelope),
        ({k: v for k, v in BASE.items() if k != "ciphertext"}, MalformedEnvelope),
        ({k: v for k, v in BASE.items() if k != "recipients"}, MalformedEnvelope),
        ({**BASE, "recipients": []}, MalformedEnvelope),
        ({**BASE, "recipients": BASE["recipients"] * 2}, MalformedEnvelope),
        (
            {**BASE, "recipients": [{"header": {"kid": f"k{i}"}} for i in range(101)]},
            MalformedEnvelope,
        ),
        ({**BASE, "recipients": [{"encrypted_key": "AA"}]}, MalformedEnvelope),
        (
            {**BASE, "recipients": [{"header": {"kid": 1}, "encrypted_key": "AA"}]},
            MalformedEnvelope,
        ),
        (
            {**BASE, "recipients": [{"header": {"kid": "\ud800"}, "encrypted_key": "AA"}]},
            MalformedEnvelope,
        ),
        (
            {**BASE, "recipients": [{**BASE["recipients"][0], "encrypted_key": "AAAA"}]},
            MalformedEnvelope,
        ),
        (
            {**BASE, "recipients": [{"header": {"kid": "k", "alg": "x"}, "encrypted_key": "AA"}]},
            MalformedEnvelope,
        ),
        ({**BASE, "unprotected": {"typ": "x"}}, MalformedEnvelope),
        ({**BASE, "unprotected": []}, MalformedEnvelope),
        ({**BASE, "unprotected": {"zip": "DEF"}}, UnsupportedAlgorithm),
        ({**BASE, "iv": BASE["iv"][:-4]}, MalformedEnvelope),
        ({**BASE, "tag": BASE["tag"] + "AAAA"}, MalformedEnvelope),
        ({**BASE, "ciphertext": BASE["ciphertext"] + "="}, MalformedEnvelope),
        ({**BASE, "aad": 5}, MalformedEnvelope),
        (_with_header(alg="RSA-OAEP"), UnsupportedAlgorithm),
        (_with_header(alg="ECDH-ES"), UnsupportedAlgorithm),
        (_with_header(enc="A128CBC-HS256"), UnsupportedAlgorithm),
        (_with_header(alg="ECDH-1PU+A256KW"), UnsupportedAlgorithm),  # 1PU with XC20P
        (_with_header(alg=None), MalformedEnvelope),
        (_with_header(crit=["exp"]), UnsupportedAlgorithm),
        (_with_header(epk=None), MalformedEnvelope),
        (_with_header(epk={"kty": "OKP", "crv": "X25519", "x": "AA"}), InvalidEphemeralKey),
        (_with_header(epk={**_header(BASE)["epk"], "d": "AA"}), InvalidEphemeralKey),
        (
            _with_header(epk=PrivateKey.generate(KeyType.ED25519).public.to_jwk()),
            UnsupportedAlgorithm,
        ),
        (
            _with_header(epk=PrivateKey.generate(KeyType.SECP256K1).public.to_jwk()),
            UnsupportedAlgorithm,
        ),
        (_with_header(skid=""), MalformedEnvelope),
        (_with_header(apv="A"), MalformedEnvelope),
    ],
)
def test_parse_rejects(jwe, error) -> None:
    with pytest.raises(error):
        parse(jwe)


def test_parse_bounds_the_ciphertext() -> None:
    big = encrypt(b"x" * 5000, [(BASE_KID, BASE_KEY.public)], enc="XC20P")
    parse(big, max_bytes=7000)
    with pytest.raises(MalformedEnvelope, match="limit"):
        parse(big, max_bytes=6000)


def test_off_curve_epk_is_refused() -> None:
    jwk = PrivateKey.generate(KeyType.P256).public.to_jwk()
    y = bytearray(b64d(jwk["y"], "y"))
    y[-1] ^= 1
    with pytest.raises(InvalidEphemeralKey):
        parse(_with_header(epk={**jwk, "y": b64e(bytes(y))}))


@pytest.mark.parametrize(
    "point",
    [
        bytes(32),
        (1).to_bytes(32, "little"),
        bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
        (2**255 - 20).to_bytes(32, "little"),  # p - 1
    ],
)
def test_low_order_x25519_epk_is_refused(point: bytes) -> None:
    jwe = _with_header(epk={"kty": "OKP", "crv": "X25519", "x": b64e(point)})
    with pytest.raises(InvalidEphemeralKey, match="low-order"):
        decrypt(parse(jwe), BASE_KID, BASE_KEY)


def test_apv_and_apu_are_checked() -> None:
    with pytest.raises(MalformedEnvelope, match="apv"):
        decrypt(parse(_with_header(apv=b64e(b"someone else"))), BASE_KID, BASE_KEY)
    kid, key = BASE_KID, BASE_KEY
    alice = sender(KeyType.X25519)
    auth = encrypt(b"x", [(kid, key.public)], enc="A256CBC-HS512", sender=("did:a#1", alice))
    header = {**_header(auth), "apu": b64e(b"did:mallory#1")}
    forged = {**auth, "protected": b64e(dumps_compact(header).encode())}
    with pytest.raises(MalformedEnvelope, match="apu"):
        decrypt(parse(forged), kid, key, alice.public)
    # Without the DIDComm checks the changed apu still spoils the KDF and the AAD.
    with pytest.raises(DecryptionError):
        decrypt(parse(forged), kid, key, alice.public, didcomm=False)


def test_sender_kid_falls_back_to_apu() -> None:
    kid, key = BASE_KID, BASE_KEY
    auth = encrypt(
        b"x", [(kid, key.public)], enc="A256CBC-HS512", sender=("did:a#1", sender(KeyType.X25519))
    )
    header = {k: v for k, v in _header(auth).items() if k != "skid"}
    parsed = parse({**auth, "protected": b64e(dumps_compact(header).encode())})
    assert parsed.skid is None and parsed.sender_kid == "did:a#1"


# -- the caller-owned static-static agreement cache -------------------------------------------


@pytest.mark.parametrize("kty", [KeyType.X25519, KeyType.P256])
def test_agreement_cache_round_trip(kty: KeyType) -> None:
    from wallet.jose import AgreementCache

    (kid, key), (kid2, key2) = recipients(kty, 2)
    alice = sender(kty)
    alice_cache, bob_cache = AgreementCache(), AgreementCache()
    for _ in range(3):
        jwe = encrypt(
            b"cached",
            [(kid, key.public), (kid2, key2.public)],
            enc="A256CBC-HS512",
            sender=("did:a#1", alice),
            agreement_cache=alice_cache,
        )
        parsed = parse(jwe)
        # Either side may or may not use a cache; the results agree.
        assert decrypt(parsed, kid, key, alice.public, agreement_cache=bob_cache) == b"cached"
        assert decrypt(parsed, kid2, key2, alice.public) == b"cached"
    assert len(alice_cache) == 2 and len(bob_cache) == 1
    # A different sender key does not hit Alice's entries.
    stranger = PrivateKey.generate(kty).public
    with pytest.raises(DecryptionError):
        decrypt(parsed, kid, key, stranger, agreement_cache=bob_cache)
    assert len(bob_cache) == 2
    alice_cache.clear()
    assert len(alice_cache) == 0


def test_agreement_cache_is_bounded_and_keyed_by_the_secret() -> None:
    from wallet.jose import AgreementCache
    from wallet.jose.ecdh import agree

    cache = AgreementCache(maxsize=2)
    ours = PrivateKey.generate(KeyType.X25519)
    peers = [PrivateKey.generate(KeyType.X25519).public for _ in range(3)]
    for peer in peers:
        assert cache.agree(ours, peer) == agree(ours, peer)
    assert len(cache) == 2
    # A key object claiming our public half with another secret computes its own result.
    impostor = PrivateKey(KeyType.X25519, PrivateKey.generate(KeyType.X25519).secret, ours.public)
    assert cache.agree(impostor, peers[2]) != cache.agree(ours, peers[2])
    with pytest.raises(ValueError):
        AgreementCache(maxsize=0)


# -- an epk per recipient (didcomm-messaging's anoncrypt layout) ------------------------------


def _per_recipient_anoncrypt(plaintext: bytes, recips: list[tuple[str, PrivateKey]], enc: str):
    """Anoncrypt laid out as didcomm-messaging 0.1.1 writes it: no shared epk, a fresh one in
    each recipient's unprotected header."""
    from wallet.jose.content import CONTENT_ALGS, wrap_key
    from wallet.jose.ecdh import Ephemeral, concat_kdf, fixed_info

    content = CONTENT_ALGS[enc]
    apv = kids_digest([kid for kid, _ in recips])
    header = {"typ": "application/didcomm-encrypted+json", "alg": "ECDH-ES+A256KW"}
    header.update(enc=enc, apv=b64e(apv))
    protected = b64e(dumps_compact(header).encode())
    cek, iv = content.new_key(), content.new_iv()
    ciphertext, tag = content.encrypt(cek, iv, plaintext, protected.encode())
    entries = []
    for kid, key in recips:
        eph = Ephemeral(key.type)
        kek = concat_kdf(eph.agree(key.public), fixed_info("ECDH-ES+A256KW", b"", apv, 256), 32)
        entries.append(
            {"header": {"kid": kid, "epk": eph.jwk()}, "encrypted_key": b64e(wrap_key(kek, cek))}
        )
    return {
        "protected": protected,
        "recipients": entries,
        "iv": b64e(iv),
        "ciphertext": b64e(ciphertext),
        "tag": b64e(tag),
    }


@pytest.mark.parametrize("kty", [KeyType.X25519, KeyType.P384])
def test_epk_per_recipient_is_read(kty: KeyType) -> None:
    recips = recipients(kty)
    parsed = parse(_per_recipient_anoncrypt(b"one epk each", recips, "XC20P"))
    assert parsed.epk is None
    assert all(r.epk is not None and r.epk.type is kty for r in parsed.recipients)
    assert len({r.epk for r in parsed.recipients}) == len(recips)
    for kid, key in recips:
        assert decrypt(parsed, kid, key) == b"one epk each"


def test_epk_per_recipient_is_bound_to_its_recipient() -> None:
    recips = recipients(KeyType.X25519, 2)
    jwe = _per_recipient_anoncrypt(b"x", recips, "A256GCM")
    swapped = copy.deepcopy(jwe)
    first, second = swapped["recipients"]
    first["header"]["epk"], second["header"]["epk"] = (
        second["header"]["epk"],
        first["header"]["epk"],
    )
    with pytest.raises(DecryptionError, match="key unwrap failed"):
        decrypt(parse(swapped), recips[0][0], recips[0][1])
    missing = copy.deepcopy(jwe)
    del missing["recipients"][1]["header"]["epk"]
    with pytest.raises(MalformedEnvelope, match="epk"):
        parse(missing)
    # A shared epk and a recipient's own cannot both be given.
    both = copy.deepcopy(BASE)
    both["recipients"][0]["header"]["epk"] = jwe["recipients"][0]["header"]["epk"]
    with pytest.raises(MalformedEnvelope):
        parse(both)
    bad = copy.deepcopy(jwe)
    bad["recipients"][0]["header"]["epk"] = {"kty": "OKP", "crv": "X25519", "x": b64e(bytes(32))}
    with pytest.raises(InvalidEphemeralKey):
        decrypt(parse(bad), recips[0][0], recips[0][1])
