"""A real ACA-Py 1.7 agent as a test peer: its process, its webhooks and a thin admin client.

ACA-Py runs as ``aca-py start`` in its own venv (``.venv-acapy``, Python 3.13, built by
:func:`tests.peers.ensure_venv` from ``requirements-acapy.txt``) on free loopback ports, with an
askar SQLite wallet in the test's ``tmp_path``, no ledger, and the auto-accept flags, so that a
test drives it only through its admin API. Webhooks land in a small aiohttp server inside the
test process, kept by topic, so a test can ``await agent.webhooks.wait_for(topic, predicate)``.

The admin calls live in :mod:`tests.peers.acapy_admin`. Every wait is bounded; nothing sleeps
where a poll with a deadline works. When a test fails inside ``async with agent:``, the tail of
the agent's log (``tmp_path/acapy-LABEL.log``) is printed.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import ctypes
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import base58
import pytest
from aiohttp import web

from tests.peers import ensure_venv
from tests.peers.acapy_admin import (
    CONNECTED,
    DIDEXCHANGE_1_1,
    AcaPyError,
    AdminClient,
    AdminError,
    ConnRecord,
    InvitationRecord,
    Json,
    poll,
)

__all__ = [
    "CONNECTED",
    "DIDEXCHANGE_1_1",
    "AcaPy",
    "AcaPyError",
    "AdminError",
    "ConnRecord",
    "InvitationRecord",
    "Webhook",
    "Webhooks",
    "acapy_factory",
    "connect",
    "free_port",
    "free_ports",
    "start_many",
]

HOST = "127.0.0.1"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
REQUEST_TIMEOUT = 30.0


def _die_with_parent() -> None:
    """In the child before exec: ask Linux for SIGTERM when the parent goes away."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports that were free a moment ago (the OS picks them)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in socks:
            s.bind((HOST, 0))
        return [int(s.getsockname()[1]) for s in socks]


def free_port() -> int:
    return free_ports(1)[0]


@dataclass(frozen=True)
class Webhook:
    topic: str
    payload: Json
    at: float  # time.monotonic() on arrival


