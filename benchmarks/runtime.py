"""Two moi agents (``moi start`` processes, SQLite, durable queues) talking over HTTP on
loopback, beside the transport ceiling measured in the same run.

``python -m benchmarks.runtime [--quick] [--profile]`` prints one JSON object:

- ``moi.messages``: basic messages A → B per family, sent through A's admin API and counted on
  arrival at B (B's event stream), one at a time and 20 in flight: msg/s, median and p99
  latency (send call → arrival event);
- ``moi.connections``: connections set up per second (invitation made → both sides active),
  one at a time and 10 at a time, per family;
- ``moi.rss_mib``: resident memory of an agent idle (started, connected, quiet) and loaded
  (peak while 20 messages are in flight), for the sender and the receiver;
- ``ceiling``: a bare aiohttp client and server process doing the same envelope crypto
  (``Wallet.pack`` authcrypt, ``Wallet.unpack``) and nothing else — no store, no queue, no
  handler — with the same two loads; ``ratios`` compare moi with it.

``--profile`` then samples B with py-spy (every thread, idle time excluded) through one more
20-in-flight load and prints where its CPU goes — by area, by thread, by function — to stderr,
and the areas in the JSON.

Each message load also reports the CPU time both processes spent per message (from /proc),
which tells CPU-bound from latency-bound.

The workload lives in :mod:`benchmarks.runtime_workload`, written against its ``AgentDriver``
(make and accept an invitation, wait until a connection is active, send a message, report
arrivals), so another agent — ACA-Py through its own admin API and webhooks — runs the same
thing: build two drivers and call ``run_workload``. :class:`MoiDriver` is moi's driver.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp

from ._common import emit, environment, parser
from .runtime_workload import FAMILIES, SIZES, connect, drive, message_load, run_workload

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"messages_vs_acapy": 10.0, "vs_ceiling": 0.5, "idle_rss_mib": 60.0}


# -- moi -----------------------------------------------------------------------------------------


class MoiDriver:
    """A moi agent through its admin API; arrivals and completions from its event stream."""

    def __init__(self, admin_url: str, key: str) -> None:
        self.url = admin_url.rstrip("/")
        self.headers = {"X-API-Key": key}
        self.on_message: Callable[[str, float], None] | None = None
        self._http: aiohttp.ClientSession | None = None
        self._stream: asyncio.Task[None] | None = None
        self._done: set[str] = set()  # connection ids and invitation ids seen completed
        self._waiters: dict[str, asyncio.Future[str]] = {}
        self._by_invitation: dict[str, str] = {}

    async def open(self, http: aiohttp.ClientSession) -> None:
        self._http = http
        self._stream = asyncio.create_task(self._listen())

    async def close(self) -> None:
        if self._stream is not None:
            self._stream.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
                await self._stream

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            raise RuntimeError("open the driver first")
        return self._http

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        async with self.http.request(method, self.url + path, json=body, headers=self.headers) as r:
            if r.status >= 400:
                raise RuntimeError(f"{method} {path}: HTTP {r.status}: {await r.text()}")
            return await r.json()

    async def _listen(self) -> None:
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with self.http.get(
            self.url + "/events/stream", headers=self.headers, timeout=timeout
        ) as resp:
            topic, data = "", ""
            async for raw in resp.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    topic = line[7:]
                elif line.startswith("data: "):
                    data = line[6:]
                elif not line and data:
                    self._event(topic, json.loads(data)["payload"])
                    topic, data = "", ""

    def _event(self, topic: str, payload: dict[str, Any]) -> None:
        if topic == "basicmessage.received" and self.on_message is not None:
            self.on_message(payload["content"], time.perf_counter())
        elif topic == "connection.completed":
            for key in (payload["id"], payload.get("invitation_id")):
                if key:
                    self._done.add(key)
                    self._by_invitation.setdefault(key, payload["id"])
                    waiter = self._waiters.pop(key, None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(payload["id"])

    async def create_invitation(self, family: str) -> tuple[str, str]:
        made = await self._call("POST", "/invitations", {"family": family})
        return made["id"], made["url"]

    async def receive_invitation(self, url: str) -> str:
        return (await self._call("POST", "/invitations/receive", {"url": url}))["id"]

    async def active(
        self, *, connection_id: str | None = None, invitation_id: str | None = None
    ) -> str:
        key = connection_id or invitation_id or ""
        if key in self._done:
            return self._by_invitation[key]
        waiter = self._waiters.setdefault(key, asyncio.get_running_loop().create_future())
        return await waiter

    async def send_message(self, connection_id: str, content: str) -> None:
        await self._call("POST", f"/connections/{connection_id}/messages", {"content": content})


class MoiProcess:
    """``moi start`` with its own home, a raw wallet key (no KDF) and free ports."""

    def __init__(self, root: Path, name: str) -> None:
        self.home = root / name
        self.name = name
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOI_")}
        self.env = {**env, "MOI_WALLET_KEY": secrets.token_hex(32)}
        self._process: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}

    def start(self) -> MoiProcess:
        moi = [sys.executable, "-m", "agent.cli.main", "--home", str(self.home)]
        subprocess.run([*moi, "init"], env=self.env, check=True, capture_output=True, cwd=ROOT)
        argv = [*moi, "start", "--port", "0", "--admin-port", "0", "--label", self.name]
        self._process = subprocess.Popen(
            [*argv, "--log-level", "error"], env=self.env, cwd=ROOT, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                info = json.loads((self.home / "admin.json").read_text())
                if info.get("pid") == self._process.pid:
                    self.info = info
                    return self
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start")

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError(f"{self.name} is not running")
        return self._process.pid

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
        return 0.0

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process so far, all its threads."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            self._process.wait(timeout=30)

    def driver(self) -> MoiDriver:
        return MoiDriver(self.info["url"], self.info["key"])


async def measure_moi(root: Path, quick: bool) -> dict[str, Any]:
    a, b = MoiProcess(root, "A").start(), MoiProcess(root, "B").start()
    peaks = {"sender": 0.0, "receiver": 0.0}
    concurrent = SIZES[quick][1]

    async def sample() -> None:
        while True:
            peaks["sender"] = max(peaks["sender"], a.rss_mib())
            peaks["receiver"] = max(peaks["receiver"], b.rss_mib())
            await asyncio.sleep(0.1)

    @contextlib.asynccontextmanager
    async def probe() -> AsyncIterator[dict[str, Any]]:
        seen: dict[str, Any] = {}
        cpu = a.cpu_seconds(), b.cpu_seconds()
        sampler = asyncio.create_task(sample())
        try:
            yield seen
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
            seen["cpu_ms_per_message"] = {
                "sender": round((a.cpu_seconds() - cpu[0]) / concurrent * 1000, 3),
                "receiver": round((b.cpu_seconds() - cpu[1]) / concurrent * 1000, 3),
            }

    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:
            da, db = a.driver(), b.driver()
            await da.open(http)
            await db.open(http)
            await connect(da, db, "v2")
            await asyncio.sleep(1.0)
            idle = a.rss_mib()
            figures = await run_workload(da, db, quick=quick, probe=probe)
            await da.close()
            await db.close()
    finally:
        a.stop()
        b.stop()
    figures["rss_mib"] = {
        "idle": idle,
        "loaded_sender": peaks["sender"],
        "loaded_receiver": peaks["receiver"],
    }
    return figures


# -- the transport ceiling -------------------------------------------------------------------


async def _ceiling_server() -> None:
    """``--ceiling-server``: unpack and answer 202, nothing else; prints port and DID."""
    from aiohttp import web

    from wallet import Wallet

    wallet = await Wallet.create("sqlite://:memory:", raw_key=os.urandom(32))
    did = await wallet.create_did("peer2", endpoints=["http://127.0.0.1/"])

    async def post(request: web.Request) -> web.Response:
        await wallet.unpack(await request.read())
        return web.json_response({"status": "accepted"}, status=202)

    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post("/", post)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(json.dumps({"port": port, "did": did}), flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()
    await wallet.close()


async def measure_ceiling(quick: bool) -> dict[str, Any]:
    from wallet import Wallet
    from wallet.wallet import build_plaintext

    sequential, concurrent, _, _ = SIZES[quick]
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.runtime",
        "--ceiling-server",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        if server.stdout is None:
            raise RuntimeError("the ceiling server has no stdout")
        hello = json.loads(await server.stdout.readline())
        url, their = f"http://127.0.0.1:{hello['port']}/", hello["did"]
        wallet = await Wallet.create("sqlite://:memory:", raw_key=os.urandom(32))
        mine = await wallet.create_did("peer2", endpoints=["http://127.0.0.1/"])
        out: dict[str, Any] = {}
        async with aiohttp.ClientSession() as http:
            for family in FAMILIES:

                async def one(i: int, family: str = family) -> float:
                    started = time.perf_counter()
                    body = build_plaintext(
                        to=[their], frm=mine, body={"content": f"bench #{i}"}, v1=family == "v1"
                    )
                    packed = await wallet.pack(
                        body, to=[their], frm=mine, mode="authcrypt", v1=family == "v1"
                    )
                    data = json.dumps(packed, separators=(",", ":")).encode()
                    async with http.post(url, data=data) as resp:
                        if resp.status != 202:
                            raise RuntimeError(f"ceiling server answered {resp.status}")
                    return time.perf_counter() - started

                await drive(one, 10, 1)
                out[family] = {
                    "one_at_a_time": await drive(one, sequential, 1),
                    "in_flight_20": await drive(one, concurrent, 20),
                }
        await wallet.close()
        return out
    finally:
        server.send_signal(signal.SIGTERM)
        await asyncio.wait_for(server.wait(), 30)


# -- where the receiver's time goes -------------------------------------------------------------

#: Where a sampled frame's own time goes, by the file it is in (first match wins).
AREAS = (
    ("storage: SQLite and records", ("wallet/storage/", "sqlite3/", "aiosqlite/")),
    (
        "envelope crypto",
        ("wallet/jose/", "wallet/didcomm/", "nacl/", "cryptography/", "wallet/keys"),
    ),
    ("DIDs", ("wallet/did/", "wallet/wallet.py", "multiformats/", "base58")),
    ("runtime: dispatch, queues, events", ("agent/",)),
    ("protocols", ("protocols/",)),
    ("HTTP: aiohttp", ("aiohttp/", "multidict/", "yarl/")),
    ("JSON", ("json/", "wallet/encoding")),
    ("event loop", ("asyncio/", "selectors.py", "threading.py", "queue.py", "concurrent/")),
)


def _area(frame: str) -> str:
    return next((area for area, marks in AREAS if any(m in frame for m in marks)), "other")


#: Leaf frames of a thread that waits (py-spy counts a blocked thread as busy when it cannot
#: tell): the event loop's poll, the SQLite thread's queue, a condition's wait.
IDLE = ("EpollSelector.select", "_connection_worker_thread (aiosqlite/core.py:59)", "wait (")


def summarise_samples(raw: str, messages: int, rate: int) -> dict[str, Any]:
    """py-spy's collapsed stacks → CPU µs per message by area, by thread, by function."""
    areas: dict[str, int] = {}
    threads: dict[str, int] = {}
    leaves: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread, frames = frames[0], frames[1:] or frames
        if any(mark in frames[-1] for mark in IDLE):
            continue
        total += count
        threads[thread] = threads.get(thread, 0) + count
        areas[_area(frames[-1])] = areas.get(_area(frames[-1]), 0) + count
        leaves[frames[-1]] = leaves.get(frames[-1], 0) + count
        for frame in set(frames):
            if "agent/" in frame or "protocols/" in frame or "wallet/" in frame:
                inclusive[frame] = inclusive.get(frame, 0) + count

    def us(n: int) -> float:
        return round(n / rate / messages * 1e6, 1)

    by_area = {a: us(n) for a, n in sorted(areas.items(), key=lambda x: -x[1])}
    lines = [f"receiver CPU, µs per message ({messages} messages, {total} samples at {rate} Hz):"]
    lines += [f"  {a:36s} {v:8.1f}  {areas[a] / total * 100:5.1f} %" for a, v in by_area.items()]
    lines += ["by thread:"] + [f"  {t:36s} {us(n):8.1f}" for t, n in threads.items()]
    lines.append("own time, top functions:")
    lines += [f"  {us(n):8.1f}  {f}" for f, n in sorted(leaves.items(), key=lambda x: -x[1])[:20]]
    lines.append("inclusive time, moi's own functions:")
    lines += [
        f"  {us(n):8.1f}  {f}" for f, n in sorted(inclusive.items(), key=lambda x: -x[1])[:25]
    ]
    sys.stderr.write("\n".join(lines) + "\n")
    return {"cpu_us_per_message": us(total), "by_area_us": by_area}


