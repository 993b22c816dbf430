"""moi's runtime against a real ACA-Py 1.7: connections in both directions, then trust pings,
basic messages, discover-features and problem reports both ways over each of them.

One ``moi start`` process and one ACA-Py (askar SQLite wallet, ``--no-ledger``, debug log so
that every plaintext it received can be read back) serve the whole module. Each side is driven
only through its own admin API: moi's through :class:`Moi` (the synchronous helper of
``tests.agent_procs`` run in a thread, so ACA-Py's webhooks keep arriving meanwhile), ACA-Py's
through the harness in ``tests.peers.acapy``.

The four connections:

- ``moi-invites/peer4`` and ``moi-invites/peer2``: moi's OOB 1.1 invitation, ACA-Py accepts
  with DID exchange 1.1 presenting a did:peer:4 / a did:peer:2;
- ``acapy-invites/peer4`` and ``acapy-invites/peer2``: ACA-Py's OOB 1.1 invitation (a
  did:peer:4 / did:peer:2 in ``services``), moi accepts with its did:peer:4.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.agent_procs import AsyncAdmin, Swarm, ensure_example_plugin
from tests.peers.acapy import AcaPy, ConnRecord

pytestmark = [
    pytest.mark.interop,
    pytest.mark.slow,
    pytest.mark.asyncio(loop_scope="module"),
]

KINDS = ("moi-invites/peer4", "moi-invites/peer2", "acapy-invites/peer4", "acapy-invites/peer2")
DIDCOMM = "https://didcomm.org/"
HELLO = "https://example.org/hello/1.0/hello"


class Moi(AsyncAdmin):
    """The moi side of these tests."""

    async def connection(self, ref: str) -> dict[str, Any]:
        return await self.call("GET", f"/connections/{ref}")

    async def events(self, topic: str) -> list[dict[str, Any]]:
        return await self.call("GET", "/events", params={"topic": topic, "limit": 1000})

    async def wait_event(
        self, topic: str, match: Callable[[dict[str, Any]], bool], *, timeout: float = 20.0
    ) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            for event in await self.events(topic):
                if match(event["payload"]):
                    return event["payload"]
            return None

        return await self.wait(probe, what=f"a {topic} event", timeout=timeout)


@dataclass
class Link:
    """One connection as both sides know it."""

    kind: str
    moi_id: str
    acapy_id: str


@dataclass
class Pair:
    moi: Moi
    acapy: AcaPy
    links: dict[str, Link] = field(default_factory=dict)

    async def link(self, kind: str) -> Link:
        if kind not in self.links:
            self.links[kind] = await _connect(self, kind)
        return self.links[kind]


async def _connect(pair: Pair, kind: str) -> Link:
    moi, acapy = pair.moi, pair.acapy
    if kind.startswith("acapy-invites"):
        method = "did:peer:4" if kind.endswith("peer4") else "did:peer:2"
        made = await acapy.create_invitation(did_method=method, label="acapy")
        mine = await moi.call("POST", "/invitations/receive", {"url": made["invitation_url"]})
        theirs = await acapy.wait_for_connection(
            invitation_msg_id=made["invi_msg_id"], states=("active",)
        )
        await moi.wait(lambda: _completed(moi, mine["id"]), what=f"moi's side of {kind} completed")
        return Link(kind, mine["id"], theirs["connection_id"])
    method = {"moi-invites/peer4": "did:peer:4", "moi-invites/peer2": "did:peer:2"}[kind]
    made = await moi.call("POST", "/invitations", {"family": "v1", "label": "moi"})
    oob = await acapy.receive_invitation(made["invitation"], auto_accept=False)
    await acapy.accept_invitation(oob["connection_id"], did_method=method)
    theirs = await acapy.wait_for_connection(oob["connection_id"], states=("active",))

    async def mine() -> str | None:
        found = await moi.call("GET", "/connections", params={"limit": 1000})
        for conn in found:
            if conn["invitation_id"] == made["id"] and conn["state"] == "completed":
                return conn["id"]
        return None

    moi_id = await moi.wait(mine, what=f"moi's side of {kind} completed")
    return Link(kind, moi_id, theirs["connection_id"])


async def _completed(moi: Moi, ref: str) -> bool:
    return (await moi.connection(ref))["state"] == "completed"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pair(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pair]:
    ensure_example_plugin()  # moi's way to send a type ACA-Py does not know: a plugin's message
    root: Path = tmp_path_factory.mktemp("acapy-runtime")
    with Swarm(root) as swarm:
        process = swarm.add("moi", label="moi")
        started = asyncio.create_task(AcaPy.start(label="acapy", tmp_path=root, log_level="debug"))
        await asyncio.to_thread(process.start)
        acapy = await started
        try:
            yield Pair(Moi(process), acapy)
        finally:
            await acapy.stop(remove_wallet=True)


# -- 1. connections ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_connection_completes_on_both_sides(pair: Pair, kind: str) -> None:
    link = await pair.link(kind)
    mine = await pair.moi.connection(link.moi_id)
    theirs: ConnRecord = await pair.acapy.connection(link.acapy_id)
    assert mine["state"] == "completed" and mine["family"] == "v1"
    assert theirs["state"] == "active" and theirs["rfc23_state"] == "completed"
    assert theirs["connection_protocol"] == "didexchange/1.1"
    assert mine["their_label"] == "acapy" and theirs["their_label"] == "moi"
    if kind.startswith("acapy-invites"):
        assert mine["role"] == "invitee" and theirs["their_role"] == "invitee"
        assert mine["my_did"].startswith("did:peer:4")
        assert mine["their_did"].startswith("did:peer:4")
    else:
        assert mine["role"] == "inviter" and theirs["their_role"] == "inviter"
        method = "did:peer:4" if kind.endswith("peer4") else "did:peer:2"
        assert mine["their_did"].startswith(method)
        assert theirs["my_did"].startswith(method)
        assert mine["my_did"].startswith("did:peer:4")


@pytest.mark.parametrize("kind", ("moi-invites/peer4", "acapy-invites/peer4"))
async def test_did_rotate_attachment_as_each_side_wrote_it(pair: Pair, kind: str) -> None:
    """What moi sent ACA-Py (its debug log shows the plaintext): the DID in standard padded
    base64, as ACA-Py's schema demands, signed over the base64url form, which ACA-Py checked
    against the invitation key before it went active. The other way, moi completed only after
    checking ACA-Py's attachment against the key of the invitation's DID."""
    link = await pair.link(kind)
    mine = await pair.moi.connection(link.moi_id)
    responses = [
        m
        for m in pair.acapy.received_messages()
        if m.get("@type") == f"{DIDCOMM}didexchange/1.1/response" and m["did"] == mine["my_did"]
    ]
    if kind.startswith("acapy-invites"):
        assert responses == []  # moi was the requester: ACA-Py sent the response
        assert mine["state"] == "completed"
        return
    (response,) = responses
    data = response["did_rotate~attach"]["data"]
    assert data["base64"] == base64.b64encode(mine["my_did"].encode()).decode()
    protected = json.loads(base64.urlsafe_b64decode(data["jws"]["protected"] + "=="))
    assert protected["alg"] == "EdDSA" and protected["jwk"]["crv"] == "Ed25519"
    assert data["jws"]["header"]["kid"].startswith("did:key:z6Mk")


# -- 2. talking over each connection -------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_trust_pings_both_ways(pair: Pair, kind: str) -> None:
    link = await pair.link(kind)
    moi, acapy = pair.moi, pair.acapy
    # moi pings: its admin call returns once ACA-Py's response came back.
    since = len(acapy.webhooks.events)
    answer = await moi.call("POST", f"/connections/{link.moi_id}/ping", params={"timeout": 15})
    assert answer["round_trip_ms"] > 0
    received = await acapy.webhooks.wait_for(
        "ping", lambda p: p["state"] == "received", since=since
    )
    assert received["responded"] is True
    # ACA-Py pings: moi answers, ACA-Py sees the response on its thread.
    thread = await acapy.send_ping(link.acapy_id, comment=f"ping from ACA-Py over {kind}")
    await acapy.webhooks.wait_for(
        "ping", lambda p: p["thread_id"] == thread and p["state"] == "response_received"
    )
    await moi.wait_event("trust_ping.received", lambda p: p["thread_id"] == thread)


@pytest.mark.parametrize("kind", KINDS)
async def test_basic_messages_both_ways(pair: Pair, kind: str) -> None:
    link = await pair.link(kind)
    moi, acapy = pair.moi, pair.acapy
    to_moi = [f"from ACA-Py over {kind} #{i} — ünïcödé ✓" for i in range(3)]
    to_acapy = [f"from moi over {kind} #{i} — ünïcödé ✓" for i in range(3)]
    for text in to_moi:
        await acapy.send_message(link.acapy_id, text)
    sent = [
        (await moi.call("POST", f"/connections/{link.moi_id}/messages", {"content": t}))["id"]
        for t in to_acapy
    ]

    async def arrived_at_moi() -> list[dict[str, Any]] | None:
        found = await moi.call("GET", f"/connections/{link.moi_id}/messages")
        inbound = [m for m in found if m["direction"] == "in"]
        return inbound if len(inbound) >= len(to_moi) else None

    inbound = await moi.wait(arrived_at_moi, what="ACA-Py's basic messages at moi")
    assert sorted(m["content"] for m in inbound) == sorted(to_moi)
    for text in to_acapy:
        hook = await acapy.webhooks.wait_for(
            "basicmessages",
            lambda p, text=text: p["content"] == text and p["connection_id"] == link.acapy_id,
        )
        assert hook["state"] == "received"
    # ACA-Py took each message by its @id: moi's ids are the ones it answered with.
    ids = {
        p["message_id"]
        for p in acapy.webhooks.of("basicmessages")
        if p["connection_id"] == link.acapy_id
    }
    assert set(sent) <= ids

    async def delivered() -> bool:
        found = await moi.call("GET", f"/connections/{link.moi_id}/messages")
        states = {m["id"]: m["state"] for m in found if m["direction"] == "out"}
        return all(states.get(i) == "delivered" for i in sent)

    await moi.wait(delivered, what="moi's messages marked delivered")


@pytest.mark.parametrize("kind", KINDS)
async def test_discover_features_both_ways(pair: Pair, kind: str) -> None:
    link = await pair.link(kind)
    moi, acapy = pair.moi, pair.acapy
    theirs = await moi.call("POST", f"/connections/{link.moi_id}/features", params={"timeout": 15})
    for protocol in (
        "didexchange/1.1",
        "trust_ping/1.0",
        "basicmessage/1.0",
        "discover-features/2.0",
        "out-of-band/1.1",
    ):
        assert f"{DIDCOMM}{protocol}" in theirs, protocol
    record = await acapy.query_features(link.acapy_id)
    disclosed = {
        d["id"] for d in record["disclosures"]["disclosures"] if d["feature-type"] == "protocol"
    }
    ours = await moi.call("GET", "/features")
    assert disclosed == {d["id"] for d in ours["v1"] if d["feature-type"] == "protocol"}
    for protocol in ("didexchange/1.1", "trust_ping/1.0", "basicmessage/1.0"):
        assert f"{DIDCOMM}{protocol}" in disclosed, protocol
    # moi answers a prefix query with the matching protocols only.
    record = await acapy.query_features(
        link.acapy_id, protocol=f"{DIDCOMM}basicmessage/*", goal_code=""
    )
    assert [d["id"] for d in record["disclosures"]["disclosures"]] == [f"{DIDCOMM}basicmessage/1.0"]


# -- 3. unknown message types ---------------------------------------------------------------------


MENU = {
    "title": "Menu from ACA-Py",
    "description": "action-menu 1.0, a protocol moi does not speak",
    "options": [{"name": "first", "title": "First", "description": "the only option"}],
}


@pytest.mark.parametrize("kind", ("moi-invites/peer4", "acapy-invites/peer4"))
async def test_unknown_type_from_acapy_gets_moi_problem_report(pair: Pair, kind: str) -> None:
    """ACA-Py sends an action menu (a protocol moi does not implement): moi answers with a
    problem report that ACA-Py understands and records, and both keep talking."""
    link = await pair.link(kind)
    moi, acapy = pair.moi, pair.acapy
    since = len(acapy.webhooks.events)
    await acapy.post(f"/action-menu/{link.acapy_id}/send-menu", {"menu": MENU})
    sent = await moi.wait_event(
        "problem_report.sent",
        lambda p: p["connection_id"] == link.moi_id and p["code"] == "e.p.msg.unsupported",
    )
    assert "action-menu/1.0/menu" in sent["comment"]
    report = await acapy.webhooks.wait_for("problem_report", None, since=since)
    assert report["@type"] == f"{DIDCOMM}notification/1.0/problem-report"
    assert report["~thread"]["thid"] == sent["thread_id"]
    assert report["description"]["code"] == "e.p.msg.unsupported"
    await _still_talking(pair, link)
    # One report, and no exchange of reports about reports after it.
    reports = [
        m
        for m in acapy.received_messages()
        if m["@type"].endswith("problem-report")
        and (m.get("~thread") or {}).get("thid") == sent["thread_id"]
    ]
    assert len(reports) == 1
    assert len(acapy.webhooks.of("problem_report")) == len(
        [m for m in acapy.received_messages() if m["@type"].endswith("problem-report")]
    )


@pytest.mark.parametrize("kind", ("moi-invites/peer4", "acapy-invites/peer4"))
async def test_unknown_type_from_moi_gets_acapy_problem_report(pair: Pair, kind: str) -> None:
    """moi sends a message of a third-party plugin's protocol (the example Hello 1.0), which
    ACA-Py does not know: ACA-Py answers with its problem report, moi records it on the
    hello's thread, and neither answers the other's report with another one."""
    link = await pair.link(kind)
    moi, acapy = pair.moi, pair.acapy
    thread = (await moi.call("POST", f"/hello/{link.moi_id}", {"greeting": f"Hi ACA-Py ({kind})"}))[
        "id"
    ]
    got = await moi.wait_event("problem_report.received", lambda p: p["thread_id"] == thread)
    assert got["connection_id"] == link.moi_id
    assert got["code"] == "message-parse-failure"
    assert f"Unrecognized message type {HELLO}" in got["comment"]
    hellos = [m for m in acapy.received_messages() if m.get("@id") == thread]
    assert hellos and hellos[0]["@type"] == HELLO
    await _still_talking(pair, link)
    received = await moi.events("problem_report.received")
    assert len([e for e in received if e["payload"]["thread_id"] == thread]) == 1
    # Nothing answered ACA-Py's report: no problem report of moi's names that thread.
    sent = await moi.events("problem_report.sent")
    assert not [
        e
        for e in sent
        if e["payload"]["connection_id"] == link.moi_id and e["payload"]["thread_id"] == thread
    ]


async def _still_talking(pair: Pair, link: Link) -> None:
    answer = await pair.moi.call("POST", f"/connections/{link.moi_id}/ping", params={"timeout": 15})
    assert answer["round_trip_ms"] > 0
    thread = await pair.acapy.send_ping(link.acapy_id)
    await pair.acapy.webhooks.wait_for(
        "ping", lambda p: p["thread_id"] == thread and p["state"] == "response_received"
    )
