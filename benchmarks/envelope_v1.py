"""Cost of the DIDComm v1 envelope (RFC 0019) beside the raw libsodium work it must do.

``python -m benchmarks.envelope_v1 [--quick]`` prints one JSON object: medians in µs per
operation for pack, unpack (parse + decrypt) and the round trip, in authcrypt and anoncrypt,
for a 1 KiB message to one recipient; the same round trip with the key-conversion caches
cleared before each run ("cold": a first message to a new peer); and the floor measured in the
same run: the primitives alone, with keys already converted to X25519 —

- authcrypt: crypto_box + crypto_box_open (the content key), crypto_box_seal + open (the
  sender's verkey), ChaCha20-Poly1305 IETF encrypt + decrypt (the content);
- anoncrypt: crypto_box_seal + open (the content key) and the same content cipher.

The combined envelope benchmark imports :func:`measure` (same figures, as a dict).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import nacl.bindings as sodium

from wallet.didcomm import v1
from wallet.keys import KeyType, PrivateKey

MESSAGE_BYTES = 1024


def _median_us(fn: Callable[[], object], *, number: int, repeat: int) -> float:
    """Median over ``repeat`` runs of the mean time of ``number`` calls, in µs.

    CPU time of this process, not wall time: the work is single-threaded and CPU-bound, and
    CPU time does not count the time other processes on a shared machine hold the core.
    """
    fn()  # warm up (imports, caches where the scenario keeps them)
    runs = []
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(number):
            fn()
        runs.append((time.process_time() - start) / number)
    return statistics.median(runs) * 1e6


def _clear_caches() -> None:
    for cached in (v1._x25519_public, v1._b58encode, v1._verkey_raw):
        cached.cache_clear()


def measure(quick: bool = False, message_bytes: int = MESSAGE_BYTES) -> dict[str, Any]:
    number, repeat = (50, 5) if quick else (300, 15)
    message = bytes(range(256)) * (message_bytes // 256) + bytes(message_bytes % 256)
    sender, recipient = PrivateKey.generate(KeyType.ED25519), PrivateKey.generate(KeyType.ED25519)

    auth = v1.pack(message, [recipient.public], sender)
    anon = v1.pack(message, [recipient.public])

    def auth_round() -> None:
        v1.unpack(v1.pack(message, [recipient.public], sender), recipient)

    def anon_round() -> None:
        v1.unpack(v1.pack(message, [recipient.public]), recipient)

    def cold(round_trip: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            _clear_caches()
            round_trip()

        return run

    # The floor: the same primitives, on keys converted once, outside any envelope.
    s_pk = sodium.crypto_sign_ed25519_pk_to_curve25519(sender.public.raw)
    s_sk = sodium.crypto_sign_ed25519_sk_to_curve25519(sender.sodium_secret_key)
    r_pk = sodium.crypto_sign_ed25519_pk_to_curve25519(recipient.public.raw)
    r_sk = sodium.crypto_sign_ed25519_sk_to_curve25519(recipient.sodium_secret_key)
    verkey = sender.public.base58.encode()
    aad = json.loads(auth)["protected"].encode()
    cek, box_nonce, nonce = bytes(32), bytes(24), bytes(12)

    def raw_content() -> None:
        sealed = sodium.crypto_aead_chacha20poly1305_ietf_encrypt(message, aad, nonce, cek)
        sodium.crypto_aead_chacha20poly1305_ietf_decrypt(sealed, aad, nonce, cek)

    def raw_auth() -> None:
        wrapped = sodium.crypto_box(cek, box_nonce, r_pk, s_sk)
        sodium.crypto_box_open(wrapped, box_nonce, s_pk, r_sk)
        sodium.crypto_box_seal_open(sodium.crypto_box_seal(verkey, r_pk), r_pk, r_sk)
        raw_content()

    def raw_anon() -> None:
        sodium.crypto_box_seal_open(sodium.crypto_box_seal(cek, r_pk), r_pk, r_sk)
        raw_content()

    def t(fn: Callable[[], object]) -> float:
        return round(_median_us(fn, number=number, repeat=repeat), 1)

    figures: dict[str, Any] = {
        "benchmark": "envelope_v1",
        "message_bytes": message_bytes,
        "recipients": 1,
        "unit": "µs of CPU time per operation (median)",
        "quick": quick,
        "authcrypt": {
            "pack": t(lambda: v1.pack(message, [recipient.public], sender)),
            "unpack": t(lambda: v1.unpack(auth, recipient)),
            "round_trip": t(auth_round),
            "round_trip_cold": t(cold(auth_round)),
            "raw_primitives": t(raw_auth),
        },
        "anoncrypt": {
            "pack": t(lambda: v1.pack(message, [recipient.public])),
            "unpack": t(lambda: v1.unpack(anon, recipient)),
            "round_trip": t(anon_round),
            "round_trip_cold": t(cold(anon_round)),
            "raw_primitives": t(raw_anon),
        },
        "raw_content_cipher": t(raw_content),
        "raw_ed25519_pk_to_x25519": t(
            lambda: sodium.crypto_sign_ed25519_pk_to_curve25519(recipient.public.raw)
        ),
    }
    for mode in ("authcrypt", "anoncrypt"):
        f = figures[mode]
        f["ratio_to_raw"] = round(f["round_trip"] / f["raw_primitives"], 2)
        f["ratio_to_raw_cold"] = round(f["round_trip_cold"] / f["raw_primitives"], 2)
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, for CI smoke checks")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.quick), ensure_ascii=False))


if __name__ == "__main__":
    main()
