"""A live-mode WebSocket that dies without a word: nothing sent afterwards is lost, and the
person's agent notices and reconnects by itself.

The person's live session runs through a TCP relay in the test. :meth:`Blackhole.freeze`
makes the relay stop moving bytes on the connections it has, without closing them: no close
frame, no FIN, no RST — both ends still hold an established connection whose data goes
nowhere, as when a NAT forgets a mapping or a phone drops off the network. New connections
are relayed as before, so a reconnect works. Only the heartbeat (a ping with no pong) can
tell the client its session is dead; the mediator meanwhile writes deliveries into the void,
and must send them again, because none of them was acknowledged.
"""

from __future__ import annotations

import select
import socket
import threading
from pathlib import Path

import pytest

from tests.agent_procs import Swarm, free_port, wait_messages, wait_until
from tests.test_mediation_support import mediated_setup

pytestmark = pytest.mark.slow


class Blackhole:
    """A TCP relay whose current connections can be frozen: kept open, moving nothing."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.accepted = 0
        self._frozen: set[int] = set()  # ids of relays frozen for good
        self._live: dict[int, tuple[socket.socket, socket.socket]] = {}
        self._lock = threading.Lock()
        self._closing = False
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.2)
        self._threads = [threading.Thread(target=self._serve, daemon=True)]
        self._threads[0].start()

    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def freeze(self) -> int:
        """Stop relaying on every connection open now (they stay open); how many."""
        with self._lock:
            self._frozen.update(self._live)
            return len(self._live)

    def _serve(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                relay_id = self.accepted
            thread = threading.Thread(target=self._relay, args=(relay_id, client), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _relay(self, relay_id: int, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
        except OSError:
            client.close()
            return
        with self._lock:
            self._live[relay_id] = (client, upstream)
        pair = {client: upstream, upstream: client}
        try:
            while not self._closing:
                with self._lock:
                    frozen = relay_id in self._frozen
                if frozen:
                    # Hold both sockets open and read nothing: the peers' bytes pile up in
                    # kernel buffers and no FIN or RST is ever sent.
                    threading.Event().wait(0.2)
                    continue
                ready, _, _ = select.select(list(pair), [], [], 0.1)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    pair[sock].sendall(data)
        except OSError:
            return
        finally:
            with self._lock:
                self._live.pop(relay_id, None)
            client.close()
            upstream.close()

    def close(self) -> None:
        self._closing = True
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=2)


@pytest.mark.parametrize("family", ["v2"])
def test_half_open_live_session_loses_nothing_and_reconnects(tmp_path: Path, family: str) -> None:
    proxies: list[Blackhole] = []

    def through_proxy(mediator: object) -> str:
        proxy = Blackhole(mediator.port)  # type: ignore[attr-defined]
        proxies.append(proxy)
        return proxy.url()

    try:
        with Swarm(tmp_path) as swarm:
            setup = mediated_setup(swarm, family, pickup="live", ws_endpoint=through_proxy)
            (proxy,) = proxies
            assert proxy.accepted == 1  # the live session goes through the relay
            before = [f"before #{n}" for n in range(3)]
            for text in before:
                setup.org.send(setup.org_ref, text)
            wait_messages(setup.person, setup.person_ref, len(before))

            assert proxy.freeze() == 1
            after = [f"after the cut #{n:02d}" for n in range(20)]
            for text in after:
                setup.org.send(setup.org_ref, text)
            # They reach the mediator, which holds them (pushed into the void, not acked).
            wait_until(lambda: setup.queued() == len(after), what="the mediator to hold them")

            # The heartbeat finds the session dead; the client reconnects by itself.
            wait_until(lambda: proxy.accepted >= 2, timeout=60, what="a reconnect")
            got = wait_messages(setup.person, setup.person_ref, len(before) + len(after))
            contents = [m["content"] for m in got]
            assert contents == before + after  # each once, in order
            wait_until(lambda: setup.status()["live"], what="the live session back")
            wait_until(lambda: setup.queued() == 0, what="the mediator to forget them")

            # And the new session carries messages both ways.
            setup.person.send(setup.person_ref, "still here")
            assert wait_messages(setup.org, setup.org_ref, 1)[-1]["content"] == "still here"
    finally:
        for proxy in proxies:
            proxy.close()
