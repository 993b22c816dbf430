"""What a person or controller does in issue-credential: offer, accept, decline, propose.

These run outside message handling (the admin API, the CLI through it, tests), on the
running agent: they take the exchange's thread lock as a handler would, apply the rules of
:mod:`.machine`, and commit the record, the message and the event in one transaction
(:mod:`protocols.exchange.actions`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from agent.errors import LocalProtocolError
from agent.plugin import Family
from protocols.exchange.actions import Exchanges, active_connection, commit, towards
from wallet.credentials.did_keys import require_own_did
from wallet.errors import InputError

from . import formats, machine, policy
from .formats import OfferFormat, OfferInput
from .handlers import KIND
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


EXCHANGES = Exchanges(KIND)
#: The exchanges (of one connection, role or state), oldest first.
list_exchanges = EXCHANGES.list
#: The exchange once it reaches one of the states given, or ends (see Exchanges.wait_for).
wait_for = EXCHANGES.wait_for


async def _issuer(agent: Any, settings: policy.CredentialPolicy) -> str:
    if settings.issuer_did:
        return settings.issuer_did
    from . import issuing  # the signing modules load on first use

    return await issuing.default_issuer(agent.wallet)


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
    peer = await active_connection(agent, connection)
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
        detail=detail, now=time.time(), comment=comment, **towards(peer)
    )
    await commit(agent, record, "credential.offered", message, new=True)
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
    async with EXCHANGES.locked(agent, exchange_id) as record:
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
        await commit(agent, offered, "credential.offered", message)
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
    peer = await active_connection(agent, connection)
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
        detail=detail, now=time.time(), comment=comment, **towards(peer)
    )
    await commit(agent, record, "credential.proposed", message, new=True)
    return record


async def accept_offer(
    agent: Any, exchange_id: str, *, holder_did: str | None = None
) -> CredentialExchangeRecord:
    """The person accepts an offer: the credential is requested (``request-sent``)."""
    async with EXCHANGES.locked(agent, exchange_id) as record:
        reason = formats.wallet_format_error(OfferFormat(record.format))
        if reason is not None:
            raise InputError(f"cannot accept: {reason}")
        connection = await agent.connections.get(record.connection_id)
        did = holder_did or connection.my_did
        if holder_did is not None:
            await require_own_did(agent.wallet, holder_did)
        requested, message = machine.accept(record, did, time.time())
        await commit(agent, requested, "credential.offer_accepted", message)
    return requested


async def decline(
    agent: Any, exchange_id: str, *, reason: str | None = None
) -> CredentialExchangeRecord:
    """Stop an exchange (an offer, a proposal, one under way) and tell the peer."""

    def why(record: CredentialExchangeRecord) -> str:
        who = "holder" if record.role is Role.HOLDER else "issuer"
        return f"declined by the {who}" + (f": {reason}" if reason else "")

    return await EXCHANGES.stop(agent, exchange_id, why)


#: States a holder's person acts on, and an issuer's.
PENDING = {
    Role.HOLDER: (HolderState.OFFER_RECEIVED.value,),
    Role.ISSUER: (IssuerState.PROPOSAL_RECEIVED.value,),
}
