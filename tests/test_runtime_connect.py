"""Two moi agents as separate processes connect through out-of-band invitations, in DIDComm v1
and v2, and talk over HTTP and over WebSocket in both directions.

Each agent sits behind a :class:`TapProxy` that its DIDs name as their endpoint, so the test
sees which transport every message really took: with ``--prefer ws`` no message after the
invitation may arrive by HTTP POST.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.agent_procs import Swarm, TapProxy, wait_messages, wait_until

pytestmark = pytest.mark.slow


def _behind_proxy(swarm: Swarm, name: str, prefer: str) -> tuple:
    agent = swarm.add(name, label=name.capitalize())
    proxy = TapProxy(agent.port)
    agent.options += ["--endpoint", proxy.url, "--prefer", prefer]
    agent.start()
    return agent, proxy


def _peer_connection(agent, their_did_of_peer: str) -> dict:
    for conn in agent.admin("GET", "/connections", params={"limit": 1000}):
        if conn["their_did"] == their_did_of_peer:
            return conn
    raise AssertionError(f"{agent.name} has no connection to {their_did_of_peer[:40]}")


class Face:
    """The person's commands, through the CLI (the contract) or the admin API (faster)."""

    def __init__(self, agent, cli: bool) -> None:
        self.agent, self.use_cli = agent, cli

    def invite(self, family: str) -> str:
        if self.use_cli:
            return self.agent.cli("invite", f"--{family}", "--label", "Shop")
        body = {"family": family, "label": "Shop"}
        return self.agent.admin("POST", "/invitations", body)["url"]

    def connect(self, url: str) -> str:
        if self.use_cli:
            return self.agent.cli("connect", url, "--label", "Alice", "--timeout", "30")
        conn = self.agent.admin("POST", "/invitations/receive", {"url": url, "label": "Alice"})
        wait_until(lambda: self.agent.connection(conn["id"])["state"] == "completed")
        return conn["id"]

    def send(self, ref: str, text: str) -> str:
        if self.use_cli:
            return self.agent.cli("send", ref, text)
        return self.agent.send(ref, text)

    def ping(self, ref: str) -> dict:
        if self.use_cli:
            return self.agent.cli("ping", ref, "--timeout", "20")
        return self.agent.admin("POST", f"/connections/{ref}/ping", params={"timeout": 20})


@pytest.mark.parametrize("prefer", ["http", "ws"])
def test_two_processes_connect_and_talk_in_both_families(tmp_path: Path, prefer: str) -> None:
    """Over HTTP the person's commands go through the CLI; over WebSocket through the admin
    API, except ``moi messages``, checked on both sides in both runs."""
    with Swarm(tmp_path) as swarm:
        alice, alice_tap = _behind_proxy(swarm, "alice", prefer)
        shop, shop_tap = _behind_proxy(swarm, "shop", prefer)
        try:
            for family in ("v1", "v2"):
                alice_face, shop_face = Face(alice, prefer == "http"), Face(shop, prefer == "http")
                url = shop_face.invite(family)
                assert isinstance(url, str) and url.startswith(shop_tap.url)
                mine = alice_face.connect(url)
                conn = alice.connection(mine)
                assert conn["family"] == family and conn["state"] == "completed"
                assert conn["their_label"] == "Shop"
                theirs = wait_until(
                    lambda conn=conn: _peer_connection(shop, conn["my_did"]),
                    what="the shop's side of the connection",
                )
                wait_until(
                    lambda theirs=theirs: shop.connection(theirs["id"])["state"] == "completed",
                    what="the shop's side completed",
                )
                assert theirs["family"] == family and theirs["their_label"] == "Alice"

                # Only what happens after the handshake counts for the transport check: a v1
                # invitation names an HTTP endpoint for the request, whatever we prefer.
                before = alice_tap.counts(), shop_tap.counts()
                first = alice_face.send(mine, f"hello shop ({family}, {prefer})")
                wait_messages(shop, theirs["id"], 1)
                second = shop_face.send(theirs["id"], f"hello Alice ({family}, {prefer})")
                wait_messages(alice, mine, 1)
                for who, ref in ((alice_face, mine), (shop_face, theirs["id"])):
                    rtt = who.ping(ref)
                    assert isinstance(rtt["round_trip_ms"], float) and rtt["round_trip_ms"] > 0

                alice_view = alice.cli("messages", mine)
                shop_view = shop.cli("messages", theirs["id"])
                assert [(m["direction"], m["content"]) for m in alice_view] == [
                    ("out", f"hello shop ({family}, {prefer})"),
                    ("in", f"hello Alice ({family}, {prefer})"),
                ]
                assert [(m["direction"], m["content"]) for m in shop_view] == [
                    ("in", f"hello shop ({family}, {prefer})"),
                    ("out", f"hello Alice ({family}, {prefer})"),
                ]
                assert alice_view[0]["id"] == first == shop_view[0]["id"]
                assert shop_view[1]["id"] == second == alice_view[1]["id"]
                wait_until(
                    lambda ref=mine: alice.messages(ref)[0]["state"] == "delivered",
                    what="Alice's message marked delivered",
                )
                assert all(m["state"] == "received" for m in shop_view if m["direction"] == "in")

                # Every message above went to each side over the transport it should take:
                # pairwise DIDs list both endpoints, in either family.
                (a_posts, a_ups), (s_posts, s_ups) = before
                (a_posts2, a_ups2), (s_posts2, s_ups2) = alice_tap.counts(), shop_tap.counts()
                if prefer == "ws":
                    assert a_posts2 == a_posts and s_posts2 == s_posts
                    assert a_ups2 >= 1 and s_ups2 >= 1
                else:
                    assert a_posts2 - a_posts >= 3 and s_posts2 - s_posts >= 3
                    assert a_ups2 == a_ups == 0 and s_ups2 == s_ups == 0
        finally:
            alice_tap.close()
            shop_tap.close()
