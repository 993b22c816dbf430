"""didkit 0.3.3 (SpruceID, Rust) as an independent issuer and verifier of W3C credentials.

Runs in the "sicpa" venv. Reads one JSON request on stdin, writes one JSON line on stdout:

- ``{"op": "issue", "credential": {...}, "proof_type": "Ed25519Signature2020"}``: makes a
  fresh did:key, sets it as issuer, signs; answers ``{"did", "verification_method",
  "credential"}``.
- ``{"op": "verify", "credential": {...}}``: answers didkit's ``{"checks", "warnings",
  "errors"}``.

didkit can crash while the interpreter shuts down (about one run in ten), after its work is
done; so the answer is flushed and the process leaves with ``os._exit`` before finalisation.
"""

import asyncio
import json
import os
import sys

import didkit


async def issue(req: dict) -> dict:
    jwk = didkit.generate_ed25519_key()
    did = didkit.key_to_did("key", jwk)
    vm = await didkit.key_to_verification_method("key", jwk)
    cred = dict(req["credential"])
    cred["issuer"] = did
    options = {
        "proofPurpose": req.get("proof_purpose", "assertionMethod"),
        "verificationMethod": vm,
        "type": req.get("proof_type", "Ed25519Signature2020"),
    }
    signed = await didkit.issue_credential(json.dumps(cred), json.dumps(options), jwk)
    return {"did": did, "verification_method": vm, "credential": json.loads(signed)}


async def verify(req: dict) -> dict:
    options = {"proofPurpose": req.get("proof_purpose", "assertionMethod")}
    out = await didkit.verify_credential(json.dumps(req["credential"]), json.dumps(options))
    return json.loads(out)


async def main() -> dict:
    req = json.loads(sys.stdin.read())
    op = req.get("op")
    try:
        if op == "issue":
            return await issue(req)
        if op == "verify":
            return await verify(req)
        return {"error": f"unknown op {op!r}"}
    except Exception as err:  # the peer reports, the test judges
        return {"error": f"{type(err).__name__}: {err}"}


if __name__ == "__main__":
    answer = asyncio.run(main())
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
    os._exit(0)
