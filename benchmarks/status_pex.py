"""Status list checks and Presentation Exchange selection against their raw costs.

Status: decoding a 131,072-entry list (``decode_bitstring``) beside raw ``zlib`` inflation of
the same bytes, and one entry check on a parsed list beside reading one bit. PEX: a holder's
selection for a two-descriptor definition (tag query, index lookup, evaluate, select, build
the submission) with 10 and with 10,000 credentials held, beside one raw Ed25519 signature
(the proof the selection leads to). The index is an in-memory inverted index over
:func:`index_terms`, as a record store's tag index would be.

    python -m benchmarks.status_pex [--quick]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import base64
import json
import platform
import random
import statistics
import time
import zlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import nacl.bindings as sodium

from wallet.credentials.pex import Candidate, PresentationDefinition, build_submission, evaluate
from wallet.credentials.pex_query import index_terms, query_for
from wallet.credentials.status_list import (
    StatusListEntry,
    decode_bitstring,
    evaluate_status,
    get_status,
    parse_status_list_credential,
)
from wallet.credentials.status_list_issuer import StatusList

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _median_us(fn: Callable[[], object], rounds: int, inner: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - start) / inner * 1e6)
    return statistics.median(samples)


# -- status ---------------------------------------------------------------------------------


def bench_status(rounds: int) -> dict[str, Any]:
    issuer = StatusList("https://issuer.example/status/1")
    indexes = [issuer.allocate() for _ in range(5000)]
    for i in indexes[:300]:
        issuer.revoke(i)
    vc = issuer.to_credential(issuer="did:example:issuer", valid_from=NOW)
    encoded = vc["credentialSubject"]["encodedList"]
    raw_gzip = base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4))
    parsed = parse_status_list_credential(vc)
    entry = StatusListEntry.from_json(issuer.entry(indexes[0]).to_json())
    decode = _median_us(lambda: decode_bitstring(encoded), rounds, 20)
    inflate = _median_us(lambda: zlib.decompress(raw_gzip, wbits=31), rounds, 20)
    check = _median_us(lambda: evaluate_status(entry, parsed, NOW), rounds, 2000)
    bit = _median_us(lambda: get_status(parsed.bits, entry.index), rounds, 2000)
    return {
        "encoded_list_bytes": len(encoded),
        "revoked": 300,
        "decode_us": round(decode, 2),
        "raw_inflate_us": round(inflate, 2),
        "decode_ratio": round(decode / inflate, 2),
        "check_us": round(check, 3),
        "raw_bit_read_us": round(bit, 3),
        "check_ratio": round(check / bit, 2),
    }


# -- PEX ------------------------------------------------------------------------------------

DEFINITION = {
    "id": "bench",
    "input_descriptors": [
        {
            "id": "age",
            "format": {"dc+sd-jwt": {"sd-jwt_alg_values": ["ES256", "EdDSA"]}},
            "constraints": {
                "limit_disclosure": "required",
                "fields": [
                    {"path": ["$.vct"], "filter": {"const": "urn:eudi:pid:1"}},
                    {"path": ["$.age_equal_or_over['18']"], "filter": {"const": True}},
                ],
            },
        },
        {
            "id": "degree",
            "constraints": {
                "fields": [
                    {
                        "path": ["$.type", "$.vc.type"],
                        "filter": {"type": "array", "contains": {"const": "UniversityDegree"}},
                    },
                    {"path": ["$.credentialSubject.gpa"], "filter": {"minimum": 3}},
                ]
            },
        },
    ],
}


def _wallet(n: int, rng: random.Random) -> list[Candidate]:
    out = [
        Candidate(
            "pid",
            "dc+sd-jwt",
            {
                "iss": "https://pid.example",
                "vct": "urn:eudi:pid:1",
                "age_equal_or_over": {"18": True},
            },
            alg="ES256",
        ),
        Candidate(
            "deg",
            "ldp_vc",
            {
                "type": ["VerifiableCredential", "UniversityDegree"],
                "issuer": "did:ex:uni",
                "credentialSubject": {"gpa": 3.6},
            },
        ),
    ]
    other_types = [f"Loyalty{i}" for i in range(50)]
    while len(out) < n:
        k = len(out)
        out.append(
            Candidate(
                f"c{k}",
                rng.choice(["ldp_vc", "jwt_vc"]),
                {
                    "type": ["VerifiableCredential", rng.choice(other_types)],
                    "issuer": f"did:ex:shop{k % 300}",
                    "credentialSubject": {"points": k, "tier": "gold"},
                },
            )
        )
    return out


class TagIndex:
    """name -> value -> ids: the shape of a record store's tag index."""

    def __init__(self, wallet: list[Candidate]) -> None:
        self.by_id = {c.id: c for c in wallet}
        self.index: dict[str, dict[str, set[str]]] = {}
        self.all = set(self.by_id)
        for c in wallet:
            for name, value in index_terms(c).items():
                self.index.setdefault(name, {}).setdefault(value, set()).add(c.id)

    def find(self, query: Mapping[str, Any]) -> set[str]:
        """Ids passing the query; never touches the whole id set unless the query is ``{}``."""
        result: set[str] | None = None
        for key, cond in query.items():
            if key == "$and":
                part = self.find_all(cond)
            elif key == "$or":
                part = set().union(*(self.find(q) for q in cond))
            elif isinstance(cond, str):
                part = self.index.get(key, {}).get(cond, set())
            else:
                values = self.index.get(key, {})
                part = set().union(*(values.get(v, set()) for v in cond["$in"]))
            result = part if result is None else result & part
        return set(self.all) if result is None else result

    def find_all(self, queries: list[Mapping[str, Any]]) -> set[str]:
        parts = sorted((self.find(q) for q in queries), key=len)
        result = parts[0]
        for part in parts[1:]:
            result = result & part
        return result


def bench_pex(rounds: int, sizes: tuple[int, ...]) -> dict[str, Any]:
    rng = random.Random(7)
    seed = bytes(32)
    _, sk = sodium.crypto_sign_seed_keypair(seed)
    sign = _median_us(lambda: sodium.crypto_sign(b"x" * 300, sk), rounds, 200)
    out: dict[str, Any] = {"raw_ed25519_sign_us": round(sign, 2)}
    for n in sizes:
        store = TagIndex(_wallet(n, rng))

        def select(store: TagIndex = store) -> dict[str, Any]:
            definition = PresentationDefinition.parse(DEFINITION)
            ids = store.find(query_for(definition))
            candidates = [store.by_id[i] for i in sorted(ids)]
            selection = evaluate(definition, candidates).select()
            return build_submission(definition, selection, submission_id="s")

        assert [e["id"] for e in select()["descriptor_map"]] == ["age", "degree"]
        us = _median_us(select, rounds, 20)
        out[f"select_us_{n}"] = round(us, 1)
        out[f"select_vs_sign_{n}"] = round(us / sign, 2)
    first, last = sizes[0], sizes[-1]
    out[f"ratio_{last}_vs_{first}"] = round(out[f"select_us_{last}"] / out[f"select_us_{first}"], 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    rounds = 5 if args.quick else 21
    result = {
        "benchmark": "status_pex",
        "python": platform.python_version(),
        "rounds": rounds,
        "status": bench_status(rounds),
        "pex": bench_pex(rounds, (10, 10_000)),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
