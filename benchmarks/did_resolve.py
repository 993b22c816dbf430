"""DID resolution on the message hot path, beside the raw cost of decoding the keys.

``python -m benchmarks.did_resolve [--quick]`` prints one JSON object: medians in µs per
operation for

- the floor, measured in the same run: decoding one Multikey (``PublicKey.from_multikey``)
  and converting an Ed25519 key to X25519 (what a did:key document needs at least);
- uncached resolution and parsing (``resolve_*`` + ``DIDDocument.parse``) of a did:key, a
  did:peer:2 with two keys and a service, and the did:peer:4 long form of the spec: "cold"
  with the key-decoding memos cleared (a DID never seen), "uncached" with them warm (a
  document evicted from the registry, or a new DID reusing known keys);
- cached resolution through the registry (``resolve`` and ``resolve_method``), which is what
  every message after the first pays;
- a 16 KiB did:peer:4 long form (the largest accepted), with moi's base58 beside the
  ``base58`` package's quadratic decoding of the same text;

and the ratio of each to its floor.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import base58

from wallet.did import (
    DIDDocument,
    Purpose,
    ResolverRegistry,
    create_did_key,
    create_peer2,
    create_peer4,
    default_registry,
    resolve_did_key,
    resolve_peer2,
    resolve_peer4,
)
from wallet.did._base58 import b58decode
from wallet.did._codec import decode_multikey, derived_x25519
from wallet.did.peer2 import peer2_to_peer3
from wallet.keys import KeyType, PrivateKey

ED = PrivateKey.from_secret(KeyType.ED25519, bytes(range(32))).public
X = PrivateKey.from_secret(KeyType.X25519, bytes(range(1, 33))).public
DID_KEY = create_did_key(ED)
PEER2 = create_peer2(
    [(Purpose.AUTHENTICATION, ED), (Purpose.KEY_AGREEMENT, X)],
    [
        {
            "type": "DIDCommMessaging",
            "serviceEndpoint": {
                "uri": "https://agent.example/didcomm",
                "accept": ["didcomm/v2"],
                "routingKeys": [f"{DID_KEY}#{ED.multikey}"],
            },
        }
    ],
)
_SPEC = Path(__file__).resolve().parent.parent / "tests/vectors/did-peer/peer4-spec-example.json"
PEER4 = json.loads(_SPEC.read_text())["long_form_did"]


def _big_peer4() -> str:
    services = [
        {
            "id": f"#s{i}",
            "type": "DIDCommMessaging",
            "serviceEndpoint": {"uri": f"https://agent-{i}.example/didcomm/" + "p" * 400},
        }
        for i in range(8)
    ]
    doc: dict[str, Any] = {
        "verificationMethod": [{"id": "#k", "type": "Multikey", "publicKeyMultibase": ED.multikey}],
        "authentication": ["#k"],
        "service": services,
    }
    while True:
        long, _ = create_peer4(doc)
        if len(long) > 15_000:
            return long
        doc["service"].append(dict(services[0], id=f"#s{len(doc['service'])}"))


def _median_us(fn: Callable[[], object], number: int, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter_ns() - start) / number / 1000)
    return statistics.median(samples)


def _amedian_us(
    loop: asyncio.AbstractEventLoop, factory: Callable[[], Any], number: int, repeat: int
) -> float:
    async def batch() -> float:
        start = time.perf_counter_ns()
        for _ in range(number):
            await factory()
        return (time.perf_counter_ns() - start) / number / 1000

    return statistics.median(loop.run_until_complete(batch()) for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    quick = parser.parse_args().quick
    n, r = (200, 5) if quick else (2000, 9)
    big = _big_peer4()
    big_encoded = big[big.rindex(":") + 2 :]

    floor_multikey = _median_us(lambda: type(ED).from_multikey(ED.multikey), n, r)
    floor_x25519 = _median_us(ED.to_x25519, n, r)
    key_uncached = _median_us(lambda: DIDDocument.parse(resolve_did_key(DID_KEY)), n, r)
    peer2_uncached = _median_us(lambda: DIDDocument.parse(resolve_peer2(PEER2)), n, r)

    def cold(resolve: Callable[[str], dict], did: str) -> Callable[[], object]:
        def run() -> object:
            for cache in (decode_multikey, derived_x25519, peer2_to_peer3):
                cache.cache_clear()
            return DIDDocument.parse(resolve(did))

        return run

    key_cold = _median_us(cold(resolve_did_key, DID_KEY), n // 4, r)
    peer2_cold = _median_us(cold(resolve_peer2, PEER2), n // 4, r)
    peer4_uncached = _median_us(lambda: DIDDocument.parse(resolve_peer4(PEER4)), n // 4, r)
    big_uncached = _median_us(lambda: DIDDocument.parse(resolve_peer4(big)), 3, r)
    big_b58_moi = _median_us(lambda: b58decode(big_encoded), 3, r)
    big_b58_pkg = _median_us(lambda: base58.b58decode(big_encoded), 1, 3 if quick else r)

    loop = asyncio.new_event_loop()
    registry: ResolverRegistry = default_registry()
    for did in (DID_KEY, PEER2, PEER4):
        loop.run_until_complete(registry.resolve(did))
    kid = f"{PEER2}#key-2"
    cached_resolve = _amedian_us(loop, lambda: registry.resolve(PEER2), n * 5, r)
    cached_method = _amedian_us(loop, lambda: registry.resolve_method(kid), n * 5, r)
    loop.run_until_complete(registry.close())
    loop.close()

    floor_key = floor_multikey + floor_x25519
    out = {
        "benchmark": "did_resolve",
        "unit": "µs per operation (median)",
        "quick": quick,
        "floor_from_multikey_us": round(floor_multikey, 2),
        "floor_ed25519_to_x25519_us": round(floor_x25519, 2),
        "did_key_cold_us": round(key_cold, 2),
        "did_key_cold_ratio_to_floor": round(key_cold / floor_key, 2),
        "peer2_cold_us": round(peer2_cold, 2),
        "peer2_cold_ratio_to_floor": round(peer2_cold / (2 * floor_multikey), 2),
        "did_key_uncached_us": round(key_uncached, 2),
        "did_key_uncached_ratio_to_floor": round(key_uncached / floor_key, 2),
        "peer2_uncached_us": round(peer2_uncached, 2),
        "peer2_uncached_ratio_to_floor": round(peer2_uncached / (2 * floor_multikey), 2),
        "peer4_spec_long_uncached_us": round(peer4_uncached, 2),
        "peer4_spec_long_ratio_to_floor": round(peer4_uncached / (2 * floor_multikey), 2),
        "cached_resolve_us": round(cached_resolve, 3),
        "cached_resolve_ratio_to_floor": round(cached_resolve / floor_multikey, 3),
        "cached_resolve_method_us": round(cached_method, 3),
        "cached_resolve_method_ratio_to_floor": round(cached_method / floor_multikey, 3),
        "peer4_16k_chars": len(big),
        "peer4_16k_uncached_us": round(big_uncached, 1),
        "peer4_16k_base58_moi_us": round(big_b58_moi, 1),
        "peer4_16k_base58_package_us": round(big_b58_pkg, 1),
        "peer4_16k_base58_speedup": round(big_b58_pkg / big_b58_moi, 1),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
