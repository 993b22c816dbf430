"""Answer feature queries from the registry's list; report disclosures as events."""

from __future__ import annotations

from agent.plugin import Family, HandlerContext

from .messages import PIURI, Disclose, Queries, answer


async def handle_queries(ctx: HandlerContext) -> None:
    queries = Queries.from_body(ctx.message.body)
    features = ctx.services["features"](ctx.family)
    disclosed = answer(queries.queries, features)
    name = "disclosures" if ctx.family is Family.V1 else "disclose"
    ctx.reply(f"{PIURI}/{name}", Disclose(disclosed).to_body())


async def handle_disclose(ctx: HandlerContext) -> None:
    disclose = Disclose.from_body(ctx.message.body)
    ctx.emit(
        "discover_features.disclosed",
        {
            "thread_id": ctx.message.thread_id,
            "connection_id": ctx.connection.id if ctx.connection else None,
            "disclosures": [d.to_json() for d in disclose.disclosures],
        },
    )
