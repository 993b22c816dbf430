"""The rules of present-proof, per role, as pure functions (like issue-credential's).

Verifier: (proposal-received) → request-sent → presentation-received → done (verified, ack
sent) or abandoned (not verified, problem report sent; the report is kept either way).
Prover: request-received (waiting for the person, with a preview) → presentation-sent →
done (acknowledged); declining sends a problem report and abandons the exchange.
"""

from __future__ import annotations

from typing import Any

from agent.errors import LocalProtocolError, RemoteProtocolError
from agent.plugin import Family
from protocols.exchange import rules
from protocols.exchange.attachments import Attached, pick
from protocols.exchange.records import Opening
from wallet.didcomm.message import Message

from .definitions import RequestDetail, read_request
from .messages import (
    DEFINITIONS,
    SUBMISSION,
    Ack,
    Presentation,
    ProblemReport,
    ProposePresentation,
    RequestPresentation,
)
from .records import PresentationExchangeRecord, ProverState, Role, VerifierState

#: Aries RFC 0454's problem code (ACA-Py expects it); the comment says why.
ABANDONED = "abandoned"
NOT_VERIFIED = "presentation-rejected"


def _json(attached: Attached) -> dict[str, Any] | None:
    return dict(attached.data) if isinstance(attached.data, dict) else None


def stored_request(record: PresentationExchangeRecord) -> RequestDetail:
    if not isinstance(record.request, dict):
        raise LocalProtocolError("the exchange record lost its request", "e.p.me")
    return read_request(Attached(DEFINITIONS, record.request))


# -- verifier --------------------------------------------------------------------------------


def request(
    *,
    connection_id: str,
    family: Family,
    attached: Attached,
    now: float,
    comment: str | None = None,
    their_label: str | None = None,
    answering: PresentationExchangeRecord | None = None,
    checked: bool = False,
) -> tuple[PresentationExchangeRecord, Message]:
    """Ask for a presentation (``attached``: a definitions attachment with its options;
    ``checked``: it was made by :func:`~.definitions.make_request`, which read it already)."""
    if not checked:
        read_request(attached)
    message = RequestPresentation(
        attachments=(attached,), comment=comment, will_confirm=True
    ).to_message(family, thid=answering.thread_id if answering else None)
    if answering is not None:
        awaiting = VerifierState.PROPOSAL_RECEIVED
        rules.require(answering, Role.VERIFIER, awaiting, "awaiting a request")
        record = answering.evolve(
            now, state=VerifierState.REQUEST_SENT.value, request=dict(attached.data)
        )
        return record, message
    opening = Opening(connection_id, family, message.thread_id, now, their_label)
    state = VerifierState.REQUEST_SENT.value
    record = PresentationExchangeRecord.opened(
        opening, Role.VERIFIER, state, request=_json(attached), comment=comment
    )
    return record, message


def on_proposal(
    *,
    connection_id: str,
    family: Family,
    thread_id: str,
    proposal: ProposePresentation,
    now: float,
    their_label: str | None = None,
) -> PresentationExchangeRecord:
    """A prover proposes what it could show: kept for the person to answer with a request."""
    attached = pick(proposal.attachments, (DEFINITIONS,))
    if not isinstance(attached.data, dict):
        raise RemoteProtocolError("a proposal is a JSON object", "e.p.msg.invalid")
    opening = Opening(connection_id, family, thread_id, now, their_label)
    state = VerifierState.PROPOSAL_RECEIVED.value
    return PresentationExchangeRecord.opened(
        opening, Role.VERIFIER, state, proposal=attached.data, comment=proposal.comment
    )


def on_presentation(
    record: PresentationExchangeRecord | None, message: Presentation
) -> tuple[PresentationExchangeRecord, RequestDetail, Attached]:
    record = rules.expect(
        record,
        Role.VERIFIER,
        VerifierState.REQUEST_SENT,
        missing="no request of ours awaits this presentation",
    )
    return record, stored_request(record), pick(message.attachments, (SUBMISSION,))


