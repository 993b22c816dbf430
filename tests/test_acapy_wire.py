"""What ACA-Py 1.7 puts on the wire: captured once, between two real agents, and checked.

Each agent advertises a recording proxy in front of its HTTP endpoint, so every envelope (with
its HTTP headers and the answer) is kept; the plaintexts come from the agents' debug logs. The
facts checked here are the ones docs/acapy-notes.md tells moi to follow; moi's own v1 envelope
parser and did:peer:4 resolver read what ACA-Py wrote. Set MOI_ACAPY_CAPTURE=FILE to keep the
whole capture as JSON.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.peers.acapy import AcaPy, free_port
from wallet.did.peer4 import resolve_peer4
from wallet.didcomm import v1
from wallet.keys import KeyType, PrivateKey, PublicKey

pytestmark = [pytest.mark.interop, pytest.mark.slow]

DIDCOMM = "https://didcomm.org/"
ENVELOPE_TYPE = "application/didcomm-envelope-enc"


class RecordingProxy:
    """Forwards every request to ``target`` and keeps the request and the answer."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.target = ""
        self.records: list[dict[str, Any]] = []

    async def start(self) -> str:
        app = web.Application(client_max_size=8 << 20)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        return f"http://127.0.0.1:{port}"

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {"content-type": request.headers.get("content-type", "")}
        async with self._client.post(
            self.target + request.path_qs, data=body, headers=headers
        ) as r:
            answer = await r.read()
            self.records.append(
                {
                    "to": self.name,
                    "method": request.method,
                    "headers": dict(request.headers),
                    "body": body.decode(),
                    "status": r.status,
                    "answer": answer.decode(errors="replace"),
                }
            )
            return web.Response(status=r.status, body=answer)

    async def stop(self) -> None:
        await self._client.close()
        await self._runner.cleanup()


