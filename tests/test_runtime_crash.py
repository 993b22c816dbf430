"""Nothing lost, nothing doubled, order kept — with the processes killed under load.

2,000 basic messages go from A to B over two relationships (one DIDComm v1, one v2), sent
through A's admin API by 20 threads at once, while B's process is killed with SIGKILL and
restarted at random moments (four times, once while A's outbox drains) and A's process is
killed and restarted once. At the end B holds every message exactly once, and per
relationship in the order A committed them (A's own record order: the admin API answers
only after the message and its outbox entry are committed together).

The random moments come from a seed printed on failure; set MOI_CHAOS_SEED to replay one.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.agent_procs import AdminCallError, AgentProcess, Swarm, connect, wait_until

pytestmark = pytest.mark.slow

PER_RELATIONSHIP = 1000
IN_FLIGHT = 20


class Sender:
    """Sends numbered messages through A's admin API; survives A's crash without doubling.

    A POST that fails (A killed under it) leaves it uncertain whether A committed the
    message; after A is back, its own records say, and only the missing ones are sent again.
    """

    def __init__(self, a: AgentProcess, refs: dict[str, str]) -> None:
        self.a = a
        self.refs = refs
        self.a_up = threading.Event()
        self.a_up.set()
        self.accepted = 0
        self.uncertain: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def send(self, family: str, text: str) -> None:
        while True:
            self.a_up.wait(60)
            try:
                self.a.send(self.refs[family], text)
            except (OSError, AdminCallError):
                if self.a_up.is_set() and self.a.alive:
                    raise  # a failure with A up is a real one
                with self._lock:
                    self.uncertain.append((family, text))
                return
            with self._lock:
                self.accepted += 1
            return

    def resend_missing(self) -> int:
        resent = 0
        for family, text in self.uncertain:
            if text not in {m["content"] for m in self.a.messages(self.refs[family])}:
                self.a.send(self.refs[family], text)
                resent += 1
        return resent


def _texts(family: str) -> list[str]:
    return [f"{family} #{n:04d}" for n in range(PER_RELATIONSHIP)]


def test_kills_lose_nothing_double_nothing_and_keep_order(tmp_path: Path) -> None:
    seed = int(os.environ.get("MOI_CHAOS_SEED") or random.randrange(1 << 32))
    rng = random.Random(seed)
    events: list[str] = [f"seed {seed}"]
    with Swarm(tmp_path) as swarm:
        a = swarm.start("a", label="A")
        b = swarm.start("b", label="B")
        b_refs, a_refs = {}, {}
        for family in ("v1", "v2"):
            b_refs[family], a_refs[family] = connect(b, a, family)
        sender = Sender(a, a_refs)
        total = 2 * PER_RELATIONSHIP
        # Kill points, as counts of accepted sends: B three times, A once, at random.
        b_kills = sorted(rng.sample(range(total // 10, total * 9 // 10), 3))
        a_kill = rng.randrange(total // 4, total * 3 // 4)

        def chaos() -> None:
            plan = sorted([(n, "b") for n in b_kills] + [(a_kill, "a")])
            for threshold, who in plan:
                while sender.accepted < threshold:
                    time.sleep(0.005)
                if who == "b":
                    b.kill()
                    down = rng.uniform(0.0, 0.8)
                    events.append(f"B killed at {sender.accepted} sent, down {down:.2f} s")
                    time.sleep(down)
                    b.start()
                else:
                    sender.a_up.clear()
                    a.kill()
                    events.append(f"A killed at {sender.accepted} sent")
                    a.start()
                    sender.a_up.set()

        killer = threading.Thread(target=chaos, daemon=True)
        killer.start()
        order = [
            (f, t)
            for pair in zip(_texts("v1"), _texts("v2"), strict=True)
            for f, t in zip(("v1", "v2"), pair, strict=True)
        ]
        try:
            with ThreadPoolExecutor(IN_FLIGHT) as pool:
                for result in [pool.submit(sender.send, f, t) for f, t in order]:
                    result.result()
            killer.join(timeout=120)
            assert not killer.is_alive(), "the kill schedule did not finish"
            events.append(f"resent after A's crash: {sender.resend_missing()}")

            # Once more while A's outbox drains into B.
            time.sleep(rng.uniform(0.0, 0.5))
            b.kill()
            events.append("B killed while draining")
            b.start()

            for family in ("v1", "v2"):
                wait_until(
                    lambda family=family: len(b.messages(b_refs[family])) >= PER_RELATIONSHIP,
                    timeout=180,
                    interval=0.5,
                    what=f"B to hold all {family} messages",
                )
                sent = [m for m in a.messages(a_refs[family]) if m["direction"] == "out"]
                got = [m for m in b.messages(b_refs[family]) if m["direction"] == "in"]
                counts = Counter(m["content"] for m in got)
                doubled = sorted(t for t, c in counts.items() if c > 1)
                missing = sorted(set(_texts(family)) - set(counts))
                assert not doubled, f"{family}: doubled at B: {doubled[:10]}"
                assert not missing, f"{family}: lost: {missing[:10]}"
                assert Counter(m["content"] for m in sent) == Counter(_texts(family)), (
                    f"{family}: A itself holds a message twice or not at all"
                )
                assert [m["id"] for m in got] == [m["id"] for m in sent], (
                    f"{family}: B's order differs from A's send order"
                )
            # And A agrees that everything was delivered, with nothing dead-lettered.
            wait_until(
                lambda: all(
                    m["state"] == "delivered"
                    for family in ("v1", "v2")
                    for m in a.messages(a_refs[family])
                ),
                timeout=60,
                interval=0.5,
                what="A to mark every message delivered",
            )
            dead = a.admin("GET", "/events", params={"topic": "message.dead_lettered"})
            assert dead == []
            assert b.starts == 5 and a.starts == 2
            print("\n".join(events))
        except BaseException:
            print("\n".join(events))
            raise
