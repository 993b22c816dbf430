"""The credential wallet end to end: issue and verify per format, and the holder's proof time.

``python -m benchmarks.credentials [--quick]`` prints one JSON object:

- ``floor``: raw Ed25519 sign and verify of a 1 kB message, in the same run;
- ``formats``: per format (di-jcs, di-rdfc, vc-jwt, sd-jwt), issuing through the wallet
  (``issue_credential``: key lookup by id, data model checks, signing) and verifying with
  the one ``verify`` (format detection, DID resolution of the issuer and its key's
  relationship, validity; no status), as medians in µs, rates per second and ratios to the
  floor; plus issuing with ``--status`` (a status list index taken in a store transaction);
- ``holder``: proof time -- preselect by a presentation definition, select, then present with
  selective disclosure and a KB-JWT -- with 10 and with 10,000 credentials held, and their
  ratio (the target is at most 1.5).
- ``acapy_reference``: the figures issue 5 quotes for ACA-Py 1.7 (not measured here) and the
  20x targets derived from them.

Times are the process's CPU time (all threads, SQLite's included), so other load on a shared
machine does not count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wallet import Wallet
from wallet.credentials.holder import Holder
from wallet.credentials.holder_records import CATEGORY
from wallet.credentials.issuer import issue_credential
from wallet.credentials.verifier import verify
from wallet.keys import KeyType, PrivateKey

FORMATS = ("di-jcs", "di-rdfc", "vc-jwt", "sd-jwt")
CLAIMS = {
    "given_name": "Erika",
    "family_name": "Mustermann",
    "birthdate": "1963-08-12",
    "age_over_18": True,
    "nationality": "DE",
    "address": {"locality": "Köln", "postal_code": "51147", "country": "DE"},
}
DEFINITION = {
    "id": "age",
    "input_descriptors": [
        {
            "id": "pid",
            "format": {"dc+sd-jwt": {"sd-jwt_alg_values": ["EdDSA"]}},
            "constraints": {
                "limit_disclosure": "required",
                "fields": [
                    {"path": ["$.vct"], "filter": {"type": "string", "const": "urn:eudi:pid:1"}},
                    {"path": ["$.age_over_18"], "filter": {"type": "boolean", "const": True}},
                ],
            },
        }
    ],
}
ACAPY = {"issue_per_s": 6.6, "proof_ms": 180.0}


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


def _rate(us: float) -> int:
    return round(1e6 / us)


async def _formats(
    issuer_wallet: Wallet, issuer: str, holder: str, number: int, repeat: int
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    resolver = issuer_wallet.resolver
    for fmt in FORMATS:
        sd = list(CLAIMS) if fmt == "sd-jwt" else []
        # RDF canonicalisation is ~100x the others; fewer rounds keep the run short.
        n = max(5, number // 20) if fmt == "di-rdfc" else number

        async def issue(fmt: str = fmt, sd: list[str] = sd) -> Any:
            return await issue_credential(
                issuer_wallet,
                issuer=issuer,
                subject=holder,
                format=fmt,
                claims=CLAIMS,
                types=["urn:eudi:pid:1"] if fmt == "sd-jwt" else ["IdentityCredential"],
                disclose=sd,
            )

        text = (await issue()).serialize()

        async def check(text: str = text, fmt: str = fmt) -> Any:
            report = await verify(
                text, now=datetime.now(UTC), resolver=resolver, status_fetcher=None
            )
            if not report.verified:
                raise RuntimeError(f"{fmt} did not verify: {report.errors}")
            return report

        issue_us = await _amedian_us(issue, number=n, repeat=repeat)
        verify_us = await _amedian_us(check, number=n, repeat=repeat)
        out[fmt] = {
            "issue_us": round(issue_us, 1),
            "verify_us": round(verify_us, 1),
            "issue_per_s": _rate(issue_us),
            "verify_per_s": _rate(verify_us),
            "bytes": len(text),
        }

    async def issue_with_status() -> Any:
        return await issue_credential(
            issuer_wallet,
            issuer=issuer,
            subject=holder,
            format="di-jcs",
            claims=CLAIMS,
            status=True,
            status_base_url="https://issuer.example",
        )

    status_us = await _amedian_us(issue_with_status, number=max(5, number // 4), repeat=repeat)
    out["di-jcs"]["issue_with_status_us"] = round(status_us, 1)
    out["di-jcs"]["issue_with_status_per_s"] = _rate(status_us)
    return out


async def _holder(where: Path, held: int, repeat: int, number: int) -> dict[str, Any]:
    iw = await Wallet.create(f"sqlite://{where}/i-{held}.db", passphrase="i", kdf="argon2id-test")
    hw = await Wallet.create(f"sqlite://{where}/h-{held}.db", passphrase="h", kdf="argon2id-test")
    try:
        issuer = await iw.create_did("key")
        did = await hw.create_did("peer2")
        holder = Holder(hw)
        pid = await issue_credential(
            iw,
            issuer=issuer,
            subject=did,
            format="sd-jwt",
            claims=CLAIMS,
            types=["urn:eudi:pid:1"],
            disclose=list(CLAIMS),
        )
        noise = []
        for k, fmt in enumerate(("di-jcs", "vc-jwt", "sd-jwt", "di-jcs", "vc-jwt") * 4):
            noise.append(
                await issue_credential(
                    iw,
                    issuer=issuer,
                    subject=did,
                    format=fmt,
                    claims={"n": k},
                    types=[f"urn:noise:{k}" if fmt == "sd-jwt" else f"Noise{k}"],
                )
            )
        await holder.store_many([c.serialize() for c in [pid, *noise[: held - 1]]])
        records = [r for r in await hw.store.find(CATEGORY) if r.id != pid.id]
        extra = held - 1 - len(records)
        if extra > 0:
            # The rest are copies of the stored noise under other ids (same bytes, same tags).
            async with hw.store.transaction() as tx:
                for n in range(extra):
                    r = records[n % len(records)]
                    await tx.add(CATEGORY, f"urn:uuid:copy-{n}", r.value, r.tags)
        assert await hw.store.count(CATEGORY) == held

        async def prove() -> Any:
            evaluation = await holder.preselect(DEFINITION)
            (match,) = evaluation.select()
            return await holder.present(
                match.candidate.id, disclose=match.disclose, nonce="n-1", audience="did:web:v"
            )

        us = await _amedian_us(prove, number=number, repeat=repeat)
        return {"proof_us": round(us, 1), "proofs_per_s": _rate(us)}
    finally:
        await iw.close()
        await hw.close()


async def _measure(quick: bool) -> dict[str, Any]:
    number, repeat = (20, 3) if quick else (200, 7)
    key = PrivateKey.generate(KeyType.ED25519)
    message = bytes(1024)
    sig = key.sign(message)
    sign_us = _median_us(lambda: key.sign(message), number=number * 5, repeat=repeat)
    verify_us = _median_us(
        lambda: key.public.verify(sig, message), number=number * 5, repeat=repeat
    )
    out: dict[str, Any] = {
        "floor": {"ed25519_sign_us": round(sign_us, 1), "ed25519_verify_us": round(verify_us, 1)}
    }
    with tempfile.TemporaryDirectory() as scratch:
        where = Path(scratch)
        iw = await Wallet.create(f"sqlite://{where}/i.db", passphrase="i", kdf="argon2id-test")
        hw = await Wallet.create(f"sqlite://{where}/h.db", passphrase="h", kdf="argon2id-test")
        try:
            formats = await _formats(
                iw, await iw.create_did("key"), await hw.create_did("peer2"), number, repeat
            )
        finally:
            await iw.close()
            await hw.close()
        for figures in formats.values():
            figures["issue_vs_sign"] = round(figures["issue_us"] / sign_us, 1)
            figures["verify_vs_verify"] = round(figures["verify_us"] / verify_us, 1)
        out["formats"] = formats
        small = await _holder(where, 10, repeat, max(5, number // 4))
        large = await _holder(where, 10_000, repeat, max(5, number // 4))
    out["holder"] = {
        "held_10": small,
        "held_10000": large,
        "ratio_10000_to_10": round(large["proof_us"] / small["proof_us"], 2),
        "proof_vs_sign": round(small["proof_us"] / sign_us, 1),
    }
    out["acapy_reference"] = {
        **ACAPY,
        "target_issue_per_s": round(ACAPY["issue_per_s"] * 20),
        "target_proof_ms": ACAPY["proof_ms"] / 20,
    }
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
