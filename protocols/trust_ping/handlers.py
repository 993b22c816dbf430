"""Trust Ping handlers, shared by both versions: answer a ping when asked, and report a
response as an event (the admin API waits on it to measure the round trip)."""

from __future__ import annotations

from agent.plugin import Handler, HandlerContext


def handlers(ping_cls: type, response_cls: type) -> dict[str, Handler]:
    ping_name = ping_cls.TYPE.rpartition("/")[2]
    response_name = response_cls.TYPE.rpartition("/")[2]

    async def handle_ping(ctx: HandlerContext) -> None:
        ping = ping_cls.from_body(ctx.message.body)
        ctx.emit("trust_ping.received", {"thread_id": ctx.message.thread_id})
        if ping.response_requested:
            ctx.reply(response_cls.TYPE, response_cls().to_body())

    async def handle_response(ctx: HandlerContext) -> None:
        response_cls.from_body(ctx.message.body)
        ctx.emit("trust_ping.response_received", {"thread_id": ctx.message.thread_id})

    return {ping_name: handle_ping, response_name: handle_response}
