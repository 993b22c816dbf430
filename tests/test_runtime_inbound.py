"""Bad input at the DIDComm inbound endpoint of a running ``moi start`` process.

Hypothesis posts thousands of inputs — random bytes, bodies over ``max_message_bytes``,
text that is not JSON, JSON that is not an envelope, tampered envelopes, and envelopes packed
to the agent's DID that carry unknown message types, invalid bodies or malformed plaintext —
and checks each answer: 400, 413 or 202, and for an answerable message from a connected peer
a problem report that arrives back at that peer. Meanwhile slow clients trickle bodies and
must get 408; at the end the agent still answers a ping.

The peer is an in-process agent (on its own loop thread) connected to the process in both
families, so the test can pack with the peer's keys and see what comes back to it.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.config import Config
from agent.runtime import Agent
from agent.transport.inbound import READ_TIMEOUT
from protocols.out_of_band import actions
from tests.agent_procs import AgentProcess, LoopThread, Swarm, free_port, wait_until
from wallet import Wallet
from wallet.didcomm import v1 as envelope_v1

pytestmark = pytest.mark.slow

MAX_BYTES = 16 * 1024
EXAMPLES = int(os.environ.get("EX", 2000))
BASIC = {
    "v1": "https://didcomm.org/basicmessage/1.0/message",
    "v2": "https://didcomm.org/basicmessage/2.0/message",
}
PING = {
    "v1": "https://didcomm.org/trust_ping/1.0/ping",
    "v2": "https://didcomm.org/trust-ping/2.0/ping",
}


@dataclass
class Peer:
    agent: Agent
    loop: LoopThread
    connections: dict[str, Any] = field(default_factory=dict)  # family → ConnectionRecord
    problems: dict[str, dict[str, Any]] = field(default_factory=dict)  # thread id → payload

    def pack(self, family: str, message: dict[str, Any]) -> bytes:
        conn = self.connections[family]
        packed = self.loop.run(
            self.agent.wallet.pack(
                message,
                to=[conn.their_did],
                frm=conn.my_did,
                mode="authcrypt",
                v1=family == "v1",
            )
        )
        return json.dumps(packed).encode()

    def pack_v1_bytes(self, plaintext: bytes) -> bytes:
        """A v1 envelope around any bytes, authenticated with our key (no validation)."""
        conn = self.connections["v1"]

        async def keys() -> tuple[Any, Any]:
            wallet = self.agent.wallet
            theirs = await wallet.resolve(conn.their_did)
            mine = await wallet.resolve(conn.my_did)
            their_key = theirs.verification_methods[0].public_key
            secret = await wallet.secret_for(mine.verification_methods[0].public_key.base58)
            return their_key, secret

        their_key, secret = self.loop.run(keys())
        return envelope_v1.pack(plaintext, [their_key], secret)


async def _start_peer(home: Path) -> Agent:
    wallet = await Wallet.create(f"sqlite://{home / 'wallet.db'}", raw_key=os.urandom(32))
    agent = Agent(Config(port=free_port(), label="Peer", log_level="warning"), wallet)
    await agent.start(admin=False)
    return agent


async def _collect_problems(peer: Peer) -> None:
    with peer.agent.bus.subscribe() as queue:
        while True:
            event = await queue.get()
            if event.topic == "problem_report.received":
                peer.problems[str(event.payload.get("thread_id"))] = dict(event.payload)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AgentProcess, Peer]]:
    root = tmp_path_factory.mktemp("inbound")
    with Swarm(root) as swarm, LoopThread() as loop:
        b = swarm.start("b", label="B", options=["--max-message-bytes", str(MAX_BYTES)])
        (root / "peer").mkdir()
        agent = loop.run(_start_peer(root / "peer"))
        peer = Peer(agent, loop)
        loop.loop.call_soon_threadsafe(lambda: loop.loop.create_task(_collect_problems(peer)))
        try:
            for family in ("v1", "v2"):
                url = b.admin("POST", "/invitations", {"family": family})["url"]
                conn = loop.run(actions.receive_invitation(agent, url, label="Peer"))
                peer.connections[family] = wait_until(
                    lambda conn=conn: _completed(loop, agent, conn.id),
                    what=f"the peer's {family} connection",
                )
            yield b, peer
        finally:
            loop.run(agent.stop())
            loop.run(agent.wallet.close())


def _completed(loop: LoopThread, agent: Agent, connection_id: str) -> Any:
    conn = loop.run(agent.connections.get(connection_id))
    return conn if conn.state.value == "completed" else None


def post(port: int, body: bytes, *, chunked: bool = False) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Content-Type": "application/didcomm-encrypted+json"}
        if chunked:
            conn.request("POST", "/", body=iter([body]), headers=headers, encode_chunked=True)
        else:
            conn.request("POST", "/", body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


# -- what is posted -------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
envelope_keys = st.sampled_from(
    ["protected", "recipients", "iv", "ciphertext", "tag", "payload", "signatures", "header"]
)
names = st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=12)


@st.composite
def unknown_type(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 2))
    name = draw(names)
    if kind == 0:
        return f"https://example.org/{draw(names)}/{draw(st.integers(0, 9))}.0/{name}"
    if kind == 1:  # a protocol we speak, a message name it does not have
        return f"https://didcomm.org/basicmessage/2.0/not-{name}"
    return f"https://didcomm.org/trust_ping/{draw(st.integers(3, 9))}.0/ping"


@dataclass(frozen=True)
class Case:
    """One input and what the agent must answer."""

    kind: str
    statuses: tuple[int, ...]
    family: str | None = None
    message: dict[str, Any] | None = None
    raw: bytes | None = None
    tamper: tuple[str, int] | None = None
    oversize: int = 0
    chunked: bool = False
    problem: bool = False  # a problem report must come back to the peer

    def __repr__(self) -> str:
        detail = self.message if self.message is not None else (self.raw or b"")[:80]
        extra = f" tamper={self.tamper}" if self.tamper else ""
        extra += f" oversize={self.oversize} chunked={self.chunked}" if self.oversize else ""
        return f"Case({self.kind}, {self.family}, {detail!r}{extra})"


def _msg(family: str, type_: str, body: Any) -> dict[str, Any]:
    if family == "v1":
        return {
            "@id": str(uuid.uuid4()),
            "@type": type_,
            **(body if isinstance(body, dict) else {}),
        }
    return {"id": str(uuid.uuid4()), "type": type_, "body": body}


cases = st.one_of(
    st.builds(lambda b: Case("bytes", (400,), raw=b), st.binary(max_size=3000)),
    st.builds(lambda t: Case("text", (400,), raw=t.encode()), st.text(max_size=500)),
    st.builds(lambda v: Case("json", (400,), raw=json.dumps(v).encode()), json_values),
    st.builds(
        lambda d: Case("envelope-shaped", (400,), raw=json.dumps(d).encode()),
        st.dictionaries(envelope_keys, json_values, min_size=1, max_size=6),
    ),
    st.builds(
        lambda n, c: Case("oversized", (413,), oversize=n, chunked=c),
        st.integers(1, 48 * 1024),
        st.booleans(),
    ),
    st.builds(
        lambda f, t, p: Case("tampered", (400,), family=f, tamper=(t, p)),
        st.sampled_from(["v1", "v2"]),
        st.sampled_from(["protected", "iv", "ciphertext", "tag", "recipients"]),
        st.integers(0, 10_000),
    ),
    st.builds(
        lambda f, t: Case("unknown type", (202,), family=f, message=_msg(f, t, {}), problem=True),
        st.sampled_from(["v1", "v2"]),
        unknown_type(),
    ),
    st.builds(
        lambda f, v: Case(
            "invalid body",
            (202,),
            family=f,
            message=_msg(f, BASIC[f], {"content": v}),
            problem=True,
        ),
        st.sampled_from(["v1", "v2"]),
        st.integers() | st.lists(st.text(max_size=3), max_size=3) | st.none(),
    ),
    st.builds(
        lambda f, v: Case(
            "invalid body",
            (202,),
            family=f,
            message=_msg(f, PING[f], {"response_requested": v}),
            problem=True,
        ),
        st.sampled_from(["v1", "v2"]),
        st.integers() | st.text(max_size=5),
    ),
    # Malformed plaintext inside a valid authcrypt envelope: no id, a type that is no
    # string, a body that is no object, or not JSON at all (v1 carries raw bytes).
    st.builds(
        lambda drop, v: Case(
            "malformed plaintext",
            (400,),
            family="v2",
            message={
                k: x for k, x in _msg("v2", BASIC["v2"], {"content": "x"}).items() if k != drop
            }
            | ({"body": v} if drop == "id" else {}),
        ),
        st.sampled_from(["id", "type", "body"]),
        json_values.filter(lambda v: not isinstance(v, dict)),
    ),
    st.builds(
        lambda v: Case(
            "malformed plaintext", (400,), family="v2", message=_msg("v2", BASIC["v2"], v)
        ),
        json_values.filter(lambda v: not isinstance(v, dict)),
    ),
    st.builds(
        lambda raw: Case("malformed plaintext", (400,), family="v1", raw=raw),
        st.binary(max_size=200) | st.builds(lambda v: json.dumps(v).encode(), json_values),
    ),
)


def _tampered(envelope: bytes, field_name: str, position: int) -> bytes:
    obj = json.loads(envelope)
    if field_name not in obj:  # a v1 envelope keeps its recipients in the protected header
        field_name = "protected"
    value = obj.get(field_name)
    if field_name == "recipients":
        obj["recipients"] = [] if position % 2 else [dict(r, encrypted_key="AAAA") for r in value]
    else:
        text = value or ""
        index = position % max(1, len(text))
        replacement = "A" if text[index : index + 1] != "A" else "B"
        obj[field_name] = text[:index] + replacement + text[index + 1 :]
    return json.dumps(obj).encode()


def body_of(case: Case, peer: Peer) -> bytes:
    if case.oversize:
        return b'{"protected":"' + b"A" * (MAX_BYTES + case.oversize) + b'"}'
    if case.tamper is not None:
        family = case.family or "v2"
        valid = peer.pack(family, _msg(family, BASIC[family], {"content": "tamper me"}))
        return _tampered(valid, *case.tamper)
    if case.kind == "malformed plaintext" and case.family == "v1":
        return peer.pack_v1_bytes(case.raw or b"")
    if case.message is not None and case.kind == "malformed plaintext":
        from wallet.didcomm import packing

        conn = peer.connections["v2"]
        message = dict(case.message, **{"from": conn.my_did, "to": [conn.their_did]})
        packed = peer.loop.run(
            packing.pack(
                message,
                to=[conn.their_did],
                frm=conn.my_did,
                mode="authcrypt",
                resolver=peer.agent.wallet.resolver,
                keys=peer.agent.wallet,
            )
        )
        return json.dumps(packed).encode()
    if case.message is not None:
        return peer.pack(case.family or "v2", case.message)
    return case.raw or b""


# -- slow clients ---------------------------------------------------------------------------


def _trickle(port: int, *, chunked: bool, results: list[str]) -> None:
    """Send headers, then one body byte a second; record the status line we get."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT + 15)
    try:
        length = "Transfer-Encoding: chunked" if chunked else "Content-Length: 100000"
        sock.sendall(f"POST / HTTP/1.1\r\nHost: x\r\n{length}\r\n\r\n".encode())
        deadline = time.monotonic() + READ_TIMEOUT + 15
        sock.settimeout(1.0)
        while time.monotonic() < deadline:
            try:
                answer = sock.recv(200)
            except TimeoutError:
                sock.sendall(b"1\r\nx\r\n" if chunked else b"x")
                continue
            results.append(answer.split(b"\r\n", 1)[0].decode(errors="replace"))
            return
        results.append("no answer")
    except OSError as err:
        results.append(f"error {err}")
    finally:
        sock.close()


