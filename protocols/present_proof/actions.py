"""What a person or controller does in present-proof: ask for a proof, and answer one.

Like :mod:`protocols.issue_credential.actions`, these take the exchange's thread lock and
commit the record, the message and the event together.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from agent.errors import LocalProtocolError
from agent.plugin import Effect, Emit, Family, Save, Send
from protocols.issue_credential.actions import follow, thread_lock
from wallet.errors import InputError

from . import definitions, machine, records
from .handlers import audience_for, verifier_of
from .records import PresentationExchangeRecord, ProverState, Role, VerifierState

#: ``domain`` left out of a request: the verifier's own DID in the relationship is used.
OWN_DID = object()


def effects(record: PresentationExchangeRecord, topic: str, *sends: Send) -> list[Effect]:
    return [
        Save(records.CATEGORY, record.id, record.to_json(), record.tags()),
        *sends,
        Emit(topic, record.event()),
    ]


async def _active(agent: Any, ref: str) -> Any:
    connection = await agent.connections.lookup(ref)
    if connection.state != "completed":
        raise LocalProtocolError(
            f"the connection is {connection.state}, not completed", "e.p.conn.state"
        )
    return connection


def _challenge() -> str:
    """A fresh challenge: a random UUID4 (122 bits from the OS's CSPRNG), the form ACA-Py
    writes and demands -- 1.7 refuses a request whose challenge is not a UUID4."""
    return str(uuid.uuid4())


def _own_domain(connection: Any) -> str:
    class _Mine:
        id = connection.id
        their_did = connection.my_did

    return audience_for(_Mine())


async def request_proof(
    agent: Any,
    connection: str,
    *,
    definition: Mapping[str, Any] | None = None,
    claims: Sequence[str] = (),
    format: str | None = None,
    types: Sequence[str] = (),
    domain: Any = OWN_DID,
    comment: str | None = None,
) -> PresentationExchangeRecord:
    """Ask a connection for a presentation: a DIF PE ``definition``, or one made from
    ``claims`` (and ``format`` / ``types``). A fresh challenge is made for every request;
    ``domain`` defaults to our DID in the relationship (``None`` leaves it out)."""
    peer = await _active(agent, connection)
    if definition is None:
        definition = definitions.simple_definition(claims, format=format, types=types)
    elif claims or types:
        raise InputError("give a presentation definition or claims, not both")
    if domain is OWN_DID:
        domain = _own_domain(peer)
    attached = definitions.request_attachment(definition, challenge=_challenge(), domain=domain)
    record, message = machine.request(
        connection_id=peer.id,
        family=Family(peer.family),
        attached=attached,
        now=time.time(),
        comment=comment,
        their_label=peer.their_label,
    )
    await agent.commit(effects(record, "present_proof.requested", Send(peer.id, message)))
    return record


async def answer_proposal(agent: Any, exchange_id: str) -> PresentationExchangeRecord:
    """Answer a prover's proposal with a request for what it proposed (a fresh challenge)."""
    record = await records.get(agent.store, exchange_id)
    async with thread_lock(agent, record.thread_id):
        record = await records.get(agent.store, exchange_id)
        proposed = (record.proposal or {}).get("presentation_definition")
        if not isinstance(proposed, Mapping):
            raise LocalProtocolError(f"exchange {exchange_id} has no proposal to answer")
        peer = await agent.connections.get(record.connection_id)
        attached = definitions.request_attachment(
            proposed, challenge=_challenge(), domain=_own_domain(peer)
        )
        requested, message = machine.request(
            connection_id=record.connection_id,
            family=Family(record.family),
            attached=attached,
            now=time.time(),
            answering=record,
        )
        await agent.commit(
            effects(requested, "present_proof.requested", Send(record.connection_id, message))
        )
    return requested


async def accept_request(
    agent: Any, exchange_id: str, *, choices: Mapping[str, str] | None = None
) -> PresentationExchangeRecord:
    """The person agrees: the previewed presentation is made and sent. ``choices`` (input
    descriptor id → credential id) picks other candidates; the preview is then made anew."""
    record = await records.get(agent.store, exchange_id)
    async with thread_lock(agent, record.thread_id):
        record = await records.get(agent.store, exchange_id)
        if record.role is not Role.PROVER or record.state != ProverState.REQUEST_RECEIVED:
            raise LocalProtocolError(
                f"exchange {exchange_id} is {record.state}, not a request to answer",
                "e.p.msg.unexpected",
            )
        from . import presenting

        detail = machine.stored_request(record)
        peer = await agent.connections.get(record.connection_id)
        audience = audience_for(peer)
        selection = record.selection or []
        if choices:
            prepared = await presenting.prepare(
                agent.wallet, detail, verifier=verifier_of(peer), audience=audience, choices=choices
            )
            selection = prepared.selection
            record = machine.previewed(record, selection, prepared.preview, time.time())
        if not selection:
            raise InputError("no held credentials answer this request; decline it instead")
        attached = await presenting.present(
            agent.wallet, detail, selection, audience=audience, now=datetime.now(UTC)
        )
        sent, message = machine.present(record, attached, time.time())
        await agent.commit(
            effects(sent, "present_proof.presentation_sent", Send(record.connection_id, message))
        )
    return sent


async def decline(
    agent: Any, exchange_id: str, *, reason: str | None = None
) -> PresentationExchangeRecord:
    """Refuse a request (or stop an exchange of ours): the peer gets a problem report."""
    record = await records.get(agent.store, exchange_id)
    async with thread_lock(agent, record.thread_id):
        record = await records.get(agent.store, exchange_id)
        who = "the holder declined to present" if record.role is Role.PROVER else "withdrawn"
        comment = who + (f": {reason}" if reason else "")
        abandoned, report = machine.abandon(record, machine.ABANDONED, comment, time.time())
        await agent.commit(
            effects(abandoned, "present_proof.abandoned", Send(record.connection_id, report))
        )
    return abandoned


async def list_exchanges(
    agent: Any,
    *,
    connection_id: str | None = None,
    role: str | None = None,
    state: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[PresentationExchangeRecord]:
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
    return [PresentationExchangeRecord.from_json(r.json()) for r in found]


async def _abandoned_by_peer(
    agent: Any, record: PresentationExchangeRecord, problem: Mapping[str, Any]
) -> PresentationExchangeRecord:
    async with thread_lock(agent, record.thread_id):
        record = await records.get(agent.store, record.id)
        if record.finished:
            return record
        error = f"peer: {problem.get('code')}: {problem.get('comment')}"[:1000]
        ended = record.evolve(time.time(), state="abandoned", error=error)
        await agent.commit(effects(ended, "present_proof.abandoned"))
        return ended


async def wait_for(
    agent: Any,
    exchange_id: str,
    states: Collection[str],
    *,
    timeout: float,
    queue: asyncio.Queue[Any] | None = None,
) -> PresentationExchangeRecord:
    """The exchange once it reaches one of ``states`` (or is abandoned)."""
    wanted = set(states) | {"abandoned"}

    async def run(q: asyncio.Queue[Any]) -> PresentationExchangeRecord:
        return await follow(
            agent,
            exchange_id,
            wanted,
            q,
            load=lambda: records.get(agent.store, exchange_id),
            topic_prefix="present_proof.",
            abandon=lambda r, p: _abandoned_by_peer(agent, r, p),
        )

    async with asyncio.timeout(timeout):
        if queue is not None:
            return await run(queue)
        with agent.bus.subscribe() as q:
            return await run(q)


PENDING = {
    Role.PROVER: (ProverState.REQUEST_RECEIVED.value,),
    Role.VERIFIER: (VerifierState.PROPOSAL_RECEIVED.value,),
}
