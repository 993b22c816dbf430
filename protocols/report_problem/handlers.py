"""A problem report from the peer: note it; the thread it names is abandoned."""

from __future__ import annotations

from agent.plugin import HandlerContext

from .messages import Problem


async def handle_problem(ctx: HandlerContext) -> None:
    problem = Problem.from_body(ctx.message.body)
    # v2 puts the failed thread in pthid; v1 in ~thread.thid.
    thread = ctx.message.pthid or ctx.message.thid
    ctx.emit(
        "problem_report.received",
        {
            "connection_id": ctx.connection.id if ctx.connection else None,
            "thread_id": thread,
            "code": problem.code,
            "comment": problem.comment,
        },
    )
