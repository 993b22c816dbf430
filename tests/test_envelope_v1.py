"""The DIDComm v1 envelope (Aries RFC 0019): round trips, the wire form, tampering, bounds,
fuzzing, and interop with aries-staticagent, didcomm-messaging's legacy packer and a packer
on aries-askar (tests/peers/v1_peer.py, in the "askar" peer venv)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import base58
import nacl.bindings as sodium
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.peers import run_peer
from wallet.didcomm import v1
from wallet.errors import (
    DecryptionError,
    EnvelopeError,
    InputError,
    MalformedEnvelope,
    NoRecipientKey,
    TooLargeError,
    UnsupportedAlgorithm,
    UnsupportedKeyType,
)
from wallet.keys import KeyType, PrivateKey

VECTORS = Path(__file__).parent / "vectors"

SEEDS = {
    "alice": "a1" * 32,
    "bob": "b0" * 32,
    "carol": "c4" * 32,
    "dave": "da" * 32,
}
KEYS = {
    name: PrivateKey.from_secret(KeyType.ED25519, bytes.fromhex(s)) for name, s in SEEDS.items()
}
ALICE, BOB, CAROL, DAVE = (KEYS[n] for n in ("alice", "bob", "carol", "dave"))

MESSAGE = json.dumps(
    {"@id": "123", "@type": "https://didcomm.org/basicmessage/1.0/message", "content": "hi"}
).encode()


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64any(text: str) -> bytes:
    text = text.rstrip("=")
    return base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4))


def envelope_dict(packed: bytes) -> dict[str, Any]:
    return json.loads(packed)


def header_of(env: dict[str, Any]) -> dict[str, Any]:
    return json.loads(b64any(env["protected"]))


def with_header(env: dict[str, Any], header: dict[str, Any]) -> dict[str, Any]:
    """The envelope with a re-encoded protected header (which is also the content's AAD)."""
    return {**env, "protected": b64u(json.dumps(header).encode())}


def flip(text: str, index: int = 0) -> str:
    """The base64url value with one byte of its decoded content changed."""
    raw = bytearray(b64any(text))
    raw[index] ^= 0x01
    return b64u(bytes(raw))


def handmade(
    message: bytes, to: list[PrivateKey], sender: PrivateKey | None, enc: Any
) -> dict[str, Any]:
    """An envelope built here from libsodium primitives, step by step as RFC 0019 describes,
    with the given base64 encoder and the ``"sender": null`` form some agents write."""
    cek = sodium.randombytes(32)
    recipients = []
    for key in to:
        target = sodium.crypto_sign_ed25519_pk_to_curve25519(key.public.raw)
        header: dict[str, Any] = {"kid": key.public.base58, "sender": None, "iv": None}
        if sender is None:
            wrapped = sodium.crypto_box_seal(cek, target)
        else:
            nonce = sodium.randombytes(24)
            my_sk = sodium.crypto_sign_ed25519_sk_to_curve25519(sender.sodium_secret_key)
            wrapped = sodium.crypto_box(cek, nonce, target, my_sk)
            header["sender"] = enc(sodium.crypto_box_seal(sender.public.base58.encode(), target))
            header["iv"] = enc(nonce)
        recipients.append({"encrypted_key": enc(wrapped), "header": header})
    protected = enc(
        json.dumps(
            {
                "enc": "xchacha20poly1305_ietf",
                "typ": "JWM/1.0",
                "alg": "Authcrypt" if sender else "Anoncrypt",
                "recipients": recipients,
            }
        ).encode()
    )
    nonce = sodium.randombytes(12)
    out = sodium.crypto_aead_chacha20poly1305_ietf_encrypt(message, protected.encode(), nonce, cek)
    return {
        "protected": protected,
        "iv": enc(nonce),
        "ciphertext": enc(out[:-16]),
        "tag": enc(out[-16:]),
    }


# -- round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize("sender", [None, ALICE], ids=["anoncrypt", "authcrypt"])
@pytest.mark.parametrize(
    "message",
    [MESSAGE, "Grüße, 世界 — ✓ 🎉".encode(), b"", bytes(range(256)) * 40],
    ids=["json", "unicode", "empty", "binary-10k"],
)
def test_round_trip_one_recipient(sender: PrivateKey | None, message: bytes) -> None:
    packed = v1.pack(message, [BOB.public], sender)
    opened = v1.unpack(packed, BOB)
    assert opened.plaintext == message
    assert opened.recipient_verkey == BOB.public.base58
    assert opened.sender_verkey == (None if sender is None else ALICE.public.base58)


@pytest.mark.parametrize("sender", [None, ALICE], ids=["anoncrypt", "authcrypt"])
def test_round_trip_several_recipients(sender: PrivateKey | None) -> None:
    recipients = [BOB, CAROL, DAVE]
    packed = v1.pack("¡hola!".encode(), [k.public for k in recipients], sender)
    parsed = v1.parse(packed)
    assert parsed.recipient_verkeys == tuple(k.public.base58 for k in recipients)
    for key in recipients:
        opened = v1.decrypt(parsed, key)
        assert opened.plaintext == "¡hola!".encode()
        assert opened.recipient_verkey == key.public.base58
        assert opened.sender_verkey == (sender.public.base58 if sender else None)


def test_parse_accepts_text_bytes_and_objects() -> None:
    packed = v1.pack(MESSAGE, [BOB.public], ALICE)
    for form in (packed, packed.decode(), bytearray(packed), envelope_dict(packed)):
        assert v1.decrypt(v1.parse(form), BOB).plaintext == MESSAGE


# -- the wire form --------------------------------------------------------------------------------


@pytest.mark.parametrize("sender", [None, ALICE], ids=["anoncrypt", "authcrypt"])
def test_wire_form(sender: PrivateKey | None) -> None:
    env = envelope_dict(v1.pack(MESSAGE, [BOB.public, CAROL.public], sender))
    assert list(env) == ["protected", "iv", "ciphertext", "tag"]
    for value in env.values():
        assert "=" not in value and "+" not in value and "/" not in value  # unpadded base64url
    header = header_of(env)
    assert header["enc"] == "xchacha20poly1305_ietf"
    assert header["typ"] == "JWM/1.0"
    assert header["alg"] == ("Authcrypt" if sender else "Anoncrypt")
    assert [r["header"]["kid"] for r in header["recipients"]] == [
        BOB.public.base58,
        CAROL.public.base58,
    ]
    for r in header["recipients"]:
        expected = {"kid", "sender", "iv"} if sender else {"kid"}
        assert set(r["header"]) == expected
        assert len(b64any(r["encrypted_key"])) == (48 if sender else 80)
    # The deployed agents' content cipher: a 12-byte nonce and a 16-byte tag.
    assert len(b64any(env["iv"])) == 12
    assert len(b64any(env["tag"])) == 16
    assert len(b64any(env["ciphertext"])) == len(MESSAGE)


def test_content_is_chacha20poly1305_ietf_over_the_protected_string() -> None:
    """Open moi's envelope by hand, step by step as RFC 0019 describes, with libsodium."""
    env = envelope_dict(v1.pack(MESSAGE, [BOB.public], ALICE))
    entry = header_of(env)["recipients"][0]
    bob_pk = sodium.crypto_sign_ed25519_pk_to_curve25519(BOB.public.raw)
    bob_sk = sodium.crypto_sign_ed25519_sk_to_curve25519(BOB.sodium_secret_key)
    sender = sodium.crypto_box_seal_open(b64any(entry["header"]["sender"]), bob_pk, bob_sk)
    assert sender.decode() == ALICE.public.base58
    alice_pk = sodium.crypto_sign_ed25519_pk_to_curve25519(base58.b58decode(sender))
    cek = sodium.crypto_box_open(
        b64any(entry["encrypted_key"]), b64any(entry["header"]["iv"]), alice_pk, bob_sk
    )
    plaintext = sodium.crypto_aead_chacha20poly1305_ietf_decrypt(
        b64any(env["ciphertext"]) + b64any(env["tag"]),
        env["protected"].encode(),
        b64any(env["iv"]),
        cek,
    )
    assert plaintext == MESSAGE


@pytest.mark.parametrize(
    "enc",
    [
        lambda b: base64.urlsafe_b64encode(b).decode(),
        lambda b: base64.b64encode(b).decode(),
        lambda b: base64.b64encode(b).decode().rstrip("="),
    ],
    ids=["url-padded", "std-padded", "std-unpadded"],
)
@pytest.mark.parametrize("sender", [None, ALICE], ids=["anoncrypt", "authcrypt"])
def test_reads_both_alphabets_padded_or_not(enc: Any, sender: PrivateKey | None) -> None:
    env = handmade("ünïcode".encode(), [BOB, CAROL], sender, enc)
    opened = v1.unpack(env, CAROL)
    assert opened.plaintext == "ünïcode".encode()
    assert opened.sender_verkey == (sender.public.base58 if sender else None)


def test_outer_fields_may_be_reencoded() -> None:
    """iv, ciphertext and tag are outside the AAD: another alphabet gives the same bytes."""
    env = envelope_dict(v1.pack(MESSAGE * 3, [BOB.public], ALICE))
    for name in ("iv", "ciphertext", "tag"):
        env[name] = base64.b64encode(b64any(env[name])).decode()
    assert v1.unpack(env, BOB).plaintext == MESSAGE * 3


def test_rfc_examples_parse() -> None:
    examples = json.loads((VECTORS / "aries-rfc-0019" / "rfc-examples.json").read_text())
    auth = v1.parse(examples["authcrypt"])
    assert auth.alg is v1.V1Alg.AUTHCRYPT and auth.is_authcrypt
    assert auth.recipient_verkeys == (
        "GJ1SzoWzavQYfNL9XkaJdrQejfztN4XqdsiV4ct3LXKL",
        "HKTAiYM8cE2kKC9KaNMZLYj4GS8uWCYMBxP2i1Y92zum",
    )
    assert all(r.sender and r.iv and len(r.iv) == 24 for r in auth.recipients)
    anon = v1.parse(examples["anoncrypt"])
    assert anon.alg == "Anoncrypt"
    assert anon.recipient_verkeys == (
        "GJ1SzoWzavQYfNL9XkaJdrQejfztN4XqdsiV4ct3LXKL",
        "2GXmuCN2JCxSqMRVftBHLxVJKSL5bXyzM8DsPzGqQoNj",
    )
    assert len(anon.iv) == 12  # the field's 12-byte nonce, whatever "enc" says
    assert all(v1.looks_like_v1(e) for e in examples.values())
    # Nobody in the example holds the keys: an unrelated key is simply not a recipient.
    with pytest.raises(NoRecipientKey):
        v1.decrypt(auth, BOB)


@pytest.mark.parametrize(
    "name",
    [
        "anoncrypt-x25519-xc20p.json",
        "anoncrypt-p384-a256cbc-hs512.json",
        "anoncrypt-p521-a256gcm.json",
        "authcrypt-x25519-a256cbc-hs512.json",
        "authcrypt-signed-p256-a256cbc-hs512.json",
    ],
)
def test_didcomm_v2_jwe_is_not_v1(name: str) -> None:
    jwe = json.loads((VECTORS / "didcomm-v2" / name).read_text())
    assert not v1.looks_like_v1(jwe)
    with pytest.raises(UnsupportedAlgorithm):
        v1.parse(jwe)


@pytest.mark.parametrize(
    "obj",
    [
        {},
        {"protected": 5},
        {"protected": "!!!"},
        {"protected": b64u(b"[1, 2]")},
        {"protected": b64u(b'{"alg": "ECDH-ES+A256KW", "enc": "XC20P"}')},
        {"@type": "https://didcomm.org/trust_ping/1.0/ping"},
    ],
)
def test_looks_like_v1_false(obj: dict[str, Any]) -> None:
    assert v1.looks_like_v1(obj) is False


def test_looks_like_v1_on_any_one_v1_marker() -> None:
    # An unknown alg in a v1-shaped header still goes to parse, which names the problem.
    env = envelope_dict(v1.pack(MESSAGE, [BOB.public]))
    header = header_of(env)
    header["alg"] = "Authcrypt2"
    odd = with_header(env, header)
    assert v1.looks_like_v1(odd)
    with pytest.raises(UnsupportedAlgorithm):
        v1.parse(odd)


# -- tampering --------------------------------------------------------------------------------


@pytest.fixture(params=[None, ALICE], ids=["anoncrypt", "authcrypt"])
def env(request: pytest.FixtureRequest) -> dict[str, Any]:
    return envelope_dict(v1.pack(MESSAGE, [BOB.public, CAROL.public], request.param))


@pytest.mark.parametrize("field", ["ciphertext", "tag", "iv"])
def test_tampered_content_fails(env: dict[str, Any], field: str) -> None:
    env[field] = flip(env[field])
    with pytest.raises(DecryptionError):
        v1.unpack(env, BOB)


def test_tampered_protected_fails(env: dict[str, Any]) -> None:
    # Reordering recipients changes no key material, only the AAD.
    header = header_of(env)
    header["recipients"].reverse()
    with pytest.raises(DecryptionError):
        v1.unpack(with_header(env, header), BOB)
    # The same header, spelled with padding, is a different AAD too.
    padded = {**env, "protected": env["protected"] + "=" * (-len(env["protected"]) % 4)}
    if padded != env:
        with pytest.raises(DecryptionError):
            v1.unpack(padded, BOB)


def test_tampered_encrypted_key_fails(env: dict[str, Any]) -> None:
    header = header_of(env)
    header["recipients"][0]["encrypted_key"] = flip(header["recipients"][0]["encrypted_key"], 5)
    tampered = with_header(env, header)
    with pytest.raises(DecryptionError):
        v1.unpack(tampered, BOB)
    # Carol's own entry is intact, but the header (the AAD) is not.
    with pytest.raises(DecryptionError):
        v1.unpack(tampered, CAROL)


def _reseal_sender(env: dict[str, Any], to: PrivateKey, verkey: bytes) -> dict[str, Any]:
    header = header_of(env)
    target = sodium.crypto_sign_ed25519_pk_to_curve25519(to.public.raw)
    for r in header["recipients"]:
        if r["header"]["kid"] == to.public.base58:
            r["header"]["sender"] = b64u(sodium.crypto_box_seal(verkey, target))
    return with_header(env, header)


def test_sender_field_tampering() -> None:
    env = envelope_dict(v1.pack(MESSAGE, [BOB.public], ALICE))
    header = header_of(env)
    header["recipients"][0]["header"]["sender"] = flip(header["recipients"][0]["header"]["sender"])
    with pytest.raises(DecryptionError):
        v1.unpack(with_header(env, header), BOB)
    # Anyone can seal a verkey for Bob; claiming to be Dave fails at crypto_box_open.
    with pytest.raises(DecryptionError):
        v1.unpack(_reseal_sender(env, BOB, DAVE.public.base58.encode()), BOB)


@pytest.mark.parametrize(
    ("verkey", "why"),
    [
        (base58.b58encode(bytes(32)), "not a valid Ed25519 key"),  # small order
        (base58.b58encode(b"\x01" + bytes(31)), "not a valid Ed25519 key"),  # the identity
        # y = p + 1 (y >= p, a non-canonical encoding)
        (base58.b58encode(b"\xee" + b"\xff" * 30 + b"\x7f"), "not a valid Ed25519 key"),
        (b"0OIl" * 10, "not a base58 verkey"),
        (base58.b58encode(bytes(33)), "not a base58 verkey"),  # 33 bytes
        ("ünïcode, 40 bytes long ..........".encode(), "not a base58 verkey"),
    ],
    ids=["small-order", "identity", "y-not-canonical", "not-base58", "33-bytes", "utf8"],
)
def test_sender_verkey_must_be_a_valid_ed25519_key(verkey: bytes, why: str) -> None:
    assert 32 <= len(verkey) <= 44  # so that parse accepts the sealed value's length
    env = envelope_dict(v1.pack(MESSAGE, [BOB.public], ALICE))
    parsed = v1.parse(_reseal_sender(env, BOB, verkey))
    with pytest.raises(DecryptionError, match=why):
        v1.decrypt(parsed, BOB)


def test_sealed_sender_of_impossible_length_refused() -> None:
    env = envelope_dict(v1.pack(MESSAGE, [BOB.public], ALICE))
    for verkey in (b"short", b"x" * 45):
        with pytest.raises(MalformedEnvelope, match="sender"):
            v1.parse(_reseal_sender(env, BOB, verkey))


def test_authcrypt_entry_swapped_into_anoncrypt_shape_fails() -> None:
    env = envelope_dict(v1.pack(MESSAGE, [BOB.public], ALICE))
    header = header_of(env)
    header["alg"] = "Anoncrypt"
    with pytest.raises(MalformedEnvelope, match="sender or iv"):
        v1.parse(with_header(env, header))


# -- recipients -------------------------------------------------------------------------------


def test_key_not_among_recipients() -> None:
    parsed = v1.parse(v1.pack(MESSAGE, [BOB.public, CAROL.public], ALICE))
    with pytest.raises(NoRecipientKey):
        v1.decrypt(parsed, DAVE)
    # The caller's side of the contract: it checks its own keys against recipient_verkeys and
    # raises NoRecipientKey itself when it holds none (as wallet.didcomm.packing does).
    held = {DAVE.public.base58: DAVE, ALICE.public.base58: ALICE}
    assert not set(parsed.recipient_verkeys) & set(held)


def test_wrong_key_type_for_decrypt() -> None:
    parsed = v1.parse(v1.pack(MESSAGE, [BOB.public]))
    with pytest.raises(UnsupportedKeyType):
        v1.decrypt(parsed, PrivateKey.generate(KeyType.X25519))


def test_pack_refuses_bad_arguments() -> None:
    with pytest.raises(InputError):
        v1.pack(MESSAGE, [])
    with pytest.raises(InputError):
        v1.pack("text", [BOB.public])  # type: ignore[arg-type]
    with pytest.raises(InputError):
        v1.pack(MESSAGE, [BOB.public, BOB.public])
    with pytest.raises(InputError):
        v1.pack(MESSAGE, [PrivateKey.generate().public for _ in range(v1.MAX_RECIPIENTS + 1)])
    with pytest.raises(UnsupportedKeyType):
        v1.pack(MESSAGE, [PrivateKey.generate(KeyType.X25519).public])
    with pytest.raises(UnsupportedKeyType):
        v1.pack(MESSAGE, [BOB.public], PrivateKey.generate(KeyType.P256))


def test_verkey_of() -> None:
    assert v1.verkey_of(BOB) == v1.verkey_of(BOB.public) == BOB.public.base58
    with pytest.raises(UnsupportedKeyType):
        v1.verkey_of(PrivateKey.generate(KeyType.X25519))


# -- structure and bounds ----------------------------------------------------------------------


def _mutate_header(env: dict[str, Any], change: Any) -> dict[str, Any]:
    header = header_of(env)
    change(header)
    return with_header(env, header)


def _set(path: list[Any], value: Any) -> Any:
    def change(obj: Any) -> None:
        for step in path[:-1]:
            obj = obj[step]
        if value is _DELETE:
            del obj[path[-1]]
        else:
            obj[path[-1]] = value

    return change


_DELETE = object()
R0 = ["recipients", 0]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (_set(["alg"], "authcrypt"), UnsupportedAlgorithm),
        (_set(["alg"], "ECDH-1PU+A256KW"), UnsupportedAlgorithm),
        (_set(["alg"], None), MalformedEnvelope),
        (_set(["enc"], "chacha20poly1305"), UnsupportedAlgorithm),
        (_set(["enc"], _DELETE), UnsupportedAlgorithm),
        (_set(["typ"], "JWM/2.0"), MalformedEnvelope),
        (_set(["typ"], _DELETE), MalformedEnvelope),
        (_set(["recipients"], []), MalformedEnvelope),
        (_set(["recipients"], {"kid": "x"}), MalformedEnvelope),
        (_set([*R0], "x"), MalformedEnvelope),
        (_set([*R0, "header"], _DELETE), MalformedEnvelope),
        (_set([*R0, "header", "kid"], _DELETE), MalformedEnvelope),
        (_set([*R0, "header", "kid"], "0OIl" * 11), MalformedEnvelope),
        (_set([*R0, "header", "kid"], base58.b58encode(bytes(33)).decode()), MalformedEnvelope),
        (_set([*R0, "header", "kid"], "1" + BOB.public.base58), MalformedEnvelope),
        (_set([*R0, "header", "sender"], _DELETE), MalformedEnvelope),
        (_set([*R0, "header", "iv"], None), MalformedEnvelope),
        (_set([*R0, "header", "iv"], b64u(bytes(12))), MalformedEnvelope),
        (_set([*R0, "header", "sender"], b64u(bytes(40))), MalformedEnvelope),
        (_set([*R0, "encrypted_key"], b64u(bytes(80))), MalformedEnvelope),
        (_set([*R0, "encrypted_key"], 5), MalformedEnvelope),
        (_set([*R0, "encrypted_key"], _DELETE), MalformedEnvelope),
    ],
)
def test_malformed_headers(change: Any, error: type[Exception]) -> None:
    env = envelope_dict(v1.pack(MESSAGE, [BOB.public, CAROL.public], ALICE))
    with pytest.raises(error):
        v1.parse(_mutate_header(env, change))


