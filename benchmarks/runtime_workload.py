"""The runtime benchmark's workload, written for any agent driven through its own admin API.

:func:`run_workload` takes two :class:`AgentDriver` objects (A sends, B receives) and measures,
per DIDComm family: basic messages one at a time and 20 in flight (msg/s, median and p99
latency from the send call to the arrival at B), and connections set up one at a time and 10
at a time (invitation made → both sides active). ``benchmarks.runtime`` runs it between two
moi agents (:class:`benchmarks.runtime.MoiDriver`); to put another agent beside moi — ACA-Py
through its admin API, arrivals and completions from its webhooks — write a driver with the
same six methods and call :func:`run_workload` with the same ``quick`` flag.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import aiohttp

FAMILIES = ("v1", "v2")
#: (messages one at a time, messages 20 in flight, connections one by one, 10 at a time)
SIZES = {False: (300, 2000, 30, 60), True: (40, 300, 6, 20)}


# -- the workload, for any agent with an admin API ----------------------------------------------


class AgentDriver(Protocol):
    """One agent as the workload drives it, through its own admin API."""

    on_message: Callable[[str, float], None] | None  # (content, perf_counter at arrival)

    async def open(self, http: aiohttp.ClientSession) -> None: ...

    async def close(self) -> None: ...

    async def create_invitation(self, family: str) -> tuple[str, str]:
        """(invitation id, URL)."""
        ...

    async def receive_invitation(self, url: str) -> str:
        """Accept; the invitee's connection id."""
        ...

    async def active(
        self, *, connection_id: str | None = None, invitation_id: str | None = None
    ) -> str:
        """Wait until the connection (by id, or the one made from our invitation) is active."""
        ...

    async def send_message(self, connection_id: str, content: str) -> None: ...


def _stats(latencies: list[float], elapsed: float) -> dict[str, float]:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {
        "count": len(ordered),
        "msgs_per_s": round(len(ordered) / elapsed, 1),
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(p99 * 1000, 2),
    }


async def drive(one: Callable[[int], Awaitable[float]], total: int, in_flight: int) -> dict:
    """Run ``one(i)`` (returns a latency in s) ``total`` times, ``in_flight`` at once."""
    counter = iter(range(total))
    latencies: list[float] = []

    async def worker() -> None:
        for i in counter:
            latencies.append(await one(i))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return _stats(latencies, time.perf_counter() - started)


async def connect(a: AgentDriver, b: AgentDriver, family: str) -> tuple[str, str]:
    invitation, url = await a.create_invitation(family)
    theirs = await b.receive_invitation(url)
    mine = await a.active(invitation_id=invitation)
    await b.active(connection_id=theirs)
    return mine, theirs


async def message_load(
    a: AgentDriver, b: AgentDriver, a_conn: str, *, total: int, in_flight: int
) -> dict:
    waiting: dict[str, asyncio.Future[float]] = {}

    def arrived(content: str, at: float) -> None:
        future = waiting.pop(content, None)
        if future is not None and not future.done():
            future.set_result(at)

    b.on_message = arrived
    run = uuid.uuid4().hex[:8]

    async def one(i: int) -> float:
        content = f"bench {run} #{i}"
        # Held here: the arrival may be seen (and popped) before the send call returns.
        arrival = waiting[content] = asyncio.get_running_loop().create_future()
        started = time.perf_counter()
        await a.send_message(a_conn, content)
        return await asyncio.wait_for(arrival, 60) - started

    return await drive(one, total, in_flight)


async def connection_load(
    a: AgentDriver, b: AgentDriver, family: str, *, total: int, in_flight: int
) -> dict:
    async def one(i: int) -> float:
        started = time.perf_counter()
        await asyncio.wait_for(connect(a, b, family), 60)
        return time.perf_counter() - started

    figures = await drive(one, total, in_flight)
    return {"per_s": figures["msgs_per_s"], **{k: figures[k] for k in ("median_ms", "p99_ms")}}


Probe = Callable[[], contextlib.AbstractAsyncContextManager[dict[str, Any]]]


async def run_workload(
    a: AgentDriver,
    b: AgentDriver,
    *,
    quick: bool,
    families: tuple[str, ...] = FAMILIES,
    probe: Probe | None = None,
) -> dict[str, Any]:
    """The whole workload between two agents (A sends, B receives): the same for any agent.

    ``probe`` wraps each 20-in-flight load; what it yields, filled when the load is over, is
    reported beside that load (moi puts CPU time and peak memory there).
    """
    sequential, concurrent, conn_one, conn_ten = SIZES[quick]
    messages: dict[str, Any] = {}
    connections: dict[str, Any] = {}
    for family in families:
        a_conn, _ = await connect(a, b, family)
        await message_load(a, b, a_conn, total=10, in_flight=1)  # warm: keys, sessions, caches
        one = await message_load(a, b, a_conn, total=sequential, in_flight=1)
        async with probe() if probe else contextlib.nullcontext({}) as seen:
            twenty = await message_load(a, b, a_conn, total=concurrent, in_flight=20)
        messages[family] = {"one_at_a_time": one, "in_flight_20": {**twenty, **seen}}
        connections[family] = {
            "one_at_a_time": await connection_load(a, b, family, total=conn_one, in_flight=1),
            "ten_at_a_time": await connection_load(a, b, family, total=conn_ten, in_flight=10),
        }
    return {"messages": messages, "connections": connections}
