"""The ACA-Py 1.7 harness drives every flow moi will be tested on, between two real ACA-Pys.

Connections by out-of-band invitation and DID exchange 1.1 (did:peer:4 and did:peer:2, HTTP and
WebSocket), trust pings, basic messages, discover-features 2.0, coordinate-mediation 1.0, an
``ld_proof`` credential over issue-credential 2.0 and a DIF presentation-exchange proof over
present-proof 2.0, restarts after SIGKILL. The wire capture lives in test_acapy_wire.py.
"""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest

from tests.peers.acapy import AcaPy, AcaPyError, acapy_factory, connect

pytestmark = [pytest.mark.interop, pytest.mark.slow]

__all__ = ["acapy_factory"]  # the fixture, imported so that pytest finds it here

DIDCOMM = "https://didcomm.org/"
PEER4_SHORT = re.compile(r"did:peer:4zQm[1-9A-HJ-NP-Za-km-z]{44}")
MEMBERSHIP_CONTEXT = [
    "https://www.w3.org/2018/credentials/v1",
    {"@vocab": "https://moi.example/vocab#"},
]


def _short(did: str) -> str:
    """The short form of a did:peer:4 (the long form appends ``:`` and the encoded document)."""
    return did.rsplit(":", 1)[0] if did.startswith("did:peer:4") and did.count(":") == 3 else did


async def _ping(sender: AcaPy, receiver: AcaPy, conn_id: str) -> None:
    thread = await sender.send_ping(conn_id, comment=f"ping from {sender.label}")
    await sender.webhooks.wait_for(
        "ping", lambda p: p["thread_id"] == thread and p["state"] == "response_received"
    )
    got = await receiver.webhooks.wait_for(
        "ping", lambda p: p["thread_id"] == thread and p["state"] == "received"
    )
    assert got["comment"] == f"ping from {sender.label}"
    assert got["responded"] is True
    assert got["connection_id"] is None  # ACA-Py 1.7 leaves it out of this webhook


async def _messages(sender: AcaPy, receiver: AcaPy, conn_id: str, count: int = 5) -> None:
    texts = [f"{sender.label} #{i}: grüße ✓" for i in range(count)]
    for text in texts:
        await sender.send_message(conn_id, text)
    for text in texts:
        await receiver.webhooks.wait_for("basicmessages", lambda p, t=text: p["content"] == t)
    # ACA-Py may deliver them out of order: compare as a multiset, not a sequence
    received = [p["content"] for p in receiver.webhooks.of("basicmessages")]
    assert sorted(t for t in received if t.startswith(f"{sender.label} #")) == sorted(texts)