def test_duplicate_recipient_refused() -> None:
    env = envelope_dict(v1.pack(MESSAGE, [BOB.public], ALICE))
    header = header_of(env)
    header["recipients"].append(header["recipients"][0])
    with pytest.raises(MalformedEnvelope, match="twice"):
        v1.parse(with_header(env, header))


def test_too_many_recipients() -> None:
    env = envelope_dict(v1.pack(MESSAGE, [BOB.public]))
    header = header_of(env)
    entry = header["recipients"][0]
    header["recipients"] = [
        {**entry, "header": {"kid": PrivateKey.generate().public.base58}}
        for _ in range(v1.MAX_RECIPIENTS + 1)
    ]
    with pytest.raises(v1.EnvelopeTooLarge):
        v1.parse(with_header(env, header))
    header["recipients"] = header["recipients"][: v1.MAX_RECIPIENTS]
    assert len(v1.parse(with_header(env, header)).recipients) == v1.MAX_RECIPIENTS


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda e: e.pop("tag"), MalformedEnvelope),
        (lambda e: e.pop("protected"), MalformedEnvelope),
        (lambda e: e.update(unprotected={}), MalformedEnvelope),
        (lambda e: e.update(iv=b64u(bytes(24))), MalformedEnvelope),
        (lambda e: e.update(tag=b64u(bytes(15))), MalformedEnvelope),
        (lambda e: e.update(tag=None), MalformedEnvelope),
        (lambda e: e.update(ciphertext=e["ciphertext"] + "=="), MalformedEnvelope),
        (lambda e: e.update(ciphertext=e["ciphertext"] + "AA"), MalformedEnvelope),
        (lambda e: e.update(ciphertext="-+" + e["ciphertext"][2:]), MalformedEnvelope),
        (lambda e: e.update(ciphertext=e["ciphertext"][:-1] + "_"), MalformedEnvelope),
        (lambda e: e.update(protected=e["protected"] + "==="), MalformedEnvelope),
        (lambda e: e.update(protected=b64u(b'{"alg": "Anoncrypt", "alg": 1}')), MalformedEnvelope),
        (lambda e: e.update(protected=b64u(b"\xff\xfe")), MalformedEnvelope),
        (lambda e: e.update(protected="A" * (v1.MAX_PROTECTED_CHARS + 4)), v1.EnvelopeTooLarge),
    ],
)
def test_malformed_envelopes(change: Any, error: type[Exception]) -> None:
    # 47 bytes: the ciphertext's last base64 character carries unused bits.
    env = envelope_dict(v1.pack(MESSAGE[:47], [BOB.public], ALICE))
    change(env)
    with pytest.raises(error):
        v1.parse(env)


