"""Message Pickup 2.0 (Aries RFC 0685, v1 family) and 3.0 (DIDComm v2), both roles.

The mediator answers status and delivery requests from the recipient's own queue only, and
deletes a message only when the recipient says it has it (``messages-received``) — which the
recipient says only after storing it in its inbox. Live mode pushes deliveries over the
recipient's open WebSocket as messages arrive.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from agent.errors import RemoteProtocolError
from agent.plugin import Family, Handler, HandlerContext, ProtocolPlugin
from wallet.encoding import b64_decode_any, dumps_compact
from wallet.errors import InputError, MoiError

PIURI = {
    Family.V1: "https://didcomm.org/messagepickup/2.0",
    Family.V2: "https://didcomm.org/messagepickup/3.0",
}
RECIPIENT_FIELD = {Family.V1: "recipient_key", Family.V2: "recipient_did"}
MAX_LIMIT = 100
MAX_IDS = 1000


def type_of(family: Family, name: str) -> str:
    return f"{PIURI[family]}/{name}"


def attachment(family: Family, item_id: str, message: Mapping[str, Any]) -> dict[str, Any]:
    if family is Family.V1:
        data = base64.urlsafe_b64encode(dumps_compact(dict(message)).encode()).decode()
        return {"@id": item_id, "data": {"base64": data}}
    return {"id": item_id, "data": {"json": dict(message)}}


def build_delivery(
    family: Family, items: list[Any], recipient: str | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Body and attachments of a delivery: v1 carries them in ``~attach`` (in the body, as
    Aries decorators are), v2 in the message's own ``attachments``."""
    body: dict[str, Any] = {}
    if recipient:
        body[RECIPIENT_FIELD[family]] = recipient
    attached = [attachment(family, i.id, i.message) for i in items]
    if family is Family.V1:
        body["~attach"] = attached
        return body, []
    return body, attached


def read_attachments(family: Family, message: Any) -> list[tuple[str, bytes]]:
    """(id, packed message) of each delivered attachment; malformed ones are refused."""
    if family is Family.V1:
        raw = message.body.get("~attach")
    else:
        raw = list(message.attachments) or message.body.get("attachments")
    if not isinstance(raw, (list, tuple)) or len(raw) > MAX_LIMIT:
        raise RemoteProtocolError("a delivery needs a list of attachments", "e.p.msg.invalid")
    out = []
    for entry in raw:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("data"), Mapping):
            raise RemoteProtocolError("a delivered attachment is malformed", "e.p.msg.invalid")
        item_id = entry.get("@id") or entry.get("id")
        data = entry["data"]
        if not isinstance(item_id, str):
            raise RemoteProtocolError("a delivered attachment has no id", "e.p.msg.invalid")
        try:
            if "json" in data:
                packed = dumps_compact(data["json"]).encode("utf-8")
            else:
                packed = b64_decode_any(data.get("base64"), what="attachment")
        except (InputError, MoiError, TypeError) as err:
            raise RemoteProtocolError(f"a delivered attachment is malformed: {err}") from err
        out.append((item_id, packed))
    return out


def _limit(body: Mapping[str, Any]) -> int:
    value = body.get("limit", 10)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RemoteProtocolError("'limit' must be a positive integer", "e.p.msg.invalid")
    return min(value, MAX_LIMIT)


def _connection(ctx: HandlerContext) -> str:
    if ctx.connection is None or not ctx.connection.state.active:
        raise RemoteProtocolError("pickup needs a completed connection", "e.p.req.not-connected")
    return ctx.connection.id


