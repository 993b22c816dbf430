"""What a person or controller does in issue-credential: offer, accept, decline, propose.

These run outside message handling (the admin API, the CLI through it, tests), on the
running agent: they take the exchange's thread lock as a handler would, apply the rules of
:mod:`.machine`, and commit the record, the message and the event in one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from agent.errors import LocalProtocolError
from agent.plugin import Effect, Emit, Family, Save, Send
from wallet.credentials.did_keys import require_own_did
from wallet.errors import InputError

from . import formats, machine, policy, records
from .formats import OfferFormat, OfferInput
from .records import CredentialExchangeRecord, HolderState, IssuerState, Role

__all__ = [
    "accept_offer",
    "answer_proposal",
    "decline",
    "list_exchanges",
    "offer_credential",
    "propose_credential",
    "wait_for",
]


@contextlib.asynccontextmanager
async def thread_lock(agent: Any, thread_id: str) -> AsyncIterator[None]:
    """The lock a handler of this thread would hold, so a person's action and a peer's
    message never interleave on one exchange."""
    locks = getattr(getattr(agent, "dispatcher", None), "locks", None)
    if locks is None:
        yield
        return
    async with locks(thread_id):
        yield


def effects(record: CredentialExchangeRecord, topic: str, *sends: Send) -> list[Effect]:
    return [
        Save(records.CATEGORY, record.id, record.to_json(), record.tags()),
        *sends,
        Emit(topic, record.event()),
    ]


async def _issuer(agent: Any, settings: policy.CredentialPolicy) -> str:
    if settings.issuer_did:
        return settings.issuer_did
    from . import issuing  # the signing modules load on first use

    return await issuing.default_issuer(agent.wallet)


async def _active(agent: Any, ref: str) -> Any:
    connection = await agent.connections.lookup(ref)
    if connection.state != "completed":
        raise LocalProtocolError(
            f"the connection is {connection.state}, not completed", "e.p.conn.state"
        )
    return connection


async def offer_credential(
    agent: Any,
    connection: str,
    *,
    format: str,
    claims: Mapping[str, Any] | None = None,
    types: Sequence[str] = (),
    disclose: Sequence[str] = (),
    subject: str | None = None,
    open_subject: bool = False,
    issuer: str | None = None,
    valid_until: datetime | None = None,
    status: bool = False,
    credential: Mapping[str, Any] | None = None,
    comment: str | None = None,
) -> CredentialExchangeRecord:
    """Offer a credential to a connection; returns the new exchange (``offer-sent``).

    The subject is the connection's DID unless ``subject`` names another or ``open_subject``
    leaves it for the holder to bind; the issuer is ``issuer``, the policy's, or the agent's
    own issuer DID.
    """
    peer = await _active(agent, connection)
    try:
        fmt = OfferFormat(format)
    except ValueError:
        names = ", ".join(f.value for f in OfferFormat)
        raise InputError(f"unknown format {format[:40]!r}; use one of {names}") from None
    settings = await policy.load(agent.store)
    issuer = issuer or await _issuer(agent, settings)
    await require_own_did(agent.wallet, issuer)
    if open_subject:
        subject = None
    elif subject is None:
        subject = peer.their_did
    now = datetime.now(UTC)
    spec = OfferInput(
        format=fmt,
        issuer=issuer,
        subject=subject,
        claims=dict(claims or {}),
        types=tuple(types),
        disclose=tuple(disclose),
        valid_until=valid_until,
        status=status,
        credential=credential,
    )
    # Read back as a peer would: what we offer passes our own checks.
    detail = formats.read_detail(formats.build_offer(spec, now))
    record, message = machine.offer(
        connection_id=peer.id,
        family=Family(peer.family),
        detail=detail,
        now=time.time(),
        comment=comment,
        their_label=peer.their_label,
    )
    await agent.commit(effects(record, "credential.offered", Send(peer.id, message)))
    return record


async def answer_proposal(
    agent: Any,
    exchange_id: str,
    *,
    claims: Mapping[str, Any] | None = None,
    types: Sequence[str] | None = None,
    status: bool = False,
    valid_until: datetime | None = None,
    comment: str | None = None,
) -> CredentialExchangeRecord:
    """Answer a holder's proposal with an offer (its claims, or the ones given)."""
    record = await records.get(agent.store, exchange_id)
    async with thread_lock(agent, record.thread_id):
        record = await records.get(agent.store, exchange_id)
        if record.role is not Role.ISSUER or record.state != IssuerState.PROPOSAL_RECEIVED:
            raise LocalProtocolError(
                f"exchange {exchange_id} awaits no offer", "e.p.msg.unexpected"
            )
        proposal = formats.read_detail(machine._stored(record.proposal))
        summary = proposal.summary()
        settings = await policy.load(agent.store)
        issuer = await _issuer(agent, settings)
        spec = OfferInput(
            format=proposal.format,
            issuer=issuer,
            subject=proposal.subject,
            claims=dict(claims if claims is not None else summary["claims"]),
            types=tuple(types if types is not None else [t for t in summary["types"] if t]),
            disclose=tuple(proposal.disclosable),
            valid_until=valid_until,
            status=status,
        )
        detail = formats.read_detail(formats.build_offer(spec, datetime.now(UTC)))
        offered, message = machine.offer(
            connection_id=record.connection_id,
            family=Family(record.family),
            detail=detail,
            now=time.time(),
            comment=comment,
            answering=record,
        )
        await agent.commit(
            effects(offered, "credential.offered", Send(record.connection_id, message))
        )
    return offered


