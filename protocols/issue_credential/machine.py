"""The rules of issue-credential, per role, as pure functions: (record, message, now) in,
(next record, message to send) out. No store, no clock, no network: the handlers and actions
load records, do the wallet's work (signing, verifying, storing) and apply what comes back.

Issuer: (proposal-received) → offer-sent → request-received → credential-issued → done.
Holder: (proposal-sent) → offer-received → request-sent → credential-received → done.
Either side may abandon with a problem report; receiving one abandons the exchange too.
moi issues only what it offered: a request that starts an exchange is refused.
"""

from __future__ import annotations

import json
from typing import Any

from agent.errors import LocalProtocolError
from agent.plugin import Family
from protocols.exchange import rules
from protocols.exchange.attachments import Attached, pick
from protocols.exchange.records import Opening
from wallet.didcomm.message import Message

from . import formats
from .formats import DETAIL_FORMATS, Detail
from .messages import (
    Ack,
    IssueCredential,
    OfferCredential,
    PreviewAttribute,
    ProblemReport,
    ProposeCredential,
    RequestCredential,
)
from .records import CredentialExchangeRecord, HolderState, IssuerState, Role

#: Problem code for an exchange the person (or the rules) stopped.
ABANDONED = "issuance-abandoned"


def _preview(detail: Detail) -> tuple[PreviewAttribute, ...]:
    out = []
    for name, value in detail.summary()["claims"].items():
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        out.append(PreviewAttribute(str(name), text))
    return tuple(out)


def _kept(detail: Detail, slot: str) -> dict[str, Any]:
    """The record fields that keep ``detail`` (as ``slot``: offer or proposal): its format, the
    detail itself, and the summary the person reads."""
    return {"format": detail.format.value, slot: detail.to_json(), "summary": detail.summary()}


# -- issuer --------------------------------------------------------------------------------------


def offer(
    *,
    connection_id: str,
    family: Family,
    detail: Detail,
    now: float,
    comment: str | None = None,
    their_label: str | None = None,
    answering: CredentialExchangeRecord | None = None,
) -> tuple[CredentialExchangeRecord, Message]:
    """Offer a credential; starts an exchange, or answers a proposal (``answering``)."""
    message = OfferCredential(
        attachments=(detail.attached,), comment=comment, preview=_preview(detail)
    ).to_message(family, thid=answering.thread_id if answering else None)
    if answering is not None:
        rules.require(answering, Role.ISSUER, IssuerState.PROPOSAL_RECEIVED, "awaiting an offer")
        record = answering.evolve(now, state=IssuerState.OFFER_SENT.value, **_kept(detail, "offer"))
        return record, message
    opening = Opening(connection_id, family, message.thread_id, now, their_label)
    state = IssuerState.OFFER_SENT.value
    record = CredentialExchangeRecord.opened(
        opening, Role.ISSUER, state, comment=comment, **_kept(detail, "offer")
    )
    return record, message


def on_proposal(
    *,
    connection_id: str,
    family: Family,
    thread_id: str,
    proposal: ProposeCredential,
    now: float,
    their_label: str | None = None,
) -> CredentialExchangeRecord:
    """A holder proposes a credential: kept for the person to answer with an offer (or not)."""
    detail = formats.read_detail(pick(proposal.attachments, DETAIL_FORMATS))
    opening = Opening(connection_id, family, thread_id, now, their_label)
    state = IssuerState.PROPOSAL_RECEIVED.value
    return CredentialExchangeRecord.opened(
        opening, Role.ISSUER, state, comment=proposal.comment, **_kept(detail, "proposal")
    )


def on_request(
    record: CredentialExchangeRecord | None, request: RequestCredential
) -> tuple[CredentialExchangeRecord, Detail]:
    """Check a request against our offer; returns the detail to sign."""
    record = rules.expect(
        record,
        Role.ISSUER,
        IssuerState.OFFER_SENT,
        missing="moi issues only what it offered: send a proposal first",
    )
    offered = formats.read_detail(_stored(record.offer))
    asked = formats.check_request(offered, pick(request.attachments, (offered.attached.format,)))
    return record, asked


def issued(
    record: CredentialExchangeRecord,
    request: Detail,
    credential: Attached,
    credential_id: str,
    now: float,
) -> tuple[CredentialExchangeRecord, Message]:
    message = IssueCredential(attachments=(credential,)).to_message(
        Family(record.family), thid=record.thread_id
    )
    done = record.evolve(
        now,
        state=IssuerState.CREDENTIAL_ISSUED.value,
        request=request.to_json(),
        credential_id=credential_id,
    )
    return done, message


