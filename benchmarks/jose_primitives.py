"""JOSE hot path against its raw primitives.

Measures, in one run, the median cost (µs) of the primitives DIDComm v2 envelopes are made
of — X25519 keygen and exchange, Ed25519 sign/verify, AES-256 key wrap/unwrap, SHA-256 (the
Concat KDF), and A256CBC-HS512 / A256GCM / XC20P on 1 KiB, each called directly on
libsodium or OpenSSL — then moi's encrypt + parse + decrypt for one recipient (anoncrypt and
authcrypt) and its ratio to the sum of the primitives that path performs. Cases are timed in
interleaved rounds, on this thread's CPU clock, so that other processes on the machine
affect both sides alike.

    python -m benchmarks.jose_primitives [--quick]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import platform
import statistics
import time
from collections.abc import Callable

import nacl.bindings as sodium
from cryptography.hazmat.primitives.ciphers import Cipher
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.ciphers.algorithms import AES
from cryptography.hazmat.primitives.ciphers.modes import CBC
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

from wallet.jose import (
    AgreementCache,
    decrypt,
    encrypt,
    parse,
    sign_compact,
    verify_compact,
)
from wallet.keys import KeyType, PrivateKey

PAYLOAD = os.urandom(1024)


def _raw_cases() -> dict[str, Callable[[], object]]:
    secret, peer_secret = os.urandom(32), os.urandom(32)
    peer = sodium.crypto_scalarmult_base(peer_secret)
    seed = os.urandom(32)
    ed_pk, ed_sk = sodium.crypto_sign_seed_keypair(seed)
    signed = sodium.crypto_sign(PAYLOAD, ed_sk)
    kek, cek64, cek32 = os.urandom(32), os.urandom(64), os.urandom(32)
    wrapped64, wrapped32 = aes_key_wrap(kek, cek64), aes_key_wrap(kek, cek32)
    kdf_input = os.urandom(4 + 64 + 120)
    iv16, iv12, iv24 = os.urandom(16), os.urandom(12), os.urandom(24)
    aad = os.urandom(400)  # about a base64url DIDComm protected header
    padded = PAYLOAD + bytes((16,)) * 16
    al = (len(aad) * 8).to_bytes(8, "big")

    def cbc_encrypt() -> bytes:
        e = Cipher(AES(cek64[32:]), CBC(iv16)).encryptor()
        ct = e.update(padded) + e.finalize()
        return hmac.digest(cek64[:32], aad + iv16 + ct + al, "sha512")[:32]

    cbc_ct = Cipher(AES(cek64[32:]), CBC(iv16)).encryptor().update(padded)
    cbc_tag = hmac.digest(cek64[:32], aad + iv16 + cbc_ct + al, "sha512")[:32]

    def cbc_decrypt() -> bytes:
        if not hmac.compare_digest(
            hmac.digest(cek64[:32], aad + iv16 + cbc_ct + al, "sha512")[:32], cbc_tag
        ):
            raise AssertionError
        d = Cipher(AES(cek64[32:]), CBC(iv16)).decryptor()
        return d.update(cbc_ct) + d.finalize()

    gcm_ct = AESGCM(cek32).encrypt(iv12, PAYLOAD, aad)
    xc_ct = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(PAYLOAD, aad, iv24, cek32)
    return {
        "x25519_keygen": lambda: sodium.crypto_scalarmult_base(os.urandom(32)),
        "x25519_exchange": lambda: sodium.crypto_scalarmult(secret, peer),
        "ed25519_sign": lambda: sodium.crypto_sign(PAYLOAD, ed_sk),
        "ed25519_verify": lambda: sodium.crypto_sign_open(signed, ed_pk),
        "sha256_kdf_block": lambda: hashlib.sha256(kdf_input).digest(),
        "a256kw_wrap_64": lambda: aes_key_wrap(kek, cek64),
        "a256kw_unwrap_64": lambda: aes_key_unwrap(kek, wrapped64),
        "a256kw_wrap_32": lambda: aes_key_wrap(kek, cek32),
        "a256kw_unwrap_32": lambda: aes_key_unwrap(kek, wrapped32),
        "a256cbc_hs512_encrypt_1k": cbc_encrypt,
        "a256cbc_hs512_decrypt_1k": cbc_decrypt,
        "a256gcm_encrypt_1k": lambda: AESGCM(cek32).encrypt(iv12, PAYLOAD, aad),
        "a256gcm_decrypt_1k": lambda: AESGCM(cek32).decrypt(iv12, gcm_ct, aad),
        "xc20p_encrypt_1k": lambda: sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
            PAYLOAD, aad, iv24, cek32
        ),
        "xc20p_decrypt_1k": lambda: sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
            xc_ct, aad, iv24, cek32
        ),
    }


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _floor_cases() -> dict[str, Callable[[], object]]:
    """The least any JWE implementation must do: the same crypto plus the JSON and
    base64url of the envelope, inlined, with no validation at all. Not moi's code."""
    alice_sk, bob_sk = os.urandom(32), os.urandom(32)
    alice_pk, bob_pk = (
        sodium.crypto_scalarmult_base(alice_sk),
        sodium.crypto_scalarmult_base(bob_sk),
    )
    kid, skid = "did:example:bob#key-x25519-1", "did:example:alice#key-x25519-1"
    apv = _b64e(hashlib.sha256(kid.encode()).digest())

    def kdf(z: bytes, alg: str, tag: bytes) -> bytes:
        info = b"".join(len(x).to_bytes(4, "big") + x for x in (alg.encode(), b"", b""))
        info += (256).to_bytes(4, "big") + (len(tag).to_bytes(4, "big") + tag if tag else b"")
        return hashlib.sha256(b"\0\0\0\1" + z + info).digest()

    def anon() -> bytes:
        esk = os.urandom(32)
        epk = sodium.crypto_scalarmult_base(esk)
        header = {"typ": "application/didcomm-encrypted+json", "alg": "ECDH-ES+A256KW"}
        header.update(enc="XC20P", apv=apv, epk={"kty": "OKP", "crv": "X25519", "x": _b64e(epk)})
        protected = _b64e(json.dumps(header, separators=(",", ":")).encode())
        cek, iv = os.urandom(32), os.urandom(24)
        sealed = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
            PAYLOAD, protected.encode(), iv, cek
        )
        kek = kdf(sodium.crypto_scalarmult(esk, bob_pk), "ECDH-ES+A256KW", b"")
        jwe = {
            "protected": protected,
            "recipients": [
                {"header": {"kid": kid}, "encrypted_key": _b64e(aes_key_wrap(kek, cek))}
            ],
            "iv": _b64e(iv),
            "ciphertext": _b64e(sealed[:-16]),
            "tag": _b64e(sealed[-16:]),
        }
        got = json.loads(_b64d(jwe["protected"]))
        z = sodium.crypto_scalarmult(bob_sk, _b64d(got["epk"]["x"]))
        cek2 = aes_key_unwrap(kdf(z, got["alg"], b""), _b64d(jwe["recipients"][0]["encrypted_key"]))
        return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
            _b64d(jwe["ciphertext"]) + _b64d(jwe["tag"]),
            jwe["protected"].encode(),
            _b64d(jwe["iv"]),
            cek2,
        )

    def auth() -> bytes:
        esk = os.urandom(32)
        epk = sodium.crypto_scalarmult_base(esk)
        header = {"typ": "application/didcomm-encrypted+json", "alg": "ECDH-1PU+A256KW"}
        header.update(enc="A256CBC-HS512", skid=skid, apu=_b64e(skid.encode()), apv=apv)
        header["epk"] = {"kty": "OKP", "crv": "X25519", "x": _b64e(epk)}
        protected = _b64e(json.dumps(header, separators=(",", ":")).encode())
        aad = protected.encode()
        cek, iv = os.urandom(64), os.urandom(16)
        pad = 16 - len(PAYLOAD) % 16
        e = Cipher(AES(cek[32:]), CBC(iv)).encryptor()
        ct = e.update(PAYLOAD + bytes((pad,)) * pad) + e.finalize()
        al = (len(aad) * 8).to_bytes(8, "big")
        tag = hmac.digest(cek[:32], aad + iv + ct + al, "sha512")[:32]
        z = sodium.crypto_scalarmult(esk, bob_pk) + sodium.crypto_scalarmult(alice_sk, bob_pk)
        kek = kdf(z, "ECDH-1PU+A256KW", tag)
        jwe = {
            "protected": protected,
            "recipients": [
                {"header": {"kid": kid}, "encrypted_key": _b64e(aes_key_wrap(kek, cek))}
            ],
            "iv": _b64e(iv),
            "ciphertext": _b64e(ct),
            "tag": _b64e(tag),
        }
        got = json.loads(_b64d(jwe["protected"]))
        tag2, iv2, ct2 = _b64d(jwe["tag"]), _b64d(jwe["iv"]), _b64d(jwe["ciphertext"])
        z2 = sodium.crypto_scalarmult(bob_sk, _b64d(got["epk"]["x"]))
        z2 += sodium.crypto_scalarmult(bob_sk, alice_pk)
        ek = _b64d(jwe["recipients"][0]["encrypted_key"])
        cek2 = aes_key_unwrap(kdf(z2, got["alg"], tag2), ek)
        aad2 = jwe["protected"].encode()
        mac = hmac.digest(cek2[:32], aad2 + iv2 + ct2 + al, "sha512")[:32]
        if not hmac.compare_digest(mac, tag2):
            raise AssertionError("tag mismatch")
        d = Cipher(AES(cek2[32:]), CBC(iv2)).decryptor()
        padded = d.update(ct2) + d.finalize()
        return padded[: -padded[-1]]

    if anon() != PAYLOAD or auth() != PAYLOAD:
        raise AssertionError("the inline floor pipelines are broken")
    return {
        "floor_anoncrypt_xc20p_roundtrip_1k": anon,
        "floor_authcrypt_roundtrip_1k": auth,
    }