async def propose_credential(
    agent: Any,
    connection: str,
    *,
    format: str,
    claims: Mapping[str, Any],
    types: Sequence[str] = (),
    disclose: Sequence[str] = (),
    comment: str | None = None,
) -> CredentialExchangeRecord:
    """Ask a connection for a credential saying ``claims`` about our DID with it."""
    peer = await _active(agent, connection)
    try:
        fmt = OfferFormat(format)
    except ValueError:
        raise InputError(f"unknown format {format[:40]!r}") from None
    spec = OfferInput(
        format=fmt,
        issuer=peer.their_did,  # the issuer decides; a proposal names who is asked
        subject=peer.my_did,
        claims=dict(claims),
        types=tuple(types),
        disclose=tuple(disclose),
    )
    detail = formats.read_detail(formats.build_offer(spec, datetime.now(UTC)))
    record, message = machine.propose(
        connection_id=peer.id,
        family=Family(peer.family),
        detail=detail,
        now=time.time(),
        comment=comment,
        their_label=peer.their_label,
    )
    await agent.commit(effects(record, "credential.proposed", Send(peer.id, message)))
    return record


async def accept_offer(
    agent: Any, exchange_id: str, *, holder_did: str | None = None
) -> CredentialExchangeRecord:
    """The person accepts an offer: the credential is requested (``request-sent``)."""
    record = await records.get(agent.store, exchange_id)
    async with thread_lock(agent, record.thread_id):
        record = await records.get(agent.store, exchange_id)
        reason = formats.wallet_format_error(OfferFormat(record.format))
        if reason is not None:
            raise InputError(f"cannot accept: {reason}")
        connection = await agent.connections.get(record.connection_id)
        did = holder_did or connection.my_did
        if holder_did is not None:
            await require_own_did(agent.wallet, holder_did)
        requested, message = machine.accept(record, did, time.time())
        await agent.commit(
            effects(requested, "credential.offer_accepted", Send(record.connection_id, message))
        )
    return requested


