"""Issue-credential handlers: load the exchange, apply the rules, do the wallet's part, and
leave the effects (record, message, event) for the runtime to commit together.

A peer's mistake (a request that differs from the offer, a credential that does not verify)
abandons the exchange on our side and is answered with the protocol's own problem report, so
both sides end in ``abandoned`` rather than one waiting forever.
"""

from __future__ import annotations

from datetime import UTC, datetime

from agent.errors import RemoteProtocolError
from agent.plugin import Handler, HandlerContext
from protocols.exchange import handling
from protocols.exchange.handling import save
from protocols.exchange.kind import ExchangeKind
from wallet.errors import MoiError

from . import machine, policy, records
from .formats import OfferFormat, wallet_format_error
from .messages import (
    Ack,
    IssueCredential,
    OfferCredential,
    ProblemReport,
    ProposeCredential,
    RequestCredential,
)
from .records import CredentialExchangeRecord, Role

KIND = ExchangeKind(
    record=CredentialExchangeRecord,
    problem=ProblemReport,
    topic="credential",
    code=machine.ABANDONED,
    subject="credentials",
)


def _refuse(ctx: HandlerContext, record: CredentialExchangeRecord | None, err: MoiError) -> None:
    handling.refuse(ctx, KIND, record, err)


async def handle_propose(ctx: HandlerContext) -> None:
    connection = handling.connection(ctx, KIND)
    proposal = ProposeCredential.from_message(ctx.message, ctx.family)
    existing = await records.find(ctx.records, connection.id, ctx.message.thread_id, Role.ISSUER)
    if existing is not None:
        raise RemoteProtocolError("this exchange has begun already", "e.p.msg.unexpected")
    try:
        record = machine.on_proposal(proposal=proposal, **handling.where(ctx, connection))
    except RemoteProtocolError as err:
        _refuse(ctx, None, err)
        return
    save(ctx, record, "credential.proposal_received", new=True)


async def handle_offer(ctx: HandlerContext) -> None:
    connection = handling.connection(ctx, KIND)
    offer = OfferCredential.from_message(ctx.message, ctx.family)
    existing = await records.find(ctx.records, connection.id, ctx.message.thread_id, Role.HOLDER)
    try:
        record = machine.on_offer(existing, offer=offer, **handling.where(ctx, connection))
    except RemoteProtocolError as err:
        _refuse(ctx, existing, err)
        return
    new = existing is None
    settings = await policy.load(ctx.records)
    keepable = wallet_format_error(OfferFormat(record.format)) is None
    if settings.auto_accept_offers and keepable and connection.my_did:
        requested, request = machine.accept(record, connection.my_did, ctx.now)
        save(ctx, requested, "credential.offer_accepted", new=new)
        ctx.send(request)
        return
    save(ctx, record, "credential.offer_received", new=new)


async def handle_request(ctx: HandlerContext) -> None:
    connection = handling.connection(ctx, KIND)
    request = RequestCredential.from_message(ctx.message, ctx.family)
    record = await records.find(ctx.records, connection.id, ctx.message.thread_id, Role.ISSUER)
    try:
        record, asked = machine.on_request(record, request)
        from . import issuing

        agent = ctx.services.get("agent")
        attached, credential_id = await issuing.issue(
            ctx.services["wallet"],
            asked,
            status_base_url=getattr(agent, "endpoint", None),
            now=datetime.fromtimestamp(ctx.now, UTC),
        )
    except MoiError as err:
        _refuse(ctx, record, err)
        return
    done, message = machine.issued(record, asked, attached, credential_id, ctx.now)
    save(ctx, done, "credential.issued")
    ctx.send(message)


async def handle_issue(ctx: HandlerContext) -> None:
    connection = handling.connection(ctx, KIND)
    message = IssueCredential.from_message(ctx.message, ctx.family)
    record = await records.find(ctx.records, connection.id, ctx.message.thread_id, Role.HOLDER)
    try:
        credential = machine.on_issue(record, message)
        if record is None:  # on_issue refuses a missing record; this tells the type checker
            return
        from . import issuing

        kept = await issuing.keep(ctx.services["wallet"], credential)
    except MoiError as err:
        _refuse(ctx, record, err)
        return
    done, ack = machine.stored(record, kept.id, ctx.now)
    save(ctx, done, "credential.stored")
    ctx.send(ack)


async def handle_ack(ctx: HandlerContext) -> None:
    connection = handling.connection(ctx, KIND)
    Ack.from_body(ctx.message.body)
    record = await records.find(ctx.records, connection.id, ctx.message.thread_id, Role.ISSUER)
    save(ctx, machine.on_ack(record, ctx.now), "credential.acknowledged")


HANDLERS: dict[str, Handler] = {
    "propose-credential": handle_propose,
    "offer-credential": handle_offer,
    "request-credential": handle_request,
    "issue-credential": handle_issue,
    "ack": handle_ack,
    "problem-report": handling.problem_handler(KIND),
}
