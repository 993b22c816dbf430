"""Issuing and verifying Data Integrity credentials beside the raw Ed25519 cost.

``python -m benchmarks.credentials_di [--quick]`` prints one JSON object: medians in µs per
operation and the rates per second for

- ``eddsa-jcs-2022`` and ``eddsa-rdfc-2022``: issue (:func:`add_proof`) and verify
  (:func:`verify_proof`, with an in-memory key lookup), run inside one event loop as an
  application would (the RDF suite hands its canonicalisation to a worker thread);
- their transformations alone: JCS of the credential, and JSON-LD expansion + RDFC-1.0;
- the floor, measured in the same run: Ed25519 sign and verify of the 64 bytes a proof signs;

and the ratio of each issue / verify to that floor. Times are the CPU time of the process
(all threads), so a shared machine's other load does not count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from wallet.credentials import ld
from wallet.credentials.data_integrity import add_proof, verify_proof
from wallet.credentials.di_jcs import jcs
from wallet.keys import KeyType, PrivateKey, PublicKey

KEY = PrivateKey.from_secret(KeyType.ED25519, bytes(range(32)))
VM = f"did:key:{KEY.public.multikey}#{KEY.public.multikey}"

CREDENTIAL: dict[str, Any] = {
    "@context": [
        "https://www.w3.org/ns/credentials/v2",
        "https://www.w3.org/ns/credentials/examples/v2",
    ],
    "id": "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",
    "type": ["VerifiableCredential", "EmployeeCredential"],
    "issuer": {"id": f"did:key:{KEY.public.multikey}", "name": "Example Corp"},
    "validFrom": "2024-01-01T00:00:00Z",
    "validUntil": "2030-01-01T00:00:00Z",
    "credentialSubject": {
        "id": "did:example:ebfeb1f712ebc6f1c276e12ec21",
        "givenName": "Alice",
        "familyName": "Example",
        "jobTitle": "Engineer",
        "employeeNumber": "E-1024",
        "department": {"name": "Research", "location": "Lyon"},
        "memberSince": "2019-05-01",
    },
}


async def _resolve(_: str) -> PublicKey:
    return KEY.public


def _median_us(fn: Callable[[], object], *, number: int, repeat: int) -> float:
    fn()
    runs = []
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(number):
            fn()
        runs.append((time.process_time() - start) / number)
    return statistics.median(runs) * 1e6


async def _amedian_us(fn: Callable[[], Awaitable[object]], *, number: int, repeat: int) -> float:
    await fn()
    runs = []
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(number):
            await fn()
        runs.append((time.process_time() - start) / number)
    return statistics.median(runs) * 1e6


async def _measure(quick: bool) -> dict[str, Any]:
    fast = (200, 5) if quick else (2000, 15)
    slow = (10, 5) if quick else (60, 15)
    data = bytes(64)
    sig = KEY.sign(data)
    floor = {
        "ed25519_sign_us": _median_us(lambda: KEY.sign(data), number=fast[0], repeat=fast[1]),
        "ed25519_verify_us": _median_us(
            lambda: KEY.public.verify(sig, data), number=fast[0], repeat=fast[1]
        ),
    }
    created = datetime(2024, 6, 1, tzinfo=UTC)
    out: dict[str, Any] = {"floor": floor, "suites": {}}
    for suite, (number, repeat) in (("eddsa-jcs-2022", fast), ("eddsa-rdfc-2022", slow)):
        signed = await add_proof(
            CREDENTIAL, cryptosuite=suite, key=KEY, verification_method=VM, created=created
        )
        assert (await verify_proof(signed, resolve_key=_resolve)).verified

        async def issue(suite: str = suite) -> object:
            return await add_proof(
                CREDENTIAL, cryptosuite=suite, key=KEY, verification_method=VM, created=created
            )

        async def verify(signed: dict[str, Any] = signed) -> object:
            return await verify_proof(signed, resolve_key=_resolve)

        issue_us = await _amedian_us(issue, number=number, repeat=repeat)
        verify_us = await _amedian_us(verify, number=number, repeat=repeat)
        if suite == "eddsa-jcs-2022":
            transform_us = _median_us(lambda: jcs(CREDENTIAL), number=number, repeat=repeat)
        else:
            transform_us = _median_us(
                lambda: ld.canonical_nquads(CREDENTIAL), number=number, repeat=repeat
            )
        out["suites"][suite] = {
            "issue_us": round(issue_us, 1),
            "verify_us": round(verify_us, 1),
            "issue_per_s": round(1e6 / issue_us),
            "verify_per_s": round(1e6 / verify_us),
            "transform_us": round(transform_us, 1),
            "issue_vs_sign": round(issue_us / floor["ed25519_sign_us"], 2),
            "verify_vs_verify": round(verify_us / floor["ed25519_verify_us"], 2),
        }
    floor["ed25519_sign_us"] = round(floor["ed25519_sign_us"], 1)
    floor["ed25519_verify_us"] = round(floor["ed25519_verify_us"], 1)
    out["credential_bytes"] = len(json.dumps(CREDENTIAL))
    out["quick"] = quick
    return out


def measure(quick: bool = False) -> dict[str, Any]:
    """The figures as a dict (for combined benchmarks)."""
    return asyncio.run(_measure(quick))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    args = parser.parse_args()
    print(json.dumps(measure(args.quick)))


if __name__ == "__main__":
    main()
