"""Mediation across implementations, with real ACA-Py 1.7 agents.

1. A moi person's agent with no inbound port uses an ACA-Py mediator: coordinate-mediation
   1.0 to get its route, then ACA-Py's implicit pickup — moi holds a WebSocket to the
   mediator open, and messages sent over it with ``return_route: all`` make it the way back
   for everything ACA-Py has for moi's key. An ACA-Py "shop" connects to moi through the
   mediator (moi's invitation carries the mediator's endpoint and routing key) and they talk
   both ways.
2. An ACA-Py agent uses moi as its mediator: it asks for mediation, gets moi's grant,
   registers its keys, and a second ACA-Py reaches it through moi (forwards moi queues and
   relays to the recipient's own endpoint).

Each moi is a ``moi start`` process driven through its admin API from a thread; the ACA-Pys
through the harness in ``tests.peers.acapy``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.agent_procs import AgentProcess, Swarm, poll_until
from tests.peers.acapy import AcaPy, acapy_factory  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.interop, pytest.mark.slow]

DIDCOMM = "https://didcomm.org/"


async def _call(process: AgentProcess, method: str, path: str, body: Any = None, **kw: Any) -> Any:
    return await asyncio.to_thread(process.admin, method, path, body, **kw)


async def _wait(probe: Callable[[], Awaitable[Any]], what: str, timeout: float = 30.0) -> Any:
    return await poll_until(probe, what, timeout=timeout, every=0.1)


async def _moi_completed(process: AgentProcess, ref: str) -> dict[str, Any] | None:
    connection = await _call(process, "GET", f"/connections/{ref}")
    return connection if connection["state"] == "completed" else None


async def _live(process: AgentProcess) -> bool:
    return (await _call(process, "GET", "/mediation"))["live"]


async def _moi_messages(process: AgentProcess, ref: str, count: int) -> list[str]:
    async def probe() -> list[str] | None:
        found = await asyncio.to_thread(process.messages, ref)
        texts = [m["content"] for m in found if m["direction"] == "in"]
        return texts if len(texts) >= count else None

    return await _wait(probe, f"{count} messages at {process.name}")


def _held(mediator: AcaPy) -> list[dict[str, Any]]:
    """Forwards ACA-Py put in its undelivered queue (no session could take them)."""
    return [f for f in mediator.webhooks.of("forward") if f["status"] == "waiting_for_pickup"]


async def _acapy_messages(agent: AcaPy, connection_id: str, count: int) -> list[str]:
    async def probe() -> list[str] | None:
        texts = [
            p["content"]
            for p in agent.webhooks.of("basicmessages")
            if p["connection_id"] == connection_id
        ]
        return texts if len(texts) >= count else None

    return await _wait(probe, f"{count} messages at {agent.label}")


async def test_moi_person_uses_an_acapy_mediator(tmp_path: Path, acapy_factory) -> None:  # noqa: F811
    with Swarm(tmp_path) as swarm:
        person = swarm.add("person", options=["--no-inbound"])
        started = asyncio.create_task(asyncio.to_thread(person.start))
        mediator, shop = await asyncio.gather(
            acapy_factory(
                "mediator",
                ws=True,
                # Without the undelivered queue ACA-Py drops a forward it cannot hand to the
                # session at once (the session buffers one message at a time).
                extra_args=["--open-mediation", "--monitor-forward", "--enable-undelivered-queue"],
                log_level="debug",
            ),
            acapy_factory("shop"),
        )
        await started

        # moi takes the mediator's invitation (its DID lists its HTTP and WebSocket endpoints).
        made = await mediator.create_invitation(did_method="did:peer:2")
        mine = await _call(person, "POST", "/invitations/receive", {"url": made["invitation_url"]})
        await _wait(lambda: _moi_completed(person, mine["id"]), "moi's side of the connection")
        await mediator.wait_for_connection(
            invitation_msg_id=made["invi_msg_id"], states=("active",)
        )

        grant = await _call(
            person, "POST", "/mediation/request", {"connection": mine["id"], "pickup": "live"}
        )
        assert grant["endpoint"] == mediator.endpoint
        assert grant["routing_keys"] and grant["routing_keys"][0].startswith("did:key:z6Mk")
        (served,) = await mediator.mediation_records(state="granted")
        await _wait(lambda: _live(person), "moi's live session", timeout=20)

        # The shop connects to moi through the mediator: moi's invitation names it.
        invitation = await _call(person, "POST", "/invitations", {"family": "v1", "label": "me"})
        oob = await shop.receive_invitation(invitation["invitation"])
        shop_conn = await shop.wait_for_connection(oob["connection_id"], states=("active",))
        found = await _call(person, "GET", "/connections", params={"limit": 100})
        ref = next(c["id"] for c in found if c["invitation_id"] == invitation["id"])
        await _wait(lambda: _moi_completed(person, ref), "moi's side of the shop connection")

        status = await _call(person, "GET", "/mediation")
        assert status["live"] is True and status["state"] == "granted"
        sent = [f"from the shop #{n}" for n in range(10)]
        for text in sent:
            await shop.send_message(shop_conn["connection_id"], text)
        got = await _moi_messages(person, ref, len(sent))
        # ACA-Py's outbound queue sends concurrently: every message arrives, not in order.
        assert sorted(got) == sent
        await _call(person, "POST", f"/connections/{ref}/messages", {"content": "hello shop"})
        assert await _acapy_messages(shop, shop_conn["connection_id"], 1) == ["hello shop"]

        # While moi is away ACA-Py holds what comes (in memory); moi collects it on return.
        await asyncio.to_thread(person.stop)
        held_before = len(_held(mediator))
        away = [f"while away #{n}" for n in range(5)]
        for text in away:
            await shop.send_message(shop_conn["connection_id"], text)

        async def all_held() -> bool:
            return len(_held(mediator)) >= held_before + len(away)

        await _wait(all_held, "the mediator to hold the messages")
        await asyncio.to_thread(person.start)
        got = await _moi_messages(person, ref, len(sent) + len(away))
        assert sorted(got[len(sent) :]) == away

        # Everything reached moi through the mediator, over moi's own WebSocket: ACA-Py
        # found a session for moi's key because moi's messages on it asked for return routes.
        forwards = mediator.webhooks.of("forward")
        assert len(forwards) >= 5
        assert {f["connection_id"] for f in forwards} == {served["connection_id"]}
        assert {f["status"] for f in forwards} <= {"sent_to_session", "waiting_for_pickup"}
        at_mediator = mediator.received_messages()
        from_moi = [m for m in at_mediator if not m["@type"].endswith("/forward")]
        assert all(m["~transport"] == {"return_route": "all"} for m in from_moi)
        update = next(m for m in at_mediator if m["@type"].endswith("/keylist-update"))
        assert update["updates"][0]["recipient_key"].startswith("did:key:z6Mk")


async def test_acapy_agent_uses_moi_as_its_mediator(tmp_path: Path, acapy_factory) -> None:  # noqa: F811
    with Swarm(tmp_path) as swarm:
        moi = swarm.add("mediator", options=["--mediator", "--auto-grant"])
        started = asyncio.create_task(asyncio.to_thread(moi.start))
        alice, bob = await asyncio.gather(
            acapy_factory("alice", log_level="debug"), acapy_factory("bob")
        )
        await started

        # Alice connects to moi (moi's v1 invitation) and asks it to mediate.
        invitation = await _call(moi, "POST", "/invitations", {"family": "v1", "label": "moi"})
        oob = await alice.receive_invitation(invitation["invitation"])
        to_moi = await alice.wait_for_connection(oob["connection_id"], states=("active",))
        await alice.request_mediation(to_moi["connection_id"])
        granted = await alice.wait_for_mediation(to_moi["connection_id"])
        assert granted["endpoint"] == moi.endpoint
        (routing_key,) = granted["routing_keys"]
        assert routing_key.startswith("did:key:z6Mk")

        # Alice's invitation and her DID for Bob route through moi; Bob reaches her.
        made = await alice.create_invitation(
            did_method="did:peer:2", mediation_id=granted["mediation_id"]
        )
        oob = await bob.receive_invitation(made["invitation"])
        bob_conn = await bob.wait_for_connection(oob["connection_id"], states=("active",))
        alice_conn = await alice.wait_for_connection(
            invitation_msg_id=made["invi_msg_id"], states=("active",)
        )
        resolved = (await bob.resolve(bob_conn["their_did"]))["did_document"]
        (service,) = resolved["service"]
        assert service["serviceEndpoint"] == moi.endpoint
        assert [k.split("#")[0] for k in service["routingKeys"]] == [routing_key.split("#")[0]]

        for n in range(5):
            await bob.send_message(bob_conn["connection_id"], f"via moi #{n}")
        got = await _acapy_messages(alice, alice_conn["connection_id"], 5)
        assert sorted(got) == [f"via moi #{n}" for n in range(5)]  # ACA-Py sends concurrently
        await alice.send_message(alice_conn["connection_id"], "hello bob")
        assert await _acapy_messages(bob, bob_conn["connection_id"], 1) == ["hello bob"]

        # moi knows Alice as its recipient, with the keys she registered, and holds nothing.
        (row,) = await _call(moi, "GET", "/mediation/recipients")
        assert row["recipient"] == "alice" and row["queued"] == 0 and len(row["keys"]) >= 1
        at_alice = [m.get("@type", "") for m in alice.received_messages()]
        assert f"{DIDCOMM}coordinate-mediation/1.0/mediate-grant" in at_alice
        assert f"{DIDCOMM}coordinate-mediation/1.0/keylist-update-response" in at_alice