async def _post(url: str, data: bytes | str, content_type: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as client:
        async with client.post(url, data=data, headers={"content-type": content_type}) as r:
            return {"status": r.status, "type": r.content_type, "body": await r.read()}


async def _credential_and_proof(issuer: AcaPy, holder: AcaPy, conn: str, out: dict) -> None:
    issuer_did, holder_did = await asyncio.gather(issuer.create_did(), holder.create_did())
    credential = {
        "@context": [
            "https://www.w3.org/2018/credentials/v1",
            {"@vocab": "https://moi.example/vocab#"},
        ],
        "type": ["VerifiableCredential", "MembershipCredential"],
        "issuer": issuer_did,
        "issuanceDate": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": holder_did, "level": "gold"},
    }
    offer = await issuer.issue_ld_credential(conn, credential)
    await holder.wait_for_exchange("cred", offer["thread_id"])
    await issuer.wait_for_exchange("cred", offer["thread_id"])
    definition = {
        "id": str(uuid.uuid4()),
        "format": {"ldp_vp": {"proof_type": ["Ed25519Signature2020"]}},
        "input_descriptors": [
            {
                "id": "membership",
                "schema": [{"uri": "https://www.w3.org/2018/credentials#VerifiableCredential"}],
                # ACA-Py 1.7's prover fails (AttributeError, no answer) without constraints
                "constraints": {"fields": [{"path": ["$.credentialSubject.level"]}]},
            }
        ],
    }
    out["challenge"] = str(uuid.uuid4())
    request = await issuer.request_proof_dif(
        conn, definition, challenge=out["challenge"], domain="moi.example"
    )
    await issuer.wait_for_exchange("pres", request["thread_id"])
    out["holder_did"], out["issuer_did"] = holder_did, issuer_did


async def _capture(tmp_path: Path) -> dict[str, Any]:
    proxies = {name: RecordingProxy(name) for name in ("alice", "bob")}
    urls = {name: await proxy.start() for name, proxy in proxies.items()}
    alice, bob = await asyncio.gather(
        *(
            AcaPy.start(label=name, tmp_path=tmp_path, advertise=(urls[name],), log_level="debug")
            for name in ("alice", "bob")
        )
    )
    proxies["alice"].target, proxies["bob"].target = alice.endpoint, bob.endpoint
    out: dict[str, Any] = {"endpoints": urls}
    try:
        out["invitation_peer2"] = await alice.create_invitation(did_method="did:peer:2")
        invitation = await alice.create_invitation(did_method="did:peer:4")
        out["invitation"] = invitation
        oob = await bob.receive_invitation(invitation["invitation"])
        b_conn = await bob.wait_for_connection(oob["connection_id"], states=("active",))
        a_conn = await alice.wait_for_connection(
            invitation_msg_id=invitation["invi_msg_id"], states=("active",)
        )
        out["conn_alice"], out["conn_bob"] = a_conn, b_conn
        conn = a_conn["connection_id"]
        thread = await alice.send_ping(conn, "ping comment")
        await alice.webhooks.wait_for(
            "ping", lambda p: p["thread_id"] == thread and p["state"] == "response_received"
        )
        await alice.send_message(conn, "hello bob ✓")
        await bob.webhooks.wait_for("basicmessages", lambda p: p["content"] == "hello bob ✓")
        out["features"] = await bob.query_features(b_conn["connection_id"])
        await _credential_and_proof(alice, bob, conn, out)

        # a stranger (a fresh key, no connection) sends an unknown type and asks for a reply
        # on the same HTTP exchange; then plaintext, garbage, and an envelope for nobody
        stranger = PrivateKey.generate(KeyType.ED25519)
        unknown_id = str(uuid.uuid4())
        unknown = {
            "@type": f"{DIDCOMM}moi-unknown/1.0/thing",
            "@id": unknown_id,
            "~transport": {"return_route": "all"},
        }
        sealed = v1.pack(
            json.dumps(unknown).encode(),
            [PublicKey.from_base58(a_conn["invitation_key"])],
            stranger,
        )
        answer = await _post(alice.endpoint, sealed, ENVELOPE_TYPE)
        out["unknown_type"] = {
            "status": answer["status"],
            "type": answer["type"],
            "sent_id": unknown_id,
            "reply": json.loads(v1.unpack(answer["body"], stranger).plaintext),
        }
        plain = await _post(alice.endpoint, json.dumps(unknown), "application/json")
        out["plaintext_unknown"] = {"status": plain["status"], "body": plain["body"].decode()}
        garbage = await _post(alice.endpoint, b"\x00 not json", ENVELOPE_TYPE)
        out["garbage"] = {"status": garbage["status"], "body": garbage["body"].decode()}
        nobody = v1.pack(b"{}", [PrivateKey.generate(KeyType.ED25519).public], stranger)
        lost = await _post(alice.endpoint, nobody, ENVELOPE_TYPE)
        out["no_such_recipient"] = {"status": lost["status"], "body": lost["body"].decode()}
        out["resolved_short"] = await alice.resolve(b_conn["my_did"])
        out["resolved_long"] = await bob.resolve(invitation["invitation"]["services"][0])
    finally:
        await asyncio.gather(alice.stop(remove_wallet=True), bob.stop(remove_wallet=True))
        for proxy in proxies.values():
            await proxy.stop()
    out["wire"] = proxies["alice"].records + proxies["bob"].records
    out["at_alice"] = alice.received_messages()
    out["at_bob"] = bob.received_messages()
    return out


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = asyncio.run(_capture(tmp_path_factory.mktemp("acapy-wire")))
    target = os.environ.get("MOI_ACAPY_CAPTURE")
    if target:
        Path(target).write_text(json.dumps(out, indent=1, ensure_ascii=False))
    return out


def _b64url(text: str) -> bytes:
    """Strict unpadded base64url, as RFC 7515 writes it."""
    assert "=" not in text and "+" not in text and "/" not in text, text
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _by_type(messages: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    # an envelope it could not open is logged as if it were the message: skip those
    return {m["@type"].removeprefix(DIDCOMM): m for m in messages if "@type" in m}


def test_oob_invitation_and_its_url(capture) -> None:
    record = capture["invitation"]
    invitation = record["invitation"]
    assert list(invitation) == ["@type", "@id", "label", "handshake_protocols", "services"]
    assert invitation["@type"] == f"{DIDCOMM}out-of-band/1.1/invitation"
    assert invitation["handshake_protocols"] == [f"{DIDCOMM}didexchange/1.1"]
    (service,) = invitation["services"]
    assert service.startswith("did:peer:4zQm") and service.count(":") == 3  # the long form
    doc = resolve_peer4(service)
    (endpoint,) = [s["serviceEndpoint"] for s in doc["service"]]
    assert endpoint == capture["endpoints"]["alice"]
    # the URL: the first endpoint, "?oob=", unpadded base64url of the JSON as Python dumps it
    base, encoded = record["invitation_url"].split("?oob=")
    assert base == capture["endpoints"]["alice"]
    assert _b64url(encoded) == json.dumps(invitation).encode()
    peer2 = capture["invitation_peer2"]["invitation"]["services"][0]
    assert peer2.startswith("did:peer:2.Vz6Mk") and ".Ez6LS" in peer2 and ".S" in peer2


def test_v1_envelopes_and_http(capture) -> None:
    assert len(capture["wire"]) >= 8
    for record in capture["wire"]:
        assert record["method"] == "POST"
        assert record["headers"]["Content-Type"] == ENVELOPE_TYPE
        assert record["status"] == 200 and record["answer"] == ""  # no reply on the exchange
        envelope = json.loads(record["body"])
        assert list(envelope) == ["protected", "iv", "ciphertext", "tag"]
        protected = json.loads(_b64url(envelope["protected"]))
        assert list(protected) == ["enc", "typ", "alg", "recipients"]
        assert protected["enc"] == "xchacha20poly1305_ietf" and protected["typ"] == "JWM/1.0"
        assert protected["alg"] == "Authcrypt"
        (recipient,) = protected["recipients"]
        assert list(recipient["header"]) == ["kid", "sender", "iv"]
        assert len(_b64url(recipient["header"]["iv"])) == 24  # the crypto_box nonce
        assert len(_b64url(recipient["encrypted_key"])) == 48  # 32-byte key + 16-byte MAC
        # the content nonce is 12 bytes: ChaCha20-Poly1305 IETF, whatever "enc" says
        assert len(_b64url(envelope["iv"])) == 12 and len(_b64url(envelope["tag"])) == 16
        parsed = v1.parse(record["body"])  # moi reads what ACA-Py writes
        assert parsed.is_authcrypt and parsed.recipient_verkeys == (recipient["header"]["kid"],)


def test_did_exchange_request_response_complete(capture) -> None:
    at_alice, at_bob = _by_type(capture["at_alice"]), _by_type(capture["at_bob"])
    invitation = capture["invitation"]["invitation"]
    request = at_alice["didexchange/1.1/request"]
    assert set(request) == {"@type", "@id", "~thread", "label", "did"}  # no did_doc~attach
    assert request["~thread"] == {"thid": request["@id"], "pthid": invitation["@id"]}
    assert request["label"] == "bob"
    assert request["did"].count(":") == 3  # long-form did:peer:4
    assert request["did"].rsplit(":", 1)[0] == capture["conn_bob"]["my_did"]

    response = at_bob["didexchange/1.1/response"]
    assert set(response) == {"@type", "@id", "~thread", "did", "did_rotate~attach"}
    assert response["~thread"] == request["~thread"]
    assert response["did"].count(":") == 3
    attach = response["did_rotate~attach"]
    assert attach["mime-type"] == "text/string"
    payload = attach["data"]["base64"]
    # the payload travels in the standard alphabet with padding...
    assert base64.b64decode(payload, validate=True) == response["did"].encode()
    jws = attach["data"]["jws"]
    header = json.loads(_b64url(jws["protected"]))
    assert list(header) == ["alg", "jwk"] and header["alg"] == "EdDSA"
    assert list(header["jwk"]) == ["kty", "crv", "x", "kid"]
    signer = PublicKey.from_jwk(header["jwk"])
    # ...signed by the key of the invitation that the request answered...
    assert signer.base58 == capture["conn_bob"]["invitation_key"]
    assert jws["header"] == {"kid": header["jwk"]["kid"]}
    assert header["jwk"]["kid"] == "did:key:" + signer.multikey
    # ...over the payload re-encoded as unpadded base64url (RFC 7515 signing input)
    url_payload = base64.urlsafe_b64encode(base64.b64decode(payload)).rstrip(b"=")
    signer.verify(_b64url(jws["signature"]), jws["protected"].encode() + b"." + url_payload)

    complete = at_alice["didexchange/1.1/complete"]
    assert set(complete) == {"@type", "@id", "~thread"}
    assert complete["~thread"] == request["~thread"]
    # afterwards the peer is named by the short form, which ACA-Py resolves only because it
    # kept the long form it saw during the exchange; the document's id is the form asked for,
    # and alsoKnownAs holds the other one
    short = capture["conn_bob"]["my_did"]
    resolved = capture["resolved_short"]["did_document"]
    assert resolved["id"] == short and resolved["alsoKnownAs"] == [request["did"]]
    assert resolved["verificationMethod"][0]["controller"] == short
    long_form = invitation["services"][0]
    by_long = capture["resolved_long"]["did_document"]
    assert by_long["id"] == long_form and by_long["alsoKnownAs"] == [long_form.rsplit(":", 1)[0]]
    mine = resolve_peer4(request["did"])  # moi reads ACA-Py's long form to the same keys
    assert [m["publicKeyMultibase"] for m in mine["verificationMethod"]] == [
        m["publicKeyMultibase"] for m in resolved["verificationMethod"]
    ]


def test_ping_message_and_discover_features(capture) -> None:
    at_alice, at_bob = _by_type(capture["at_alice"]), _by_type(capture["at_bob"])
    ping = at_bob["trust_ping/1.0/ping"]
    assert ping == {
        "@type": f"{DIDCOMM}trust_ping/1.0/ping",
        "@id": ping["@id"],
        "response_requested": True,
        "comment": "ping comment",
    }
    answer = at_alice["trust_ping/1.0/ping_response"]
    assert set(answer) == {"@type", "@id", "~thread"} and answer["~thread"] == {"thid": ping["@id"]}
    message = at_bob["basicmessage/1.0/message"]
    assert set(message) == {"@type", "@id", "sent_time", "content"}
    assert message["content"] == "hello bob ✓" and message["sent_time"].endswith("Z")

    queries = at_alice["discover-features/2.0/queries"]
    assert queries["queries"] == [
        {"feature-type": "protocol", "match": "*"},
        {"feature-type": "goal-code", "match": "*"},
    ]
    disclosures = at_bob["discover-features/2.0/disclosures"]
    assert disclosures["~thread"] == queries["~thread"]
    items = disclosures["disclosures"]
    # "roles" only where the protocol names them (action-menu: provider)
    assert all(set(d) - {"roles"} == {"feature-type", "id"} for d in items)
    protocols = {d["id"] for d in items if d["feature-type"] == "protocol"}
    assert f"{DIDCOMM}didexchange/1.1" in protocols
    # each protocol is disclosed under the old did:sov prefix as well
    assert "did:sov:BzCbsNYhMrjHiqZDTUASHg;spec/trust_ping/1.0" in protocols


def test_unknown_types_and_bad_input(capture) -> None:
    unknown = capture["unknown_type"]
    assert unknown["status"] == 200 and unknown["type"] == ENVELOPE_TYPE
    assert unknown["reply"] == {
        "@type": f"{DIDCOMM}notification/1.0/problem-report",
        "@id": unknown["reply"]["@id"],
        "~thread": {"thid": unknown["sent_id"]},
        "description": {
            "en": f"Unrecognized message type {DIDCOMM}moi-unknown/1.0/thing",
            "code": "message-parse-failure",
        },
    }
    # an unencrypted message is read (it has an @type), but nobody to answer: empty 200
    assert capture["plaintext_unknown"] == {"status": 200, "body": ""}
    assert capture["garbage"] == {"status": 400, "body": "400: Message JSON parsing failed"}
    # an envelope for a key it does not hold is taken for a plaintext without @type: the
    # problem report has nowhere to go, and the sender is told 200 all the same
    assert capture["no_such_recipient"] == {"status": 200, "body": ""}
    # and the agent kept working: it logged the unknown message as received
    assert any(m["@id"] == unknown["sent_id"] for m in capture["at_alice"])


def test_issue_credential_and_present_proof(capture) -> None:
    at_alice, at_bob = _by_type(capture["at_alice"]), _by_type(capture["at_bob"])
    offer = at_bob["issue-credential/2.0/offer-credential"]
    assert offer["~thread"] == {}  # an empty thread decorator: moi must accept it
    assert offer["formats"] == [
        {"attach_id": "ld_proof", "format": "aries/ld-proof-vc-detail@v1.0"}
    ]
    (attachment,) = offer["offers~attach"]
    assert attachment["@id"] == "ld_proof" and attachment["mime-type"] == "application/json"
    # JSON attachments of issue-credential travel as padded standard base64
    detail = json.loads(base64.b64decode(attachment["data"]["base64"], validate=True))
    assert detail["options"] == {"proofType": "Ed25519Signature2020"}
    assert (
        detail["credential"]["@context"][-1] == "https://w3id.org/security/suites/ed25519-2020/v1"
    )
    request = at_alice["issue-credential/2.0/request-credential"]
    assert request["~thread"] == {"thid": offer["@id"]}
    assert request["formats"] == offer["formats"]
    issued = at_bob["issue-credential/2.0/issue-credential"]
    assert issued["formats"] == [{"attach_id": "ld_proof", "format": "aries/ld-proof-vc@v1.0"}]
    vc = json.loads(base64.b64decode(issued["credentials~attach"][0]["data"]["base64"]))
    assert vc["proof"]["type"] == "Ed25519Signature2020"
    assert at_alice["issue-credential/2.0/ack"]["status"] == "OK"

    ask = at_bob["present-proof/2.0/request-presentation"]
    assert "~thread" not in ask and ask["will_confirm"] is True
    assert ask["formats"] == [
        {"attach_id": "dif", "format": "dif/presentation-exchange/definitions@v1.0"}
    ]
    (asked,) = ask["request_presentations~attach"]
    # present-proof's DIF attachments are inline JSON, not base64
    assert asked["data"]["json"]["options"] == {
        "challenge": capture["challenge"],
        "domain": "moi.example",
    }
    shown = at_alice["present-proof/2.0/presentation"]
    assert shown["formats"] == [
        {"attach_id": "dif", "format": "dif/presentation-exchange/submission@v1.0"}
    ]
    vp = shown["presentations~attach"][0]["data"]["json"]
    assert vp["@context"] == [
        "https://www.w3.org/2018/credentials/v1",
        "https://identity.foundation/presentation-exchange/submission/v1",
    ]
    assert vp["type"] == ["VerifiablePresentation", "PresentationSubmission"]
    # the presentation's own proof is Ed25519Signature2018 (a detached JWS), whatever suite
    # the definition asked for, and it carries the challenge but not the domain
    proof = vp["proof"]
    assert proof["type"] == "Ed25519Signature2018" and proof["proofPurpose"] == "authentication"
    assert proof["challenge"] == capture["challenge"] and "domain" not in proof
    head, empty, _signature = proof["jws"].split(".")
    assert empty == "" and json.loads(_b64url(head)) == {
        "alg": "EdDSA",
        "b64": False,
        "crit": ["b64"],
    }
    assert proof["verificationMethod"].startswith(capture["holder_did"] + "#")
    assert at_bob["present-proof/2.0/ack"] == {
        "@type": f"{DIDCOMM}present-proof/2.0/ack",
        "@id": at_bob["present-proof/2.0/ack"]["@id"],
        "~thread": {"thid": ask["@id"]},
        "status": "OK",
    }


def test_the_capture_is_valid_base64_everywhere(capture) -> None:
    """Guard for the notes: every binary field in every envelope is unpadded base64url."""
    for record in capture["wire"]:
        envelope = json.loads(record["body"])
        for name in ("protected", "iv", "ciphertext", "tag"):
            try:
                _b64url(envelope[name])
            except (binascii.Error, AssertionError) as err:  # pragma: no cover - a finding
                pytest.fail(f"{name} of an envelope to {record['to']}: {err}")
