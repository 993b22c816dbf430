"""The glue between the runtime and the rules: load the record, call the machine, return
effects. The runtime applies the effects — record saved, answer queued in the outbox, event
logged — in one transaction after the handler returns."""

from __future__ import annotations

from agent.errors import RemoteProtocolError
from agent.plugin import Handler, HandlerContext
from wallet.errors import RecordNotFound

from . import machine
from .messages import Hello, HelloBack


async def handle_hello(ctx: HandlerContext) -> None:
    hello = Hello.from_body(ctx.message.body)
    if ctx.connection is None:
        raise RemoteProtocolError("a hello needs a connection", "e.p.msg.unexpected")
    record, back = machine.on_hello(
        ctx.message.thread_id, ctx.connection.id, hello, ctx.connection.their_label, ctx.now
    )
    ctx.save(machine.CATEGORY, record.id, record.to_json(), record.tags())
    ctx.reply(HelloBack.TYPE, back.to_body())
    ctx.emit(
        "hello.received",
        {
            "connection_id": ctx.connection.id,
            "thread_id": record.thread_id,
            "greeting": hello.greeting,
        },
    )


async def handle_hello_back(ctx: HandlerContext) -> None:
    back = HelloBack.from_body(ctx.message.body)
    if ctx.connection is None or not ctx.message.thid:
        raise RemoteProtocolError("no hello of ours awaits this answer", "e.p.msg.unexpected")
    key = machine.record_id(machine.Role.GREETER, ctx.connection.id, ctx.message.thid)
    try:
        # No read lock needed: the runtime holds this thread's lock from here until the
        # effects are committed.
        found = await ctx.records.get(machine.CATEGORY, key)
        record = machine.ExchangeRecord.from_json(found.json())
    except RecordNotFound:
        record = None
    answered = machine.on_hello_back(record, back, ctx.now)
    ctx.save(machine.CATEGORY, answered.id, answered.to_json(), answered.tags())
    ctx.emit(
        "hello.answered",
        {
            "connection_id": ctx.connection.id,
            "thread_id": answered.thread_id,
            "reply": back.greeting,
        },
    )


HANDLERS: dict[str, Handler] = {"hello": handle_hello, "hello-back": handle_hello_back}
