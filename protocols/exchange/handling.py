"""Handler glue both credential protocols share: the connection an exchange needs, saving a
record with its event, refusing a peer's message with the protocol's own problem report, and
taking a peer's problem report.

A peer's mistake abandons the exchange on our side and is answered with a problem report, so
both sides end in ``abandoned`` rather than one waiting forever.
"""

from __future__ import annotations

from typing import Any

from agent.errors import RemoteProtocolError
from agent.plugin import ConnectionView, Handler, HandlerContext
from wallet.errors import MoiError

from . import rules
from .kind import ExchangeKind
from .records import ExchangeRecord


def connection(ctx: HandlerContext, kind: ExchangeKind[Any]) -> ConnectionView:
    """The completed connection the message came over (an exchange needs one)."""
    found = ctx.connection
    if found is None or found.state != "completed":
        raise RemoteProtocolError(
            f"{kind.subject} are exchanged over a connection", "e.p.msg.unexpected"
        )
    return found


def where(ctx: HandlerContext, connection: ConnectionView) -> dict[str, Any]:
    """Where an exchange the message opens runs, as the machines' keyword arguments."""
    return {
        "connection_id": connection.id,
        "family": ctx.family,
        "thread_id": ctx.message.thread_id,
        "now": ctx.now,
        "their_label": connection.their_label,
    }


def save(ctx: HandlerContext, record: ExchangeRecord, topic: str, *, new: bool = False) -> None:
    """Keep the record and announce it, in the handler's transaction. ``new``: the message
    opened this exchange (a fresh id), so the store adds it without trying an update first."""
    ctx.save(record.CATEGORY, record.id, record.to_json(), record.tags(), new=new)
    ctx.emit(topic, record.event())


def refuse(
    ctx: HandlerContext, kind: ExchangeKind[Any], record: ExchangeRecord | None, err: MoiError
) -> None:
    """Abandon ``record`` (if any) and tell the peer why, in the protocol's own terms."""
    text = " ".join(str(err).split())[:500] or type(err).__name__
    # On the wire, the code the RFC defines (Aries peers expect it); the precise one leads the
    # comment and stays in our record.
    precise = getattr(err, "problem_code", None)
    report = kind.problem(kind.code, f"{precise}: {text}" if precise else text)
    if record is not None and not record.finished:
        abandoned, message = rules.abandon(record, report, ctx.now)
        save(ctx, abandoned, f"{kind.topic}.abandoned")
        ctx.send(message)
        return
    ctx.send(report.to_message(ctx.family, thid=ctx.message.thread_id))


def problem_handler(kind: ExchangeKind[Any]) -> Handler:
    """The handler of the protocol's ``problem-report``: the peer's exchanges on that thread,
    in either role, are abandoned, and ``problem_report.received`` announces it (someone
    waiting on the exchange learns why)."""

    async def handle_problem(ctx: HandlerContext) -> None:
        problem = kind.problem.from_body(ctx.message.body)
        if ctx.connection is None:
            return
        thread = ctx.message.thid or ctx.message.pthid or ctx.message.id
        for role in kind.record.ROLES:
            record = await kind.record.find(ctx.records, ctx.connection.id, thread, role)
            abandoned = rules.on_problem(record, problem, ctx.now)
            if abandoned is not None:
                save(ctx, abandoned, f"{kind.topic}.abandoned")
        ctx.emit(
            "problem_report.received",
            {
                "connection_id": ctx.connection.id,
                "thread_id": thread,
                "code": problem.code,
                "comment": problem.comment,
            },
        )

    return handle_problem
