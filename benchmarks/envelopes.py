"""DIDComm pack + unpack through the Wallet API, beside the raw crypto it must do.

``python -m benchmarks.envelopes [--quick] [--profile MODE]`` prints one JSON object. For a
1 KiB plaintext between two wallets (did:peer:2, in-memory stores, keys and DID documents
already resolved and cached, as in a running agent), each mode's round trip — Alice's
``Wallet.pack``, the envelope serialised to bytes as a transport sends it, Bob's
``Wallet.unpack`` — is timed at three levels in the same run:

- ``wallet``: the whole path (key lookup, resolution, checks, envelope);
- ``envelope``: the envelope code alone, keys in hand (``wallet.jose`` or
  ``wallet.didcomm.v1``, with the same JSON encoding and decoding);
- ``raw``: the primitives the path performs, called directly on libsodium / OpenSSL with the
  same sizes — X25519 key generation and exchanges, the Concat KDF hash, AES key wrap, the
  content cipher, Ed25519 sign / verify; for v1, crypto_box, sealed box and
  ChaCha20-Poly1305.

The wallet keeps ECDH-1PU's static-static secret (``Zs``) and the v1 ``crypto_box`` key per
pair of keys, so in the steady state measured here (authcrypt, v1 authcrypt) a round trip does
two X25519 exchanges fewer than a first message to a peer; ``raw`` counts the steady state (the
envelope level gets the same caches), ``raw_without_zs_cache_us`` / ``_box_cache_us`` not.

``ratio`` is wallet / raw (the issue's target: at most 1.5; and at least 3,000 authcrypt
round trips a second). ``format_us`` is the JSON and base64 work the wire format itself asks of
a round trip (plaintext and every layer encoded and decoded, binary fields and headers in
base64url), done by the standard library alone with no checks; ``floor_ratio`` is
(raw + format) / raw, what an envelope written in Python could reach at best here.
Single core: the process pins itself to one CPU and uses no threads.
``--profile MODE`` prints the top of a cProfile of that mode's wallet round trip to stderr.
"""

from __future__ import annotations

import asyncio
import base64
import cProfile
import hashlib
import hmac
import io
import json
import os
import pstats
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import nacl.bindings as sodium
from cryptography.hazmat.primitives.ciphers import Cipher
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.ciphers.algorithms import AES
from cryptography.hazmat.primitives.ciphers.modes import CBC
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

from wallet import Wallet
from wallet.didcomm import v1
from wallet.didcomm.packing import ENCRYPTED_TYP, SIGNED_TYP
from wallet.encoding import dumps_compact, loads_object
from wallet.jose import AgreementCache, jwe, jws
from wallet.jose._util import b64d
from wallet.keys import KeyType, PrivateKey
from wallet.wallet import build_plaintext

from ._common import (
    amedians,
    emit,
    environment,
    parser,
    per_second,
    pin_to_one_core,
    ratio,
    rounds,
)

MESSAGE_BYTES = 1024
MODES = (
    "authcrypt",
    "anoncrypt_XC20P",
    "anoncrypt_A256GCM",
    "anoncrypt_A256CBC-HS512",
    "signed",
    "signed_authcrypt",
    "v1_authcrypt",
)
_KW = {"XC20P": 32, "A256GCM": 32, "A256CBC-HS512": 64}  # content key bytes, by enc


class _Parties:
    """Alice and Bob: two wallets, a did:peer:2 each, each knowing the other's DID."""

    alice: Wallet
    bob: Wallet
    a: str
    b: str

    async def open(self) -> None:
        self.alice = await Wallet.create("sqlite://:memory:", raw_key=os.urandom(32))
        self.bob = await Wallet.create("sqlite://:memory:", raw_key=os.urandom(32))
        self.a = await self.alice.create_did("peer2", endpoints=["https://alice.example/dc"])
        self.b = await self.bob.create_did("peer2", endpoints=["https://bob.example/dc"])

    async def close(self) -> None:
        await self.alice.close()
        await self.bob.close()

    async def secret(self, wallet: Wallet, did: str, purpose: str) -> tuple[str, PrivateKey]:
        doc = await wallet.resolve(did)
        methods = doc.key_agreement_keys() if purpose == "agree" else doc.authentication_keys()
        for method in methods:
            secret = await wallet.secret_for(method.id)
            if secret is not None:
                return method.id, secret
        raise LookupError(f"no {purpose} key of {did}")


