"""Mediation: what a moi mediator costs beside direct delivery, how fast it drains a backlog,
and what an idle live session costs it.

``python -m benchmarks.mediation [--quick]`` prints one JSON object:

- ``throughput``: an organisation's agent sends basic messages (DIDComm v2, 20 in flight,
  through its admin API, counted on arrival) to a person's agent with no inbound port that
  holds a live WebSocket to a moi mediator, and — in the same run, rounds interleaved — to an
  agent it reaches directly. msg/s and CPU ms per message (all agent processes together) for
  each, the medians over the rounds; ``cost_ratio`` is direct msg/s over mediated msg/s, and
  ``cpu_ratio`` mediated CPU over direct CPU. Target: mediation ≤ 1.5× direct delivery.
- ``drain``: the person's agent is stopped, 10,000 messages (``--quick``: 1,000) are queued
  for it at the mediator (forwards built and posted by the benchmark, as any sender would),
  and it starts again: messages per second from its start until all have arrived.
- ``idle_sessions``: the mediator's resident memory before and after 1,000 (``--quick``: 200)
  clients each open a WebSocket, send one message asking for return routes (a trust ping
  from a DID of its own, no answer wanted: the mediator files the socket as that DID's
  session when it stores the message) and then stay idle. Target: < 50 MiB for 1,000.

Every agent is a ``moi start`` process (SQLite, durable queues) on loopback; the mediator runs
with its forward rate limit off (``--forward-rate 0``): the benchmark floods it on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

from ._common import emit, environment, parser
from .runtime import MoiDriver
from .runtime_workload import connect, message_load

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"mediated_vs_direct": 1.5, "idle_sessions_mib_per_1000": 50.0}
#: (messages per throughput round, rounds, messages drained, idle sessions)
SIZES = {False: (400, 5, 10_000, 1000), True: (100, 3, 1000, 200)}
FORWARD_V2 = "https://didcomm.org/routing/2.0/forward"
PING_V2 = "https://didcomm.org/trust-ping/2.0/ping"


class Proc:
    """One ``moi start`` process: own home, raw wallet key (no KDF), free ports."""

    def __init__(self, root: Path, name: str, options: Sequence[str] = ()) -> None:
        self.home = root / name
        self.name = name
        self.options = list(options)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOI_")}
        self.env = {**env, "MOI_WALLET_KEY": secrets.token_hex(32)}
        self.process: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}

    def start(self) -> Proc:
        moi = [sys.executable, "-m", "agent.cli.main", "--home", str(self.home)]
        if not (self.home / "wallet.db").exists():
            subprocess.run([*moi, "init"], env=self.env, check=True, capture_output=True, cwd=ROOT)
        argv = [*moi, "start", "--port", "0", "--admin-port", "0", "--label", self.name]
        self.process = subprocess.Popen(
            [*argv, "--log-level", "error", *self.options],
            env=self.env,
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                info = json.loads((self.home / "admin.json").read_text())
                if info.get("pid") == self.process.pid:
                    self.info = info
                    return self
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.name} is not running")
        return self.process.pid

    def driver(self) -> MoiDriver:
        return MoiDriver(self.info["url"], self.info["key"])

    async def call(
        self, http: aiohttp.ClientSession, method: str, path: str, body: Any = None
    ) -> Any:
        headers = {"X-API-Key": self.info["key"]}
        async with http.request(method, self.info["url"] + path, json=body, headers=headers) as r:
            if r.status >= 400:
                raise RuntimeError(
                    f"{self.name} {method} {path}: HTTP {r.status}: {await r.text()}"
                )
            return await r.json()


async def _until(probe: Any, what: str, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _mediated_person(
    http: aiohttp.ClientSession, mediator: Proc, person: Proc, pd: MoiDriver, md: MoiDriver
) -> None:
    """The person connects to the mediator and gets a live mediated route."""
    _, to_mediator = await connect(md, pd, "v2")
    await person.call(
        http, "POST", "/mediation/request", {"connection": to_mediator, "pickup": "live"}
    )

    async def live() -> bool:
        return (await person.call(http, "GET", "/mediation"))["live"]

    await _until(live, "the person's live session")


async def measure_throughput(
    http: aiohttp.ClientSession, procs: dict[str, Proc], drivers: dict[str, MoiDriver], quick: bool
) -> dict[str, Any]:
    per_round, rounds, _, _ = SIZES[quick]
    org, person, direct = drivers["org"], drivers["person"], drivers["direct"]
    to_person, _ = await connect(org, person, "v2")
    to_direct, _ = await connect(org, direct, "v2")
    targets = {"mediated": (person, to_person), "direct": (direct, to_direct)}
    for receiver, ref in targets.values():  # warm up both paths
        await message_load(org, receiver, ref, total=20, in_flight=20)
    busy = ("org", "mediator", "person", "direct")
    runs: dict[str, dict[str, list[float]]] = {
        k: {"msgs_per_s": [], "cpu_ms": [], "p99_ms": [], **{f"cpu_ms_{n}": [] for n in busy}}
        for k in targets
    }
    for _ in range(rounds):
        for name, (receiver, ref) in targets.items():
            before = {n: procs[n].cpu_seconds() for n in busy}
            figures = await message_load(org, receiver, ref, total=per_round, in_flight=20)
            spent = {n: (procs[n].cpu_seconds() - before[n]) / per_round * 1000 for n in busy}
            runs[name]["msgs_per_s"].append(figures["msgs_per_s"])
            runs[name]["p99_ms"].append(figures["p99_ms"])
            runs[name]["cpu_ms"].append(sum(spent.values()))
            for n in busy:
                runs[name][f"cpu_ms_{n}"].append(spent[n])
    out: dict[str, Any] = {
        name: {k: round(statistics.median(v), 2) for k, v in series.items()}
        for name, series in runs.items()
    }
    out["messages_per_round"], out["rounds"] = per_round, rounds
    out["cost_ratio"] = round(out["direct"]["msgs_per_s"] / out["mediated"]["msgs_per_s"], 2)
    out["cpu_ratio"] = round(out["mediated"]["cpu_ms"] / out["direct"]["cpu_ms"], 2)
    return out


async def _forward_for(sender: Any, connection: Any, content: str) -> bytes:
    """A basic message from ``sender`` (an in-process agent) to the person, wrapped in a
    forward for the mediator's routing key — what the sender's outbox would post."""
    from wallet.didcomm.message import Message

    route = await sender.sender.route(connection)
    message = Message(
        type="https://didcomm.org/basicmessage/2.0/message",
        body={"content": content},
        id=str(uuid.uuid4()),
    )
    data = await sender.sender.pack_for(message, connection, to=route.to)
    (routing_key,) = route.routing_keys
    forward = {
        "id": str(uuid.uuid4()),
        "type": FORWARD_V2,
        "to": [routing_key.split("#", 1)[0]],
        "body": {"next": route.to[0]},
        "attachments": [{"data": {"json": json.loads(data)}}],
    }
    packed = await sender.wallet.pack(forward, to=[routing_key], mode="anoncrypt")
    return json.dumps(packed, separators=(",", ":")).encode()


async def measure_drain(
    http: aiohttp.ClientSession, root: Path, procs: dict[str, Proc], quick: bool
) -> dict[str, Any]:
    from agent.config import Config
    from agent.runtime import Agent
    from wallet import Wallet

    count = SIZES[quick][2]
    mediator, person = procs["mediator"], procs["person"]
    wallet = await Wallet.create(f"sqlite://{root}/filler.db", raw_key=os.urandom(32))
    filler = Agent(Config(port=0, admin_port=0, label="filler", workers=4), wallet)
    await filler.start(admin=False)
    try:
        made = await person.call(http, "POST", "/invitations", {"family": "v2"})
        from protocols.out_of_band import actions

        connection = await actions.receive_invitation(filler, made["url"], label="filler")

        async def completed() -> Any:
            current = await filler.connections.get(connection.id)
            return current if current.state.value == "completed" else None

        connection = await _until(completed, "the filler's connection")
        person.stop()
        endpoint = (await mediator.call(http, "GET", "/status"))["endpoint"]
        gate = asyncio.Semaphore(16)
        headers = {"Content-Type": "application/didcomm-encrypted+json"}

        async def post(i: int) -> None:
            async with gate:
                data = await _forward_for(filler, connection, f"queued #{i}")
                async with http.post(endpoint, data=data, headers=headers) as resp:
                    if resp.status != 202:
                        raise RuntimeError(f"the mediator refused a forward: {resp.status}")

        started = time.perf_counter()
        await asyncio.gather(*(post(i) for i in range(count)))
        fill_s = time.perf_counter() - started
        progress(f"drain: {count} queued in {fill_s:.1f} s; starting the person")
    finally:
        await filler.stop()
        await wallet.close()

    arrivals: list[float] = []
    done = asyncio.Event()

    def on_message(content: str, at: float) -> None:
        if content.startswith("queued #"):
            arrivals.append(at)
            if len(arrivals) >= count:
                done.set()

    started = time.perf_counter()
    person.start()
    up = time.perf_counter()
    driver = person.driver()
    driver.on_message = on_message
    await driver.open(http)
    try:
        await asyncio.wait_for(done.wait(), timeout=max(120.0, count / 20))
    finally:
        await driver.close()
    last = arrivals[-1]
    return {
        "messages": count,
        "fill_msgs_per_s": round(count / fill_s, 1),
        "process_start_s": round(up - started, 2),
        "admin_up_to_last_s": round(last - up, 2),
        # from the agent's admin API answering (its socket opens then) to the last arrival
        "drain_msgs_per_s": round(count / (last - up), 1),
        "first_to_last_msgs_per_s": round((count - 1) / max(last - arrivals[0], 1e-9), 1),
    }


async def measure_idle_sessions(
    http: aiohttp.ClientSession, mediator: Proc, quick: bool
) -> dict[str, Any]:
    from wallet import Wallet

    count = SIZES[quick][3]
    made = await mediator.call(http, "POST", "/invitations", {"family": "v2"})
    their = made["invitation"]["from"]
    endpoint = (await mediator.call(http, "GET", "/status"))["endpoint"]
    ws_url = endpoint.replace("http://", "ws://").rstrip("/") + "/ws"
    wallet = await Wallet.create("sqlite://:memory:", raw_key=os.urandom(32))
    gc.collect()
    await asyncio.sleep(1.0)
    before = mediator.rss_mib()
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    try:
        for _ in range(count):
            mine = await wallet.create_did("peer2")
            ping = {
                "id": str(uuid.uuid4()),
                "type": PING_V2,
                "from": mine,
                "to": [their],
                # No answer wanted: a stranger's ping is handled without a connection.
                "body": {"response_requested": False},
                "return_route": "all",
            }
            packed = await wallet.pack(ping, to=[their], frm=mine, mode="authcrypt")
            ws = await http.ws_connect(ws_url, heartbeat=None, autoping=True)
            sockets.append(ws)
            await ws.send_str(json.dumps(packed))
        await asyncio.sleep(2.0)  # idle
        after = mediator.rss_mib()
    finally:
        for ws in sockets:
            await ws.close()
        await wallet.close()
    delta = after - before
    return {
        "sessions": count,
        "rss_before_mib": round(before, 1),
        "rss_after_mib": round(after, 1),
        "delta_mib": round(delta, 2),
        "kib_per_session": round(delta * 1024 / count, 1),
        "mib_per_1000": round(delta * 1000 / count, 2),
    }


async def measure(quick: bool) -> dict[str, Any]:
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="moi-mediation-bench-"))
    procs = {
        "mediator": Proc(root, "mediator", ["--mediator", "--auto-grant", "--forward-rate", "0"]),
        "person": Proc(root, "person", ["--no-inbound"]),
        "org": Proc(root, "org"),
        "direct": Proc(root, "direct"),
    }
    await asyncio.gather(*(asyncio.to_thread(p.start) for p in procs.values()))
    try:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            drivers = {name: p.driver() for name, p in procs.items()}
            for driver in drivers.values():
                await driver.open(http)
            await _mediated_person(
                http, procs["mediator"], procs["person"], drivers["person"], drivers["mediator"]
            )
            progress("throughput: mediated and direct, rounds interleaved")
            throughput = await measure_throughput(http, procs, drivers, quick)
            await drivers["person"].close()
            progress(f"drain: queueing {SIZES[quick][2]} messages for the stopped person")
            drain = await measure_drain(http, root, procs, quick)
            progress(f"idle sessions: opening {SIZES[quick][3]}")
            sessions = await measure_idle_sessions(http, procs["mediator"], quick)
            for name, driver in drivers.items():
                if name != "person":
                    await driver.close()
    finally:
        for proc in procs.values():
            proc.stop()
    return {
        "benchmark": "mediation",
        "quick": quick,
        "throughput": throughput,
        "drain": drain,
        "idle_sessions": sessions,
        "targets": TARGETS,
        "meets": {
            "mediated_vs_direct": throughput["cost_ratio"] <= TARGETS["mediated_vs_direct"],
            "idle_sessions": sessions["mib_per_1000"] < TARGETS["idle_sessions_mib_per_1000"],
        },
        "environment": environment(),
    }


def progress(what: str) -> None:
    """Long work shows progress (on stderr; stdout carries only the JSON)."""
    sys.stderr.write(f"[mediation] {what}\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__).parse_args(argv)
    emit(asyncio.run(measure(args.quick)))


if __name__ == "__main__":
    main()