# -- the test -------------------------------------------------------------------------------


def test_bad_input_gets_the_right_answer_and_the_agent_keeps_serving(world) -> None:
    b, peer = world
    slow: list[str] = []
    tricklers = [
        threading.Thread(target=_trickle, args=(b.port,), kwargs={"chunked": c, "results": slow})
        for c in (False, True, False)
    ]
    started = time.monotonic()
    for thread in tricklers:
        thread.start()
    counts: dict[str, int] = {}
    awaited: dict[str, Case] = {}  # thread id → the case whose problem report must come back

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def one_input(case: Case) -> None:
        body = body_of(case, peer)
        status, answer = post(b.port, body, chunked=case.chunked)
        counts[case.kind] = counts.get(case.kind, 0) + 1
        assert status in case.statuses, (case.kind, status, answer[:200], body[:200])
        if status != 202:
            error = json.loads(answer)["error"]
            assert isinstance(error, str) and "Traceback" not in error
        if case.problem:
            awaited[case.message.get("id") or case.message.get("@id")] = case

    one_input()

    # Every answerable message got its problem report back (B sends them as it goes).
    def missing() -> list[Case]:
        return [case for thread, case in awaited.items() if thread not in peer.problems]

    try:
        wait_until(lambda: not missing(), timeout=60)
    except TimeoutError:
        raise AssertionError(f"no problem report came back for {missing()[:5]}") from None
    assert all(peer.problems[t]["code"].startswith("e.p.msg") for t in awaited)
    total = sum(counts.values())
    assert total >= EXAMPLES, counts
    for kind in (
        "bytes",
        "oversized",
        "tampered",
        "unknown type",
        "invalid body",
        "malformed plaintext",
    ):
        assert counts.get(kind, 0) >= 20, counts

    # A replayed envelope is taken once (the sender's retry after a lost answer).
    envelope = peer.pack("v2", _msg("v2", BASIC["v2"], {"content": "once"}))
    assert json.loads(post(b.port, envelope)[1])["status"] == "accepted"
    assert json.loads(post(b.port, envelope)[1])["status"] == "duplicate"

    # The slow clients got 408 while all that went on, about READ_TIMEOUT after they began.
    for thread in tricklers:
        thread.join(timeout=READ_TIMEOUT + 30)
    assert slow == ["HTTP/1.1 408 Request Timeout"] * 3, slow
    assert time.monotonic() - started >= READ_TIMEOUT - 1

    # And the agent still serves: the peer's ping is answered in both families.
    for family in ("v1", "v2"):
        ref = _b_side(b, peer, family)
        assert b.admin("POST", f"/connections/{ref}/ping", params={"timeout": 10})["round_trip_ms"]


def _b_side(b: AgentProcess, peer: Peer, family: str) -> str:
    my_did = peer.connections[family].my_did
    for conn in b.admin("GET", "/connections", params={"limit": 100}):
        if conn["their_did"] == my_did:
            return conn["id"]
    raise AssertionError(f"B has no {family} connection to the peer")


def test_garbage_over_websocket_leaves_the_socket_and_the_agent_working(world) -> None:
    """The same bad inputs as frames: refused one by one, the socket stays open."""
    b, peer = world
    import aiohttp

    text = f"over a socket {uuid.uuid4()}"
    valid = peer.pack("v2", _msg("v2", BASIC["v2"], {"content": text}))

    async def run() -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"ws://127.0.0.1:{b.port}/ws") as ws,
        ):
            for frame in (b"\x00\xff" * 10, "not json", "{}", '{"protected": 1}', "[]"):
                if isinstance(frame, bytes):
                    await ws.send_bytes(frame)
                else:
                    await ws.send_str(frame)
            await ws.send_bytes(valid)
            assert not ws.closed

    peer.loop.run(run())
    ref = _b_side(b, peer, "v2")
    wait_until(lambda: any(m["content"] == text for m in b.messages(ref)), what="the message")
