"""SICPA ``didcomm`` 0.3.2 as an independent DIDComm v2 peer for moi's interop tests.

Runs inside the "sicpa" peer venv (pydantic 1, so it cannot share moi's environment). It reads
one JSON request on stdin and writes one JSON answer on stdout::

    {"state": "/tmp/.../sicpa.json",        # private keys and known DID documents
     "steps": [{"op": "new_did", "kind": "peer2" | "key", "endpoint": "https://..."},
               {"op": "add_doc", "doc": {...}},
               {"op": "pack", "id": "...", "mode": "plain" | "signed" | "anoncrypt" |
                      "authcrypt", "message": {...}, "to": DID, "frm": DID,
                      "sign_frm": DID, "enc": "XC20P" | "A256GCM" | "A256CBC-HS512",
                      "protect_sender": bool},
               {"op": "unpack", "id": "...", "packed": {...}}]}
    -> {"results": [{"id": ..., ...} | {"id": ..., "error": "Type: message"}, ...]}

The peer makes its own keys and DIDs (did:peer:2 with ``peerdid``, which follows the older
did:peer:2 spec, and did:key); the private keys never leave the state file, which the test
keeps in a temporary directory. A step that fails reports its error and the others go on, so
one request can carry every scenario.
"""

from __future__ import annotations

import asyncio
import copy
import json
import sys
import traceback
import warnings
from typing import Any

warnings.filterwarnings("ignore")  # authlib's deprecation notice would only add noise

import base58  # noqa: E402
from authlib.common.encoding import to_unicode, urlsafe_b64decode, urlsafe_b64encode  # noqa: E402
from didcomm.common.algorithms import AnonCryptAlg  # noqa: E402
from didcomm.common.resolvers import ResolversConfig  # noqa: E402
from didcomm.did_doc.did_doc import DIDDoc  # noqa: E402
from didcomm.did_doc.did_resolver import DIDResolver  # noqa: E402
from didcomm.message import Message  # noqa: E402
from didcomm.pack_encrypted import PackEncryptedConfig, pack_encrypted  # noqa: E402
from didcomm.pack_plaintext import pack_plaintext  # noqa: E402
from didcomm.pack_signed import pack_signed  # noqa: E402
from didcomm.secrets.secrets_resolver_in_memory import SecretsResolverInMemory  # noqa: E402
from didcomm.secrets.secrets_util import (  # noqa: E402
    generate_ed25519_keys_as_jwk_dict,
    generate_x25519_keys_as_jwk_dict,
    jwk_to_secret,
)
from didcomm.unpack import unpack  # noqa: E402
from nacl.bindings import (  # noqa: E402
    crypto_sign_ed25519_pk_to_curve25519,
    crypto_sign_ed25519_sk_to_curve25519,
)
from peerdid.dids import create_peer_did_numalgo_2, resolve_peer_did  # noqa: E402
from peerdid.keys import Ed25519VerificationKey, KeyFormat, X25519KeyAgreementKey  # noqa: E402

ANON_ALGS = {
    "XC20P": AnonCryptAlg.XC20P_ECDH_ES_A256KW,
    "A256GCM": AnonCryptAlg.A256GCM_ECDH_ES_A256KW,
    "A256CBC-HS512": AnonCryptAlg.A256CBC_HS512_ECDH_ES_A256KW,
}


class State:
    """Private JWKs (with absolute kids) and the DID documents this peer knows."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            with open(path) as f:
                data = json.load(f)
        except FileNotFoundError:
            data = {"secrets": [], "docs": {}}
        self.secrets: list[dict[str, Any]] = data["secrets"]
        self.docs: dict[str, dict[str, Any]] = data["docs"]

    def save(self) -> None:
        with open(self.path, "w") as f:
            json.dump({"secrets": self.secrets, "docs": self.docs}, f)

    def resolvers(self) -> ResolversConfig:
        return ResolversConfig(
            secrets_resolver=SecretsResolverInMemory([jwk_to_secret(s) for s in self.secrets]),
            did_resolver=DocResolver(self.docs),
        )


class DocResolver(DIDResolver):
    async def resolve(self, did: str) -> DIDDoc | None:
        doc = self.docs.get(str(did))
        return None if doc is None else DIDDoc.deserialize(copy.deepcopy(doc))

    def __init__(self, docs: dict[str, dict[str, Any]]) -> None:
        self.docs = docs


def _absolute(doc: dict[str, Any]) -> dict[str, Any]:
    """peerdid writes relative ids (``#6LS…``), which the didcomm library cannot look up."""
    did = doc["id"]

    def fix(ref: Any) -> Any:
        if isinstance(ref, str) and ref.startswith("#"):
            return did + ref
        if isinstance(ref, dict):
            return {**ref, "id": fix(ref.get("id"))}
        return ref

    out = dict(doc)
    for rel in (
        "verificationMethod",
        "authentication",
        "assertionMethod",
        "keyAgreement",
        "capabilityInvocation",
        "capabilityDelegation",
        "service",
    ):
        if rel in out:
            out[rel] = [fix(x) for x in out[rel]]
    return out


def _b64(raw: bytes) -> str:
    return to_unicode(urlsafe_b64encode(raw)).rstrip("=")


def _unb64(text: str) -> bytes:
    return urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode())


