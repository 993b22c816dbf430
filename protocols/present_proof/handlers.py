"""Present-proof handlers: the glue between messages, exchange records and the wallet.

A request is matched against held credentials at once (the preview is ready when the person
looks), but nothing is sent until the person accepts -- unless the policy says to present
automatically. A presentation is verified on arrival, with the request's challenge and
domain, and the verdict recorded and announced (``present_proof.verified`` or
``present_proof.rejected``) in the same transaction as the ack or problem report. Checking
a credential's status is the one network read a handler does here: bounded in size and time
and cached by the agent's status list fetcher (:func:`protocols.issue_credential.policy.
fetcher`), so the verdict and the ack are still committed together.
"""

from __future__ import annotations

import contextlib
import functools
from datetime import UTC, datetime
from typing import Any

from agent.errors import RemoteProtocolError
from agent.plugin import ConnectionView, Handler, HandlerContext
from protocols.exchange import handling
from protocols.exchange.handling import save
from protocols.exchange.kind import ExchangeKind
from protocols.issue_credential import policy
from wallet.did import long_to_short
from wallet.errors import MoiError

from . import machine, records
from .messages import Presentation, ProblemReport, ProposePresentation, RequestPresentation
from .records import PresentationExchangeRecord, Role

KIND = ExchangeKind(
    record=PresentationExchangeRecord,
    problem=ProblemReport,
    topic="present_proof",
    code=machine.ABANDONED,
    subject="proofs",
)


def audience_for(connection: ConnectionView | Any) -> str:
    """Who a presentation is for when the request names no domain: the verifier's DID in
    this relationship (short form), or the connection itself."""
    did = connection.their_did or ""
    if did.startswith("did:peer:4"):
        did = _short_form(did)
    return did if 0 < len(did) <= 1024 else f"urn:uuid:{connection.id}"


@functools.lru_cache(maxsize=256)
def _short_form(did: str) -> str:
    # Each request and each answer asks again for the same few relationships; the short
    # form is a hash of the long one's whole document, so it is kept (a pure function).
    with contextlib.suppress(MoiError):
        return long_to_short(did)
    return did


def verifier_of(connection: ConnectionView | Any) -> dict[str, Any]:
    return {
        "connection_id": connection.id,
        "label": connection.their_label,
        "did": audience_for(connection),
    }


def _refuse(ctx: HandlerContext, record: PresentationExchangeRecord | None, err: MoiError) -> None:
    handling.refuse(ctx, KIND, record, err)


async def handle_propose(ctx: HandlerContext) -> None:
    connection = handling.connection(ctx, KIND)
    proposal = ProposePresentation.from_message(ctx.message, ctx.family)
    try:
        record = machine.on_proposal(proposal=proposal, **handling.where(ctx, connection))
    except RemoteProtocolError as err:
        _refuse(ctx, None, err)
        return
    save(ctx, record, "present_proof.proposal_received", new=True)


async def handle_request(ctx: HandlerContext) -> None:
    connection = handling.connection(ctx, KIND)
    message = RequestPresentation.from_message(ctx.message, ctx.family)
    existing = await records.find(ctx.records, connection.id, ctx.message.thread_id, Role.PROVER)
    try:
        record, detail = machine.on_request(
            existing, message=message, **handling.where(ctx, connection)
        )
    except RemoteProtocolError as err:
        _refuse(ctx, existing, err)
        return
    new = existing is None  # the request opened the exchange: added, not updated
    from . import presenting  # the credential modules load on first use, not at start

    wallet = ctx.services["wallet"]
    audience = audience_for(connection)
    try:
        prepared = await presenting.prepare(
            wallet, detail, verifier=verifier_of(connection), audience=audience
        )
    except MoiError as err:
        # A definition moi cannot evaluate: the person sees why and may decline.
        preview = {"to": verifier_of(connection), "satisfiable": False, "error": str(err)[:500]}
        previewed = machine.previewed(record, [], preview, ctx.now)
        save(ctx, previewed, "present_proof.request_received", new=new)
        return
    record = machine.previewed(record, prepared.selection, prepared.preview, ctx.now)
    settings = await policy.load(ctx.records)
    if settings.auto_present and prepared.satisfiable:
        try:
            attached = await presenting.present(
                wallet,
                detail,
                prepared.selection,
                audience=audience,
                now=datetime.fromtimestamp(ctx.now, UTC),
                held=prepared.held,
            )
        except MoiError as err:
            _refuse(ctx, record, err)
            return
        sent, presentation = machine.present(record, attached, ctx.now)
        save(ctx, sent, "present_proof.presentation_sent", new=new)
        ctx.send(presentation)
        return
    save(ctx, record, "present_proof.request_received", new=new)


async def handle_presentation(ctx: HandlerContext) -> None:
    connection = handling.connection(ctx, KIND)
    message = Presentation.from_message(ctx.message, ctx.family)
    found = await records.find(ctx.records, connection.id, ctx.message.thread_id, Role.VERIFIER)
    try:
        record, detail, attached = machine.on_presentation(found, message)
    except RemoteProtocolError as err:
        _refuse(ctx, found, err)
        return
    from . import verifying

    settings = await policy.load(ctx.records)
    report = await verifying.verify_presentation(
        ctx.services["wallet"],
        detail,
        attached,
        status_fetcher=policy.fetcher(ctx.services, settings),
        now=datetime.fromtimestamp(ctx.now, UTC),
    )
    ok = report.verified
    done, reply = machine.verified(record, attached, report.to_json(), ok, ctx.now)
    save(ctx, done, "present_proof.verified" if ok else "present_proof.rejected")
    ctx.send(reply)


async def handle_ack(ctx: HandlerContext) -> None:
    connection = handling.connection(ctx, KIND)
    record = await records.find(ctx.records, connection.id, ctx.message.thread_id, Role.PROVER)
    save(ctx, machine.on_ack(record, ctx.now), "present_proof.acknowledged")


HANDLERS: dict[str, Handler] = {
    "propose-presentation": handle_propose,
    "request-presentation": handle_request,
    "presentation": handle_presentation,
    "ack": handle_ack,
    "problem-report": handling.problem_handler(KIND),
}