def _moi_cases() -> dict[str, Callable[[], object]]:
    alice, bob = PrivateKey.generate(KeyType.X25519), PrivateKey.generate(KeyType.X25519)
    signer = PrivateKey.generate(KeyType.ED25519)
    bob_kid, alice_kid = "did:example:bob#key-x25519-1", "did:example:alice#key-x25519-1"
    to_bob = [(bob_kid, bob.public)]

    def anon(enc: str) -> Callable[[], bytes]:
        def run() -> bytes:
            return decrypt(parse(encrypt(PAYLOAD, to_bob, enc=enc)), bob_kid, bob)

        return run

    def auth() -> bytes:
        jwe = encrypt(PAYLOAD, to_bob, enc="A256CBC-HS512", sender=(alice_kid, alice))
        return decrypt(parse(jwe), bob_kid, bob, alice.public)

    alice_cache, bob_cache = AgreementCache(), AgreementCache()

    def auth_cached() -> bytes:
        jwe = encrypt(
            PAYLOAD,
            to_bob,
            enc="A256CBC-HS512",
            sender=(alice_kid, alice),
            agreement_cache=alice_cache,
        )
        return decrypt(parse(jwe), bob_kid, bob, alice.public, agreement_cache=bob_cache)

    token = sign_compact({"kid": "k"}, PAYLOAD, signer)
    return {
        "moi_anoncrypt_xc20p_roundtrip_1k": anon("XC20P"),
        "moi_anoncrypt_a256gcm_roundtrip_1k": anon("A256GCM"),
        "moi_anoncrypt_a256cbc_hs512_roundtrip_1k": anon("A256CBC-HS512"),
        "moi_authcrypt_roundtrip_1k": auth,
        "moi_authcrypt_cached_roundtrip_1k": auth_cached,
        "moi_jws_compact_sign_1k": lambda: sign_compact({"kid": "k"}, PAYLOAD, signer),
        "moi_jws_compact_verify_1k": lambda: verify_compact(token, signer.public),
    }


