"""Coordinate mediation, both roles. The mediator grants (by policy or by its operator),
keeps the recipient list per connection; the recipient records the grant and its updates."""

from __future__ import annotations

from agent.errors import RemoteProtocolError
from agent.plugin import Family, Handler, HandlerContext

from . import messages as m
from . import records


def _connection(ctx: HandlerContext) -> str:
    if ctx.connection is None or not ctx.connection.state.active:
        raise RemoteProtocolError("mediation needs a completed connection", "e.p.req.not-connected")
    return ctx.connection.id


def handlers(family: Family) -> dict[str, Handler]:
    async def mediate_request(ctx: HandlerContext) -> None:
        connection_id = _connection(ctx)
        mediator = ctx.services.get("mediator")
        if mediator is None:
            ctx.reply(m.type_of(family, "mediate-deny"), {})
            return
        current = await records.grant_of(ctx.records, connection_id)
        if current is not None and current.state == "granted":
            state = "granted"
        elif mediator.denies(ctx.connection):
            state = "denied"
        else:
            state = "granted" if mediator.auto_grant else "requested"
        grant = records.GrantRecord(connection_id, family.value, state)
        ctx.save(records.GRANT, connection_id, grant.to_json(), grant.tags())
        ctx.emit(f"mediation.{state}", {"connection_id": connection_id, "role": "mediator"})
        if state == "granted":
            endpoint, routing = await mediator.routing(family)
            ctx.reply(m.type_of(family, "mediate-grant"), m.grant_body(family, endpoint, routing))
        elif state == "denied":
            ctx.reply(m.type_of(family, "mediate-deny"), {})

    async def update(ctx: HandlerContext) -> None:
        connection_id = _connection(ctx)
        grant = await records.grant_of(ctx.records, connection_id)
        if grant is None or grant.state != "granted":
            raise RemoteProtocolError(
                "mediation is not granted to this connection", "e.p.req.not-granted"
            )
        mediator = ctx.services["mediator"]
        results = []
        for entry in m.parse_updates(family, ctx.message.body):
            recipient = m.normalise(family, entry.recipient)
            ok = await mediator.update_route(recipient, connection_id, entry.action)
            results.append(
                {
                    m.RECIPIENT_FIELD[family]: entry.recipient,
                    "action": entry.action,
                    "result": "success" if ok else "client_error",
                }
            )
        ctx.reply(m.type_of(family, m.UPDATE_RESPONSE[family]), {"updated": results})

    async def query(ctx: HandlerContext) -> None:
        connection_id = _connection(ctx)
        mediator = ctx.services["mediator"]
        field = m.RECIPIENT_FIELD[family]
        listed = [{field: r} for r in await mediator.routes_of(connection_id)]
        key = "keys" if family is Family.V1 else "dids"
        ctx.reply(m.type_of(family, m.LISTING[family]), {key: listed})

    async def granted(ctx: HandlerContext) -> None:
        connection_id = _connection(ctx)
        grant = m.parse_grant(family, ctx.message.body)
        current = await records.mediation_of(ctx.records, connection_id)
        base = current or records.MediationRecord(connection_id, family.value, "requested")
        updated = base.evolve(
            state="granted",
            endpoint=grant.endpoint,
            routing_keys=grant.routing_keys,
            routing_did=grant.routing_did,
        )
        ctx.save(records.CLIENT, connection_id, updated.to_json(), updated.tags())
        ctx.emit(
            "mediation.granted",
            {"connection_id": connection_id, "role": "recipient", "thread_id": ctx.message.thid},
        )

    async def denied(ctx: HandlerContext) -> None:
        connection_id = _connection(ctx)
        current = await records.mediation_of(ctx.records, connection_id)
        base = current or records.MediationRecord(connection_id, family.value, "requested")
        updated = base.evolve(state="denied")
        ctx.save(records.CLIENT, connection_id, updated.to_json(), updated.tags())
        ctx.emit(
            "mediation.denied",
            {"connection_id": connection_id, "role": "recipient", "thread_id": ctx.message.thid},
        )

    async def update_response(ctx: HandlerContext) -> None:
        updated = ctx.message.body.get("updated")
        ctx.emit(
            "mediation.updated",
            {
                "connection_id": ctx.connection.id if ctx.connection else None,
                "thread_id": ctx.message.thid,
                "updated": updated if isinstance(updated, list) else [],
            },
        )

    async def listing(ctx: HandlerContext) -> None:
        ctx.emit(
            "mediation.listed", {"thread_id": ctx.message.thid, "body": dict(ctx.message.body)}
        )

    return {
        "mediate-request": mediate_request,
        m.UPDATE[family]: update,
        m.QUERY[family]: query,
        "mediate-grant": granted,
        "mediate-deny": denied,
        m.UPDATE_RESPONSE[family]: update_response,
        m.LISTING[family]: listing,
    }
