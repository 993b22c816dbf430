"""Two mediator processes, one queue: both run on the same PostgreSQL schema with the same
identity (one wallet, one raw key), each on its own port. A message forwarded to one is
delivered by the other, to a recipient whose live session is there — in both directions.

Person P1 (DIDComm v2) was granted mediation by process A, whose routing DID names A's
endpoint, but holds its live WebSocket on B; person P2 (v1) was granted by B, whose grant
names B's endpoint, and holds its socket on A. The organisation's forwards go to the
endpoint in each person's DID; the process that queued them cannot hand them over, the
other one must. (In production both processes would sit behind one public --endpoint.)
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from pathlib import Path

import asyncpg
import pytest

from tests.agent_procs import Swarm, connect, wait_messages, wait_until
from tests.test_mediation_support import (
    MEDIATOR_OPTIONS,
    PERSON_OPTIONS,
    Mediated,
    request_mediation,
    start_together,
)
from wallet import Wallet

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


async def _create_store(url: str, key: bytes) -> None:
    wallet = await Wallet.create(url, raw_key=key)
    await wallet.close()


async def _drop_schema(base: str, schema: str) -> None:
    conn = await asyncpg.connect(base)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


def test_two_mediator_processes_share_one_queue(tmp_path: Path, postgres_url: str) -> None:
    schema = "moi_mediation_" + uuid.uuid4().hex[:12]
    url = f"{postgres_url}?schema={schema}"
    key = secrets.token_bytes(32)
    asyncio.run(_create_store(url, key))
    shared = {"MOI_WALLET_KEY": key.hex()}
    options = [*MEDIATOR_OPTIONS, "--wallet-url", url]
    try:
        with Swarm(tmp_path) as swarm:
            a = swarm.add("mediator-a", label="mediator", options=options, env=shared)
            b = swarm.add("mediator-b", label="mediator", options=options, env=shared)
            p1 = swarm.add("p1", options=list(PERSON_OPTIONS))
            p2 = swarm.add("p2", options=list(PERSON_OPTIONS))
            org = swarm.add("org")
            a.start()  # first alone: it makes the shared admin key and routing keys
            start_together([b, p1, p2, org])
            assert a.admin("GET", "/status") and b.key == a.key  # one store, one identity

            setups = []
            for person, home, other, family in ((p1, a, b, "v2"), (p2, b, a, "v1")):
                _, to_mediator = connect(home, person, family)
                grant = request_mediation(person, to_mediator, ws_endpoint=f"{other.endpoint}/ws")
                assert grant["endpoint"] == home.endpoint
                setup = Mediated(home, person, org, family, to_mediator)
                setup.connect_org()
                setups.append(setup)

            # Both processes list both recipients; each is live on the process it did not
            # make its relationships through.
            for process, live_here in ((a, "p2"), (b, "p1")):
                rows = process.admin("GET", "/mediation/recipients")
                assert sorted(r["recipient"] for r in rows) == ["p1", "p2"]
                assert {r["recipient"]: r["live"] for r in rows} == {
                    "p1": live_here == "p1",
                    "p2": live_here == "p2",
                }

            for n, setup in enumerate(setups):
                texts = [f"to {setup.person.name} #{i}" for i in range(10)]
                for text in texts:
                    setup.org.send(setup.org_ref, text)
                got = wait_messages(setup.person, setup.person_ref, len(texts), timeout=60)
                assert [m["content"] for m in got] == texts, n
                setup.person.send(setup.person_ref, f"{setup.person.name} answers")
                wait_messages(setup.org, setup.org_ref, 1)
            wait_until(
                lambda: all(r["queued"] == 0 for r in a.admin("GET", "/mediation/recipients")),
                what="both queues empty",
            )
    finally:
        asyncio.run(_drop_schema(postgres_url, schema))
