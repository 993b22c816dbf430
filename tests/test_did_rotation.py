"""DID rotation on a live relationship: DID Rotate 1.0 (v1) and ``from_prior`` (v2).

After a rotation, the peer files our new DID and both directions keep working."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientSession

from agent.config import Config
from agent.plugin import Family
from agent.runtime import Agent
from protocols.out_of_band import actions
from wallet import Wallet


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Agent, Agent]]:
    agents = []
    for label in ("Alice", "Shop"):
        wallet = await Wallet.create(
            f"sqlite://{tmp_path / label}.db", passphrase="x", kdf="argon2id-test"
        )
        agent = Agent(
            Config(port=0, admin_port=0, label=label, insecure_admin=True),
            wallet,
            admin_key="k" * 20,
        )
        await agent.start()
        agents.append(agent)
    yield agents[0], agents[1]
    for agent in agents:
        await agent.stop()
        await agent.wallet.close()


async def _until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("family", [Family.V1, Family.V2])
async def test_rotation_keeps_the_relationship(pair: tuple[Agent, Agent], family: Family) -> None:
    alice, shop = pair
    invitation = await actions.create_invitation(shop, family=family, label="Shop")
    mine = await actions.receive_invitation(alice, invitation.url, label="Alice")

    async def completed() -> bool:
        return (await alice.connections.get(mine.id)).state.active

    await _until(completed)
    theirs = (await shop.connections.list(family=family.value))[0]
    old = (await alice.connections.get(mine.id)).my_did
    async with ClientSession() as http:
        resp = await http.post(f"{alice.admin_url}/connections/{mine.id}/rotate")
        assert resp.status == 200, await resp.text()
        new = (await resp.json())["did"]
        assert new != old

        async def rotated() -> bool:
            seen = await shop.connections.get(theirs.id)
            ours = await alice.connections.get(mine.id)
            return seen.their_did == new and ours.my_did == new and ours.from_prior is None

        await _until(rotated)
        for ref, url, text in (
            (mine.id, alice.admin_url, "from alice"),
            (theirs.id, shop.admin_url, "from shop"),
        ):
            resp = await http.post(f"{url}/connections/{ref}/messages", json={"content": text})
            assert resp.status == 200

        async def both_arrived() -> bool:
            resp = await http.get(f"{alice.admin_url}/connections/{mine.id}/messages")
            got = {(m["direction"], m["content"], m["state"]) for m in await resp.json()}
            return {("out", "from alice", "delivered"), ("in", "from shop", "received")} <= got

        await _until(both_arrived)
    events = [e.topic for e in await shop.bus.since(None, limit=200)]
    assert "connection.rotated" in events


async def test_a_forged_from_prior_is_refused(pair: tuple[Agent, Agent]) -> None:
    from protocols.did_rotate import from_prior
    from wallet.keys import PrivateKey

    alice, _ = pair
    did = await alice.wallet.create_did("peer2")
    doc = await alice.wallet.resolve(did)
    kid = doc.authentication_keys()[0].id
    stranger = "did:peer:2.Vz6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH"
    forged = from_prior.sign(kid, PrivateKey.generate(), stranger)
    from agent.errors import RemoteProtocolError

    with pytest.raises(RemoteProtocolError, match="does not verify"):
        await from_prior.verify(
            forged,
            stranger,
            alice.wallet.resolver.resolve_method,
            now=__import__("time").time(),
        )
