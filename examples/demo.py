"""The quick-start demo: a person's agent and a shop's agent, both local, connect and talk.

Run it with ``./run demo``. It drives the real ``moi`` command line, as a person would: two
homes, two agents started with ``moi start``, an invitation from the shop, accepted by the
person, then messages, a trust ping and feature discovery — once over DIDComm v1 (the Aries
world: out-of-band 1.1 + DID exchange 1.1) and once over DIDComm v2 — and then credentials:
the shop issues Alice a card (SD-JWT VC) and later asks only whether she is over 18, which
she sees before anything is sent. Every line printed is what the agents really did; nothing
leaves this machine.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BOLD, DIM, GREEN, RESET = "\033[1m", "\033[2m", "\033[32m", "\033[0m"
if not sys.stdout.isatty():
    BOLD = DIM = GREEN = RESET = ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Person:
    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.home = root / name.lower()
        self.env = {**os.environ, "MOI_PASSPHRASE": f"{name} demo passphrase"}
        self.process: subprocess.Popen[bytes] | None = None

    def moi(self, *args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "agent.cli.main", "--home", str(self.home), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if proc.returncode != 0:
            raise SystemExit(f"moi {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def moi_background(self, *args: str) -> subprocess.Popen[str]:
        """A command that waits on the other side (an offer, a proof request)."""
        return subprocess.Popen(
            [sys.executable, "-m", "agent.cli.main", "--home", str(self.home), *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def start(self) -> None:
        self.moi("init")
        port, admin = free_port(), free_port()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agent.cli.main",
                "--home",
                str(self.home),
                "start",
                "--port",
                str(port),
                "--admin-port",
                str(admin),
                "--label",
                self.name,
                "--log-level",
                "warning",
            ],
            env=self.env,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while not (self.home / "admin.json").exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{self.name}'s agent did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)


def say(who: str, text: str) -> None:
    print(f"{BOLD}{who:>6}{RESET}  {text}")


def run(person: Person, shop: Person, family: str) -> str:
    title = "DIDComm v1 (out-of-band 1.1 + DID exchange 1.1)" if family == "v1" else "DIDComm v2"
    print(f"\n{BOLD}— {title} —{RESET}")
    url = shop.moi("invite", f"--{family}", "--label", "Corner Shop")
    say("shop", f"invites: {DIM}{url[:72]}…{RESET}")
    connection = person.moi("connect", url, "--label", "Alice")
    conn = next(c for c in json.loads(person.moi("connections")) if c["id"] == connection)
    say(
        "alice",
        f"connected ({conn['family']}, {conn['state']}), my pairwise DID "
        f"{DIM}{conn['my_did'][:40]}…{RESET}",
    )
    person.moi("send", connection, "Do you have size 42 in stock?")
    shop_conn = next(
        c
        for c in json.loads(shop.moi("connections"))
        if c["their_did"] == conn["my_did"]
        or (c["their_label"] == "Alice" and c["family"] == family)
    )
    deadline = time.monotonic() + 10
    while True:
        inbox = json.loads(shop.moi("messages", shop_conn["id"]))
        if inbox or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    say("shop", f"received: {inbox[-1]['content']!r}")
    shop.moi("send", shop_conn["id"], "Yes — shall I hold a pair for you until Friday?")
    deadline = time.monotonic() + 10
    while True:
        thread = json.loads(person.moi("messages", connection))
        if len(thread) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for message in thread:
        arrow = "→" if message["direction"] == "out" else "←"
        say("alice", f"{arrow} {message['content']!r} {DIM}({message['state']}){RESET}")
    rtt = json.loads(person.moi("ping", connection))["round_trip_ms"]
    say("alice", f"trust ping round trip: {rtt:.1f} ms")
    features = json.loads(person.moi("features", connection))
    names = ", ".join(uri.split("didcomm.org/")[-1] for uri in features)
    say("alice", f"the shop's agent speaks: {DIM}{names}{RESET}")
    return shop_conn["id"]


def wait_for_rows(who: Person, *args: str) -> dict[str, Any]:
    """The first row ``moi ARGS`` lists (offers or requests waiting for the person)."""
    deadline = time.monotonic() + 30
    while True:
        rows = json.loads(who.moi(*args))
        if rows:
            return rows[0]
        if time.monotonic() > deadline:
            raise SystemExit(f"nothing came: moi {' '.join(args)}")
        time.sleep(0.1)


def credentials(person: Person, shop: Person, to_alice: str) -> None:
    """The shop vouches for Alice (an SD-JWT VC she keeps); later it asks her only whether
    she is over 18, and she sees exactly what would be disclosed before agreeing."""
    print(f"\n{BOLD}— Credentials: a loyalty card, then proof of age (SD-JWT VC) —{RESET}")
    claims = {"name": "Alice", "member_since": "2024", "age_over_18": True}
    offering = shop.moi_background(
        "credential", "offer", to_alice, "--format", "sd-jwt", "--claims", json.dumps(claims),
        "--sd", "name", "--sd", "member_since", "--sd", "age_over_18", "--status",
    )  # fmt: skip
    offer = wait_for_rows(person, "credential", "offers")
    say("alice", f"offer from {offer['from']}: {json.dumps(offer['offer']['claims'])}")
    kept = json.loads(person.moi("credential", "accept", offer["id"]))
    say("alice", f"accepted; verified and kept as {DIM}{kept['credential_id']}{RESET}")
    finish(offering)

    asking = shop.moi_background(
        "proof", "request", to_alice, "--claim", "age_over_18=true", "--format", "sd-jwt"
    )
    request = wait_for_rows(person, "proof", "requests")
    preview = request["preview"]
    (shown,) = preview["credentials"]
    say(
        "alice",
        f"{preview['to']['label']} asks; it would see {json.dumps(shown['disclosed'])}, "
        f"not {', '.join(sorted(shown['withheld']))}",
    )
    person.moi("proof", "accept", request["id"])
    report = json.loads(finish(asking))
    checks = ", ".join(f"{k} {v}" for k, v in report["checks"].items())
    say(
        "shop",
        f"verified={report['verified']}: got {json.dumps(report['claims'])} {DIM}({checks}){RESET}",
    )


def finish(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=60)
    if proc.returncode != 0:
        raise SystemExit(f"moi failed: {err.strip()}")
    return out.strip()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="moi-demo-") as tmp:
        root = Path(tmp)
        person, shop = Person("Alice", root), Person("Shop", root)
        print(f"{BOLD}moi demo{RESET}: Alice's personal agent and a shop's agent, on this machine.")
        try:
            for agent in (person, shop):
                agent.start()
                dids = json.loads(agent.moi("did", "list"))
                say(
                    agent.name.lower(),
                    f"agent running; wallet encrypted at rest ({len(dids)} DIDs)",
                )
            run(person, shop, "v1")
            to_alice = run(person, shop, "v2")
            credentials(person, shop, to_alice)
            print(
                f"\n{GREEN}Done.{RESET} Each side holds its own keys; each relationship has its "
                "own DIDs, so the shop cannot correlate Alice across services."
            )
        finally:
            person.stop()
            shop.stop()


if __name__ == "__main__":
    main()