@pytest.mark.parametrize("data", [b"", b"[]", b"null", b"{", b"\xff", b'{"a": NaN}', "{}", 42])
def test_not_an_envelope(data: Any) -> None:
    with pytest.raises(MalformedEnvelope):
        v1.parse(data)


def test_size_limit() -> None:
    packed = v1.pack(bytes(5000), [BOB.public])
    with pytest.raises(v1.EnvelopeTooLarge) as info:
        v1.parse(packed, max_bytes=4000)
    assert isinstance(info.value, TooLargeError) and isinstance(info.value, MalformedEnvelope)
    with pytest.raises(v1.EnvelopeTooLarge):
        v1.parse(envelope_dict(packed), max_bytes=4000)
    assert v1.unpack(packed, BOB, max_bytes=8000).plaintext == bytes(5000)


# -- fuzzing: only moi's errors, and never a different message ------------------------------------

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
AUTH_ENV = v1.pack(MESSAGE, [BOB.public, CAROL.public], ALICE)
ANON_ENV = v1.pack(MESSAGE, [BOB.public])


def _open_or_envelope_error(data: Any, key: PrivateKey) -> v1.UnpackedV1 | None:
    try:
        return v1.unpack(data, key)
    except EnvelopeError:
        return None


@FUZZ
@given(st.binary(max_size=2000))
def test_fuzz_random_bytes(data: bytes) -> None:
    assert _open_or_envelope_error(data, BOB) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@FUZZ