# What each moi path performs, in primitive calls (encrypt side, then decrypt side).
_ANON = {
    "x25519_keygen": 1,
    "x25519_exchange": 2,
    "sha256_kdf_block": 2,
    "a256kw_wrap_32": 1,
    "a256kw_unwrap_32": 1,
}
_COMPOSITION = {
    "moi_anoncrypt_xc20p_roundtrip_1k": {**_ANON, "xc20p_encrypt_1k": 1, "xc20p_decrypt_1k": 1},
    "moi_anoncrypt_a256gcm_roundtrip_1k": {
        **_ANON,
        "a256gcm_encrypt_1k": 1,
        "a256gcm_decrypt_1k": 1,
    },
    "moi_anoncrypt_a256cbc_hs512_roundtrip_1k": {
        **_ANON,
        "a256kw_wrap_32": 0,
        "a256kw_unwrap_32": 0,
        "a256kw_wrap_64": 1,
        "a256kw_unwrap_64": 1,
        "a256cbc_hs512_encrypt_1k": 1,
        "a256cbc_hs512_decrypt_1k": 1,
    },
    "moi_authcrypt_roundtrip_1k": {
        "x25519_keygen": 1,
        "x25519_exchange": 4,  # Ze and Zs on each side
        "sha256_kdf_block": 2,
        "a256kw_wrap_64": 1,
        "a256kw_unwrap_64": 1,
        "a256cbc_hs512_encrypt_1k": 1,
        "a256cbc_hs512_decrypt_1k": 1,
    },
    "moi_authcrypt_cached_roundtrip_1k": {
        "x25519_keygen": 1,
        "x25519_exchange": 2,  # Ze on each side; Zs comes from the owners' AgreementCache
        "sha256_kdf_block": 2,
        "a256kw_wrap_64": 1,
        "a256kw_unwrap_64": 1,
        "a256cbc_hs512_encrypt_1k": 1,
        "a256cbc_hs512_decrypt_1k": 1,
    },
    "moi_jws_compact_sign_1k": {"ed25519_sign": 1},
    "moi_jws_compact_verify_1k": {"ed25519_verify": 1},
}


