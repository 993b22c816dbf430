"""Indicio ``didcomm-messaging`` 0.1.1 on Aries Askar as a DIDComm v2 peer for moi's tests.

Runs inside the "askar" peer venv. One JSON request on stdin, one JSON answer on stdout::

    {"state": "/tmp/.../askar.json",       # private keys (JWK) and documents handed to it
     "steps": [{"op": "new_did", "kind": "peer2" | "peer4", "endpoint": "https://..."},
               {"op": "add_doc", "doc": {...}},
               {"op": "pack", "id": "...", "mode": "anoncrypt" | "authcrypt",
                      "message": {...}, "to": [DID or DID URL, ...], "frm": DID},
               {"op": "unpack", "id": "...", "packed": {...}}]}
    -> {"results": [{"id": ..., ...} | {"id": ..., "error": "Type: message"}, ...]}

The library encrypts only (no signed messages); it packs anoncrypt with XC20P and authcrypt
with A256CBC-HS512, and unpacks any of XC20P, A256GCM and A256CBC-HS512. Its ``pack()`` wants
a DIDCommMessaging service on the recipient, so this script drives its lower-level
``PackagingService`` directly. did:peer:2 and did:peer:4 are resolved by the library's own
resolvers (``did-peer-2``, ``did-peer-4``); only DIDs it has no resolver for (did:key) come
as documents handed in by the test.
"""

from __future__ import annotations

import asyncio
import json
import sys
import traceback
from typing import Any

from aries_askar import Key, KeyAlg
from did_peer_2 import PATTERN as PEER2
from did_peer_2 import KeySpec
from did_peer_2 import generate as peer2_generate
from did_peer_2 import resolve as peer2_resolve
from did_peer_4 import LONG_PATTERN as PEER4_LONG
from did_peer_4 import encode as peer4_encode
from did_peer_4 import long_to_short
from did_peer_4 import resolve as peer4_resolve
from didcomm_messaging.crypto.backend.askar import AskarCryptoService, AskarSecretKey
from didcomm_messaging.crypto.backend.basic import InMemorySecretsManager
from didcomm_messaging.multiformats import multibase, multicodec
from didcomm_messaging.packaging import PackagingService
from didcomm_messaging.resolver import DIDNotFound, DIDResolver


class Resolver(DIDResolver):
    """The library's did:peer resolvers first; documents handed in for anything else."""

    def __init__(self, docs: dict[str, dict[str, Any]]) -> None:
        self.docs = docs

    async def is_resolvable(self, did: str) -> bool:
        return bool(PEER2.match(did) or PEER4_LONG.match(did) or did in self.docs)

    async def resolve(self, did: str) -> dict:
        if PEER2.match(did):
            return peer2_resolve(did)
        if PEER4_LONG.match(did):
            return peer4_resolve(did)
        if did in self.docs:
            return json.loads(json.dumps(self.docs[did]))
        raise DIDNotFound(f"no document for {did}")


class State:
    def __init__(self, path: str) -> None:
        self.path = path
        try:
            with open(path) as f:
                data = json.load(f)
        except FileNotFoundError:
            data = {"secrets": {}, "docs": {}}
        self.secrets: dict[str, dict[str, Any]] = data["secrets"]  # kid -> private JWK
        self.docs: dict[str, dict[str, Any]] = data["docs"]

    def save(self) -> None:
        with open(self.path, "w") as f:
            json.dump({"secrets": self.secrets, "docs": self.docs}, f)

    def add_secret(self, kid: str, key: Key) -> None:
        self.secrets[kid] = json.loads(key.get_jwk_secret())

    async def secrets_manager(self) -> InMemorySecretsManager:
        manager = InMemorySecretsManager()
        for kid, jwk in self.secrets.items():
            await manager.add_secret(AskarSecretKey(Key.from_jwk(json.dumps(jwk)), kid))
        return manager


def _multikey(codec: str, key: Key) -> str:
    return multibase.encode(multicodec.wrap(codec, key.get_public_bytes()), "base58btc")