@given(
    st.fixed_dictionaries(
        {"protected": json_values, "iv": json_values, "ciphertext": json_values, "tag": json_values}
    ),
    st.sampled_from(["Authcrypt", "Anoncrypt", "other"]),
    json_values,
)
def test_fuzz_random_structures(obj: dict[str, Any], alg: str, recipients: Any) -> None:
    assert _open_or_envelope_error(obj, BOB) is None
    header = {"enc": v1.ENC, "typ": v1.TYP, "alg": alg, "recipients": recipients}
    obj["protected"] = b64u(json.dumps(header).encode())
    assert _open_or_envelope_error(obj, BOB) is None


@FUZZ
@given(
    st.sampled_from([AUTH_ENV, ANON_ENV]),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=4),
)
def test_fuzz_mutated_envelope(packed: bytes, edits: list[tuple[int, int]]) -> None:
    data = bytearray(packed)
    for position, value in edits:
        data[position % len(data)] = value
    opened = _open_or_envelope_error(bytes(data), BOB)
    if opened is not None:  # e.g. '-' -> '+' in an outer field: same bytes, same message
        assert opened == v1.unpack(packed, BOB)


@FUZZ
@given(
    st.sampled_from([AUTH_ENV, ANON_ENV]),
    st.integers(min_value=0),
    st.characters(codec="ascii"),
)
def test_fuzz_mutated_protected_header(packed: bytes, position: int, char: str) -> None:
    env = envelope_dict(packed)
    text = b64any(env["protected"]).decode()
    position %= len(text)
    env["protected"] = b64u((text[:position] + char + text[position + 1 :]).encode())
    opened = _open_or_envelope_error(env, BOB)
    if opened is not None:
        assert char == text[position]