def _sized_plaintext(to: str, frm: str, *, v1_form: bool = False) -> dict[str, Any]:
    """A basic message whose compact JSON is MESSAGE_BYTES long."""
    msg = build_plaintext(to=[to], frm=frm, body={"content": ""}, msg_id="m-1", v1=v1_form)
    pad = MESSAGE_BYTES - len(dumps_compact(msg).encode("utf-8"))
    if pad < 0:
        raise ValueError("the headers alone are over the message size")
    if v1_form:
        msg["content"] = "x" * pad
    else:
        msg["body"] = {"content": "x" * pad}
    return msg


def _wire(packed: dict[str, Any]) -> bytes:
    return dumps_compact(packed).encode("utf-8")


# -- the wallet path ----------------------------------------------------------------------------


def _wallet_cases(p: _Parties) -> dict[str, Callable[[], Awaitable[object]]]:
    msg = _sized_plaintext(p.b, p.a)
    aries = _sized_plaintext(p.b, p.a, v1_form=True)
    alice, bob, to, frm = p.alice, p.bob, [p.b], p.a

    def v2(**options: Any) -> Callable[[], Awaitable[object]]:
        async def run() -> object:
            return await bob.unpack(_wire(await alice.pack(msg, to=to, frm=frm, **options)))

        return run

    async def v1_round() -> object:
        packed = await alice.pack(aries, to=to, frm=frm, mode="authcrypt", v1=True)
        return await bob.unpack(_wire(packed))

    cases = {
        "authcrypt": v2(mode="authcrypt"),
        "signed": v2(mode="signed"),
        "signed_authcrypt": v2(mode="authcrypt", sign=True),
        "v1_authcrypt": v1_round,
    }
    for enc in _KW:
        cases[f"anoncrypt_{enc}"] = v2(mode="anoncrypt", enc=enc)
    return {mode: cases[mode] for mode in MODES}


# -- the envelope code alone --------------------------------------------------------------------


async def _envelope_cases(p: _Parties) -> dict[str, Callable[[], object]]:
    payload = dumps_compact(_sized_plaintext(p.b, p.a)).encode("utf-8")
    aries = dumps_compact(_sized_plaintext(p.b, p.a, v1_form=True)).encode("utf-8")
    a_kid, a_agree = await p.secret(p.alice, p.a, "agree")
    b_kid, b_agree = await p.secret(p.bob, p.b, "agree")
    s_kid, a_sign = await p.secret(p.alice, p.a, "sign")
    methods = (await p.bob.resolve(p.b)).verification_methods
    b_ed = next(m for m in methods if m.public_key.type is KeyType.ED25519)
    b_sign = await p.bob.secret_for(b_ed.id)
    if b_sign is None:
        raise LookupError("Bob's Ed25519 key")
    a_pub, b_pub, s_pub = a_agree.public, b_agree.public, a_sign.public
    a_cache, b_cache = AgreementCache(), AgreementCache()  # as each wallet keeps one

    def encrypt(data: bytes, enc: str, sender: bool) -> bytes:
        who = (a_kid, a_agree) if sender else None
        packed = jwe.encrypt(
            data, [(b_kid, b_pub)], enc=enc, sender=who, typ=ENCRYPTED_TYP, agreement_cache=a_cache
        )
        return _wire(packed)

    def decrypt(wire: bytes) -> bytes:
        parsed = jwe.parse(loads_object(wire))
        sender = a_pub if parsed.is_authcrypt else None
        return jwe.decrypt(parsed, b_kid, b_agree, sender, agreement_cache=b_cache)

    def sign(data: bytes) -> bytes:
        return _wire(jws.sign_general(data, [(s_kid, a_sign)], typ=SIGNED_TYP))

    def verify(wire: bytes) -> bytes:
        parsed = jws.parse_general(loads_object(wire))
        if not jws.verify_signature(parsed.signatures[0], s_pub):
            raise AssertionError("signature")
        return parsed.payload

    def anon(enc: str) -> Callable[[], object]:
        return lambda: loads_object(decrypt(encrypt(payload, enc, False)))

    cases: dict[str, Callable[[], object]] = {
        "authcrypt": lambda: loads_object(decrypt(encrypt(payload, "A256CBC-HS512", True))),
        "signed": lambda: loads_object(verify(sign(payload))),
        "signed_authcrypt": lambda: loads_object(
            verify(decrypt(encrypt(sign(payload), "A256CBC-HS512", True)))
        ),
        "v1_authcrypt": lambda: loads_object(
            v1.unpack(
                v1.pack(aries, [b_sign.public], a_sign, agreement_cache=a_cache),
                b_sign,
                agreement_cache=b_cache,
            ).plaintext
        ),
    }
    for enc in _KW:
        cases[f"anoncrypt_{enc}"] = anon(enc)
    return {mode: cases[mode] for mode in MODES}


