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


def save(ctx: HandlerContext, record: CredentialExchangeRecord, topic: str) -> None:
    ctx.save(records.CATEGORY, record.id, record.to_json(), record.tags())
    ctx.emit(topic, record.event())


def _connection(ctx: HandlerContext) -> tuple[str, str | None]:
    connection = ctx.connection
    if connection is None or connection.state != "completed":
        raise RemoteProtocolError(
            "credentials are exchanged over a connection", "e.p.msg.unexpected"
        )
    return connection.id, connection.their_label


def _refuse(ctx: HandlerContext, record: CredentialExchangeRecord | None, err: MoiError) -> None:
    """Abandon ``record`` (if any) and tell the peer why, in the protocol's own terms."""
    text = " ".join(str(err).split())[:500] or type(err).__name__
    # On the wire, the code the RFC defines (Aries peers expect it); the precise one leads the
    # comment and stays in our record.
    precise = getattr(err, "problem_code", None)
    comment = f"{precise}: {text}" if precise else text
    code = machine.ABANDONED
    if record is not None and not record.finished:
        abandoned, report = machine.abandon(record, code, comment, ctx.now)
        save(ctx, abandoned, "credential.abandoned")
        if report is not None:
            ctx.send(report)
        return
    ctx.send(ProblemReport(code, comment).to_message(ctx.family, thid=ctx.message.thread_id))


async def handle_propose(ctx: HandlerContext) -> None:
    connection_id, label = _connection(ctx)
    proposal = ProposeCredential.from_message(ctx.message, ctx.family)
    existing = await records.find(ctx.records, connection_id, ctx.message.thread_id, Role.ISSUER)
    if existing is not None:
        raise RemoteProtocolError("this exchange has begun already", "e.p.msg.unexpected")
    try:
        record = machine.on_proposal(
            connection_id=connection_id,
            family=ctx.family,
            thread_id=ctx.message.thread_id,
            proposal=proposal,
            now=ctx.now,
            their_label=label,
        )
    except RemoteProtocolError as err:
        _refuse(ctx, None, err)
        return
    save(ctx, record, "credential.proposal_received")


async def handle_offer(ctx: HandlerContext) -> None:
    connection_id, label = _connection(ctx)
    offer = OfferCredential.from_message(ctx.message, ctx.family)
    existing = await records.find(ctx.records, connection_id, ctx.message.thread_id, Role.HOLDER)
    try:
        record = machine.on_offer(
            existing,
            connection_id=connection_id,
            family=ctx.family,
            thread_id=ctx.message.thread_id,
            offer=offer,
            now=ctx.now,
            their_label=label,
        )
    except RemoteProtocolError as err:
        _refuse(ctx, existing, err)
        return
    settings = await policy.load(ctx.records)
    keepable = wallet_format_error(OfferFormat(record.format)) is None
    if settings.auto_accept_offers and keepable and ctx.connection and ctx.connection.my_did:
        requested, request = machine.accept(record, ctx.connection.my_did, ctx.now)
        save(ctx, requested, "credential.offer_accepted")
        ctx.send(request)
        return
    save(ctx, record, "credential.offer_received")


async def handle_request(ctx: HandlerContext) -> None:
    connection_id, _ = _connection(ctx)
    request = RequestCredential.from_message(ctx.message, ctx.family)
    record = await records.find(ctx.records, connection_id, ctx.message.thread_id, Role.ISSUER)
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
    connection_id, _ = _connection(ctx)
    message = IssueCredential.from_message(ctx.message, ctx.family)
    record = await records.find(ctx.records, connection_id, ctx.message.thread_id, Role.HOLDER)
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
    connection_id, _ = _connection(ctx)
    Ack.from_body(ctx.message.body)
    record = await records.find(ctx.records, connection_id, ctx.message.thread_id, Role.ISSUER)
    save(ctx, machine.on_ack(record, ctx.now), "credential.acknowledged")


async def handle_problem(ctx: HandlerContext) -> None:
    problem = ProblemReport.from_body(ctx.message.body)
    if ctx.connection is None:
        return
    thread = ctx.message.thid or ctx.message.pthid or ctx.message.id
    for role in Role:
        record = await records.find(ctx.records, ctx.connection.id, thread, role)
        abandoned = machine.on_problem(record, problem, ctx.now)
        if abandoned is not None:
            save(ctx, abandoned, "credential.abandoned")
    ctx.emit(
        "problem_report.received",
        {
            "connection_id": ctx.connection.id,
            "thread_id": thread,
            "code": problem.code,
            "comment": problem.comment,
        },
    )


HANDLERS: dict[str, Handler] = {
    "propose-credential": handle_propose,
    "offer-credential": handle_offer,
    "request-credential": handle_request,
    "issue-credential": handle_issue,
    "ack": handle_ack,
    "problem-report": handle_problem,
}