def _batch_us(fn: Callable[[], object], n: int) -> float:
    # CPU time of this thread: other processes on a shared machine do not count against us.
    start = time.thread_time_ns()
    for _ in range(n):
        fn()
    return (time.thread_time_ns() - start) / n / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    args = parser.parse_args()
    rounds, batch = (5, 20) if args.quick else (31, 100)

    cases = {**_raw_cases(), **_floor_cases(), **_moi_cases()}
    for fn in cases.values():  # warm up caches and lazy imports
        _batch_us(fn, 5)
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            samples[name].append(_batch_us(fn, batch))
    median = {name: statistics.median(values) for name, values in samples.items()}

    primitives = {k: round(v, 2) for k, v in median.items() if not k.startswith(("moi_", "floor_"))}
    paths = {}
    for name, parts in _COMPOSITION.items():
        raw = sum(median[p] * count for p, count in parts.items())
        paths[name] = {
            "median_us": round(median[name], 2),
            "per_second": round(1e6 / median[name]),
            "raw_primitives_us": round(raw, 2),
            "ratio_to_raw": round(median[name] / raw, 3),
        }
        floor = name.replace("moi_", "floor_")
        if floor in median:
            paths[name]["inline_floor_us"] = round(median[floor], 2)
            paths[name]["floor_ratio_to_raw"] = round(median[floor] / raw, 3)
            paths[name]["ratio_to_floor"] = round(median[name] / median[floor], 3)
    print(
        json.dumps(
            {
                "benchmark": "jose_primitives",
                "unit": "microseconds of thread CPU time, median of rounds",
                "rounds": rounds,
                "batch": batch,
                "payload_bytes": len(PAYLOAD),
                "python": platform.python_version(),
                "primitives_us": primitives,
                "paths": paths,
                "notes": "roundtrip = encrypt + parse + decrypt, one recipient, dict in/out "
                "(no JSON text); raw = the same primitive calls made directly; inline_floor = "
                "those calls plus the envelope's JSON and base64url, inlined, unvalidated",
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
