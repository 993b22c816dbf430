"""What a moi mediator refuses, how it says so, and that a refusal changes nothing.

In-process agents: a mediator (with small limits), and persons mediated by it (no inbound
port, explicit pickup). Forwards are built by hand and POSTed to the mediator, as any sender
would; each refusal must come back as the HTTP status a sender's outbox acts on (final:
404/413; retry later: 429/503 with ``Retry-After``) with a problem report of the forward's
family in the body, threaded to the forward — and must leave every queue as it was. A
recipient asking about (or acknowledging from) another recipient's queue gets a DIDComm
problem report.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.config import Config
from agent.mediation import queue
from agent.mediation.refusals import RateLimiter
from agent.plugin import Family, Send
from agent.runtime import Agent
from protocols.out_of_band import actions
from protocols.pickup import type_of
from wallet import Wallet
from wallet.did import did_key_public_key
from wallet.didcomm.message import Message

V1_TYPE = "application/ssi-agent-wire"
V2_TYPE = "application/didcomm-encrypted+json"
PROBLEM = {
    Family.V1: "https://didcomm.org/report-problem/1.0/problem-report",
    Family.V2: "https://didcomm.org/report-problem/2.0/problem-report",
}
FAMILIES = [Family.V1, Family.V2]

Factory = Callable[..., Awaitable[Agent]]


@pytest.fixture
async def make_agent(tmp_path: Path) -> AsyncIterator[Factory]:
    agents: list[Agent] = []

    async def make(label: str, **options: Any) -> Agent:
        wallet = await Wallet.create(
            f"sqlite://{tmp_path}/{label}.db", passphrase="x", kdf="argon2id-test"
        )
        config = Config(port=0, admin_port=0, label=label, insecure_admin=True, **options)
        agent = Agent(config, wallet, admin_key="k" * 32)
        await agent.start(admin=False)
        agents.append(agent)
        return agent

    yield make
    for agent in reversed(agents):
        await agent.stop()
        await agent.wallet.close()


async def _until(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 15) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def _connected(mediator: Agent, person: Agent, family: Family) -> Any:
    invitation = await actions.create_invitation(mediator, family=family, label="mediator")
    connection = await actions.receive_invitation(person, invitation.url, label=person.config.label)

    async def completed() -> Any:
        current = await person.connections.get(connection.id)
        return current if current.state.value == "completed" else None

    return await _until(completed, "the connection")


async def _mediated(mediator: Agent, make: Factory, label: str, family: Family) -> Any:
    """A person (no inbound port) with mediation granted, picking up only when asked, and
    one DID registered with the mediator: the recipient key or DID forwards name."""
    person = await make(label, no_inbound=True)
    connection = await _connected(mediator, person, family)
    await person.mediation.request(connection, pickup="poll", interval=3600)
    did = await person.create_did("peer2", family, label="a relationship")
    if family is Family.V1:
        doc = await person.wallet.resolve(did)
        recipient = next(
            m.public_key.base58
            for m in doc.verification_methods
            if m.public_key.type.value == "Ed25519"
        )
    else:
        recipient = did
    served = next(c for c in await mediator.connections.list() if c.their_label == label)
    return person, connection, recipient, served.id


async def _routing(mediator: Agent, family: Family) -> str:
    """The key (v1) or key agreement kid (v2) a sender wraps forwards for."""
    _, routing = await mediator.mediator.routing(family)
    if family is Family.V1:
        return routing
    doc = await mediator.wallet.resolve(routing)
    return doc.key_agreement_keys()[0].id


async def _forward(
    sender: Wallet, mediator: Agent, family: Family, to: str, *, size: int = 100
) -> tuple[str, bytes]:
    """A forward for ``to`` as a sender builds it; (its id, the packed bytes). The inner
    message is opaque to the mediator, so any JSON object of about ``size`` bytes will do."""
    inner = {"protected": "x" * size, "iv": "i", "ciphertext": "c", "tag": "t"}
    routing = await _routing(mediator, family)
    forward_id = str(uuid.uuid4())
    if family is Family.V1:
        forward = {
            "@type": "https://didcomm.org/routing/1.0/forward",
            "@id": forward_id,
            "to": to,
            "msg": inner,
        }
        packed = await sender.pack(forward, to=[routing], mode="anoncrypt", v1=True)
    else:
        forward = {
            "id": forward_id,
            "type": "https://didcomm.org/routing/2.0/forward",
            "to": [routing.split("#")[0]],
            "body": {"next": to},
            "attachments": [{"data": {"json": inner}}],
        }
        packed = await sender.pack(forward, to=[routing], mode="anoncrypt")
    return forward_id, json.dumps(packed).encode()


async def _post(mediator: Agent, family: Family, data: bytes) -> tuple[int, dict[str, str], Any]:
    content_type = V1_TYPE if family is Family.V1 else V2_TYPE
    async with (
        aiohttp.ClientSession() as http,
        http.post(mediator.endpoint, data=data, headers={"Content-Type": content_type}) as resp,
    ):
        return resp.status, dict(resp.headers), json.loads(await resp.read())


def _assert_problem(body: Any, family: Family, code: str, thread: str) -> None:
    assert isinstance(body["error"], str) and body["error"]
    report = body["problem_report"]
    if family is Family.V1:
        assert report["@type"] == PROBLEM[family]
        assert report["description"]["code"] == code
        assert report["description"]["en"] == body["error"]
        assert report["~thread"] == {"thid": thread}
    else:
        assert report["type"] == PROBLEM[family]
        assert report["body"]["code"] == code
        assert report["body"]["comment"] == body["error"]
        assert report["pthid"] == thread


async def _snapshot(mediator: Agent) -> list[tuple[str, Any]]:
    """Every queued item (id, connection), and the usage each connection's limits see (and
    its counter record, on a shared store): the whole queue state."""
    items = await mediator.store.find(queue.CATEGORY)
    held = sorted({r.tags["connection_id"] for r in items})
    usage = await mediator.store.find(queue.USAGE)
    return (
        sorted((r.id, r.tags["connection_id"]) for r in items)
        + [(c, await mediator.mediator.queue.usage(c)) for c in held]
        + sorted((r.id, r.value.decode()) for r in usage)
    )


@pytest.fixture
async def sender(tmp_path: Path) -> AsyncIterator[Wallet]:
    async with await Wallet.create(
        f"sqlite://{tmp_path}/sender.db", passphrase="x", kdf="argon2id-test"
    ) as wallet:
        yield wallet


@pytest.mark.parametrize("family", FAMILIES)
async def test_unknown_and_oversize_forwards_are_refused_and_change_nothing(
    make_agent: Factory, sender: Wallet, family: Family
) -> None:
    mediator = await make_agent(
        "mediator", mediator=True, auto_grant=True, queue_max_message_bytes=4096
    )
    _, _, recipient, served = await _mediated(mediator, make_agent, "alice", family)

    # A forward that is fine, to show what "accepted" looks like and to fill the queue.
    _, data = await _forward(sender, mediator, family, recipient)
    assert (await _post(mediator, family, data))[0] == 202
    before = await _snapshot(mediator)
    assert await queue.count(mediator.store, served) == 1

    # A routing key nobody registered: final (404), whatever its form.
    stranger = await sender.create_did("key" if family is Family.V1 else "peer2")
    unknown = did_key_public_key(stranger).base58 if family is Family.V1 else stranger
    forward_id, data = await _forward(sender, mediator, family, unknown)
    status, headers, body = await _post(mediator, family, data)
    assert status == 404 and "Retry-After" not in headers
    _assert_problem(body, family, "e.p.msg.unknown-recipient", forward_id)

    # A message larger than the mediator holds for anyone: final (413).
    forward_id, data = await _forward(sender, mediator, family, recipient, size=8192)
    status, headers, body = await _post(mediator, family, data)
    assert status == 413
    _assert_problem(body, family, "e.p.msg.too-large", forward_id)

    # A forward with no recipient at all: malformed (400), still with its report.
    forward_id, data = await _forward(sender, mediator, family, "")
    status, _, body = await _post(mediator, family, data)
    assert status == 400
    _assert_problem(body, family, "e.p.msg.invalid", forward_id)

    # Larger than the transport takes: refused before it is even read.
    status, _, body = await _post(mediator, family, b"{" + b" " * (1024 * 1024 + 10) + b"}")
    assert status == 413 and body["error"]

    assert await _snapshot(mediator) == before


@pytest.mark.parametrize("family", FAMILIES)
async def test_a_flood_from_one_address_is_rate_limited(
    make_agent: Factory, sender: Wallet, family: Family
) -> None:
    mediator = await make_agent(
        "mediator", mediator=True, auto_grant=True, forward_rate=1, forward_burst=5
    )
    limiter = mediator.mediator.rate_limiter
    assert (limiter.rate, limiter.burst) == (1, 5)  # as configured
    # A slower refill than the configuration allows, so that however long the flood takes
    # on a busy machine, exactly the burst passes.
    mediator.mediator.rate_limiter = RateLimiter(0.001, 5)
    _, _, recipient, served = await _mediated(mediator, make_agent, "alice", family)
    forwards = [await _forward(sender, mediator, family, recipient) for _ in range(15)]
    answers = await asyncio.gather(*(_post(mediator, family, data) for _, data in forwards))
    accepted = [a for a in answers if a[0] == 202]
    limited = [(f, a) for f, a in zip(forwards, answers, strict=True) if a[0] == 429]
    # The burst passes; the rest of the flood does not, and nothing else happens to it.
    assert len(accepted) == 5 and len(limited) == 10
    for (forward_id, _), (_, headers, body) in limited:
        assert int(headers["Retry-After"]) >= 1
        _assert_problem(body, family, "e.p.req.rate-limited", forward_id)
    assert await queue.count(mediator.store, served) == len(accepted)
    assert (await mediator.mediator.queue.usage(served))[0] == len(accepted)


@pytest.mark.parametrize("family", FAMILIES)
async def test_a_full_queue_says_retry_later(
    make_agent: Factory, sender: Wallet, family: Family
) -> None:
    mediator = await make_agent("mediator", mediator=True, auto_grant=True, queue_max_messages=3)
    _, _, recipient, _ = await _mediated(mediator, make_agent, "alice", family)
    for _ in range(3):
        _, data = await _forward(sender, mediator, family, recipient)
        assert (await _post(mediator, family, data))[0] == 202
    before = await _snapshot(mediator)
    forward_id, data = await _forward(sender, mediator, family, recipient)
    status, headers, body = await _post(mediator, family, data)
    assert status == 503 and int(headers["Retry-After"]) >= 1
    _assert_problem(body, family, "e.p.req.queue-full", forward_id)
    assert await _snapshot(mediator) == before


async def _ask(person: Agent, connection: Any, family: Family, name: str, body: dict) -> Any:
    """Send one pickup message to the mediator; the problem report that comes back."""
    message = Message(type=type_of(family, name), body=body, id=str(uuid.uuid4()))
    with person.bus.subscribe() as events:
        await person.commit([Send(connection.id, message)])
        async with asyncio.timeout(15):
            event = await person.bus.wait_for(
                lambda e: (
                    e.topic == "problem_report.received"
                    and e.payload.get("thread_id") == message.id
                ),
                events,
            )
    return event.payload


@pytest.mark.parametrize("family", FAMILIES)
async def test_pickup_from_another_recipients_queue_is_refused(
    make_agent: Factory, sender: Wallet, family: Family
) -> None:
    mediator = await make_agent("mediator", mediator=True, auto_grant=True)
    alice, alice_conn, _, _ = await _mediated(mediator, make_agent, "alice", family)
    bob, bob_conn, bob_key, bob_served = await _mediated(mediator, make_agent, "bob", family)
    for _ in range(3):
        _, data = await _forward(sender, mediator, family, bob_key)
        assert (await _post(mediator, family, data))[0] == 202
    before = await _snapshot(mediator)
    bob_items = [i.id for i in await queue.pending(mediator.store, bob_served)]
    field = "recipient_key" if family is Family.V1 else "recipient_did"

    for name, body in (
        ("status-request", {field: bob_key}),
        ("delivery-request", {field: bob_key, "limit": 10}),
        ("messages-received", {"message_id_list": bob_items}),
    ):
        report = await _ask(alice, alice_conn, family, name, body)
        assert report["code"] == "e.p.req.forbidden", (name, report)
    assert await _snapshot(mediator) == before

    # Bob's own pickup still finds everything, and his acknowledgement empties his queue.
    await bob.mediation.request(bob_conn, pickup="poll", interval=0.2)
    await _until(lambda: _empty(mediator, bob_served), "bob's pickup", timeout=20)


async def _empty(mediator: Agent, connection_id: str) -> bool:
    return await queue.count(mediator.store, connection_id) == 0