# -- the raw primitives -------------------------------------------------------------------------


class _Sizes:
    """The byte counts the primitives see in each mode, read off real envelopes."""

    def __init__(self, packed: dict[str, Any]) -> None:
        self.packed = packed

    def jwe(self, mode: str) -> tuple[int, int]:
        """(plaintext bytes, AAD bytes) of the mode's JWE."""
        env = self.packed[mode]
        return len(b64d(env["ciphertext"], "ciphertext")), len(env["protected"])

    def signing_input(self, mode: str) -> int:
        env = self.packed[mode]
        return len(env["signatures"][0]["protected"]) + 1 + len(env["payload"])


def _x25519_pair() -> tuple[bytes, bytes]:
    secret = os.urandom(32)
    return secret, sodium.crypto_scalarmult_base(secret)


def _raw_jwe(
    plain_bytes: int, aad_bytes: int, enc: str, auth: bool, zs_cached: bool = True
) -> Callable[[], None]:
    """One JWE round trip's primitives: ephemeral keygen, the exchanges (Ze on each side, and
    for ECDH-1PU Zs on each side unless it is cached), one Concat-KDF hash each side, wrap +
    unwrap, the content cipher both ways, and the random content key and iv."""
    s_sk, s_pk = _x25519_pair()
    r_sk, r_pk = _x25519_pair()
    plaintext, aad = os.urandom(plain_bytes), os.urandom(aad_bytes)
    # counter, Z (Ze, or Ze || Zs), then FixedInfo: alg, apu (the skid), apv, key size, tag
    kdf_input = os.urandom(4 + (64 if auth else 32) + 19 + (4 + 100 if auth else 4) + 36 + 4)
    kdf_input += os.urandom(36 if auth else 4)
    kek = os.urandom(32)
    key_size, iv_size = _KW[enc], {"XC20P": 24, "A256GCM": 12, "A256CBC-HS512": 16}[enc]
    encrypt, decrypt = _raw_content(enc)

    def run() -> None:
        e_sk = os.urandom(32)
        e_pk = sodium.crypto_scalarmult_base(e_sk)
        cek, iv = os.urandom(key_size), os.urandom(iv_size)
        sodium.crypto_scalarmult(e_sk, r_pk)  # sender: Ze
        if auth and not zs_cached:
            sodium.crypto_scalarmult(s_sk, r_pk)  # sender: Zs
        ciphertext, tag = encrypt(cek, iv, plaintext, aad)
        hashlib.sha256(kdf_input).digest()
        wrapped = aes_key_wrap(kek, cek)
        sodium.crypto_scalarmult(r_sk, e_pk)  # recipient: Ze
        if auth and not zs_cached:
            sodium.crypto_scalarmult(r_sk, s_pk)  # recipient: Zs
        hashlib.sha256(kdf_input).digest()
        decrypt(aes_key_unwrap(kek, wrapped), iv, ciphertext, tag, aad)

    return run


