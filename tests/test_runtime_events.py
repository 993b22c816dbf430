"""Events leave the agent two ways, both from its event log: webhooks (POSTed with ids, retried
while the receiver fails, at least once and in order — also across a SIGKILL of the agent)
and a Server-Sent Events stream that resumes after ``Last-Event-ID``.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.agent_procs import AgentProcess, Swarm, connect, wait_until

pytestmark = pytest.mark.slow


class Receiver:
    """A webhook endpoint that fails on purpose: the first few POSTs, then now and then."""

    def __init__(self, fail_first: int = 3, fail_every: int = 7) -> None:
        self.fail_first, self.fail_every = fail_first, fail_every
        self.attempts = 0
        self.failed = 0
        self.taken: list[dict[str, Any]] = []  # bodies answered 2xx, in arrival order
        self.headers_ok = True
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.attempts += 1
                    n = receiver.attempts
                    fail = n <= receiver.fail_first or n % receiver.fail_every == 0
                    if fail:
                        receiver.failed += 1
                    else:
                        event = json.loads(body)
                        if self.headers.get("X-Moi-Event-Id") != event["id"]:
                            receiver.headers_ok = False
                        receiver.taken.append(event)
                self.send_response(500 if fail else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def ids(self) -> list[str]:
        with self.lock:
            return [e["id"] for e in self.taken]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _log(agent: AgentProcess) -> list[dict[str, Any]]:
    """The agent's whole event log, oldest first."""
    out: list[dict[str, Any]] = []
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if out:
            params["after"] = out[-1]["id"]
        page = agent.admin("GET", "/events", params=params)
        out.extend(page)
        if len(page) < 1000:
            return out


def _first_deliveries(ids: list[str]) -> list[str]:
    seen: set[str] = set()
    return [i for i in ids if not (i in seen or seen.add(i))]


def test_webhooks_at_least_once_in_order_with_retries_and_a_crash(tmp_path: Path) -> None:
    receiver = Receiver()
    try:
        with Swarm(tmp_path) as swarm:
            org = swarm.start("org", label="Org", options=["--webhook-url", receiver.url])
            person = swarm.start("person", label="Person")
            orgs, persons = connect(org, person, "v2")
            for n in range(10):
                person.send(persons, f"first batch {n}")
            wait_until(lambda: len(org.messages(orgs)) == 10, what="the first batch at the org")

            # Killed while webhooks are still being retried; the cursor survives the crash.
            org.kill()
            org.start()
            for n in range(10):
                person.send(persons, f"second batch {n}")
            org.admin("POST", f"/connections/{orgs}/ping", params={"timeout": 10})
            wait_until(lambda: len(org.messages(orgs)) == 20, what="the second batch")

            log = _log(org)
            assert len(log) >= 22  # connected, 20 messages, a ping answered
            wait_until(
                lambda: set(receiver.ids()) >= {e["id"] for e in log},
                timeout=60,
                what="every logged event at the webhook",
            )
            delivered = receiver.ids()
            assert receiver.failed >= 3 and receiver.headers_ok
            # In order, each at least once: first deliveries are the log, in the log's order;
            # a repeat can only be an event whose 2xx was lost to the crash.
            assert _first_deliveries(delivered) == [e["id"] for e in log]
            assert len(delivered) - len(set(delivered)) <= 1
            topics = [e["topic"] for e in receiver.taken]
            assert topics.count("basicmessage.received") >= 20
            assert "trust_ping.received" in topics or "trust_ping.response_received" in topics
    finally:
        receiver.close()


def _sse(
    agent: AgentProcess, headers: dict[str, str] | None = None, query: str = ""
) -> Iterator[dict[str, Any]]:
    """Events from the agent's stream, as they come (the caller stops reading)."""
    conn = http.client.HTTPConnection("127.0.0.1", agent.admin_port, timeout=20)
    try:
        conn.request(
            "GET",
            f"/events/stream{query}",
            headers={"X-API-Key": agent.key or "", **(headers or {})},
        )
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("Content-Type", "").startswith(
            "text/event-stream"
        )
        fields: dict[str, str] = {}
        while True:
            line = resp.readline().decode().rstrip("\n")
            if not line:
                if fields:
                    yield {
                        "id": fields["id"],
                        "topic": fields["event"],
                        **json.loads(fields["data"]),
                    }
                    fields = {}
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
    finally:
        conn.close()


def _take(stream: Iterator[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    return [next(stream) for _ in range(count)]


def test_event_stream_resumes_after_last_event_id(tmp_path: Path) -> None:
    with Swarm(tmp_path) as swarm:
        org = swarm.start("org", label="Org")
        person = swarm.start("person", label="Person")
        orgs, persons = connect(org, person, "v1")
        for n in range(5):
            person.send(persons, f"before {n}")
        wait_until(lambda: len(org.messages(orgs)) == 5, what="five messages")
        log = _log(org)

        # From the beginning: the log as it stands, in order, each event whole.
        stream = _sse(org)
        seen = _take(stream, len(log))
        stream.close()
        assert [e["id"] for e in seen] == [e["id"] for e in log]
        assert all(e["topic"] == logged["topic"] for e, logged in zip(seen, log, strict=True))
        assert seen[-1]["payload"] == log[-1]["payload"]

        # Gone for a while; what happened meanwhile comes first on resuming, nothing twice.
        cut = seen[len(seen) // 2]["id"]
        for n in range(5):
            person.send(persons, f"while away {n}")
        wait_until(lambda: len(org.messages(orgs)) == 10, what="ten messages")
        expected = [e["id"] for e in _log(org) if e["id"] > cut]
        stream = _sse(org, headers={"Last-Event-ID": cut})
        resumed = _take(stream, len(expected))
        assert [e["id"] for e in resumed] == expected

        # Then live: a new event arrives on the open stream.
        person.send(persons, "live")
        live = next(stream)
        stream.close()
        assert live["id"] > expected[-1] and live["topic"] == "basicmessage.received"
        assert live["payload"]["content"] == "live"

        # ?after= does the same as the header; the header wins when both are given.
        stream = _sse(org, query=f"?after={expected[-2]}")
        assert [e["id"] for e in _take(stream, 2)] == [expected[-1], live["id"]]
        stream.close()
        stream = _sse(org, headers={"Last-Event-ID": expected[-1]}, query=f"?after={cut}")
        assert next(stream)["id"] == live["id"]
        stream.close()
        # Without the key there is no stream.
        assert org.request("GET", "/events/stream", key=None)[0] == 401
