"""A person's agent with no inbound port, reachable only through a moi mediator — as real
processes (``moi start --mediator --auto-grant``, ``moi start --no-inbound``, an
organisation's ``moi start``).

- Both families, live pickup (a WebSocket held open) and explicit pickup (delivery
  requests every interval over HTTP): messages go both ways.
- The person's agent stopped while the organisation sends 500 messages: all arrive when it
  starts again, exactly once and in order; the same with the mediator killed (SIGKILL)
  while it holds them, and restarted.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.agent_procs import AdminCallError, CLIError, Swarm, connect, wait_messages, wait_until
from tests.test_mediation_support import Mediated, mediated_setup, port_closed, request_mediation

pytestmark = pytest.mark.slow

BURST = 500


def _exchange(setup: Mediated, tag: str, count: int = 5) -> None:
    """The organisation sends ``count`` messages and the person one; each side sees them."""
    before_in = len([m for m in setup.person.messages(setup.person_ref) if m["direction"] == "in"])
    before_org = len([m for m in setup.org.messages(setup.org_ref) if m["direction"] == "in"])
    sent = [f"{tag} org→person #{n}" for n in range(count)]
    for text in sent:
        setup.org.send(setup.org_ref, text)
    setup.person.send(setup.person_ref, f"{tag} person→org")
    got = wait_messages(setup.person, setup.person_ref, before_in + count)[before_in:]
    assert [m["content"] for m in got] == sent
    answer = wait_messages(setup.org, setup.org_ref, before_org + 1, timeout=30)[before_org:]
    assert [m["content"] for m in answer] == [f"{tag} person→org"]


@pytest.mark.parametrize("family", ["v1", "v2"])
def test_no_inbound_person_talks_through_the_mediator_live_and_by_pickup(
    tmp_path: Path, family: str
) -> None:
    with Swarm(tmp_path) as swarm:
        setup = mediated_setup(swarm, family, pickup="live")
        assert port_closed(setup.person.port), "the person's agent must not listen"
        status = setup.person.cli("mediation", "status")
        assert status["state"] == "granted" and status["live"] is True
        assert status["mediator"] == setup.to_mediator
        _exchange(setup, f"{family} live")
        # The person invites this time: the organisation's request reaches it through the
        # mediator, and answering it means registering a new DID with the mediator — over
        # the very socket the request came on.
        setup.person_ref, setup.org_ref = connect(setup.person, setup.org, family)
        _exchange(setup, f"{family} live, the person's invitation")
        (row,) = setup.mediator.cli("mediation", "recipients")
        assert row["recipient"] == "person" and row["live"] is True and row["queued"] == 0
        assert set(row) == {"recipient", "connection", "queued", "live"}

        # Explicit pickup: no socket, a delivery request every half second over HTTP.
        grant = request_mediation(
            setup.person, setup.to_mediator, pickup="poll", interval=0.5, cli=True
        )
        assert grant["endpoint"] == setup.mediator.endpoint
        wait_until(lambda: not setup.status()["live"], what="the live session to end")
        _exchange(setup, f"{family} poll, old relationship")
        setup.connect_org()  # a relationship made in poll mode routes the same way
        _exchange(setup, f"{family} poll, new relationship")
        # Every message was acknowledged (the ack may trail the message), so none is held.
        wait_until(lambda: setup.queued() == 0, what="the mediator to forget what it delivered")


def _send_burst(setup: Mediated, texts: list[str]) -> None:
    for text in texts:
        setup.org.send(setup.org_ref, text)


def _wait_queued(setup: Mediated, count: int, timeout: float = 120) -> int:
    def enough() -> int:
        try:
            queued = setup.queued()
        except (OSError, AdminCallError):
            return 0
        return queued if queued >= count else 0

    return wait_until(enough, timeout=timeout, interval=0.2, what=f"{count} queued messages")


def _assert_all_once_in_order(setup: Mediated, texts: list[str]) -> None:
    got = wait_messages(setup.person, setup.person_ref, len(texts), timeout=180)
    contents = [m["content"] for m in got]
    assert len(contents) == len(texts), "a message came twice"
    assert contents == texts


def test_offline_person_gets_500_messages_once_and_in_order(tmp_path: Path) -> None:
    with Swarm(tmp_path) as swarm:
        setup = mediated_setup(swarm, "v1", pickup="live")
        setup.person.stop()
        texts = [f"while away #{n:03d}" for n in range(BURST)]
        _send_burst(setup, texts)
        assert _wait_queued(setup, BURST) == BURST
        setup.person.start()
        _assert_all_once_in_order(setup, texts)
        wait_until(lambda: setup.queued() == 0, what="the mediator to forget what it delivered")
        # The person's view: the mediator said how many waited, then that none is left.
        wait_until(lambda: setup.status()["pending"] == 0, what="pending back to 0")


def test_mediator_killed_while_holding_messages_loses_none(tmp_path: Path) -> None:
    with Swarm(tmp_path) as swarm:
        setup = mediated_setup(swarm, "v2", pickup="live")
        setup.person.stop()
        texts = [f"held #{n:03d}" for n in range(BURST)]
        sender = threading.Thread(target=_send_burst, args=(setup, texts))
        sender.start()  # the organisation's admin API commits each before it answers
        # Kill the mediator mid-stream: the organisation's outbox retries what it could not
        # hand over, and whatever the mediator had already queued must survive the crash.
        _wait_queued(setup, BURST // 3)
        setup.mediator.kill()
        sender.join(timeout=120)
        assert not sender.is_alive()
        setup.mediator.start()
        _wait_queued(setup, BURST // 2)
        setup.mediator.kill()  # a second crash with the queue full and nobody collecting
        setup.mediator.start()
        _wait_queued(setup, BURST)
        setup.person.start()
        _assert_all_once_in_order(setup, texts)
        wait_until(lambda: setup.queued() == 0, what="the mediator to forget what it delivered")


def test_connecting_needs_a_grant_first(tmp_path: Path) -> None:
    """Without mediation a no-inbound agent has no way in: the mediator's grant is what
    gives it an endpoint, and what it asks for is what it gets."""
    with Swarm(tmp_path) as swarm:
        mediator = swarm.add("mediator", options=["--mediator"])  # no auto-grant
        person = swarm.add("person", options=["--no-inbound"])
        mediator.start()
        person.start()
        _, to_mediator = connect(mediator, person, "v2")
        with pytest.raises(CLIError):
            person.cli("mediation", "request", to_mediator, "--timeout", "2")
        assert mediator.admin("GET", "/mediation/recipients") == []
        assert person.admin("GET", "/mediation")["state"] != "granted"
        # The operator grants; asked again, the person's agent gets the grant at once.
        (pending,) = mediator.admin("GET", "/connections", params={"limit": 10})
        mediator.admin("POST", f"/mediation/recipients/{pending['id']}/grant")
        grant = request_mediation(person, to_mediator, pickup="live")
        assert grant["endpoint"] == mediator.endpoint
        wait_until(
            lambda: mediator.admin("GET", "/mediation/recipients")[0]["live"],
            what="the mediator to see the live session",
        )
