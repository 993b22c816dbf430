"""Shared setup (no tests here) for the mediation tests that run agents as processes: a moi
mediator, a person's agent with no inbound port, an organisation — started together,
connected, and mediation granted.

The helpers are synchronous (they drive ``moi start`` processes through their admin APIs
and CLIs, see :mod:`tests.agent_procs`).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tests.agent_procs import AgentProcess, Swarm, connect, wait_until

MEDIATOR_OPTIONS = ("--mediator", "--auto-grant")
PERSON_OPTIONS = ("--no-inbound",)


def start_together(agents: Sequence[AgentProcess]) -> None:
    """Start several agents at once: each start is mostly interpreter start-up."""
    with ThreadPoolExecutor(len(agents)) as pool:
        for future in [pool.submit(a.start) for a in agents]:
            future.result()


def port_closed(port: int) -> bool:
    """Nothing accepts connections on this loopback port."""
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) != 0


@dataclass
class Mediated:
    """A person mediated by ``mediator`` and connected to ``org`` through it."""

    mediator: AgentProcess
    person: AgentProcess
    org: AgentProcess
    family: str
    #: the person's connection to the mediator
    to_mediator: str
    #: the organisation's and the person's ids of their connection
    org_ref: str = ""
    person_ref: str = ""

    def connect_org(self) -> tuple[str, str]:
        self.org_ref, self.person_ref = connect(self.org, self.person, self.family)
        return self.org_ref, self.person_ref

    def status(self) -> dict[str, Any]:
        return self.person.admin("GET", "/mediation")

    def queued(self) -> int:
        """What the mediator holds for the person (its own count, not the person's view)."""
        rows = self.mediator.admin("GET", "/mediation/recipients")
        return sum(r["queued"] for r in rows if r["recipient"] == self.person.label)


def request_mediation(
    person: AgentProcess,
    connection: str,
    *,
    pickup: str = "live",
    interval: float = 0.5,
    cli: bool = False,
    ws_endpoint: str | None = None,
) -> dict[str, Any]:
    """``moi mediation request`` (or its admin call, ``cli=False``: no interpreter start-up)
    and, for live mode, wait until the socket is up."""
    if cli:
        extra = ("--ws-endpoint", ws_endpoint) if ws_endpoint else ()
        grant = person.cli(
            "mediation",
            "request",
            connection,
            "--pickup",
            pickup,
            "--interval",
            str(interval),
            *extra,
        )
    else:
        body: dict[str, Any] = {"connection": connection, "pickup": pickup, "interval": interval}
        if ws_endpoint:
            body["ws_endpoint"] = ws_endpoint
        grant = person.admin("POST", "/mediation/request", body)
    if pickup == "live":
        wait_until(
            lambda: person.admin("GET", "/mediation")["live"],
            timeout=20,
            what=f"{person.name}'s live session",
        )
    return grant


def mediated_setup(
    swarm: Swarm,
    family: str,
    *,
    pickup: str = "live",
    mediator_options: Sequence[str] = (),
    person_options: Sequence[str] = (),
    with_org: bool = True,
    ws_endpoint: Callable[[AgentProcess], str] | None = None,
) -> Mediated:
    """Start a mediator, a person with no inbound port (and an organisation), connect the
    person to the mediator, have mediation granted, and connect the organisation.

    ``ws_endpoint`` gives the WebSocket URL the person's live session should use (a proxy
    in front of the mediator) from the mediator's process."""
    mediator = swarm.add("mediator", options=[*MEDIATOR_OPTIONS, *mediator_options])
    person = swarm.add("person", options=[*PERSON_OPTIONS, *person_options])
    agents = [mediator, person]
    org = swarm.add("org") if with_org else None
    if org is not None:
        agents.append(org)
    start_together(agents)
    _, to_mediator = connect(mediator, person, family)
    url = ws_endpoint(mediator) if ws_endpoint else None
    request_mediation(person, to_mediator, pickup=pickup, ws_endpoint=url)
    setup = Mediated(mediator, person, org or mediator, family, to_mediator)
    if org is not None:
        setup.connect_org()
    return setup