def _service(endpoint: str | None) -> list[dict[str, Any]]:
    if not endpoint:
        return []
    return [
        {
            "type": "DIDCommMessaging",
            "serviceEndpoint": {"uri": endpoint, "accept": ["didcomm/v2"], "routingKeys": []},
        }
    ]


def new_did(state: State, kind: str, endpoint: str | None) -> dict[str, Any]:
    ed = Key.generate(KeyAlg.ED25519)
    x = Key.generate(KeyAlg.X25519)
    ed_mk, x_mk = _multikey("ed25519-pub", ed), _multikey("x25519-pub", x)
    if kind == "peer2":
        did = peer2_generate(
            [KeySpec.verification(ed_mk), KeySpec.key_agreement(x_mk)], _service(endpoint)
        )
        # did-peer-2 numbers the keys in the DID's order: #key-1 signs, #key-2 agrees.
        kids = {f"{did}#key-1": ed, f"{did}#key-2": x}
        doc = peer2_resolve(did)
        out = {"did": did, "doc": doc}
    elif kind == "peer4":
        input_doc: dict[str, Any] = {
            "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
            "verificationMethod": [
                {"id": "#key-1", "type": "Multikey", "publicKeyMultibase": ed_mk},
                {"id": "#key-2", "type": "Multikey", "publicKeyMultibase": x_mk},
            ],
            "authentication": ["#key-1"],
            "keyAgreement": ["#key-2"],
        }
        services = _service(endpoint)
        if services:
            input_doc["service"] = [{"id": "#didcomm", **services[0]}]
        did = peer4_encode(input_doc)
        short = long_to_short(did)
        # Keys are named by either form: a peer that knows only the short form uses it.
        kids = {
            f"{did}#key-1": ed,
            f"{did}#key-2": x,
            f"{short}#key-1": ed,
            f"{short}#key-2": x,
        }
        out = {"did": did, "short": short, "doc": peer4_resolve(did)}
    else:
        raise ValueError(f"unknown DID kind {kind!r}")
    for kid, key in kids.items():
        state.add_secret(kid, key)
    return out


async def do_pack(state: State, step: dict[str, Any]) -> dict[str, Any]:
    frm = step.get("frm") if step["mode"] == "authcrypt" else None
    packed = await PackagingService().pack(
        AskarCryptoService(),
        Resolver(state.docs),
        await state.secrets_manager(),
        json.dumps(step["message"]).encode(),
        step["to"],
        frm,
    )
    return {"packed": json.loads(packed)}


async def do_unpack(state: State, step: dict[str, Any]) -> dict[str, Any]:
    plaintext, meta = await PackagingService().unpack(
        AskarCryptoService(),
        Resolver(state.docs),
        await state.secrets_manager(),
        json.dumps(step["packed"]),
    )
    return {
        "message": json.loads(plaintext),
        "metadata": {
            "method": meta.method,
            "recipient_kid": meta.recip_key.kid,
            "sender_kid": meta.sender_kid,
            "alg": meta.wrapper.protected.get("alg"),
            "enc": meta.wrapper.protected.get("enc"),
        },
    }


async def run(request: dict[str, Any]) -> dict[str, Any]:
    state = State(request["state"])
    results = []
    for step in request["steps"]:
        op = step["op"]
        out: dict[str, Any] = {"id": step.get("id"), "op": op}
        try:
            if op == "new_did":
                out.update(new_did(state, step["kind"], step.get("endpoint")))
            elif op == "add_doc":
                state.docs[step["doc"]["id"]] = step["doc"]
            elif op == "pack":
                out.update(await do_pack(state, step))
            elif op == "unpack":
                out.update(await do_unpack(state, step))
            else:
                raise ValueError(f"unknown op {op!r}")
        except Exception as err:  # one failed scenario must not hide the others
            out["error"] = f"{type(err).__name__}: {err}"
            out["trace"] = traceback.format_exc()[-1500:]
        results.append(out)
    state.save()
    return {"results": results}


if __name__ == "__main__":
    answer = asyncio.run(run(json.load(sys.stdin)))
    json.dump(answer, sys.stdout)
