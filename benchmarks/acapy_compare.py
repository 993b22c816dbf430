"""moi beside ACA-Py 1.7 on the same work, in one run: two moi agents and two ACA-Py agents.

``python -m benchmarks.acapy_compare [--quick] [--rounds N] [--profile]`` prints one JSON
object.

Each pair talks DIDComm v1 (Aries: OOB 1.1, DID exchange 1.1, basic message 1.0, RFC 0019
envelopes) over HTTP on loopback, with durable storage: moi's SQLite store, ACA-Py's askar
SQLite wallet (raw key, ``--no-ledger``, auto-accept on, nothing else). The loads are those of
:mod:`benchmarks.runtime_workload`, the same for both kinds of agent: messages are sent through
A's own admin API and counted on arrival at B (moi: B's event stream; ACA-Py: B's
``basicmessages`` webhook), one at a time and 20 in flight (msg/s, median and p99 latency);
connections are set up one at a time and 10 at a time (invitation made → both sides active, as
each side's events or webhooks say). Resident memory of one agent is taken idle (started, one
connection made, a second of quiet) and at its peak under the 20-in-flight load; the CPU time
of each process per message comes from /proc.

All four agents run at once and the two kinds take turns, round by round (3 rounds, 1 with
``--quick``; the order flips each round), so that other work on the machine slows both alike;
each figure is the median over the rounds. ``ratios`` divide moi's figures by ACA-Py's (latency,
CPU and memory: ACA-Py's by moi's, so that above 1 always means moi is better); ``targets`` are
the issue's and ``met`` says which hold. ``--profile`` then samples moi's receiving agent with
py-spy through one more 20-in-flight v1 load and prints where its CPU goes to stderr (the areas
also go into the JSON).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp import web

from ._common import emit, environment, parser
from .runtime import MoiProcess, profile_receiver
from .runtime_workload import SIZES, connect, connection_load, message_load

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
FAMILY = "v1"  # what ACA-Py speaks in production; moi's v2 figures are in benchmarks.runtime
TARGETS = {"rate_ratio_min": 10.0, "idle_rss_mib_max": 60.0}
DIDEXCHANGE = "https://didcomm.org/didexchange/1.1"


# -- ACA-Py ---------------------------------------------------------------------------------------


def _free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in socks]


class AcaPyProcess:
    """``aca-py start`` in its own venv (tests/peers: Python 3.13, requirements-acapy.txt),
    with the flags a production-like agent needs and nothing that adds work (no debug log,
    no ping monitoring, no kept exchange records)."""

    def __init__(self, root: Path, name: str, webhook_url: str) -> None:
        self.name = name
        self.home = root / f"acapy-{name}"
        self.home.mkdir(parents=True)
        self.log = root / f"acapy-{name}.log"
        self.http_port, self.admin_port = _free_ports(2)
        self.webhook_url = webhook_url
        self.process: asyncio.subprocess.Process | None = None

    @property
    def admin_url(self) -> str:
        return f"http://{HOST}:{self.admin_port}"

    async def start(self, http: aiohttp.ClientSession) -> AcaPyProcess:
        import base58

        from tests.peers import ensure_venv

        venv = await asyncio.to_thread(ensure_venv, "acapy")
        key = base58.b58encode(secrets.token_bytes(32)).decode()
        argv = [str(venv / "bin" / "aca-py"), "start", "--label", self.name]
        argv += ["-it", "http", HOST, str(self.http_port), "-ot", "http"]
        argv += ["-e", f"http://{HOST}:{self.http_port}"]
        argv += ["--admin", HOST, str(self.admin_port), "--admin-insecure-mode"]
        argv += ["--webhook-url", self.webhook_url, "--no-ledger", "--auto-provision"]
        argv += ["--wallet-type", "askar", "--wallet-name", self.name, "--wallet-key", key]
        argv += ["--wallet-key-derivation-method", "RAW", "--log-level", "error"]
        argv += ["--auto-accept-invites", "--auto-accept-requests"]
        env = {**os.environ, "ACAPY_HOME": str(self.home)}
        env.pop("PYTHONPATH", None)
        with open(self.log, "wb") as log:  # noqa: ASYNC230 - a local file, once
            self.process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.returncode is not None:
                raise RuntimeError(f"aca-py {self.name} exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(aiohttp.ClientError, ValueError):
                async with http.get(self.admin_url + "/status/ready") as resp:
                    if resp.status == 200 and (await resp.json()).get("ready"):
                        return self
            await asyncio.sleep(0.1)
        raise RuntimeError(f"aca-py {self.name} did not become ready")

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"aca-py {self.name} is not running")
        return self.process.pid

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


class AcaPyDriver:
    """An ACA-Py agent through its admin API; arrivals and completions from its webhooks,
    which land in a small aiohttp server of this process."""

    def __init__(self) -> None:
        self.on_message: Callable[[str, float], None] | None = None
        self.admin_url = ""
        self._http: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._done: dict[str, str] = {}  # connection id / invitation id -> connection id
        self._waiters: dict[str, asyncio.Future[str]] = {}

    async def serve_webhooks(self) -> str:
        app = web.Application(client_max_size=4 << 20)
        app.router.add_post("/topic/{topic}/", self._webhook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        port = _free_ports(1)[0]
        await web.TCPSite(self._runner, HOST, port).start()
        return f"http://{HOST}:{port}"

    async def _webhook(self, request: web.Request) -> web.Response:
        payload = await request.json()
        topic = request.match_info["topic"]
        if topic == "basicmessages" and self.on_message is not None:
            self.on_message(payload["content"], time.perf_counter())
        elif topic == "connections" and payload.get("state") == "active":
            conn_id = payload["connection_id"]
            for key in (conn_id, payload.get("invitation_msg_id")):
                if key:
                    self._done.setdefault(key, conn_id)
                    waiter = self._waiters.pop(key, None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(conn_id)
        return web.Response()

    async def open(self, http: aiohttp.ClientSession) -> None:
        self._http = http

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        if self._http is None:
            raise RuntimeError("open the driver first")
        async with self._http.request(method, self.admin_url + path, json=body) as resp:
            if resp.status >= 400:
                raise RuntimeError(f"{method} {path}: HTTP {resp.status}: {await resp.text()}")
            return await resp.json()

    async def create_invitation(self, family: str) -> tuple[str, str]:
        # ACA-Py's default invitation: an inline service with a fresh key, like moi's.
        made = await self._call(
            "POST", "/out-of-band/create-invitation", {"handshake_protocols": [DIDEXCHANGE]}
        )
        return made["invi_msg_id"], made["invitation_url"]

    async def receive_invitation(self, url: str) -> str:
        # Its admin route takes the invitation JSON, not the URL: decode ?oob= as moi does.
        from wallet.encoding import b64_decode_any

        encoded = parse_qs(urlsplit(url).query)["oob"][0]
        invitation = json.loads(b64_decode_any(encoded, what="oob"))
        record = await self._call("POST", "/out-of-band/receive-invitation", invitation)
        return record["connection_id"]

    async def active(
        self, *, connection_id: str | None = None, invitation_id: str | None = None
    ) -> str:
        key = connection_id or invitation_id or ""
        if key in self._done:
            return self._done[key]
        waiter = self._waiters.setdefault(key, asyncio.get_running_loop().create_future())
        return await waiter

    async def send_message(self, connection_id: str, content: str) -> None:
        await self._call("POST", f"/connections/{connection_id}/send-message", {"content": content})


# -- measuring both kinds, load by load ----------------------------------------------------------


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Pair:
    """Two agents of one kind: drivers, process ids (sender, receiver) and what was seen."""

    kind: str
    a: Any
    b: Any
    pids: tuple[int, int]
    a_conn: str = ""
    rounds: list[dict[str, Any]] = field(default_factory=list)
    peaks: dict[str, float] = field(default_factory=lambda: {"sender": 0.0, "receiver": 0.0})
    idle: float = 0.0

    async def messages_loaded(self, total: int) -> dict[str, Any]:
        """20 in flight, with the CPU time of both processes and their peak memory."""

        async def sample() -> None:
            while True:
                self.peaks["sender"] = max(self.peaks["sender"], rss_mib(self.pids[0]))
                self.peaks["receiver"] = max(self.peaks["receiver"], rss_mib(self.pids[1]))
                await asyncio.sleep(0.1)

        cpu = cpu_seconds(self.pids[0]), cpu_seconds(self.pids[1])
        sampler = asyncio.create_task(sample())
        try:
            figures = await message_load(self.a, self.b, self.a_conn, total=total, in_flight=20)
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
        figures["cpu_ms_per_message"] = {
            "sender": round((cpu_seconds(self.pids[0]) - cpu[0]) / total * 1000, 3),
            "receiver": round((cpu_seconds(self.pids[1]) - cpu[1]) / total * 1000, 3),
        }
        return figures


async def run_round(pair: Pair, quick: bool) -> dict[str, Any]:
    """One pass of the whole workload (the loads of runtime_workload, v1) for one pair."""
    sequential, concurrent, conn_one, conn_ten = SIZES[quick]
    return {
        "messages": {
            "one_at_a_time": await message_load(
                pair.a, pair.b, pair.a_conn, total=sequential, in_flight=1
            ),
            "in_flight_20": await pair.messages_loaded(concurrent),
        },
        "connections": {
            "one_at_a_time": await connection_load(
                pair.a, pair.b, FAMILY, total=conn_one, in_flight=1
            ),
            "ten_at_a_time": await connection_load(
                pair.a, pair.b, FAMILY, total=conn_ten, in_flight=10
            ),
        },
    }


def _median_of(rounds: list[Any]) -> Any:
    """Figure by figure, the median over rounds (dicts of numbers, nested)."""
    first = rounds[0]
    if isinstance(first, dict):
        return {k: _median_of([r[k] for r in rounds]) for k in first}
    return round(statistics.median(rounds), 3) if len(rounds) > 1 else first


def summary(pair: Pair) -> dict[str, Any]:
    out = _median_of(pair.rounds)
    out["rounds"] = len(pair.rounds)
    out["rss_mib"] = {
        "idle": pair.idle,
        "loaded_sender": pair.peaks["sender"],
        "loaded_receiver": pair.peaks["receiver"],
    }
    return out


async def measure_both(root: Path, quick: bool, rounds: int) -> tuple[dict, dict]:
    """Start two moi and two ACA-Py agents, connect each pair, then run the workload round by
    round, moi and ACA-Py taking turns (the other pair idle), so that a noisy neighbour on
    the machine slows both alike; each figure is the median over the rounds."""
    moi_a = await asyncio.to_thread(MoiProcess(root / "moi", "A").start)
    moi_b = await asyncio.to_thread(MoiProcess(root / "moi", "B").start)
    acapy: list[AcaPyProcess] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:
        ma, mb, aa, ab = moi_a.driver(), moi_b.driver(), AcaPyDriver(), AcaPyDriver()
        try:
            for name, driver in (("A", aa), ("B", ab)):
                acapy.append(AcaPyProcess(root / "acapy", name, await driver.serve_webhooks()))
                driver.admin_url = acapy[-1].admin_url
            await asyncio.gather(*(agent.start(http) for agent in acapy))
            pairs = [
                Pair("moi", ma, mb, (moi_a.pid, moi_b.pid)),
                Pair("acapy", aa, ab, (acapy[0].pid, acapy[1].pid)),
            ]
            for pair in pairs:
                await pair.a.open(http)
                await pair.b.open(http)
                pair.a_conn, _ = await connect(pair.a, pair.b, FAMILY)
                # warm: keys, sessions, caches, imports
                await message_load(pair.a, pair.b, pair.a_conn, total=10, in_flight=1)
            await asyncio.sleep(1.0)
            for pair in pairs:
                pair.idle = rss_mib(pair.pids[0])
            for number in range(rounds):
                for pair in pairs if number % 2 == 0 else pairs[::-1]:
                    pair.rounds.append(await run_round(pair, quick))
            return summary(pairs[0]), summary(pairs[1])
        finally:
            for driver in (ma, mb, aa, ab):
                await driver.close()
            await asyncio.gather(*(agent.stop() for agent in acapy))
            moi_a.stop()
            moi_b.stop()


async def profile_moi_receiver(root: Path, quick: bool) -> dict[str, Any]:
    """py-spy on moi's receiving agent (all threads, idle excluded), 20 messages in flight,
    in the family this comparison runs."""
    return await profile_receiver(root, quick, family=FAMILY)


# -- the run --------------------------------------------------------------------------------------


def _ratio(ours: float, theirs: float) -> float:
    return round(ours / theirs, 2) if theirs else float("inf")


def ratios(moi: dict[str, Any], acapy: dict[str, Any]) -> dict[str, float]:
    """Above 1 means moi is better: rates moi/ACA-Py, latency and memory ACA-Py/moi."""
    out: dict[str, float] = {}
    for load in ("one_at_a_time", "in_flight_20"):
        ours, theirs = moi["messages"][load], acapy["messages"][load]
        out[f"messages_{load}_rate"] = _ratio(ours["msgs_per_s"], theirs["msgs_per_s"])
        out[f"messages_{load}_median_latency"] = _ratio(theirs["median_ms"], ours["median_ms"])
        out[f"messages_{load}_p99_latency"] = _ratio(theirs["p99_ms"], ours["p99_ms"])
    for load in ("one_at_a_time", "ten_at_a_time"):
        ours, theirs = moi["connections"][load], acapy["connections"][load]
        out[f"connections_{load}_rate"] = _ratio(ours["per_s"], theirs["per_s"])
    out["idle_rss"] = _ratio(acapy["rss_mib"]["idle"], moi["rss_mib"]["idle"])
    out["loaded_rss_receiver"] = _ratio(
        acapy["rss_mib"]["loaded_receiver"], moi["rss_mib"]["loaded_receiver"]
    )
    for side in ("sender", "receiver"):
        cpu_ours = moi["messages"]["in_flight_20"]["cpu_ms_per_message"][side]
        cpu_theirs = acapy["messages"]["in_flight_20"]["cpu_ms_per_message"][side]
        out[f"{side}_cpu_per_message"] = _ratio(cpu_theirs, cpu_ours)
    return out


def verdicts(moi: dict[str, Any], rates: dict[str, float]) -> dict[str, bool]:
    floor = TARGETS["rate_ratio_min"]
    return {
        "messages_10x": all(
            rates[f"messages_{load}_rate"] >= floor for load in ("one_at_a_time", "in_flight_20")
        ),
        "connections_10x": all(
            rates[f"connections_{load}_rate"] >= floor
            for load in ("one_at_a_time", "ten_at_a_time")
        ),
        "idle_under_60_mib": moi["rss_mib"]["idle"] < TARGETS["idle_rss_mib_max"],
    }


async def measure(quick: bool, profile: bool, rounds: int) -> dict[str, Any]:
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="moi-vs-acapy-") as tmp:
        root = Path(tmp)
        moi, acapy = await measure_both(root, quick, rounds)
        rates = ratios(moi, acapy)
        figures: dict[str, Any] = {
            "benchmark": "acapy_compare",
            "quick": quick,
            "family": FAMILY,
            "moi": moi,
            "acapy": acapy,
            "ratios": rates,
            "targets": TARGETS,
            "met": verdicts(moi, rates),
            # Other work on the machine (1-minute load averages): the turns keep the ratios
            # fair, but the absolute rates of both kinds drop as the load rises.
            "load_average": {
                "before": round(load_before[0], 2),
                "after": round(os.getloadavg()[0], 2),
            },
        }
        if profile:
            figures["moi_receiver_profile"] = await profile_moi_receiver(root / "profile", quick)
    return figures


def main(argv: list[str] | None = None) -> None:
    options = parser(__doc__)
    options.add_argument("--profile", action="store_true", help="profile moi's receiving agent")
    options.add_argument(
        "--rounds", type=int, help="passes over the workload per kind (default 3, quick 1)"
    )
    args = options.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 3)
    if rounds < 1:
        options.error("--rounds must be at least 1")
    figures = asyncio.run(measure(args.quick, args.profile, rounds))
    emit({**figures, "environment": environment()})


if __name__ == "__main__":
    main()