def handlers(family: Family) -> dict[str, Handler]:
    field = RECIPIENT_FIELD[family]

    async def _recipient(ctx: HandlerContext, mediator: Any, connection_id: str) -> str | None:
        value = ctx.message.body.get(field)
        if value is None:
            return None
        recipient = mediator.normalise(family, value)
        if recipient not in await mediator.routes_of(connection_id):
            # Another recipient's queue is not this connection's business.
            raise RemoteProtocolError("that recipient is not yours", "e.p.req.forbidden")
        return recipient

    async def _mediator(ctx: HandlerContext) -> tuple[Any, str]:
        connection_id = _connection(ctx)
        mediator = ctx.services.get("mediator")
        if mediator is None or not await mediator.granted(connection_id):
            raise RemoteProtocolError(
                "no mediation is granted to this connection", "e.p.req.not-granted"
            )
        return mediator, connection_id

    async def _status(
        ctx: HandlerContext, mediator: Any, connection_id: str, recipient: str | None
    ) -> None:
        count = await mediator.count(connection_id, recipient)
        body: dict[str, Any] = {
            "message_count": count,
            "live_delivery": mediator.is_live(connection_id),
        }
        if recipient:
            body[field] = ctx.message.body.get(field)
        else:
            mediator.reported(connection_id, count)
        ctx.reply(type_of(family, "status"), body)

    async def status_request(ctx: HandlerContext) -> None:
        mediator, connection_id = await _mediator(ctx)
        recipient = await _recipient(ctx, mediator, connection_id)
        await _status(ctx, mediator, connection_id, recipient)

    async def delivery_request(ctx: HandlerContext) -> None:
        mediator, connection_id = await _mediator(ctx)
        recipient = await _recipient(ctx, mediator, connection_id)
        items = await mediator.pending(connection_id, recipient, _limit(ctx.message.body))
        if not items:
            await _status(ctx, mediator, connection_id, recipient)
            return
        body, attached = build_delivery(family, items, None)
        ctx.reply(type_of(family, "delivery"), body, attachments=attached)

    async def messages_received(ctx: HandlerContext) -> None:
        mediator, connection_id = await _mediator(ctx)
        ids = ctx.message.body.get("message_id_list")
        if (
            not isinstance(ids, list)
            or len(ids) > MAX_IDS
            or not all(isinstance(i, str) for i in ids)
        ):
            raise RemoteProtocolError("'message_id_list' must be a list of ids", "e.p.msg.invalid")
        await mediator.acknowledge(connection_id, ids)
        if await mediator.status_after_ack(connection_id):
            await _status(ctx, mediator, connection_id, None)

    async def live_delivery_change(ctx: HandlerContext) -> None:
        mediator, connection_id = await _mediator(ctx)
        live = ctx.message.body.get("live_delivery")
        if not isinstance(live, bool):
            raise RemoteProtocolError("'live_delivery' must be true or false", "e.p.msg.invalid")
        mediator.set_live(connection_id, live)
        await _status(ctx, mediator, connection_id, None)

    async def status(ctx: HandlerContext) -> None:
        client = ctx.services.get("mediation_client")
        count = ctx.message.body.get("message_count")
        if client is not None and ctx.connection is not None and isinstance(count, int):
            await client.on_status(ctx.connection.id, count, ctx.message.body.get("live_delivery"))

    async def delivery(ctx: HandlerContext) -> None:
        client = ctx.services.get("mediation_client")
        if client is None or ctx.connection is None:
            raise RemoteProtocolError("this agent has no mediator", "e.p.msg.unexpected")
        received = []
        for item_id, packed in read_attachments(family, ctx.message):
            # Stored in our inbox (deduplicated) before the mediator may forget it.
            await client.store_delivered(packed)
            received.append(item_id)
        ctx.reply(type_of(family, "messages-received"), {"message_id_list": received})

    return {
        "status-request": status_request,
        "delivery-request": delivery_request,
        "messages-received": messages_received,
        "live-delivery-change": live_delivery_change,
        "status": status,
        "delivery": delivery,
    }


PLUGIN_V1 = ProtocolPlugin(
    piuri=PIURI[Family.V1],
    family=Family.V1,
    roles=("mediator", "recipient"),
    handlers=handlers(Family.V1),
    title="Message Pickup 2.0",
)
PLUGIN_V2 = ProtocolPlugin(
    piuri=PIURI[Family.V2],
    family=Family.V2,
    roles=("mediator", "recipient"),
    handlers=handlers(Family.V2),
    title="Message Pickup 3.0",
)
