"""Helpers for the DIDComm v2 interop tests: scenarios, one batched run per peer, and the
rewriting of moi's DID documents into the forms an older peer reads.

A run is: the peer makes its DIDs (one subprocess call); moi makes its own and packs every
moi-to-peer scenario; one more peer call takes the documents it cannot resolve, unpacks
moi's messages and packs every peer-to-moi scenario; moi unpacks those. Each scenario ends
as an :class:`Outcome` that the tests judge one by one, so a failure names its scenario.
"""

from __future__ import annotations

import asyncio
import os
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import base58

from tests.peers import run_peer
from wallet.encoding import b64url_encode
from wallet.wallet import Wallet

MSG_TYPE = "https://didcomm.org/basicmessage/2.0/message"
MOI_ENDPOINT = "https://moi.example/didcomm"
PEER_ENDPOINT = "https://peer.example/didcomm"
#: moi's DIDs in every run: label -> create_did method and endpoints.
MOI_DIDS: dict[str, tuple[str, list[str]]] = {
    "peer2": ("peer2", [MOI_ENDPOINT]),
    "peer4": ("peer4", [MOI_ENDPOINT]),
    "key": ("key", []),
}


@dataclass(frozen=True)
class Scenario:
    """One message, one direction. ``sender`` is "moi" or the peer's name."""

    sender: str
    mode: str  # plain | signed | anoncrypt | authcrypt
    moi_did: str  # a MOI_DIDS label
    peer_did: str  # a label of the peer's DIDs
    enc: str = "XC20P"
    sign: bool = False  # sign inside the encryption
    protect_sender: bool = False  # SICPA: anoncrypt around the authcrypt
    #: address the recipient by its key agreement kid (as the peer names it), not its DID
    to_kid: bool = False
    #: a second recipient: a label among the recipient side's DIDs
    also_to: str | None = None

    @property
    def name(self) -> str:
        parts = [f"{self.sender}-sends", self.mode]
        if self.mode == "anoncrypt":
            parts.append(self.enc)
        if self.sign and self.mode != "signed":
            parts.append("signed")
        if self.protect_sender:
            parts.append("protected-sender")
        if self.to_kid:
            parts.append("to-kid")
        parts.append(f"moi:{self.moi_did}")
        parts.append(f"peer:{self.peer_did}")
        if self.also_to:
            parts.append(f"and:{self.also_to}")
        return "-".join(parts)


@dataclass
class Party:
    """A DID and the kids expected in envelopes: its first key agreement and signing keys."""

    did: str
    agreement_kid: str
    signing_kid: str
    doc: dict[str, Any]


@dataclass
class Run:
    """Everything one run recorded: outcomes by scenario name, and moi's resolution of each of
    the peer's DIDs next to the document the peer itself gives it."""

    outcomes: dict[str, Outcome]
    peer_docs: dict[str, dict[str, Any]]
    moi_resolved: dict[str, dict[str, Any] | str]

    def __getitem__(self, name: str) -> Outcome:
        return self.outcomes[name]


@dataclass
class Outcome:
    scenario: Scenario
    moi: Party
    peer: Party
    sent: dict[str, Any]
    #: every recipient, the scenario's own first
    recipients: list[Party] = field(default_factory=list)
    packed: dict[str, Any] | None = None
    #: the peer's own account of what it packed (to_kids, from_kid, sign_from_kid)
    pack_info: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    message: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


def plaintext(scenario: Scenario, frm: str, to: Sequence[str]) -> dict[str, Any]:
    """The message a scenario sends; an anonymous one has no ``from``."""
    msg: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "type": MSG_TYPE,
        "to": list(to),
        "created_time": 1_700_000_000,
        "body": {"content": f"héllo ✓ {scenario.name}", "n": [1, 2.5, None, True]},
    }
    if scenario.mode != "anoncrypt" or scenario.sign:
        msg["from"] = frm
    return msg


def _absolute(ref: str, did: str) -> str:
    return did + ref if ref.startswith("#") else ref


def _first_ref(doc: Mapping[str, Any], relationship: str) -> str:
    ref = doc[relationship][0]
    return _absolute(ref["id"] if isinstance(ref, dict) else ref, doc["id"])


def party_from_doc(did: str, doc: Mapping[str, Any]) -> Party:
    return Party(
        did=did,
        agreement_kid=_first_ref(doc, "keyAgreement"),
        signing_kid=_first_ref(doc, "authentication"),
        doc=dict(doc),
    )


# -- documents for peers that cannot read moi's -----------------------------------------------

_MULTICODEC_OKP = {b"\xed\x01": "Ed25519", b"\xec\x01": "X25519"}


