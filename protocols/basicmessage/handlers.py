"""Receiving a basic message: keep it, tell the person (one transaction, by construction)."""

from __future__ import annotations

from agent.plugin import Handler, HandlerContext

from . import records


def handlers(message_cls: type) -> dict[str, Handler]:
    async def handle_message(ctx: HandlerContext) -> None:
        text = message_cls.from_body(ctx.message.body).content
        connection_id = ctx.connection.id if ctx.connection else ""
        value, tags = records.record(
            message_id=ctx.message.id,
            connection_id=connection_id,
            direction="in",
            content=text,
            time=ctx.now,
        )
        ctx.save(records.CATEGORY, ctx.message.id, value, tags, new=True)
        ctx.emit(
            "basicmessage.received",
            {"connection_id": connection_id, "message_id": ctx.message.id, "content": text},
        )

    return {"message": handle_message}
