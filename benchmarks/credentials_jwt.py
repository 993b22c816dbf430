"""SD-JWT VC and vc+jwt: issue, present and verify beside the raw signature cost.

``python -m benchmarks.credentials_jwt [--quick]`` prints one JSON object with medians in µs
per operation, rates per second, and ratios to the raw primitive measured in the same run:

- SD-JWT VC (EdDSA and ES256 issuers, a holder key of the same curve): issue a PID-like
  credential with 14 selectively disclosable claims and decoys; present ``age_over_18`` only
  with a KB-JWT, from the stored string; verify that presentation (issuer signature, digests,
  validity, KB-JWT). One presentation costs one signature; one verification two.
- vc+jwt (EdDSA and ES256): issue and verify a VC Data Model 2.0 credential.
- the floor: Ed25519 and P-256 (ECDSA) sign and verify of a 1 kB message.

Times are the process's CPU time, so other load on a shared machine does not count.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from wallet.credentials.sd_jwt import present_sd_jwt
from wallet.credentials.sd_jwt_vc import issue_sd_jwt_vc, verify_sd_jwt_vc
from wallet.credentials.vc_jose import issue_vc_jwt, verify_vc_jwt
from wallet.keys import KeyType, PrivateKey, PublicKey

NOW = 1_750_000_000
PID = {
    "given_name": "Erika",
    "family_name": "Mustermann",
    "birthdate": "1963-08-12",
    "address": {
        "street_address": "Heidestraße 17",
        "locality": "Köln",
        "postal_code": "51147",
        "country": "DE",
    },
    "nationalities": ["DE"],
    "age_over_18": True,
    "age_over_21": True,
    "age_over_65": False,
    "age_in_years": 62,
    "issuing_authority": "DE",
    "issuing_country": "DE",
}
SD = [*PID, "address.street_address", "address.locality", "address.postal_code"]
VCDM = {
    "@context": ["https://www.w3.org/ns/credentials/v2"],
    "id": "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",
    "type": ["VerifiableCredential", "EmployeeCredential"],
    "issuer": "did:example:issuer",
    "validFrom": "2024-01-01T00:00:00Z",
    "validUntil": "2030-01-01T00:00:00Z",
    "credentialSubject": {
        "id": "did:example:alice",
        "givenName": "Alice",
        "familyName": "Example",
        "jobTitle": "Engineer",
        "department": {"name": "Research", "location": "Lyon"},
    },
}


def _median_us(fn: Callable[[], object], *, number: int, repeat: int) -> float:
    fn()
    runs = []
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(number):
            fn()
        runs.append((time.process_time() - start) / number)
    return statistics.median(runs) * 1e6


def _rate(us: float) -> int:
    return round(1e6 / us)


def measure(quick: bool = False) -> dict[str, Any]:
    """The figures as a dict (for combined benchmarks)."""
    number, repeat = (50, 5) if quick else (400, 11)
    keys = {
        "EdDSA": (PrivateKey.generate(KeyType.ED25519), PrivateKey.generate(KeyType.ED25519)),
        "ES256": (PrivateKey.generate(KeyType.P256), PrivateKey.generate(KeyType.P256)),
    }
    message = bytes(1024)
    floor: dict[str, float] = {}
    for alg, (key, _) in keys.items():
        sig = key.sign(message)
        floor[f"{alg}_sign_us"] = _median_us(
            lambda k=key: k.sign(message), number=number, repeat=repeat
        )
        floor[f"{alg}_verify_us"] = _median_us(
            lambda k=key, s=sig: k.public.verify(s, message), number=number, repeat=repeat
        )

    out: dict[str, Any] = {"floor": {k: round(v, 1) for k, v in floor.items()}}
    out["sd_jwt_vc"] = {}
    out["vc_jwt"] = {}
    for alg, (issuer, holder) in keys.items():
        sign_us, verify_us = floor[f"{alg}_sign_us"], floor[f"{alg}_verify_us"]

        def resolve(iss: str | None, kid: str | None, key: PublicKey = issuer.public) -> PublicKey:
            return key

        def issue(issuer: PrivateKey = issuer, holder: PrivateKey = holder) -> str:
            return issue_sd_jwt_vc(
                PID,
                issuer,
                vct="urn:eudi:pid:1",
                iss="did:example:issuer",
                kid="did:example:issuer#key-1",
                iat=NOW - 60,
                exp=NOW + 86400,
                holder_key=holder.public,
                disclosable=SD,
                decoys=4,
            )

        issued = issue()

        def present(issued: str = issued, holder: PrivateKey = holder) -> str:
            return present_sd_jwt(
                issued, ["age_over_18"], holder_key=holder, nonce="n-1", aud="x509:v", iat=NOW
            )

        presentation = present()

        def verify(presentation: str = presentation) -> object:
            return verify_sd_jwt_vc(
                presentation, resolve, now=NOW, key_binding=True, nonce="n-1", aud="x509:v"
            )

        assert verify().claims["age_over_18"] is True  # type: ignore[attr-defined]
        issue_t = _median_us(issue, number=number, repeat=repeat)
        present_t = _median_us(present, number=number, repeat=repeat)
        verify_t = _median_us(verify, number=number, repeat=repeat)
        out["sd_jwt_vc"][alg] = {
            "issue_us": round(issue_t, 1),
            "present_us": round(present_t, 1),
            "verify_us": round(verify_t, 1),
            "issue_per_s": _rate(issue_t),
            "present_per_s": _rate(present_t),
            "verify_per_s": _rate(verify_t),
            "issue_vs_sign": round(issue_t / sign_us, 2),
            "present_vs_sign": round(present_t / sign_us, 2),
            "verify_vs_2_verify": round(verify_t / (2 * verify_us), 2),
            "issued_bytes": len(issued),
            "presentation_bytes": len(presentation),
        }

        def issue_vc(issuer: PrivateKey = issuer) -> str:
            return issue_vc_jwt(VCDM, issuer, kid="did:example:issuer#key-1", iat=NOW - 60)

        token = issue_vc()

        def verify_vc(token: str = token) -> object:
            return verify_vc_jwt(token, resolve, now=NOW)

        verify_vc()
        issue_vc_t = _median_us(issue_vc, number=number, repeat=repeat)
        verify_vc_t = _median_us(verify_vc, number=number, repeat=repeat)
        out["vc_jwt"][alg] = {
            "issue_us": round(issue_vc_t, 1),
            "verify_us": round(verify_vc_t, 1),
            "issue_per_s": _rate(issue_vc_t),
            "verify_per_s": _rate(verify_vc_t),
            "issue_vs_sign": round(issue_vc_t / sign_us, 2),
            "verify_vs_verify": round(verify_vc_t / verify_us, 2),
            "token_bytes": len(token),
        }
    out["quick"] = quick
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    args = parser.parse_args()
    print(json.dumps(measure(args.quick)))


if __name__ == "__main__":
    main()
