"""Agents as real processes, for tests that need what only processes show: ``moi start`` on
free loopback ports, each with its own home, killed and restarted at will.

Everything here is synchronous (subprocesses, ``http.client``), so a test can drive agents
from threads without sharing an event loop with them. :class:`LoopThread` runs the odd
coroutine a test needs (an in-process agent, a wallet); :class:`TapProxy` sits in front of an
agent's inbound port and counts which transport each message came over.

Typical use::

    with Swarm(tmp_path) as swarm:
        alice, shop = swarm.start("alice"), swarm.start("shop")
        mine, theirs = connect(shop, alice, "v2")
        alice.admin("POST", f"/connections/{mine}/messages", {"content": "hi"})
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import secrets
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def free_port() -> int:
    """A loopback port nobody listens on now (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(
    check: Callable[[], T], *, timeout: float = 20.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll ``check`` until it returns something truthy; its value is returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what or check}")
        time.sleep(interval)


class AdminCallError(Exception):
    """The admin API answered with an unexpected status."""

    def __init__(self, method: str, path: str, status: int, body: bytes) -> None:
        super().__init__(f"{method} {path}: HTTP {status}: {body[:300]!r}")
        self.status = status
        self.body = body


class CLIError(Exception):
    def __init__(self, args: Sequence[str], code: int, stderr: str) -> None:
        super().__init__(f"moi {' '.join(args)} exited {code}: {stderr.strip()[-500:]}")
        self.code = code
        self.stderr = stderr


def _clean_environment() -> dict[str, str]:
    # A developer's MOI_HOME or MOI_PORT must not leak into the agents a test starts.
    return {k: v for k, v in os.environ.items() if not k.startswith("MOI_")}


class AgentProcess:
    """One ``moi start`` process with its own home, ports and wallet key."""

    def __init__(
        self,
        root: Path,
        name: str,
        *,
        label: str | None = None,
        options: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        admin_port: int | None = None,
    ) -> None:
        self.name = name
        self.home = root / name
        self.label = label or name
        self.port = port or free_port()
        self.admin_port = admin_port or free_port()
        self.options = list(options)
        # A raw wallet key skips the passphrase KDF: starting stays fast.
        self.env = {**_clean_environment(), "MOI_WALLET_KEY": secrets.token_hex(32)}
        self.env.update(env or {})
        self.log_path = root / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.key: str | None = None
        self.admin_url = f"http://127.0.0.1:{self.admin_port}"
        self.starts = 0

    # -- life -------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.name} was never started")
        return self.process.pid

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "agent.cli.main", "--home", str(self.home), *args]

    def start(self, *, timeout: float = 30.0, extra: Sequence[str] = ()) -> AgentProcess:
        if self.alive:
            raise RuntimeError(f"{self.name} is already running")
        if not (self.home / "wallet.db").exists():
            self.cli("init")
        argv = self.command(
            "start",
            "--port",
            str(self.port),
            "--admin-port",
            str(self.admin_port),
            "--label",
            self.label,
            "--log-level",
            "warning",
            *self.options,
            *extra,
        )
        with open(self.log_path, "ab") as log:
            log.write(f"--- start #{self.starts + 1}: {' '.join(argv[3:])}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                argv, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        self.starts += 1
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Ready = this very process wrote the admin file and its admin API answers."""
        admin_file = self.home / "admin.json"

        def ready() -> bool:
            if not self.alive:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
            try:
                info = json.loads(admin_file.read_text())
            except (OSError, ValueError):
                return False
            if info.get("pid") != self.pid:
                return False  # a file left by a killed predecessor
            self.key = info.get("key")
            self.admin_url = info["url"]
            try:
                return self.request("GET", "/status")[0] == 200
            except OSError:
                return False

        wait_until(ready, timeout=timeout, what=f"{self.name} to start")

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM and wait (SIGKILL if it will not stop); the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a power cut of the process."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def restart(self, *, kill: bool = False) -> AgentProcess:
        self.kill() if kill else self.stop()
        return self.start()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- the admin API ----------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        key: str | bool | None = True,
        timeout: float = 60.0,
    ) -> tuple[int, dict[str, str], bytes]:
        """One raw admin call: (status, headers, body). ``key=True`` sends the agent's key,
        a string sends that, None or False sends none."""
        parts = urlsplit(self.admin_url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        sent = dict(headers or {})
        if key is True and self.key:
            sent["X-API-Key"] = self.key
        elif isinstance(key, str):
            sent["X-API-Key"] = key
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        if params:
            path = f"{path}?{urlencode(params)}"
        try:
            conn.request(method, path, body=data, headers=sent)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def admin(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, Any] | None = None,
        expect: Sequence[int] = (200, 201, 204),
        timeout: float = 60.0,
    ) -> Any:
        status, _, data = self.request(method, path, body, params=params, timeout=timeout)
        if status not in expect:
            raise AdminCallError(method, path, status, data)
        return json.loads(data) if data else None

    def connection(self, ref: str) -> dict[str, Any]:
        return self.admin("GET", f"/connections/{ref}")

    def messages(self, ref: str) -> list[dict[str, Any]]:
        """Every basic message of a connection, oldest first (all pages)."""
        out: list[dict[str, Any]] = []
        while True:
            page = self.admin(
                "GET", f"/connections/{ref}/messages", params={"limit": 1000, "offset": len(out)}
            )
            out.extend(page)
            if len(page) < 1000:
                return out

    def send(self, ref: str, text: str) -> str:
        return self.admin("POST", f"/connections/{ref}/messages", {"content": text})["id"]

    # -- the CLI ----------------------------------------------------------------------------

    def cli(self, *args: str, timeout: float = 60.0) -> Any:
        """Run ``moi --home HOME ARGS``; parsed JSON (or the text) of its stdout."""
        proc = subprocess.run(
            self.command(*args),
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if proc.returncode != 0:
            raise CLIError(args, proc.returncode, proc.stderr)
        out = proc.stdout.strip()
        try:
            return json.loads(out)
        except ValueError:
            return out


class Swarm:
    """A set of agent processes under one directory, all stopped on exit."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.agents: list[AgentProcess] = []

    def add(self, name: str, **kw: Any) -> AgentProcess:
        agent = AgentProcess(self.root, name, **kw)
        self.agents.append(agent)
        return agent

    def start(self, name: str, **kw: Any) -> AgentProcess:
        return self.add(name, **kw).start()

    def logs(self) -> str:
        return "\n".join(f"== {a.name} ==\n{a.log_tail()}" for a in self.agents)

    def __enter__(self) -> Swarm:
        return self

    def __exit__(self, *exc: object) -> None:
        for agent in self.agents:
            with contextlib.suppress(Exception):
                agent.stop()
        if exc[0] is not None:
            sys.stderr.write(self.logs() + "\n")


def connect(
    inviter: AgentProcess, invitee: AgentProcess, family: str, *, timeout: float = 30.0
) -> tuple[str, str]:
    """Invite and accept through the admin APIs; wait until both sides are completed.

    Returns (the inviter's connection id, the invitee's connection id).
    """
    invitation = inviter.admin("POST", "/invitations", {"family": family})
    mine = invitee.admin("POST", "/invitations/receive", {"url": invitation["url"]})

    def inviter_side() -> str | None:
        for conn in inviter.admin(
            "GET", "/connections", params={"state": "completed", "limit": 1000}
        ):
            if conn["invitation_id"] == invitation["id"]:
                return conn["id"]
        return None

    try:
        theirs = wait_until(inviter_side, timeout=timeout, what=f"{inviter.name}'s side completed")
        wait_until(
            lambda: invitee.connection(mine["id"])["state"] == "completed",
            timeout=timeout,
            what=f"{invitee.name}'s side completed",
        )
    except TimeoutError as err:
        raise TimeoutError(f"{err}\n{_diagnose(inviter, invitee)}") from None
    return theirs, mine["id"]


def _diagnose(*agents: AgentProcess) -> str:
    """What each agent's connections and latest events say, for a failure message."""
    lines = []
    for agent in agents:
        try:
            conns = agent.admin("GET", "/connections", params={"limit": 20})
            events = agent.admin("GET", "/events", params={"limit": 1000})[-15:]
        except (OSError, AdminCallError) as err:
            lines.append(f"{agent.name}: admin API unavailable ({err})")
            continue
        lines.append(f"{agent.name} connections: {[(c['family'], c['state']) for c in conns]}")
        for event in events:
            lines.append(f"  {agent.name} event {event['topic']}: {str(event['payload'])[:200]}")
        lines.append(agent.log_tail(10))
    return "\n".join(lines)


def wait_messages(
    agent: AgentProcess, ref: str, count: int, *, direction: str = "in", timeout: float = 30.0
) -> list[dict[str, Any]]:
    """Wait until a connection holds ``count`` messages of a direction; they, oldest first."""

    def enough() -> list[dict[str, Any]] | None:
        found = [m for m in agent.messages(ref) if m["direction"] == direction]
        return found if len(found) >= count else None

    return wait_until(enough, timeout=timeout, what=f"{count} {direction} messages at {agent.name}")


class LoopThread:
    """An asyncio loop on its own thread, for the coroutines a synchronous test needs."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def _drain() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            self.run(_drain(), timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()

    def __enter__(self) -> LoopThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TapProxy:
    """A TCP relay in front of an agent's inbound port that sees how peers talk to it.

    It counts HTTP POST requests and WebSocket upgrades in the client-to-server bytes.
    Envelopes are JSON without a line break and client WebSocket frames are masked, so
    neither can fake a request line.
    """

    def __init__(self, target_port: int, port: int | None = None) -> None:
        self.target_port = target_port
        self.port = port or free_port()
        self.posts = 0
        self.upgrades = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        self._listener.settimeout(0.2)
        self._closing = False
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return self.posts, self.upgrades

    def _serve(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._relay, args=(client,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _relay(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        pair = {client: upstream, upstream: client}
        tail = b""  # the end of the previous client chunk: a request line may straddle two
        try:
            while not self._closing:
                ready, _, _ = select.select(list(pair), [], [], 0.2)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is client:
                        seen = tail + data
                        posts = seen.count(b"POST / HTTP/1.1\r\n")
                        upgrades = seen.count(b"GET /ws HTTP/1.1\r\n")
                        # Shorter than either request line, so none is counted twice.
                        tail = seen[-16:]
                        with self._lock:
                            self.posts += posts
                            self.upgrades += upgrades
                    pair[sock].sendall(data)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()

    def close(self) -> None:
        self._closing = True
        self._listener.close()
        self._accept.join(timeout=2)
        for thread in self._threads:
            thread.join(timeout=2)


@contextlib.contextmanager
def tapped(port: int) -> Iterator[TapProxy]:
    proxy = TapProxy(port)
    try:
        yield proxy
    finally:
        proxy.close()


EXAMPLE_PLUGIN = ROOT / "examples" / "plugin_hello"
EXAMPLE_PLUGIN_DIST = "moi-plugin-hello"


def ensure_example_plugin() -> None:
    """Install ``examples/plugin_hello`` into this environment as its own package (editable,
    so its code is this checkout's), unless it already is. Agents started afterwards load it
    through the ``moi.protocols`` entry point like any third-party plugin."""
    import importlib
    from importlib.metadata import PackageNotFoundError, distribution

    # This process read its .pth files at startup; it imports the plugin from its folder.
    if str(EXAMPLE_PLUGIN) not in sys.path:
        sys.path.append(str(EXAMPLE_PLUGIN))
    try:
        origin = distribution(EXAMPLE_PLUGIN_DIST).read_text("direct_url.json") or "{}"
        installed = json.loads(origin)
        if installed.get("url") == EXAMPLE_PLUGIN.as_uri() and installed.get("dir_info", {}).get(
            "editable"
        ):
            return
    except PackageNotFoundError:
        pass
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--no-deps",
            "-e",
            str(EXAMPLE_PLUGIN),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"pip install {EXAMPLE_PLUGIN} failed: {proc.stderr[-2000:]}")
    importlib.invalidate_caches()


async def poll_until(
    probe: Callable[[], Coroutine[Any, Any, Any]],
    what: str,
    *,
    timeout: float = 20.0,
    every: float = 0.05,
) -> Any:
    """The first truthy answer of ``probe``, asked every ``every`` seconds; ``TimeoutError``
    naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        found = await probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(every)


class AsyncAdmin:
    """A moi process through its admin API from async tests, each call in a thread (the
    loop stays free for the peers' own work)."""

    def __init__(self, process: AgentProcess) -> None:
        self.process = process

    async def call(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        return await asyncio.to_thread(self.process.admin, method, path, body, **kw)

    async def wait(self, probe: Callable[[], Any], *, what: str, timeout: float = 20.0) -> Any:
        return await poll_until(probe, f"moi: {what}", timeout=timeout)