async def profile_receiver(root: Path, quick: bool, family: str = "v2") -> dict[str, Any]:
    """Sample B with py-spy (all threads, idle excluded) while 20 messages are in flight."""
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        sys.stderr.write("py-spy is not installed here: pip install py-spy to profile\n")
        return {}
    a = await asyncio.to_thread(MoiProcess(root, "PA").start)
    b = await asyncio.to_thread(MoiProcess(root, "PB").start)
    total, rate, out = SIZES[quick][1], 250, root / f"receiver-{family}.txt"
    try:
        async with aiohttp.ClientSession() as http:
            da, db = a.driver(), b.driver()
            await da.open(http)
            await db.open(http)
            a_conn, _ = await connect(da, db, family)
            await message_load(da, db, a_conn, total=20, in_flight=20)
            recorder = await asyncio.create_subprocess_exec(
                str(spy),
                "record",
                "--pid",
                str(b.pid),
                "--rate",
                str(rate),
                "--format",
                "raw",
                "--threads",
                "--nonblocking",
                "--output",
                str(out),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            await asyncio.sleep(0.5)
            await message_load(da, db, a_conn, total=total, in_flight=20)
            recorder.send_signal(signal.SIGINT)
            await recorder.wait()
            await da.close()
            await db.close()
    finally:
        a.stop()
        b.stop()
    return summarise_samples(out.read_text(), total, rate)


# -- the run ------------------------------------------------------------------------------------


def _ratios(moi: dict[str, Any], ceiling: dict[str, Any]) -> dict[str, float]:
    out = {}
    for family in FAMILIES:
        for load in ("one_at_a_time", "in_flight_20"):
            ours, bare = moi["messages"][family][load], ceiling[family][load]
            out[f"{family}_{load}_msgs_vs_ceiling"] = round(
                ours["msgs_per_s"] / bare["msgs_per_s"], 3
            )
            out[f"{family}_{load}_median_latency_vs_ceiling"] = round(
                ours["median_ms"] / bare["median_ms"], 2
            )
    return out


async def measure(quick: bool, profile: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="moi-bench-") as tmp:
        moi = await measure_moi(Path(tmp), quick)
        ceiling = await measure_ceiling(quick)
        figures: dict[str, Any] = {
            "benchmark": "runtime",
            "quick": quick,
            "moi": moi,
            "ceiling": ceiling,
            "ratios": _ratios(moi, ceiling),
            "targets": TARGETS,
        }
        if profile:
            figures["receiver_profile"] = await profile_receiver(Path(tmp), quick)
    return figures


def main(argv: list[str] | None = None) -> None:
    options = parser(__doc__)
    options.add_argument("--profile", action="store_true", help="profile the receiving agent")
    options.add_argument("--ceiling-server", action="store_true", help=argparse.SUPPRESS)
    args = options.parse_args(argv)
    if args.ceiling_server:
        asyncio.run(_ceiling_server())
        return
    figures = asyncio.run(measure(args.quick, args.profile))
    emit({**figures, "environment": environment()})


if __name__ == "__main__":
    main()