async def test_connect_ping_message_discover(acapy_factory) -> None:
    alice, bob = await asyncio.gather(acapy_factory("alice"), acapy_factory("bob"))
    a_conn, b_conn = await connect(alice, bob, did_method="did:peer:4")

    assert a_conn["connection_protocol"] == b_conn["connection_protocol"] == "didexchange/1.1"
    assert a_conn["their_role"] == "invitee" and b_conn["their_role"] == "inviter"
    # The invitee names both DIDs by their short did:peer:4 form once it has the response. The
    # inviter's record turns "active" as soon as the "complete" comes in and is shortened a
    # moment later, by the complete's handler: a poll can see it active with long forms.
    assert PEER4_SHORT.fullmatch(b_conn["their_did"]) and PEER4_SHORT.fullmatch(b_conn["my_did"])
    assert _short(a_conn["their_did"]) == b_conn["my_did"]
    assert _short(a_conn["my_did"]) == b_conn["their_did"]
    assert a_conn["their_label"] == "bob" and b_conn["their_label"] == "alice"

    await _ping(alice, bob, a_conn["connection_id"])
    await _ping(bob, alice, b_conn["connection_id"])
    await _messages(alice, bob, a_conn["connection_id"])
    await _messages(bob, alice, b_conn["connection_id"])
    sample = bob.webhooks.of("basicmessages")[0]
    assert sample["connection_id"] == b_conn["connection_id"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", sample["sent_time"])

    expected = {
        f"{DIDCOMM}{p}"
        for p in (
            "didexchange/1.1",
            "out-of-band/1.1",
            "trust_ping/1.0",
            "basicmessage/1.0",
            "discover-features/2.0",
            "coordinate-mediation/1.0",
            "issue-credential/2.0",
            "present-proof/2.0",
            "did-rotate/1.0",
        )
    }
    for asker, conn in ((alice, a_conn), (bob, b_conn)):
        record = await asker.query_features(
            conn["connection_id"], protocol=f"{DIDCOMM}*", goal_code=""
        )
        queries = record["queries_msg"]["queries"]
        assert queries == [{"feature-type": "protocol", "match": f"{DIDCOMM}*"}]
        disclosures = record["disclosures"]["disclosures"]
        ids = {d["id"] for d in disclosures}
        assert expected <= ids, expected - ids
        assert all(
            d["feature-type"] == "protocol" and d["id"].startswith(DIDCOMM) for d in disclosures
        )
    # the goal-code query alone answers with goal codes only
    goals = await alice.query_features(a_conn["connection_id"], protocol="", goal_code="aries.vc*")
    found = goals["disclosures"]["disclosures"]
    assert found and all(d["feature-type"] == "goal-code" for d in found)
    assert {"aries.vc.issue", "aries.vc.verify"} <= {d["id"] for d in found}


async def test_did_peer_2_over_websocket(acapy_factory) -> None:
    """The inviter listens on WebSocket only (advertised first); invitation by did:peer:2."""
    hub, bob = await asyncio.gather(
        acapy_factory("hub", ws=True, advertise=("ws",)), acapy_factory("bob")
    )
    invitation = await hub.create_invitation(did_method="did:peer:2")
    (service,) = invitation["invitation"]["services"]
    assert service.startswith("did:peer:2.V")
    # the invitee's DID follows ACA-Py's default (did:peer:4) and the response follows it...
    h4, b4 = await connect(hub, bob, did_method="did:peer:2")
    assert PEER4_SHORT.fullmatch(b4["their_did"]) and PEER4_SHORT.fullmatch(_short(h4["their_did"]))
    # ...unless the invitee asks for did:peer:2 when it accepts
    h_conn, b_conn = await connect(
        hub, bob, did_method="did:peer:2", invitee_did_method="did:peer:2"
    )
    assert b_conn["their_did"].startswith("did:peer:2.Vz6Mk")
    assert h_conn["their_did"].startswith("did:peer:2.Vz6Mk")
    doc = (await bob.resolve(b_conn["their_did"]))["did_document"]
    endpoints = [s["serviceEndpoint"] for s in doc["service"]]
    assert endpoints == [hub.ws_endpoint]
    await _ping(bob, hub, b_conn["connection_id"])
    await _messages(bob, hub, b_conn["connection_id"], count=3)
    await _messages(hub, bob, h_conn["connection_id"], count=3)


async def test_ld_proof_credential_and_dif_proof(acapy_factory) -> None:
    issuer, holder = await asyncio.gather(acapy_factory("issuer"), acapy_factory("holder"))
    i_conn, _ = await connect(issuer, holder)
    issuer_did, holder_did = await asyncio.gather(
        issuer.create_did("key"), holder.create_did("key")
    )
    assert issuer_did.startswith("did:key:z6Mk") and holder_did.startswith("did:key:z6Mk")
    credential = {
        "@context": MEMBERSHIP_CONTEXT,
        "type": ["VerifiableCredential", "MembershipCredential"],
        "issuer": issuer_did,
        "issuanceDate": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": holder_did, "memberOf": "Example Club", "level": "gold"},
    }
    offer = await issuer.issue_ld_credential(
        i_conn["connection_id"], credential, proof_type="Ed25519Signature2020"
    )
    assert offer["state"] == "offer-sent"
    await asyncio.gather(
        issuer.wait_for_exchange("cred", offer["thread_id"]),
        holder.wait_for_exchange("cred", offer["thread_id"]),
    )
    (stored,) = await holder.w3c_credentials()
    vc = stored["cred_value"]
    assert vc["credentialSubject"] == credential["credentialSubject"]
    assert vc["proof"]["type"] == "Ed25519Signature2020"
    assert (
        vc["proof"]["verificationMethod"] == f"{issuer_did}#{issuer_did.removeprefix('did:key:')}"
    )
    assert vc["proof"]["proofValue"].startswith("z")
    # the suite's context is appended by the issuer
    assert vc["@context"][-1] == "https://w3id.org/security/suites/ed25519-2020/v1"

    definition = {
        "id": str(uuid.uuid4()),
        "format": {"ldp_vp": {"proof_type": ["Ed25519Signature2020"]}},
        "input_descriptors": [
            {
                "id": "membership",
                "schema": [{"uri": "https://www.w3.org/2018/credentials#VerifiableCredential"}],
                "constraints": {
                    "fields": [
                        {
                            "path": ["$.credentialSubject.level"],
                            "filter": {"type": "string", "const": "gold"},
                        }
                    ]
                },
            }
        ],
    }
    challenge = str(uuid.uuid4())
    request = await issuer.request_proof_dif(
        i_conn["connection_id"], definition, challenge=challenge, domain="moi.example"
    )
    done = await issuer.wait_for_exchange("pres", request["thread_id"])
    assert done["verified"] == "true"
    vp = done["by_format"]["pres"]["dif"]
    assert vp["presentation_submission"]["definition_id"] == definition["id"]
    assert vp["presentation_submission"]["descriptor_map"] == [
        {"id": "membership", "format": "ldp_vc", "path": "$.verifiableCredential[0]"}
    ]
    assert vp["verifiableCredential"][0]["proof"] == vc["proof"]
    assert vp["proof"]["challenge"] == challenge
    assert vp["proof"]["proofPurpose"] == "authentication"
    assert vp["proof"]["verificationMethod"].startswith(holder_did + "#")
    # the verifier asked for an ack (will_confirm), so the prover's record ends "done" too
    await holder.wait_for_exchange("pres", request["thread_id"], state="done")

    # A request nothing matches: the holder answers with a problem report and abandons;
    # the verifier reports it by webhook but leaves its own record as it was.
    definition["id"] = str(uuid.uuid4())
    definition["input_descriptors"][0]["constraints"]["fields"][0]["filter"]["const"] = "platinum"
    unmet = await issuer.request_proof_dif(i_conn["connection_id"], definition, challenge=challenge)
    report = await issuer.webhooks.wait_for(
        "problem_report", lambda p: p.get("~thread", {}).get("thid") == unmet["thread_id"]
    )
    assert report["@type"] == f"{DIDCOMM}notification/1.0/problem-report"
    assert report["description"]["code"] == "abandoned"
    (mine,) = await issuer.pres_ex_records(thread_id=unmet["thread_id"])
    assert mine["state"] == "request-sent"


async def test_mediation_and_forward(acapy_factory) -> None:
    """coordinate-mediation 1.0: a granted mediator carries a third agent's message."""
    mediator, recipient, sender = await asyncio.gather(
        acapy_factory(
            "mediator",
            ws=True,
            log_level="debug",
            extra_args=["--open-mediation", "--monitor-forward"],
        ),
        acapy_factory("recipient", log_level="debug"),
        acapy_factory("sender"),
    )
    _, r_conn = await connect(mediator, recipient)
    requested = await recipient.request_mediation(r_conn["connection_id"])
    assert requested["state"] == "request" and requested["role"] == "client"
    granted = await recipient.wait_for_mediation(r_conn["connection_id"])
    assert granted["endpoint"] == mediator.endpoint  # the mediator's first advertised endpoint
    (routing_key,) = granted["routing_keys"]
    assert re.fullmatch(r"did:key:(z6Mk\w+)#\1", routing_key)
    (served,) = await mediator.mediation_records(state="granted")
    assert served["role"] == "server" and served["connection_id"]  # it keeps no routing keys

    invitation = await recipient.create_invitation(mediation_id=granted["mediation_id"])
    oob = await sender.receive_invitation(invitation["invitation"])
    s_conn = await sender.wait_for_connection(oob["connection_id"], states=("active",))
    await recipient.wait_for_connection(
        invitation_msg_id=invitation["invi_msg_id"], states=("active",)
    )
    doc = (await sender.resolve(s_conn["their_did"]))["did_document"]
    (service,) = doc["service"]
    assert service["serviceEndpoint"] == mediator.endpoint
    assert service["routingKeys"] == [routing_key]

    before = len(mediator.webhooks.events)
    await sender.send_message(s_conn["connection_id"], "through the mediator")
    await recipient.webhooks.wait_for(
        "basicmessages", lambda p: p["content"] == "through the mediator"
    )
    # The mediator's webhook and the recipient's may reach the harness in either order.
    await mediator.webhooks.wait_for("forward", since=before)

    # The wire (from the debug logs): what moi's mediator and mediation client must speak.
    at_mediator = {m["@type"].removeprefix(DIDCOMM): m for m in mediator.received_messages()}
    at_recipient = {m["@type"].removeprefix(DIDCOMM): m for m in recipient.received_messages()}
    assert set(at_mediator["coordinate-mediation/1.0/mediate-request"]) == {"@type", "@id"}
    grant = at_recipient["coordinate-mediation/1.0/mediate-grant"]
    assert grant["endpoint"] == mediator.endpoint and grant["routing_keys"] == [routing_key]
    update = at_mediator["coordinate-mediation/1.0/keylist-update"]
    assert all(re.fullmatch(r"did:key:z6Mk\w+", u["recipient_key"]) for u in update["updates"])
    answer = at_recipient["coordinate-mediation/1.0/keylist-update-response"]
    assert answer["~thread"]["thid"] == update["@id"]
    assert {u["result"] for u in answer["updated"]} == {"success"}
    forward = at_mediator["routing/1.0/forward"]
    assert set(forward) == {"@type", "@id", "to", "msg"}
    assert re.fullmatch(r"[1-9A-HJ-NP-Za-km-z]{43,44}", forward["to"])  # a bare base58 verkey
    assert forward["to"] in {f["recipient_key"] for f in mediator.webhooks.of("forward")}
    assert set(forward["msg"]) == {"protected", "iv", "ciphertext", "tag"}


async def test_restart_after_sigkill_keeps_the_connection(acapy_factory) -> None:
    alice, bob = await asyncio.gather(acapy_factory("alice"), acapy_factory("bob"))
    a_conn, b_conn = await connect(alice, bob)
    await bob.kill()
    assert bob.process is not None and bob.process.returncode == -9
    await bob.restart()
    assert (await bob.connection(b_conn["connection_id"]))["state"] == "active"
    await _messages(alice, bob, a_conn["connection_id"], count=2)
    await _ping(bob, alice, b_conn["connection_id"])
    assert await alice.stop() == 0  # SIGTERM ends ACA-Py cleanly


async def test_a_failed_start_names_the_cause(tmp_path) -> None:
    with pytest.raises(AcaPyError, match="unrecognized arguments: --no-such-flag"):
        await AcaPy.start(label="broken", tmp_path=tmp_path, extra_args=["--no-such-flag"])