def _raw_content(
    enc: str,
) -> tuple[
    Callable[[bytes, bytes, bytes, bytes], tuple[bytes, bytes]],
    Callable[[bytes, bytes, bytes, bytes, bytes], bytes],
]:
    if enc == "XC20P":

        def x_enc(key: bytes, iv: bytes, data: bytes, aad: bytes) -> tuple[bytes, bytes]:
            sealed = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(data, aad, iv, key)
            return sealed[:-16], sealed[-16:]

        def x_dec(key: bytes, iv: bytes, ct: bytes, tag: bytes, aad: bytes) -> bytes:
            return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(ct + tag, aad, iv, key)

        return x_enc, x_dec
    if enc == "A256GCM":

        def g_enc(key: bytes, iv: bytes, data: bytes, aad: bytes) -> tuple[bytes, bytes]:
            sealed = AESGCM(key).encrypt(iv, data, aad)
            return sealed[:-16], sealed[-16:]

        def g_dec(key: bytes, iv: bytes, ct: bytes, tag: bytes, aad: bytes) -> bytes:
            return AESGCM(key).decrypt(iv, ct + tag, aad)

        return g_enc, g_dec

    def c_enc(key: bytes, iv: bytes, data: bytes, aad: bytes) -> tuple[bytes, bytes]:
        pad = 16 - len(data) % 16
        e = Cipher(AES(key[32:]), CBC(iv)).encryptor()
        ct = e.update(data + bytes((pad,)) * pad) + e.finalize()
        al = (len(aad) * 8).to_bytes(8, "big")
        return ct, hmac.digest(key[:32], aad + iv + ct + al, "sha512")[:32]

    def c_dec(key: bytes, iv: bytes, ct: bytes, tag: bytes, aad: bytes) -> bytes:
        al = (len(aad) * 8).to_bytes(8, "big")
        if not hmac.compare_digest(hmac.digest(key[:32], aad + iv + ct + al, "sha512")[:32], tag):
            raise AssertionError("tag")
        d = Cipher(AES(key[32:]), CBC(iv)).decryptor()
        return d.update(ct) + d.finalize()

    return c_enc, c_dec


def _raw_sign(signing_input: int) -> Callable[[], None]:
    pk, sk = sodium.crypto_sign_seed_keypair(os.urandom(32))
    data = os.urandom(signing_input)

    def run() -> None:
        sig = sodium.crypto_sign(data, sk)[:64]
        sodium.crypto_sign_open(sig + data, pk)

    return run


def _raw_v1(plain_bytes: int, aad_bytes: int, box_cached: bool = True) -> Callable[[], None]:
    """RFC 0019 authcrypt, keys already in X25519 form: crypto_box + open (content key; with
    the pair's box key precomputed, as in the steady state, only the ``afternm`` halves),
    sealed box + open (the sender's verkey), ChaCha20-Poly1305 IETF both ways."""
    s_sk, s_pk = _x25519_pair()
    r_sk, r_pk = _x25519_pair()
    s_box, r_box = sodium.crypto_box_beforenm(r_pk, s_sk), sodium.crypto_box_beforenm(s_pk, r_sk)
    plaintext, aad = os.urandom(plain_bytes), os.urandom(aad_bytes)
    verkey = b"x" * 44

    def run() -> None:
        cek, box_nonce, nonce = os.urandom(32), os.urandom(24), os.urandom(12)
        if box_cached:
            wrapped = sodium.crypto_box_afternm(cek, box_nonce, s_box)
        else:
            wrapped = sodium.crypto_box(cek, box_nonce, r_pk, s_sk)
        sealed_sender = sodium.crypto_box_seal(verkey, r_pk)
        sealed = sodium.crypto_aead_chacha20poly1305_ietf_encrypt(plaintext, aad, nonce, cek)
        sodium.crypto_box_seal_open(sealed_sender, r_pk, r_sk)
        if box_cached:
            key = sodium.crypto_box_open_afternm(wrapped, box_nonce, r_box)
        else:
            key = sodium.crypto_box_open(wrapped, box_nonce, s_pk, r_sk)
        sodium.crypto_aead_chacha20poly1305_ietf_decrypt(sealed, aad, nonce, key)

    return run


