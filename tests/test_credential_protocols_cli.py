"""``moi credential offer``, ``moi proof request`` and the person's answers, as a person types
them: the ``moi`` command in its own process, talking to running agents through their admin
APIs (the agents run in this test's process, on loopback)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.plugin import Family
from tests.test_credential_protocols import Peer, connect, eventually, start

pytestmark = pytest.mark.slow
ROOT = str(Path(__file__).resolve().parents[1])


async def moi(home: Path, *args: str) -> tuple[int, Any, str]:
    """Run ``moi --home HOME ARGS``; (exit code, stdout as JSON (or text), stderr)."""
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agent.cli.main",
        "--home",
        str(home),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    text = out.decode()
    try:
        data: Any = json.loads(text) if text.strip() else None
    except ValueError:
        data = text
    return proc.returncode or 0, data, err.decode()


@pytest.fixture
async def shop_and_alice(tmp_path: Path) -> AsyncIterator[tuple[Peer, Peer]]:
    shop, alice = await asyncio.gather(start(tmp_path, "Shop"), start(tmp_path, "Alice"))
    a, b = Peer(shop), Peer(alice)
    a.conns[Family.V2], b.conns[Family.V2] = await connect(shop, alice, Family.V2)
    yield a, b
    for agent in (shop, alice):
        await agent.stop()
        await agent.wallet.close()


async def test_offer_and_proof_request_from_the_command_line(
    shop_and_alice: tuple[Peer, Peer],
) -> None:
    shop, alice = shop_and_alice
    shop_home, alice_home = shop.agent.home, alice.agent.home
    assert shop_home is not None and alice_home is not None
    to_alice = shop.conns[Family.V2]

    # An offer waits for the person; she sees it and declines; the offer command says so.
    offering = asyncio.create_task(
        moi(
            shop_home,
            "credential",
            "offer",
            to_alice,
            "--format",
            "sd-jwt",
            "--claims",
            '{"age_over_18": true, "name": "Erika"}',
            "--timeout",
            "60",
        )
    )

    async def offered() -> Any:
        code, rows, _ = await moi(alice_home, "credential", "offers")
        return rows if code == 0 and rows else None

    (row,) = await eventually(offered, timeout=60)
    assert row["from"] == "Shop" and row["offer"]["claims"]["name"] == "Erika"
    code, declined, _ = await moi(alice_home, "credential", "decline", row["id"])
    assert code == 0 and declined["state"] == "abandoned"
    code, _, err = await offering
    assert code == 1 and "offered: exchange" in err and "abandoned" in err

    # With auto-accept on, the offer ends in the ack.
    code, policy, _ = await moi(alice_home, "credential", "policy", "--auto-accept-offers", "on")
    assert code == 0 and policy["auto_accept_offers"] is True
    code, done, err = await moi(
        shop_home,
        "credential",
        "offer",
        to_alice,
        "--format",
        "sd-jwt",
        "--claims",
        '{"age_over_18": true, "name": "Erika"}',
        "--sd",
        "age_over_18",
        "--sd",
        "name",
        "--status",
        "--timeout",
        "60",
    )
    assert code == 0, err
    assert done["state"] == "done" and done["credential_id"]
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{alice.agent.admin_url}/credentials/held") as resp:
            (held,) = await resp.json()
    assert held["id"] == done["credential_id"] and held["format"] == "sd-jwt"

    # A proof request: the person sees the preview, accepts, the verifier prints the result.
    requesting = asyncio.create_task(
        moi(
            shop_home,
            "proof",
            "request",
            to_alice,
            "--claim",
            "age_over_18=true",
            "--format",
            "sd-jwt",
            "--timeout",
            "60",
        )
    )

    async def requested() -> Any:
        code, rows, _ = await moi(alice_home, "proof", "requests")
        return rows if code == 0 and rows else None

    (pending,) = await eventually(requested, timeout=60)
    (shown,) = pending["preview"]["credentials"]
    assert shown["disclosed"] == {"age_over_18": True} and shown["withheld"] == ["name"]
    code, sent, _ = await moi(alice_home, "proof", "accept", pending["id"])
    assert code == 0 and sent["state"] == "presentation-sent"
    code, report, err = await requesting
    assert code == 0, err
    assert report["verified"] is True and report["claims"] == {"age_over_18": True}
    assert set(report["checks"]) >= {"signature", "issuer", "status", "holder_binding"}

    # Declined: no presentation, exit 1.
    requesting = asyncio.create_task(
        moi(shop_home, "proof", "request", to_alice, "--claim", "name", "--timeout", "60")
    )
    (pending,) = await eventually(requested, timeout=60)
    code, _, _ = await moi(alice_home, "proof", "decline", pending["id"], "--reason", "no")
    assert code == 0
    code, _, err = await requesting
    assert code == 1 and "declined" in err