class Webhooks:
    """An aiohttp server that ACA-Py posts its webhooks to (``{url}/topic/{topic}/``)."""

    MAX_BODY = 4 * 1024 * 1024

    def __init__(self) -> None:
        self.events: list[Webhook] = []
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self, port: int = 0) -> str:
        app = web.Application(client_max_size=self.MAX_BODY)
        app.router.add_post("/topic/{topic}/", self._receive)
        app.router.add_post("/topic/{topic}", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, HOST, port).start()
        self.url = f"http://{HOST}:{self._runner.addresses[0][1]}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def running(self) -> bool:
        return self._runner is not None

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1]) if self.url else 0

    async def _receive(self, request: web.Request) -> web.Response:
        try:
            payload = json.loads(await request.read())
        except ValueError:
            return web.Response(status=400, text="not JSON")
        async with self._changed:
            self.events.append(Webhook(request.match_info["topic"], payload, time.monotonic()))
            self._changed.notify_all()
        return web.Response(status=200)

    def of(self, topic: str) -> list[Json]:
        return [e.payload for e in self.events if e.topic == topic]

    async def wait_for(
        self,
        topic: str,
        predicate: Callable[[Json], bool] | None = None,
        timeout: float = 15.0,
        *,
        since: int = 0,
    ) -> Json:
        """The first webhook of ``topic`` from index ``since`` on that satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        scanned = since
        async with self._changed:
            while True:
                for event in self.events[scanned:]:
                    if event.topic == topic and (predicate is None or predicate(event.payload)):
                        return event.payload
                scanned = max(scanned, len(self.events))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = sorted({e.topic for e in self.events})
                    raise AcaPyError(
                        f"no matching {topic!r} webhook within {timeout:.1f}s (topics seen: {seen})"
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)


@dataclass(eq=False)
class AcaPy(AdminClient):
    """One running ``aca-py start``. Create with :meth:`start`; use as an async context manager."""

    label: str
    home: Path
    log_path: Path
    http_port: int
    admin_port: int
    ws_port: int | None
    args: list[str]
    webhooks: Webhooks
    process: asyncio.subprocess.Process | None = None
    _session: aiohttp.ClientSession | None = field(default=None, repr=False)

    @property
    def admin_url(self) -> str:
        return f"http://{HOST}:{self.admin_port}"

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    @property
    def ws_endpoint(self) -> str | None:
        return None if self.ws_port is None else f"ws://{HOST}:{self.ws_port}"

    # -- life cycle -----------------------------------------------------------------------------

    @classmethod
    async def start(
        cls,
        *,
        label: str,
        tmp_path: Path,
        extra_args: Sequence[str] = (),
        ws: bool = False,
        advertise: Sequence[str] | None = None,
        auto_flags: bool = True,
        log_level: str = "info",
        timeout: float = START_TIMEOUT,
    ) -> AcaPy:
        """Launch an agent and return once ``/status/ready`` says so.

        ``ws`` adds a WebSocket inbound transport. ``advertise`` lists the endpoints the agent
        puts in its DIDs and invitations, first one preferred: ``"http"`` and ``"ws"`` stand for
        its own transports, anything else is used as a URL (e.g. a recording proxy in front of
        it); by default its HTTP endpoint, then its WebSocket one. ``auto_flags`` turns on the
        auto-accept / auto-respond flags a test peer needs (basic messages are not answered).
        A port taken between choosing and binding it is retried with new ports.
        """
        venv = await asyncio.to_thread(ensure_venv, "acapy")
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", label):
            raise ValueError("label: 1-40 letters, digits, '-' or '_'")
        if log_level not in ("debug", "info", "warning", "error"):
            raise ValueError(f"log_level: debug, info, warning or error, not {log_level!r}")
        for attempt in range(3):
            agent = await cls._prepare(
                venv, label, tmp_path, extra_args, ws, advertise, auto_flags, log_level
            )
            try:
                await agent._launch(timeout, append=False)
                return agent
            except AcaPyError as err:
                await agent.stop()
                if attempt == 2 or "already in use" not in str(err).lower():
                    raise
            except BaseException:
                await agent.stop()
                raise
        raise AssertionError("unreachable")

    @classmethod
    async def _prepare(
        cls,
        venv: Path,
        label: str,
        tmp_path: Path,
        extra_args: Sequence[str],
        ws: bool,
        advertise: Sequence[str] | None,
        auto_flags: bool,
        log_level: str,
    ) -> AcaPy:
        home = tmp_path / f"acapy-{label}"
        if home.exists():
            shutil.rmtree(home)  # --recreate-wallet does not wipe an existing wallet
        home.mkdir(parents=True)
        http_port, admin_port, ws_port = free_ports(3)
        own = {"http": f"http://{HOST}:{http_port}", "ws": f"ws://{HOST}:{ws_port}"}
        if advertise is None:
            advertise = ("http", "ws") if ws else ("http",)
        if "ws" in advertise and not ws:
            raise ValueError("advertise names 'ws' but the agent has no WebSocket transport")
        webhooks = Webhooks()
        hook_url = await webhooks.start()
        # A raw 32-byte key skips the Argon2 derivation: about a second per start.
        wallet_key = base58.b58encode(secrets.token_bytes(32)).decode()
        args = [str(venv / "bin" / "aca-py"), "start", "--label", label]
        args += ["-it", "http", HOST, str(http_port), "-ot", "http", "-ot", "ws"]
        if ws:
            args += ["-it", "ws", HOST, str(ws_port)]
        args += ["-e", *(own.get(e, e) for e in advertise)]
        args += ["--admin", HOST, str(admin_port), "--admin-insecure-mode"]
        args += ["--webhook-url", hook_url, "--no-ledger", "--auto-provision"]
        args += ["--wallet-type", "askar", "--wallet-name", label, "--wallet-key", wallet_key]
        args += ["--wallet-key-derivation-method", "RAW", "--log-level", log_level]
        args += ["--preserve-exchange-records", "--monitor-ping"]
        if auto_flags:
            args += [
                "--auto-accept-invites",
                "--auto-accept-requests",
                "--auto-respond-credential-offer",
                "--auto-respond-credential-request",
                "--auto-store-credential",
                "--auto-respond-presentation-request",
                "--auto-verify-presentation",
            ]
        args += list(extra_args)
        return cls(
            label=label,
            home=home,
            log_path=tmp_path / f"acapy-{label}.log",
            http_port=http_port,
            admin_port=admin_port,
            ws_port=ws_port if ws else None,
            args=args,
            webhooks=webhooks,
        )

    async def _launch(self, timeout: float, *, append: bool) -> None:
        env = {**os.environ, "ACAPY_HOME": str(self.home), "PYTHONUNBUFFERED": "1"}
        env.pop("PYTHONPATH", None)  # moi's test paths mean nothing to ACA-Py's interpreter
        # opening a local file for the child's output does not block the loop in any real sense
        with open(self.log_path, "ab" if append else "wb") as log:  # noqa: ASYNC230
            self.process = await asyncio.create_subprocess_exec(
                *self.args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                # Ctrl-C reaches only pytest, whose teardown stops the agent; if pytest itself
                # dies, the kernel sends the agent SIGTERM instead of leaving it running.
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self._session = aiohttp.ClientSession(
            base_url=self.admin_url, timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
        )

        async def ready() -> bool:
            if self.process is not None and self.process.returncode is not None:
                raise AcaPyError(
                    f"aca-py {self.label} exited with {self.process.returncode} while starting\n"
                    + self.log_tail()
                )
            try:
                async with self._http().get("/status/ready") as resp:
                    return resp.status == 200 and (await resp.json()).get("ready") is True
            except (aiohttp.ClientError, ValueError):
                return False

        try:
            await poll(ready, timeout=timeout, what=f"aca-py {self.label} to be ready")
        except AcaPyError as err:
            raise AcaPyError(f"{err}\n{self.log_tail()}") from None

    async def stop(
        self, timeout: float = STOP_TIMEOUT, *, remove_wallet: bool = False
    ) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; the exit code (None if it was not running).

        The log stays; ``remove_wallet`` deletes the agent's home (wallet) folder.
        """
        code = None
        proc, self.process = self.process, None
        if proc is not None:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), timeout)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    await proc.wait()
            code = proc.returncode
        if self._session is not None:
            await self._session.close()
            self._session = None
        await self.webhooks.stop()
        if remove_wallet:
            await asyncio.to_thread(shutil.rmtree, self.home, True)
        return code

    async def kill(self) -> None:
        """SIGKILL at once (a crash); the wallet stays, :meth:`restart` brings the agent back."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()

    async def restart(self, timeout: float = START_TIMEOUT) -> None:
        """Start again with the same ports, wallet and webhook receiver (after stop or kill)."""
        if self.process is not None and self.process.returncode is None:
            raise AcaPyError(f"aca-py {self.label} is still running")
        if self._session is not None:
            await self._session.close()
        if not self.webhooks.running:
            await self.webhooks.start(port=self.webhooks.port)
        await self._launch(timeout, append=True)

    async def __aenter__(self) -> AcaPy:
        return self

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc is not None:
            print(self.log_tail(), file=sys.stderr)
        await self.stop()

    def problem_report(self, thread_id: str) -> Json | None:
        for report in self.webhooks.of("problem_report"):
            if (report.get("~thread") or {}).get("thid") == thread_id:
                return report
        return None

    def received_messages(self) -> list[Json]:
        """Every plaintext message the agent received, in order, from its debug log.

        Needs ``log_level="debug"``: ACA-Py then logs each unpacked inbound message (as a Python
        dict repr, which ``ast.literal_eval`` reads back without running anything).
        """
        marker = "Expanded message: "
        found = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            at = line.find(marker)
            if at >= 0:
                found.append(ast.literal_eval(line[at + len(marker) :]))
        return found

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            text = ["(no log)"]
        return f"----- last {len(text)} lines of {self.log_path} -----\n" + "\n".join(text)

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise AcaPyError(f"aca-py {self.label} is not running")
        return self._session


async def start_many(tmp_path: Path, labels: Sequence[str], **kwargs: Any) -> list[AcaPy]:
    """Start several agents at once (each start is mostly interpreter import time)."""
    results = await asyncio.gather(
        *(AcaPy.start(label=label, tmp_path=tmp_path, **kwargs) for label in labels),
        return_exceptions=True,
    )
    agents = [r for r in results if isinstance(r, AcaPy)]
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        await asyncio.gather(*(a.stop() for a in agents))
        raise errors[0]
    return agents


async def connect(
    inviter: AcaPy,
    invitee: AcaPy,
    *,
    did_method: str = "did:peer:4",
    invitee_did_method: str | None = None,
    timeout: float = 20.0,
) -> tuple[ConnRecord, ConnRecord]:
    """Connect two agents through an OOB invitation; both records once both are active.

    ``did_method`` is the invitation's DID; the invitee's own DID is did:peer:4 (ACA-Py's
    default) unless ``invitee_did_method`` says otherwise, and the inviter's DID in the
    response follows the invitee's method.
    """
    invitation = await inviter.create_invitation(did_method=did_method)
    if invitee_did_method is None:
        oob = await invitee.receive_invitation(invitation["invitation"])
    else:
        oob = await invitee.receive_invitation(invitation["invitation"], auto_accept=False)
        await invitee.accept_invitation(oob["connection_id"], did_method=invitee_did_method)
    theirs, ours = await asyncio.gather(
        inviter.wait_for_connection(
            invitation_msg_id=invitation["invi_msg_id"], states=("active",), timeout=timeout
        ),
        invitee.wait_for_connection(oob["connection_id"], states=("active",), timeout=timeout),
    )
    return theirs, ours


@pytest.fixture
async def acapy_factory(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[AcaPy]]]:
    """``await acapy_factory("label", **start_kwargs)`` starts an agent; all stop at teardown.

    Import it into a test module to use it. Each agent's log tail is printed at teardown, which
    pytest shows only when the test failed.
    """
    agents: list[AcaPy] = []

    async def factory(label: str, **kwargs: Any) -> AcaPy:
        agent = await AcaPy.start(label=label, tmp_path=tmp_path, **kwargs)
        agents.append(agent)
        return agent

    try:
        yield factory
    finally:
        for agent in agents:
            print(agent.log_tail())
        await asyncio.gather(*(a.stop(remove_wallet=True) for a in agents))