def verified(
    record: PresentationExchangeRecord,
    presented: Attached,
    report: dict[str, Any],
    ok: bool,
    now: float,
) -> tuple[PresentationExchangeRecord, Message]:
    """Record the verdict; an ack when verified, else a problem report with the first error."""
    family = Family(record.family)
    data = presented.data if isinstance(presented.data, dict) else {"value": presented.data}
    if ok:
        done = record.evolve(
            now,
            state=VerifierState.DONE.value,
            presentation=data,
            report=report,
            verified=True,
        )
        return done, Ack().to_message(family, thid=record.thread_id)
    errors = report.get("errors") or []
    first = errors[0] if errors else {"check": "presentation", "message": "nothing was proven"}
    reason = f"{first.get('check')}: {first.get('message')}"[:500]
    rejected = record.evolve(
        now,
        state=VerifierState.ABANDONED.value,
        presentation=data,
        report=report,
        verified=False,
        error=f"{NOT_VERIFIED}: {reason}",
    )
    problem = ProblemReport(ABANDONED, f"{NOT_VERIFIED}: {reason}").to_message(
        family, thid=record.thread_id
    )
    return rejected, problem


# -- prover ----------------------------------------------------------------------------------


def on_request(
    existing: PresentationExchangeRecord | None,
    *,
    connection_id: str,
    family: Family,
    thread_id: str,
    message: RequestPresentation,
    now: float,
    their_label: str | None = None,
) -> tuple[PresentationExchangeRecord, RequestDetail]:
    attached = pick(message.attachments, (DEFINITIONS,))
    detail = read_request(attached)
    if existing is not None:
        rules.expect(existing, Role.PROVER, ProverState.PROPOSAL_SENT)
        record = existing.evolve(
            now, state=ProverState.REQUEST_RECEIVED.value, request=detail.to_json()
        )
        return record, detail
    opening = Opening(connection_id, family, thread_id, now, their_label)
    state = ProverState.REQUEST_RECEIVED.value
    record = PresentationExchangeRecord.opened(
        opening, Role.PROVER, state, request=detail.to_json(), comment=message.comment
    )
    return record, detail


def previewed(
    record: PresentationExchangeRecord,
    selection: list[dict[str, Any]],
    preview: dict[str, Any],
    now: float,
) -> PresentationExchangeRecord:
    return record.evolve(now, selection=selection, preview=preview)


def present(
    record: PresentationExchangeRecord, attached: Attached, now: float
) -> tuple[PresentationExchangeRecord, Message]:
    rules.require(record, Role.PROVER, ProverState.REQUEST_RECEIVED, "a request to answer")
    message = Presentation(attachments=(attached,)).to_message(
        Family(record.family), thid=record.thread_id
    )
    return record.evolve(now, state=ProverState.PRESENTATION_SENT.value), message


def on_ack(record: PresentationExchangeRecord | None, now: float) -> PresentationExchangeRecord:
    missing = "no presentation of ours awaits this ack"
    return rules.acknowledged(record, Role.PROVER, ProverState.PRESENTATION_SENT, now, missing)


def propose(
    *,
    connection_id: str,
    family: Family,
    attached: Attached,
    now: float,
    comment: str | None = None,
    their_label: str | None = None,
) -> tuple[PresentationExchangeRecord, Message]:
    message = ProposePresentation(attachments=(attached,), comment=comment).to_message(
        family, thid=None
    )
    opening = Opening(connection_id, family, message.thread_id, now, their_label)
    state = ProverState.PROPOSAL_SENT.value
    record = PresentationExchangeRecord.opened(
        opening, Role.PROVER, state, proposal=_json(attached), comment=comment
    )
    return record, message


# -- both ------------------------------------------------------------------------------------


def abandon(
    record: PresentationExchangeRecord, code: str, comment: str, now: float
) -> tuple[PresentationExchangeRecord, Message]:
    """Stop the exchange and tell the peer (unless it is over already)."""
    return rules.abandon(record, ProblemReport(code, comment), now)


on_problem = rules.on_problem