def _multikey_to_jwk(multibase: str) -> dict[str, str]:
    # Decoded here rather than with moi's own key code, so that a slip in moi's encoding
    # cannot cancel itself out on the way to the peer.
    if not multibase.startswith("z"):
        raise ValueError(f"not a base58btc multibase key: {multibase[:12]}")
    raw = base58.b58decode(multibase[1:])
    crv = _MULTICODEC_OKP.get(raw[:2])
    if crv is None or len(raw) != 34:
        raise ValueError(f"not an Ed25519/X25519 multikey: {multibase[:12]}")
    return {"kty": "OKP", "crv": crv, "x": b64url_encode(raw[2:])}


def key_material(doc: Mapping[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """For the two relationships DIDComm uses, the (curve, x) of each key, whatever suite and
    id form carry it. (peerdid 0.5.2 also makes a did:peer:2 "V" key an assertion method; the
    current spec does not, so assertionMethod is no basis for comparison.)"""
    did = doc["id"]
    methods = {_absolute(vm["id"], did): vm for vm in doc.get("verificationMethod", [])}
    out = {}
    for rel in ("authentication", "keyAgreement"):
        keys = []
        for ref in doc.get(rel, []):
            vm = ref if isinstance(ref, dict) else methods[_absolute(ref, did)]
            jwk = vm.get("publicKeyJwk") or _multikey_to_jwk(vm["publicKeyMultibase"])
            keys.append((jwk["crv"], jwk["x"]))
        out[rel] = sorted(keys)
    return out


def service_uris(doc: Mapping[str, Any]) -> list[str]:
    uris = []
    for svc in doc.get("service", []):
        endpoints = svc["serviceEndpoint"]
        for ep in endpoints if isinstance(endpoints, list) else [endpoints]:
            uris.append(ep["uri"] if isinstance(ep, dict) else ep)
    return uris


def for_sicpa(doc: Mapping[str, Any]) -> dict[str, Any]:
    """moi's resolved document in the forms SICPA didcomm 0.3.2 reads.

    That library (through pydid 0.3) knows only JsonWebKey2020 and the 2018-2020 Ed25519 /
    X25519 suites, looks keys up by absolute id only, and fails on the DIDComm v2.1 service
    object (``serviceEndpoint: {uri, accept, routingKeys}``). It has no resolver for the
    current did:peer:2 / did:peer:4 (its ``peerdid`` follows the older spec and other key
    ids), so the test hands it moi's own resolution, rewritten: Multikey becomes
    JsonWebKey2020, every id absolute, each endpoint the v2.0 string form. This is test
    glue for an old peer, not something moi itself should emit.
    """
    did = doc["id"]

    def method(vm: Mapping[str, Any]) -> dict[str, Any]:
        out = {
            "id": _absolute(vm["id"], did),
            "type": vm["type"],
            "controller": vm.get("controller", did),
        }
        if vm["type"] == "Multikey":
            out["type"] = "JsonWebKey2020"
            out["publicKeyJwk"] = _multikey_to_jwk(vm["publicKeyMultibase"])
        else:
            for name in ("publicKeyJwk", "publicKeyBase58", "publicKeyMultibase"):
                if name in vm:
                    out[name] = vm[name]
        return out

    out: dict[str, Any] = {
        "@context": [
            "https://www.w3.org/ns/did/v1",
            "https://w3id.org/security/suites/jws-2020/v1",
        ],
        "id": did,
        "verificationMethod": [method(vm) for vm in doc.get("verificationMethod", [])],
    }
    for rel in ("authentication", "assertionMethod", "keyAgreement"):
        refs = []
        for ref in doc.get(rel, []):
            if isinstance(ref, dict):  # embedded: declare it, refer to it
                out["verificationMethod"].append(method(ref))
                ref = ref["id"]
            refs.append(_absolute(ref, did))
        if refs:
            out[rel] = refs
    services = []
    for n, svc in enumerate(doc.get("service", [])):
        if svc.get("type") != "DIDCommMessaging":
            continue
        endpoint = svc["serviceEndpoint"]
        if isinstance(endpoint, list):
            endpoint = endpoint[0]
        if isinstance(endpoint, dict):
            accept = endpoint.get("accept", [])
            routing = endpoint.get("routingKeys", [])
            endpoint = endpoint["uri"]
        else:
            accept, routing = svc.get("accept", []), svc.get("routingKeys", [])
        services.append(
            {
                "id": _absolute(svc.get("id", f"#service-{n}"), did),
                "type": "DIDCommMessaging",
                "serviceEndpoint": endpoint,
                "accept": accept,
                "routingKeys": routing,
            }
        )
    if services:
        out["service"] = services
    return out


# -- a run ------------------------------------------------------------------------------------


def _step_error(result: Mapping[str, Any]) -> str:
    return f"{result['error']}\n{result.get('trace', '')}"


def _moi_error(where: str, err: BaseException) -> str:
    return f"moi {where}: {type(err).__name__}: {err}\n" + "".join(
        traceback.format_exception(err)[-3:]
    )


async def _run(
    peer: str,
    script: str,
    peer_dids: Mapping[str, Mapping[str, Any]],
    scenarios: Sequence[Scenario],
    workdir: Path,
    doc_for_peer: Callable[[str, Mapping[str, Any]], dict[str, Any] | None],
) -> Run:
    state = str(workdir / f"{peer}-state.json")
    labels = list(peer_dids)
    made = await asyncio.to_thread(
        run_peer,
        peer,
        script,
        {"state": state, "steps": [{"op": "new_did", **peer_dids[k]} for k in labels]},
    )
    peers: dict[str, Party] = {}
    for label, result in zip(labels, made["results"], strict=True):
        if "error" in result:
            raise RuntimeError(f"{peer} could not make its {label} DID: {_step_error(result)}")
        peers[label] = party_from_doc(result["did"], result["doc"])

    wallet = await Wallet.create(f"sqlite://{workdir / 'moi.db'}", raw_key=os.urandom(32))
    try:
        moi: dict[str, Party] = {}
        add_docs = []
        for label, (method, endpoints) in MOI_DIDS.items():
            did = await wallet.create_did(method, endpoints=endpoints)
            doc = (await wallet.resolve(did)).to_json()
            moi[label] = party_from_doc(did, doc)
            handed = doc_for_peer(did, doc)
            if handed is not None:
                add_docs.append({"op": "add_doc", "doc": handed})

        outcomes: dict[str, Outcome] = {}
        steps: list[dict[str, Any]] = list(add_docs)
        for sc in scenarios:
            m, p = moi[sc.moi_did], peers[sc.peer_did]
            if sc.sender == "moi":
                to = [p] + ([peers[sc.also_to]] if sc.also_to else [])
                out = Outcome(sc, m, p, plaintext(sc, m.did, [x.did for x in to]), to)
                outcomes[sc.name] = out
                try:
                    out.packed = await wallet.pack(
                        out.sent,
                        to=[x.agreement_kid if sc.to_kid else x.did for x in to],
                        frm=m.did if sc.mode != "anoncrypt" or sc.sign else None,
                        mode=sc.mode,
                        sign=sc.sign,
                        enc=sc.enc,
                    )
                except Exception as err:  # recorded; the scenario's test reports it
                    out.error = _moi_error("pack", err)
                    continue
                steps.append({"op": "unpack", "id": sc.name, "packed": out.packed})
            else:
                to = [m] + ([moi[sc.also_to]] if sc.also_to else [])
                out = Outcome(sc, m, p, plaintext(sc, p.did, [x.did for x in to]), to)
                outcomes[sc.name] = out
                addresses = [x.agreement_kid if sc.to_kid else x.did for x in to]
                step = {
                    "op": "pack",
                    "id": sc.name,
                    "mode": sc.mode,
                    "message": out.sent,
                    # SICPA packs for one recipient at a time
                    "to": addresses if peer == "askar" else addresses[0],
                    "frm": p.did,
                    "enc": sc.enc,
                    "protect_sender": sc.protect_sender,
                }
                if sc.sign or sc.mode == "signed":
                    step["sign_frm"] = p.did
                steps.append(step)

        answer = await asyncio.to_thread(run_peer, peer, script, {"state": state, "steps": steps})
        for result in answer["results"]:
            if result["op"] == "add_doc":
                if "error" in result:
                    raise RuntimeError(f"{peer} refused a document: {_step_error(result)}")
                continue
            out = outcomes[result["id"]]
            if "error" in result:
                out.error = f"{peer} {result['op']}: {_step_error(result)}"
            elif result["op"] == "unpack":
                out.message, out.metadata = result["message"], result["metadata"]
            else:
                out.packed = result["packed"]
                out.pack_info = {k: v for k, v in result.items() if k not in ("packed", "op")}

        for out in outcomes.values():
            if out.scenario.sender == "moi" or out.error is not None:
                continue
            try:
                res = await wallet.unpack(out.packed)
            except Exception as err:
                out.error = _moi_error("unpack", err)
                continue
            out.message, out.metadata = res.message, res.metadata.to_json()
        resolved: dict[str, dict[str, Any] | str] = {}
        for label, party in peers.items():
            try:
                resolved[label] = (await wallet.resolve(party.did)).to_json()
            except Exception as err:
                resolved[label] = _moi_error("resolve", err)
        return Run(outcomes, {k: p.doc for k, p in peers.items()}, resolved)
    finally:
        await wallet.close()


def run_interop(
    peer: str,
    script: str,
    peer_dids: Mapping[str, Mapping[str, Any]],
    scenarios: Sequence[Scenario],
    workdir: Path,
    doc_for_peer: Callable[[str, Mapping[str, Any]], dict[str, Any] | None],
) -> Run:
    """Run every scenario against ``peer``; outcomes by scenario name.

    ``peer_dids`` maps a label to the peer's ``new_did`` arguments; ``doc_for_peer`` gives,
    for each of moi's DIDs, the document to hand the peer (None when it resolves the DID).
    """
    return asyncio.run(_run(peer, script, peer_dids, scenarios, workdir, doc_for_peer))