# -- interop ------------------------------------------------------------------------------------

IMPLS = ["staticagent", "legacy", "askar"]
MODES = {"anoncrypt": None, "authcrypt": "alice"}
ASCII_TEXT = MESSAGE.decode()
UNICODE_TEXT = json.dumps({"@id": "1", "content": "Grüße ✓ 🎉"}, ensure_ascii=False)


def _interop_cases() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(id, request case, what the test expects), for one batched run of the peer."""
    cases = []
    for impl in IMPLS:
        for mode, sender in MODES.items():
            for to in (["bob"], ["carol", "bob"]):
                tag = f"{impl}-{mode}-{len(to)}"
                seeds = [SEEDS[n] for n in to]
                sender_seed = SEEDS[sender] if sender else None
                pack_case = {"op": "pack", "impl": impl, "message": ASCII_TEXT}
                pack_case |= {"to": seeds, "sender": sender_seed}
                cases.append((f"{tag}-peer-packs", pack_case, {"text": ASCII_TEXT, "mode": mode}))
                # aries-staticagent reads ASCII only; the others take UTF-8.
                text = ASCII_TEXT if impl == "staticagent" else UNICODE_TEXT
                packed = v1.pack(
                    text.encode(), [KEYS[n].public for n in to], KEYS[sender] if sender else None
                )
                unpack_case = {"op": "unpack", "impl": impl, "envelope": packed.decode()}
                unpack_case |= {"key": SEEDS["bob"]}
                cases.append((f"{tag}-moi-packs", unpack_case, {"text": text, "mode": mode}))
    for encoding in ("url-padded", "std-padded"):
        for mode, sender in MODES.items():
            case = {"op": "pack", "impl": "askar", "message": UNICODE_TEXT, "to": [SEEDS["bob"]]}
            case |= {"sender": SEEDS[sender] if sender else None, "encoding": encoding}
            cases.append(
                (f"askar-{mode}-{encoding}-peer-packs", case, {"text": UNICODE_TEXT, "mode": mode})
            )
    return cases


INTEROP_CASES = _interop_cases()


@pytest.fixture(scope="module")
def interop_results() -> dict[str, dict[str, Any]]:
    reply = run_peer("askar", "v1_peer.py", {"cases": [case for _, case, _ in INTEROP_CASES]})
    return {
        case_id: result
        for (case_id, _, _), result in zip(INTEROP_CASES, reply["results"], strict=True)
    }


@pytest.mark.interop
@pytest.mark.parametrize(
    ("case_id", "case", "expect"), INTEROP_CASES, ids=[c[0] for c in INTEROP_CASES]
)
def test_interop(
    interop_results: dict[str, dict[str, Any]],
    case_id: str,
    case: dict[str, Any],
    expect: dict[str, Any],
) -> None:
    result = interop_results[case_id]
    assert "error" not in result, result.get("trace") or result["error"]
    sender = ALICE.public.base58 if expect["mode"] == "authcrypt" else None
    if case["op"] == "pack":
        env = json.loads(result["envelope"])
        assert v1.looks_like_v1(env)
        parsed = v1.parse(result["envelope"].encode())
        assert parsed.alg == expect["mode"].capitalize()
        opened = v1.decrypt(parsed, BOB)
        assert opened.plaintext.decode() == expect["text"]
        assert opened.sender_verkey == sender
        assert opened.recipient_verkey == BOB.public.base58
    else:
        assert result["message"] == expect["text"]
        assert result["sender"] == sender
        assert result["recipient"] == BOB.public.base58