async def _raw_cases(p: _Parties) -> dict[str, Callable[[], object]]:
    msg, aries = _sized_plaintext(p.b, p.a), _sized_plaintext(p.b, p.a, v1_form=True)
    to, frm = [p.b], p.a
    packed = {
        "authcrypt": await p.alice.pack(msg, to=to, frm=frm, mode="authcrypt"),
        "signed": await p.alice.pack(msg, to=to, frm=frm, mode="signed"),
        "signed_authcrypt": await p.alice.pack(msg, to=to, frm=frm, mode="authcrypt", sign=True),
        "v1_authcrypt": await p.alice.pack(aries, to=to, frm=frm, mode="authcrypt", v1=True),
    }
    for enc in _KW:
        packed[f"anoncrypt_{enc}"] = await p.alice.pack(msg, to=to, mode="anoncrypt", enc=enc)
    sizes = _Sizes(packed)
    sign = _raw_sign(sizes.signing_input("signed"))
    auth_signed = _raw_jwe(*sizes.jwe("signed_authcrypt"), "A256CBC-HS512", True)

    def signed_authcrypt() -> None:
        sign()
        auth_signed()

    cases: dict[str, Callable[[], object]] = {
        "authcrypt": _raw_jwe(*sizes.jwe("authcrypt"), "A256CBC-HS512", True),
        "signed": sign,
        "signed_authcrypt": signed_authcrypt,
        "v1_authcrypt": _raw_v1(*sizes.jwe("v1_authcrypt")),
    }
    for enc in _KW:
        cases[f"anoncrypt_{enc}"] = _raw_jwe(*sizes.jwe(f"anoncrypt_{enc}"), enc, False)
    out = {mode: cases[mode] for mode in MODES}
    uncached = _raw_jwe(*sizes.jwe("authcrypt"), "A256CBC-HS512", True, zs_cached=False)
    out["authcrypt_without_zs_cache"] = uncached
    out["v1_authcrypt_without_box_cache"] = _raw_v1(*sizes.jwe("v1_authcrypt"), box_cached=False)
    inner = (await p.bob.unpack(packed["signed_authcrypt"])).metadata.signed_message
    for mode in MODES:
        layers = [packed[mode], *([dict(inner or {})] if mode == "signed_authcrypt" else [])]
        out[f"format_{mode}"] = _format(aries if mode == "v1_authcrypt" else msg, layers)
    return out


def _ub64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _format(plaintext: dict[str, Any], layers: list[dict[str, Any]]) -> Callable[[], None]:
    """The wire format's JSON and base64 work for one round trip, standard library only:
    the plaintext and each layer (outermost first) encoded and decoded, every base64url value
    (a v1 header's recipients' too) encoded and decoded, every protected header parsed."""
    values: list[str] = []
    headers: list[bytes] = []
    for layer in layers:
        values += [
            layer[n] for n in ("protected", "iv", "ciphertext", "tag", "payload") if n in layer
        ]
        entries = (*layer.get("recipients", ()), *layer.get("signatures", ()))
        for entry in entries:
            values += [entry[n] for n in ("protected", "encrypted_key", "signature") if n in entry]
        for text in filter(None, [layer.get("protected"), *(e.get("protected") for e in entries)]):
            headers.append(_ub64d(text))
            for entry in json.loads(headers[-1]).get("recipients", ()):  # v1: in the header
                values.append(entry["encrypted_key"])
                values += [entry["header"][n] for n in ("sender", "iv") if entry["header"].get(n)]
    binary = [_ub64d(v) for v in values]
    separators = (",", ":")
    text = json.dumps(plaintext, separators=separators).encode()

    def run() -> None:
        json.dumps(plaintext, separators=separators).encode()
        for data in binary:
            base64.urlsafe_b64encode(data)
        for layer in layers:
            json.loads(json.dumps(layer, separators=separators).encode())
        for value in values:
            _ub64d(value)
        for header in headers:
            json.loads(header)
        json.loads(text)

    return run