def on_ack(record: CredentialExchangeRecord | None, now: float) -> CredentialExchangeRecord:
    missing = "no credential of ours awaits this ack"
    return rules.acknowledged(record, Role.ISSUER, IssuerState.CREDENTIAL_ISSUED, now, missing)


# -- holder ----------------------------------------------------------------------------------


def propose(
    *,
    connection_id: str,
    family: Family,
    detail: Detail,
    now: float,
    comment: str | None = None,
    their_label: str | None = None,
) -> tuple[CredentialExchangeRecord, Message]:
    message = ProposeCredential(attachments=(detail.attached,), comment=comment).to_message(
        family, thid=None
    )
    opening = Opening(connection_id, family, message.thread_id, now, their_label)
    state = HolderState.PROPOSAL_SENT.value
    record = CredentialExchangeRecord.opened(
        opening, Role.HOLDER, state, comment=comment, **_kept(detail, "proposal")
    )
    return record, message


def on_offer(
    existing: CredentialExchangeRecord | None,
    *,
    connection_id: str,
    family: Family,
    thread_id: str,
    offer: OfferCredential,
    now: float,
    their_label: str | None = None,
) -> CredentialExchangeRecord:
    """An offer arrives: kept, with a summary of what the credential would say."""
    detail = formats.read_detail(pick(offer.attachments, DETAIL_FORMATS))
    if existing is not None:
        rules.expect(existing, Role.HOLDER, HolderState.PROPOSAL_SENT)
        return existing.evolve(
            now,
            state=HolderState.OFFER_RECEIVED.value,
            **_kept(detail, "offer"),
            comment=offer.comment or existing.comment,
        )
    opening = Opening(connection_id, family, thread_id, now, their_label)
    state = HolderState.OFFER_RECEIVED.value
    return CredentialExchangeRecord.opened(
        opening, Role.HOLDER, state, comment=offer.comment, **_kept(detail, "offer")
    )


def accept(
    record: CredentialExchangeRecord, holder_did: str, now: float
) -> tuple[CredentialExchangeRecord, Message]:
    """The holder asks for the offered credential (about ``holder_did`` if the offer left the
    subject open)."""
    rules.require(record, Role.HOLDER, HolderState.OFFER_RECEIVED, "an offer to accept")
    offered = formats.read_detail(_stored(record.offer))
    request = formats.bind_request(offered, holder_did)
    message = RequestCredential(attachments=(request,)).to_message(
        Family(record.family), thid=record.thread_id
    )
    asked = formats.read_detail(request)
    return (
        record.evolve(now, state=HolderState.REQUEST_SENT.value, request=asked.to_json()),
        message,
    )


def on_issue(
    record: CredentialExchangeRecord | None, message: IssueCredential
) -> dict[str, object] | str:
    """The credential arrives: check it is the one requested (the wallet verifies it next)."""
    record = rules.expect(
        record,
        Role.HOLDER,
        HolderState.REQUEST_SENT,
        missing="no request of ours awaits this credential",
    )
    request = formats.read_detail(_stored(record.request))
    wanted = formats.CREDENTIAL_FOR[request.attached.format]
    return formats.check_issued(request, pick(message.attachments, (wanted,)))


def stored(
    record: CredentialExchangeRecord, credential_id: str, now: float
) -> tuple[CredentialExchangeRecord, Message]:
    """Verified and kept: done, and the issuer hears so."""
    ack = Ack().to_message(Family(record.family), thid=record.thread_id)
    return record.evolve(now, state=HolderState.DONE.value, credential_id=credential_id), ack


# -- both ------------------------------------------------------------------------------------


def abandon(
    record: CredentialExchangeRecord, code: str, comment: str, now: float
) -> tuple[CredentialExchangeRecord, Message]:
    """Stop the exchange and tell the peer (unless it is over already)."""
    return rules.abandon(record, ProblemReport(code, comment), now)


on_problem = rules.on_problem


def _stored(data: dict[str, object] | None) -> Attached:
    if not isinstance(data, dict) or "format" not in data:
        raise LocalProtocolError("the exchange record lost its detail", "e.p.me")
    fmt = data["format"]
    value = data["data"]
    if not isinstance(fmt, str) or not isinstance(value, (dict, str)):
        raise LocalProtocolError("the exchange record's detail is malformed", "e.p.me")
    return Attached(fmt, value)
