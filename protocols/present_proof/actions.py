"""What a person or controller does in present-proof: ask for a proof, and answer one.

Like :mod:`protocols.issue_credential.actions`, these take the exchange's thread lock and
commit the record, the message and the event together (:mod:`protocols.exchange.actions`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from agent.errors import LocalProtocolError
from agent.plugin import Family
from protocols.exchange import rules
from protocols.exchange.actions import Exchanges, active_connection, commit, towards
from wallet.errors import InputError

from . import definitions, machine
from .handlers import KIND, audience_for, verifier_of
from .records import PresentationExchangeRecord, ProverState, Role, VerifierState

#: ``domain`` left out of a request: the verifier's own DID in the relationship is used.
OWN_DID = object()


EXCHANGES = Exchanges(KIND)
#: The exchanges (of one connection, role or state), oldest first.
list_exchanges = EXCHANGES.list
#: The exchange once it reaches one of the states given, or is abandoned.
wait_for = EXCHANGES.wait_for


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
    peer = await active_connection(agent, connection)
    if definition is not None and (claims or types):
        raise InputError("give a presentation definition or claims, not both")
    if domain is OWN_DID:
        domain = _own_domain(peer)
    # Checked once, as the prover will read it (not again by each step on the way out).
    if definition is None:
        detail = definitions.claims_request(
            claims, format=format, types=types, challenge=_challenge(), domain=domain
        )
    else:
        detail = definitions.make_request(definition, challenge=_challenge(), domain=domain)
    record, message = machine.request(
        attached=detail.attached(), now=time.time(), comment=comment, checked=True, **towards(peer)
    )
    await commit(agent, record, "present_proof.requested", message, new=True)
    return record


async def answer_proposal(agent: Any, exchange_id: str) -> PresentationExchangeRecord:
    """Answer a prover's proposal with a request for what it proposed (a fresh challenge)."""
    async with EXCHANGES.locked(agent, exchange_id) as record:
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
        await commit(agent, requested, "present_proof.requested", message)
    return requested


async def accept_request(
    agent: Any, exchange_id: str, *, choices: Mapping[str, str] | None = None
) -> PresentationExchangeRecord:
    """The person agrees: the previewed presentation is made and sent. ``choices`` (input
    descriptor id → credential id) picks other candidates; the preview is then made anew."""
    async with EXCHANGES.locked(agent, exchange_id) as record:
        rules.require(record, Role.PROVER, ProverState.REQUEST_RECEIVED, "a request to answer")
        from . import presenting

        detail = machine.stored_request(record)
        peer = await agent.connections.get(record.connection_id)
        audience = audience_for(peer)
        selection = record.selection or []
        held = None
        if choices:
            prepared = await presenting.prepare(
                agent.wallet, detail, verifier=verifier_of(peer), audience=audience, choices=choices
            )
            selection, held = prepared.selection, prepared.held
            record = machine.previewed(record, selection, prepared.preview, time.time())
        if not selection:
            raise InputError("no held credentials answer this request; decline it instead")
        attached = await presenting.present(
            agent.wallet, detail, selection, audience=audience, now=datetime.now(UTC), held=held
        )
        sent, message = machine.present(record, attached, time.time())
        await commit(agent, sent, "present_proof.presentation_sent", message)
    return sent


async def decline(
    agent: Any, exchange_id: str, *, reason: str | None = None
) -> PresentationExchangeRecord:
    """Refuse a request (or stop an exchange of ours): the peer gets a problem report."""

    def why(record: PresentationExchangeRecord) -> str:
        who = "the holder declined to present" if record.role is Role.PROVER else "withdrawn"
        return who + (f": {reason}" if reason else "")

    return await EXCHANGES.stop(agent, exchange_id, why)


PENDING = {
    Role.PROVER: (ProverState.REQUEST_RECEIVED.value,),
    Role.VERIFIER: (VerifierState.PROPOSAL_RECEIVED.value,),
}