def _primitive_cases() -> dict[str, Callable[[], object]]:
    """Single primitives, for reading the raw figures (1 KiB where there is a payload)."""
    sk, pk = _x25519_pair()
    ed_pk, ed_sk = sodium.crypto_sign_seed_keypair(os.urandom(32))
    data = os.urandom(MESSAGE_BYTES)
    signed = sodium.crypto_sign(data, ed_sk)
    kek, cek = os.urandom(32), os.urandom(64)
    wrapped = aes_key_wrap(kek, cek)
    return {
        "x25519_keygen": lambda: sodium.crypto_scalarmult_base(os.urandom(32)),
        "x25519_exchange": lambda: sodium.crypto_scalarmult(sk, pk),
        "ed25519_sign_1k": lambda: sodium.crypto_sign(data, ed_sk),
        "ed25519_verify_1k": lambda: sodium.crypto_sign_open(signed, ed_pk),
        "a256kw_wrap_64": lambda: aes_key_wrap(kek, cek),
        "a256kw_unwrap_64": lambda: aes_key_unwrap(kek, wrapped),
        "crypto_box_seal_open": lambda: sodium.crypto_box_seal_open(
            sodium.crypto_box_seal(cek, pk), pk, sk
        ),
    }


# -- running --------------------------------------------------------------------------------


async def measure(quick: bool = False) -> dict[str, Any]:
    parties = _Parties()
    await parties.open()
    try:
        wallet = _wallet_cases(parties)
        envelope = await _envelope_cases(parties)
        raw = await _raw_cases(parties)
        timing = rounds(quick)
        cases: dict[str, Callable[[], object]] = {}
        for mode in MODES:
            cases[f"raw/{mode}"] = raw[mode]
            cases[f"envelope/{mode}"] = envelope[mode]
            cases[f"wallet/{mode}"] = wallet[mode]
            cases[f"format/{mode}"] = raw[f"format_{mode}"]
        for extra in ("authcrypt_without_zs_cache", "v1_authcrypt_without_box_cache"):
            cases[f"raw/{extra}"] = raw[extra]
        figures = await amedians(cases, **timing)
        primitives = await amedians(_primitive_cases(), **timing)
    finally:
        await parties.close()
    modes: dict[str, Any] = {}
    for mode in MODES:
        w, e, r, f = (figures[f"{lv}/{mode}"] for lv in ("wallet", "envelope", "raw", "format"))
        modes[mode] = {
            "wallet_us": w,
            "envelope_us": e,
            "raw_us": r,
            "ratio": ratio(w, r),
            "envelope_ratio": ratio(e, r),
            "wallet_over_envelope_us": round(w - e, 2),
            "round_trips_per_s": per_second(w),
            "format_us": f,
            "floor_ratio": ratio(r + f, r),
        }
    auth = modes["authcrypt"]
    auth["raw_without_zs_cache_us"] = figures["raw/authcrypt_without_zs_cache"]
    modes["v1_authcrypt"]["raw_without_box_cache_us"] = figures[
        "raw/v1_authcrypt_without_box_cache"
    ]
    return {
        "benchmark": "envelopes",
        "unit": "µs of CPU time per pack + unpack round trip (median of interleaved rounds)",
        "message_bytes": MESSAGE_BYTES,
        "recipients": 1,
        "quick": quick,
        "modes": modes,
        "primitives_us": primitives,
        "targets": {
            "ratio_at_most": 1.5,
            "authcrypt_round_trips_per_s_at_least": 3000,
            "authcrypt_ratio_met": auth["ratio"] <= 1.5,
            "authcrypt_rate_met": auth["round_trips_per_s"] >= 3000,
            "modes_within_ratio": sorted(m for m, f in modes.items() if f["ratio"] <= 1.5),
        },
        **timing,
    }


async def profile(mode: str, calls: int = 2000) -> str:
    """The top of a cProfile of ``calls`` wallet round trips in ``mode`` (by own time)."""
    parties = _Parties()
    await parties.open()
    try:
        run = _wallet_cases(parties)[mode]
        await run()
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(calls):
            await run()
        profiler.disable()
    finally:
        await parties.close()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(25)
    return out.getvalue()


def main(argv: list[str] | None = None) -> None:
    options = parser(__doc__)
    options.add_argument("--profile", choices=MODES, help="cProfile one mode's wallet path")
    args = options.parse_args(argv)
    env = environment()
    cpu = pin_to_one_core()
    if args.profile:
        sys.stderr.write(asyncio.run(profile(args.profile)))
    figures = asyncio.run(measure(args.quick))
    emit({**figures, "environment": {**env, "pinned_cpu": cpu}})


if __name__ == "__main__":
    main()