async def decline(
    agent: Any, exchange_id: str, *, reason: str | None = None
) -> CredentialExchangeRecord:
    """Stop an exchange (an offer, a proposal, one under way) and tell the peer."""
    record = await records.get(agent.store, exchange_id)
    async with thread_lock(agent, record.thread_id):
        record = await records.get(agent.store, exchange_id)
        who = "holder" if record.role is Role.HOLDER else "issuer"
        comment = f"declined by the {who}" + (f": {reason}" if reason else "")
        abandoned, report = machine.abandon(record, machine.ABANDONED, comment, time.time())
        sends = [Send(record.connection_id, report)] if report is not None else []
        await agent.commit(effects(abandoned, "credential.abandoned", *sends))
    return abandoned


async def list_exchanges(
    agent: Any,
    *,
    connection_id: str | None = None,
    role: str | None = None,
    state: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[CredentialExchangeRecord]:
    query: dict[str, str] = {}
    if connection_id:
        query["connection_id"] = connection_id
    if role:
        query["role"] = Role(role).value
    if state:
        query["state"] = state
    found = await agent.store.find(
        records.CATEGORY, query or None, order_by="~created", limit=limit, offset=offset
    )
    return [CredentialExchangeRecord.from_json(r.json()) for r in found]


async def follow(
    agent: Any,
    exchange_id: str,
    wanted: Collection[str],
    queue: asyncio.Queue[Any],
    *,
    load: Callable[[], Awaitable[Any]],
    topic_prefix: str,
    abandon: Callable[[Any, Mapping[str, Any]], Awaitable[Any]],
) -> Any:
    """Wait on ``queue`` until the exchange reaches a state in ``wanted``.

    A peer may answer with a problem report of another protocol (report-problem, or an Aries
    notification) that our handlers never see as theirs; one on the exchange's thread and
    connection abandons it here, so nobody waits for an answer that will not come.
    """
    record = await load()
    thread, connection = record.thread_id, record.connection_id

    def relevant(e: Any) -> bool:
        if e.topic == "problem_report.received":
            p = e.payload
            return bool(p.get("thread_id") == thread and p.get("connection_id") == connection)
        return bool(
            e.payload.get("exchange_id") == exchange_id and e.topic.startswith(topic_prefix)
        )

    while record.state not in wanted:
        event = await agent.bus.wait_for(relevant, queue)
        record = await load()
        if event.topic == "problem_report.received" and not record.finished:
            record = await abandon(record, event.payload)
    return record


async def _abandoned_by_peer(
    agent: Any, record: CredentialExchangeRecord, problem: Mapping[str, Any]
) -> CredentialExchangeRecord:
    async with thread_lock(agent, record.thread_id):
        record = await records.get(agent.store, record.id)
        if record.finished:
            return record
        error = f"peer: {problem.get('code')}: {problem.get('comment')}"[:1000]
        ended = record.evolve(time.time(), state="abandoned", error=error)
        await agent.commit(effects(ended, "credential.abandoned"))
        return ended


async def wait_for(
    agent: Any,
    exchange_id: str,
    states: Collection[str],
    *,
    timeout: float,
    queue: asyncio.Queue[Any] | None = None,
) -> CredentialExchangeRecord:
    """The exchange once it reaches one of ``states`` (or ends); ``TimeoutError`` after
    ``timeout`` seconds. Pass a ``queue`` subscribed before the action that is awaited."""
    wanted = set(states) | {"abandoned"}

    async def run(q: asyncio.Queue[Any]) -> CredentialExchangeRecord:
        return await follow(
            agent,
            exchange_id,
            wanted,
            q,
            load=lambda: records.get(agent.store, exchange_id),
            topic_prefix="credential.",
            abandon=lambda r, p: _abandoned_by_peer(agent, r, p),
        )

    async with asyncio.timeout(timeout):
        if queue is not None:
            return await run(queue)
        with agent.bus.subscribe() as q:
            return await run(q)


#: States a holder's person acts on, and an issuer's.
PENDING = {
    Role.HOLDER: (HolderState.OFFER_RECEIVED.value,),
    Role.ISSUER: (IssuerState.PROPOSAL_RECEIVED.value,),
}
