"""The mediation parts that need no network: forwards, deliveries, grants and updates as
read from the wire; the queue on a real store (limits, order, acknowledgement, expiry); the
rate limiter; refusals and their problem reports; the live-delivery window."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agent.errors import RemoteProtocolError
from agent.mediation import queue
from agent.mediation.mediator import IN_FLIGHT_SECONDS, MAX_KNOWN, Flight, Mediator
from agent.mediation.refusals import (
    ForwardRefused,
    MessageTooLarge,
    QueueFull,
    RateLimited,
    RateLimiter,
    UnknownRecipient,
)
from agent.plugin import Family
from protocols.coordinate_mediation import messages as cm
from protocols.pickup import MAX_LIMIT, build_delivery, read_attachments
from protocols.routing import parse_forward
from wallet import Wallet
from wallet.did import create_did_key
from wallet.didcomm.message import Message, from_aries
from wallet.keys import KeyType, PrivateKey

KEY = PrivateKey.generate(KeyType.ED25519).public
VERKEY = KEY.base58
DID_KEY = create_did_key(KEY)
INNER = {"protected": "eyJ9", "iv": "aXY", "ciphertext": "Y3Q", "tag": "dGFn"}


# -- forwards ---------------------------------------------------------------------------------


def test_v1_forward_names_its_recipient_by_verkey_whatever_form_was_sent() -> None:
    for to in (VERKEY, DID_KEY, f"{DID_KEY}#{DID_KEY.removeprefix('did:key:')}"):
        forward = parse_forward({"@type": "…/forward", "to": to, "msg": INNER}, Family.V1)
        assert forward.recipient == VERKEY and forward.message == INNER


def test_v2_forward_names_its_recipient_by_did() -> None:
    did = "did:peer:2.Ez6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc"
    message = {"body": {"next": did}, "attachments": [{"data": {"json": INNER}}]}
    forward = parse_forward(message, Family.V2)
    assert forward.recipient == did and forward.message == INNER


@pytest.mark.parametrize(
    ("family", "message", "reason"),
    [
        (Family.V1, {"to": VERKEY}, "carries no message"),
        (Family.V1, {"to": VERKEY, "msg": "a string"}, "carries no message"),
        (Family.V1, {"to": "short", "msg": INNER}, "not a key"),
        (Family.V1, {"to": 42, "msg": INNER}, "not a key"),
        (Family.V1, {"to": "did:key:z6Mkxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "msg": INNER}, "not a key"),
        (Family.V2, {"body": {"next": "did:peer:2.Ez6L"}}, "needs body.next"),
        (Family.V2, {"body": {"next": "x"}, "attachments": [{"data": {"json": INNER}}]}, "DID"),
        (Family.V2, {"body": {"next": "did:x:y"}, "attachments": [{"data": {}}]}, "no JSON"),
        (Family.V2, {"body": [], "attachments": [{"data": {"json": INNER}}]}, "needs body"),
    ],
)
def test_malformed_forwards_are_refused_with_a_reason(
    family: Family, message: dict[str, Any], reason: str
) -> None:
    with pytest.raises(RemoteProtocolError, match=reason):
        parse_forward(message, family)


# -- deliveries -------------------------------------------------------------------------------


@pytest.mark.parametrize("family", [Family.V1, Family.V2])
def test_a_delivery_carries_each_queued_message_and_its_id(family: Family) -> None:
    items = [
        queue.Queued(f"id-{n}", "conn", "r", {**INNER, "n": n}, 10, 0.0, f"{n:020d}")
        for n in range(3)
    ]
    body, attached = build_delivery(family, items, None)
    if family is Family.V1:  # Aries decorators live in the body
        assert attached == [] and len(body["~attach"]) == 3
        wire = {"@type": "x", "@id": "d", **body}
        message = from_aries(wire)
    else:
        assert "~attach" not in body and len(attached) == 3
        message = Message(type="x", body=body, id="d", attachments=tuple(attached))
    read = read_attachments(family, message)
    assert [item_id for item_id, _ in read] == ["id-0", "id-1", "id-2"]
    assert [json.loads(packed)["n"] for _, packed in read] == [0, 1, 2]


@pytest.mark.parametrize(
    "attachments",
    [
        "not a list",
        [{"id": "a"}],
        [{"data": {"json": INNER}}],
        [{"id": 5, "data": {"json": INNER}}],
        [{"id": "a", "data": {"base64": "!!!"}}],
        [{"id": str(n), "data": {"json": INNER}} for n in range(MAX_LIMIT + 1)],
    ],
)
def test_a_malformed_delivery_is_refused(attachments: Any) -> None:
    message = Message(type="x", body={"attachments": attachments}, id="d")
    with pytest.raises(RemoteProtocolError):
        read_attachments(Family.V2, message)


# -- coordinate-mediation -----------------------------------------------------------------------


def test_grants_read_in_both_families() -> None:
    grant = cm.parse_grant(Family.V1, {"endpoint": "https://m.example", "routing_keys": [VERKEY]})
    assert grant.routing_keys == (DID_KEY,) and grant.endpoint == "https://m.example"
    grant = cm.parse_grant(Family.V1, {"endpoint": "https://m.example", "routing_keys": [DID_KEY]})
    assert grant.routing_keys == (DID_KEY,)
    assert cm.parse_grant(Family.V2, {"routing_did": "did:peer:2.x"}).routing_did == "did:peer:2.x"
    assert cm.parse_grant(Family.V2, {"routing_did": ["did:peer:2.y"]}).routing_keys == (
        "did:peer:2.y",
    )
    for family, body in (
        (Family.V1, {"routing_keys": [VERKEY]}),
        (Family.V1, {"endpoint": "https://m.example", "routing_keys": ["not base58 0OIl"]}),
        (Family.V1, {"endpoint": "https://m.example", "routing_keys": [VERKEY] * 11}),
        (Family.V2, {"routing_did": []}),
        (Family.V2, {"routing_did": ["https://not-a-did"]}),
    ):
        with pytest.raises(RemoteProtocolError):
            cm.parse_grant(family, body)


def test_keylist_updates_are_checked_before_anything_changes() -> None:
    ok = cm.parse_updates(Family.V1, {"updates": [{"recipient_key": DID_KEY, "action": "add"}]})
    assert ok[0].recipient == DID_KEY and cm.normalise(Family.V1, ok[0].recipient) == VERKEY
    for body in (
        {"updates": "x"},
        {"updates": [{"recipient_key": DID_KEY, "action": "replace"}]},
        {"updates": [{"recipient_key": "nope", "action": "add"}]},
        {"updates": [{"recipient_key": DID_KEY, "action": "add"}] * (cm.MAX_UPDATES + 1)},
    ):
        with pytest.raises(RemoteProtocolError):
            cm.parse_updates(Family.V1, body)


# -- refusals and the rate limiter ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("refusal", "status", "code", "retry"),
    [
        (UnknownRecipient("who?"), 404, "e.p.msg.unknown-recipient", None),
        (MessageTooLarge("big"), 413, "e.p.msg.too-large", None),
        (QueueFull("full", 60.0), 503, "e.p.req.queue-full", "60"),
        (RateLimited("slow down", 0.2), 429, "e.p.req.rate-limited", "1"),
        (ForwardRefused("bad", "e.p.msg.invalid"), 400, "e.p.msg.invalid", None),
    ],
)
def test_a_refused_forward_answers_in_its_family(
    refusal: ForwardRefused, status: int, code: str, retry: str | None
) -> None:
    assert refusal.http_status == status
    assert refusal.headers().get("Retry-After") == retry
    v1 = refusal.about(Family.V1, {"@id": "fwd-1"}).answer()
    assert v1["problem_report"]["description"] == {"code": code, "en": str(refusal)}
    assert v1["problem_report"]["~thread"] == {"thid": "fwd-1"}
    assert v1["error"] == str(refusal)
    v2 = refusal.about(Family.V2, {"id": "x" * 300}).problem_report
    assert v2["body"] == {"code": code, "comment": str(refusal)}
    assert "pthid" not in v2  # an id that long is not echoed


def test_rate_limiter_lets_a_burst_through_then_refills() -> None:
    limiter = RateLimiter(rate=2, burst=3)
    assert [limiter.take("a", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a", now=0.0) == pytest.approx(0.5)  # one token in half a second
    assert limiter.take("b", now=0.0) == 0.0  # another address has its own bucket
    assert limiter.take("a", now=0.5) == 0.0
    assert limiter.take("a", now=0.5) > 0
    assert limiter.take("a", now=100.0) == 0.0  # refilled, never above the burst
    assert [limiter.take("a", now=100.0) for _ in range(3)][-1] > 0
    assert RateLimiter(rate=0, burst=1).take("a") == 0.0  # off
    with pytest.raises(ValueError):
        RateLimiter(rate=-1, burst=1)


def test_rate_limiter_forgets_the_least_recent_clients_first() -> None:
    limiter = RateLimiter(rate=1, burst=1, max_clients=2)
    for client in ("a", "b", "c"):
        limiter.take(client, now=0.0)
    assert limiter.take("a", now=0.0) == 0.0  # "a" was forgotten: a fresh, full bucket
    assert limiter.take("c", now=0.0) > 0


# -- the queue on a store --------------------------------------------------------------------------


@pytest.fixture
async def store() -> AsyncIterator[Any]:
    async with await Wallet.create("sqlite://:memory:", raw_key=os.urandom(32)) as wallet:
        yield wallet.store


async def _usage(store: Any, connection_id: str) -> dict[str, int]:
    return json.loads((await store.get(queue.USAGE, connection_id)).value)


async def test_the_queue_keeps_order_and_its_limits(store: Any) -> None:
    limits = queue.Limits(max_messages=3, max_bytes=10_000, max_message_bytes=1000)
    items = [
        await queue.enqueue(
            store, connection_id="c1", recipient="r1", message={"n": n}, limits=limits
        )
        for n in range(3)
    ]
    with pytest.raises(QueueFull):
        await queue.enqueue(store, connection_id="c1", recipient="r1", message={}, limits=limits)
    with pytest.raises(MessageTooLarge):
        await queue.enqueue(
            store, connection_id="c2", recipient="r2", message={"x": "y" * 1000}, limits=limits
        )
    pending = await queue.pending(store, "c1")
    assert [i.message["n"] for i in pending] == [0, 1, 2]
    after = await queue.pending(store, "c1", after=items[0].seq)
    assert [i.message["n"] for i in after] == [1, 2]
    assert await _usage(store, "c1") == {"count": 3, "bytes": sum(i.size for i in items)}
    assert await queue.count(store, "c2") == 0


async def test_the_byte_limit_counts_what_is_held(store: Any) -> None:
    limits = queue.Limits(max_bytes=1024, max_message_bytes=1024)
    big = {"x": "y" * 600}
    first = await queue.enqueue(store, connection_id="c", recipient="r", message=big, limits=limits)
    with pytest.raises(QueueFull, match="bytes"):
        await queue.enqueue(store, connection_id="c", recipient="r", message=big, limits=limits)
    await queue.remove(store, "c", [first.id])  # room again once it is taken
    await queue.enqueue(store, connection_id="c", recipient="r", message=big, limits=limits)


async def test_acknowledging_removes_only_ones_own(store: Any) -> None:
    limits = queue.Limits()
    mine = [
        await queue.enqueue(store, connection_id="me", recipient="r", message={}, limits=limits)
        for _ in range(2)
    ]
    theirs = await queue.enqueue(
        store, connection_id="them", recipient="s", message={}, limits=limits
    )
    with pytest.raises(RemoteProtocolError, match="not in your queue") as refused:
        await queue.remove(store, "me", [mine[0].id, theirs.id])
    assert refused.value.problem_code == "e.p.req.forbidden"
    assert await queue.count(store, "me") == 2 and await queue.count(store, "them") == 1
    # An id acknowledged twice, or never queued, is no error: acknowledgements may repeat.
    assert await queue.remove(store, "me", [mine[0].id, mine[0].id, "unknown"]) == 1
    assert await queue.remove(store, "me", [mine[0].id]) == 0
    assert await _usage(store, "me") == {"count": 1, "bytes": mine[1].size}


async def test_old_messages_expire(store: Any) -> None:
    limits = queue.Limits(max_age=60)
    held = await queue.enqueue(store, connection_id="c", recipient="r", message={}, limits=limits)
    assert await queue.purge_expired(store, limits, held.received + 30) == 0
    assert await queue.purge_expired(store, limits, held.received + 61) == 1
    assert await queue.count(store, "c") == 0 and await _usage(store, "c") == {
        "count": 0,
        "bytes": 0,
    }


async def test_routes_belong_to_one_connection(store: Any) -> None:
    assert await queue.add_route(store, VERKEY, "c1")
    assert await queue.add_route(store, VERKEY, "c1")  # again: fine
    assert not await queue.add_route(store, VERKEY, "c2")  # taken
    assert not await queue.remove_route(store, VERKEY, "c2")
    long_did = "did:peer:2." + "E" * 400  # longer than a record id may be: filed by digest
    assert await queue.add_route(store, long_did, "c2")
    assert await queue.route_for(store, long_did) == "c2"
    assert sorted(await queue.routes_of(store, "c2")) == [long_did]
    assert await queue.remove_route(store, VERKEY, "c1")
    assert await queue.route_for(store, VERKEY) is None


@pytest.mark.parametrize("shared", [False, True], ids=["own-store", "shared-store"])
async def test_forwards_arriving_together_share_a_transaction_and_the_limits(
    store: Any, shared: bool
) -> None:
    mine = queue.Queue(store, queue.Limits(max_messages=5), shared=shared)
    outcomes = await asyncio.gather(
        *(mine.enqueue("c", "r", {"n": n}) for n in range(8)), return_exceptions=True
    )
    taken = [o for o in outcomes if isinstance(o, queue.Queued)]
    assert len(taken) == 5 and all(isinstance(o, QueueFull) for o in outcomes[5:])
    assert [i.message["n"] for i in await queue.pending(store, "c")] == [0, 1, 2, 3, 4]
    assert [i.seq for i in taken] == sorted(i.seq for i in taken)
    assert await mine.usage("c") == (5, sum(i.size for i in taken))
    assert await mine.remove("c", [taken[0].id]) == 1
    assert await mine.usage("c") == (4, sum(i.size for i in taken[1:]))
    # A process starting on this queue counts what it holds (a page at a time).
    assert await queue.Queue(store, queue.Limits(), shared=shared).usage("c") == (
        4,
        sum(i.size for i in taken[1:]),
    )
    assert await queue._measure(store, "c", page=3) == [4, sum(i.size for i in taken[1:])]


async def test_a_remembered_counter_that_moved_is_read_again(store: Any) -> None:
    limits = queue.Limits(max_messages=3)
    mine = queue.Queue(store, limits, shared=True)
    first = await mine.enqueue("c", "r", {"n": 1})  # remembered: count 1
    # Another process (or an expiry) moves the counter behind this one's back.
    await queue.enqueue(store, connection_id="c", recipient="r", message={"n": 2}, limits=limits)
    await mine.enqueue("c", "r", {"n": 3})
    with pytest.raises(QueueFull):
        await mine.enqueue("c", "r", {"n": 4})
    assert await queue.remove(store, "c", [first.id]) == 1
    held = await queue.pending(store, "c")
    assert await mine.remove("c", [held[0].id], {held[0].id: held[0].size}) == 1
    assert await _usage(store, "c") == {"count": 1, "bytes": held[1].size}


@pytest.mark.parametrize("shared", [False, True], ids=["own-store", "shared-store"])
async def test_an_acknowledgement_by_known_size_counts_once(store: Any, shared: bool) -> None:
    mine = queue.Queue(store, queue.Limits(), shared=shared)
    a, b, c = [await mine.enqueue("me", "r", {"n": n}) for n in range(3)]
    theirs = await mine.enqueue("them", "s", {})
    sizes = {a.id: a.size, b.id: b.size}  # delivered by this process: not read back
    assert await mine.remove("me", [a.id, b.id], sizes) == 2
    # A repeat, or an id another process removed meanwhile, counts nothing.
    assert await mine.remove("me", [a.id, b.id], sizes) == 0
    with pytest.raises(RemoteProtocolError, match="not in your queue"):
        await mine.remove("me", [c.id, theirs.id])  # read back: another's refuses all
    assert await mine.usage("me") == (1, c.size)
    assert await mine.remove("me", [c.id, c.id, "unknown"]) == 1
    assert await mine.usage("me") == (0, 0) and await queue.count(store, "me") == 0


async def test_messages_queued_in_the_earlier_record_shape_are_still_served(store: Any) -> None:
    old = {
        "id": "old-1",
        "connection_id": "c",
        "recipient": "r",
        "message": INNER,
        "size": 77,
        "received": 1.0,
        "seq": "00000000000000000001",
    }
    tags = {"connection_id": "c", "recipient": "r", "~seq": old["seq"]}
    await store.add(queue.CATEGORY, "old-1", json.dumps(old).encode(), tags)
    await store.add(queue.USAGE, "c", b'{"count":1,"bytes":77}')
    new = await queue.enqueue(
        store, connection_id="c", recipient="r", message=INNER, limits=queue.Limits()
    )
    first, second = await queue.pending(store, "c")
    assert (first.id, first.message, first.size) == ("old-1", INNER, 77)
    assert json.loads(first.data) == json.loads(second.data) == INNER
    assert second.id == new.id and second.size == len(second.data)
    assert await queue.remove(store, "c", ["old-1", new.id]) == 2
    assert await _usage(store, "c") == {"count": 0, "bytes": 0}


# -- the live-delivery window --------------------------------------------------------------------


def test_the_window_counts_deliveries_and_resends_after_silence() -> None:
    flight = Flight(cursor="5")
    flight.items = {"a": (100.0, 1, 10), "b": (100.0, 1, 10), "c": (101.0, 2, 10)}
    assert flight.deliveries() == 2
    assert not flight.overdue(100.0 + IN_FLIGHT_SECONDS - 1)
    assert flight.overdue(100.0 + IN_FLIGHT_SECONDS)
    flight.restart()
    assert flight.cursor is None and flight.items == {}


def _queued(seq: int) -> queue.Queued:
    return queue.Queued(str(seq), "c", "r", {}, 1, 0.0, f"{seq:020d}")


def test_a_flight_remembers_what_was_queued_here_without_repeating_a_read() -> None:
    flight = Flight()
    flight.queued(_queued(1))  # queued while the store is being read
    flight.read([_queued(1)], complete=True)  # the read saw it too: once only
    assert [k.id for k in flight.known] == ["1"] and flight.synced
    flight.read([_queued(1)], complete=True)
    flight.queued(_queued(2))
    flight.queued(_queued(2))  # the one a later read already had
    assert [k.id for k in flight.known] == ["1", "2"]
    flight.cursor = "00000000000000000002"
    del flight.known[:2]
    flight.queued(_queued(2))  # sent already
    flight.queued(_queued(3))
    assert [k.id for k in flight.known] == ["3"]
    flight.restart()  # resend from the head: the store is read again
    assert not flight.synced
    flight.read([_queued(n) for n in (1, 2, 3)], complete=False)
    assert [k.id for k in flight.known] == ["1", "2", "3"] and not flight.synced
    # What it remembers is bounded: past it, the store is read again.
    flight = Flight(synced=True)
    for n in range(1, MAX_KNOWN + 2):
        flight.queued(_queued(n))
    assert flight.known == [] and not flight.synced


async def test_a_live_recipient_hears_a_status_only_when_its_queue_empties(store: Any) -> None:
    class Agent:
        pass

    agent = Agent()
    agent.store = store  # type: ignore[attr-defined]
    mediator = Mediator(agent, auto_grant=True)
    await mediator.close()  # no delivery lanes: only the bookkeeping is under test
    assert await mediator.status_after_ack("c")  # a polling recipient: always
    mediator.set_live("c", True)
    assert not await mediator.status_after_ack("c")  # it heard of nothing queued
    mediator.reported("c", 3)
    held = await queue.enqueue(
        store, connection_id="c", recipient="r", message={}, limits=queue.Limits()
    )
    assert not await mediator.status_after_ack("c")  # more is coming live anyway
    await queue.remove(store, "c", [held.id])
    assert await mediator.status_after_ack("c")  # the queue it heard of is empty now
    mediator.reported("c", 0)
    assert not await mediator.status_after_ack("c")