def new_peer2(state: State, endpoint: str | None) -> dict[str, Any]:
    x_priv, x_pub = generate_x25519_keys_as_jwk_dict()
    e_priv, e_pub = generate_ed25519_keys_as_jwk_dict()
    service = None
    if endpoint:
        service = {
            "type": "DIDCommMessaging",
            "serviceEndpoint": endpoint,
            "routingKeys": [],
            "accept": ["didcomm/v2"],
        }
    did = str(
        create_peer_did_numalgo_2(
            [X25519KeyAgreementKey.from_jwk(x_pub)],
            [Ed25519VerificationKey.from_jwk(e_pub)],
            service,
        )
    )
    doc = _absolute(resolve_peer_did(did, KeyFormat.JWK).serialize())
    for method in doc["verificationMethod"]:
        priv = x_priv if method["publicKeyJwk"]["crv"] == "X25519" else e_priv
        state.secrets.append({**priv, "kid": method["id"]})
    state.docs[did] = doc
    return {"did": did, "doc": doc}


def new_did_key(state: State) -> dict[str, Any]:
    """did:key per the W3C CCG method: Ed25519, with the X25519 key derived from it."""
    e_priv, e_pub = generate_ed25519_keys_as_jwk_dict()
    ed_pk = _unb64(e_pub["x"])
    x_pk = crypto_sign_ed25519_pk_to_curve25519(ed_pk)
    x_sk = crypto_sign_ed25519_sk_to_curve25519(_unb64(e_priv["d"]) + ed_pk)
    ed_mb = "z" + base58.b58encode(b"\xed\x01" + ed_pk).decode()
    x_mb = "z" + base58.b58encode(b"\xec\x01" + x_pk).decode()
    did = "did:key:" + ed_mb
    ed_jwk = {"kty": "OKP", "crv": "Ed25519", "x": _b64(ed_pk)}
    x_jwk = {"kty": "OKP", "crv": "X25519", "x": _b64(x_pk)}
    ed_id, x_id = f"{did}#{ed_mb}", f"{did}#{x_mb}"
    doc = {
        "@context": [
            "https://www.w3.org/ns/did/v1",
            "https://w3id.org/security/suites/jws-2020/v1",
        ],
        "id": did,
        "verificationMethod": [
            {"id": ed_id, "type": "JsonWebKey2020", "controller": did, "publicKeyJwk": ed_jwk},
            {"id": x_id, "type": "JsonWebKey2020", "controller": did, "publicKeyJwk": x_jwk},
        ],
        "authentication": [ed_id],
        "assertionMethod": [ed_id],
        "keyAgreement": [x_id],
    }
    state.secrets.append({**ed_jwk, "d": e_priv["d"], "kid": ed_id})
    state.secrets.append({**x_jwk, "d": _b64(x_sk), "kid": x_id})
    state.docs[did] = doc
    return {"did": did, "doc": doc}


async def do_pack(state: State, step: dict[str, Any]) -> dict[str, Any]:
    cfg = state.resolvers()
    mode = step["mode"]
    message = step["message"]
    if mode == "plain":
        res = await pack_plaintext(cfg, message)
        return {"packed": json.loads(res.packed_msg)}
    if mode == "signed":
        res = await pack_signed(cfg, message, sign_frm=step["sign_frm"])
        return {"packed": json.loads(res.packed_msg), "sign_from_kid": str(res.sign_from_kid)}
    config = PackEncryptedConfig(
        enc_alg_anon=ANON_ALGS[step.get("enc", "XC20P")],
        protect_sender_id=bool(step.get("protect_sender")),
        forward=False,  # routing is not under test; a forward would only add a layer
    )
    res = await pack_encrypted(
        cfg,
        message,
        to=step["to"],
        frm=step.get("frm") if mode == "authcrypt" else None,
        sign_frm=step.get("sign_frm"),
        pack_config=config,
    )
    return {
        "packed": json.loads(res.packed_msg),
        "to_kids": [str(k) for k in res.to_kids],
        "from_kid": None if res.from_kid is None else str(res.from_kid),
        "sign_from_kid": None if res.sign_from_kid is None else str(res.sign_from_kid),
    }


def _raw_and_checked(obj: dict[str, Any]) -> dict[str, Any]:
    # Keep the plaintext exactly as received, but let the library's own model judge it too.
    Message.from_dict(copy.deepcopy(obj))
    return obj


async def do_unpack(state: State, step: dict[str, Any]) -> dict[str, Any]:
    res = await unpack(state.resolvers(), step["packed"], deserializer=_raw_and_checked)
    md = res.metadata
    return {
        "message": res.message,
        "metadata": {
            "encrypted": md.encrypted,
            "authenticated": md.authenticated,
            "non_repudiation": md.non_repudiation,
            "anonymous_sender": md.anonymous_sender,
            "encrypted_from": None if md.encrypted_from is None else str(md.encrypted_from),
            "encrypted_to": [str(k) for k in md.encrypted_to or []],
            "sign_from": None if md.sign_from is None else str(md.sign_from),
            "enc_alg_anon": None if md.enc_alg_anon is None else md.enc_alg_anon.value.enc,
            "enc_alg_auth": None if md.enc_alg_auth is None else md.enc_alg_auth.value.enc,
            "sign_alg": None if md.sign_alg is None else md.sign_alg.value,
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
                if step["kind"] == "peer2":
                    out.update(new_peer2(state, step.get("endpoint")))
                else:
                    out.update(new_did_key(state))
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
