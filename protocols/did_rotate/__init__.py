"""DID Rotate 1.0 (Aries RFC 0794, v1 family) and DIDComm v2 ``from_prior``.

v1: the rotating party sends ``rotate`` {to_did} from its old DID; the observer resolves the
new DID, files it on the connection, and acknowledges to the new DID; the rotating party
switches on the ``ack``. ``hangup`` ends the relationship. v2 needs no protocol: the next
message from the new DID carries ``from_prior`` (see :mod:`.from_prior`).
"""

from __future__ import annotations

from agent.connections import ConnectionRecord, ConnectionState
from agent.errors import RemoteProtocolError
from agent.plugin import Family, HandlerContext, ProtocolPlugin, optional_str
from wallet.errors import MoiError

PIURI = "https://didcomm.org/did-rotate/1.0"
PENDING = "did-rotate-pending"  # rotating side: id = rotate message id


def _save(ctx: HandlerContext, connection: ConnectionRecord, topic: str) -> None:
    ctx.save("connection", connection.id, connection.to_json(), connection.tags())
    ctx.emit(topic, connection.public_json())


async def handle_rotate(ctx: HandlerContext) -> None:
    connection = ctx.connection
    if not isinstance(connection, ConnectionRecord) or not connection.state.active:
        raise RemoteProtocolError("no completed connection to rotate", "e.did.unknown")
    to_did = optional_str(ctx.message.body, "to_did", limit=16 * 1024)
    if not to_did or not to_did.startswith("did:"):
        raise RemoteProtocolError("'to_did' must be a DID", "e.did.invalid")
    try:
        await ctx.services["wallet"].resolve(to_did)
    except MoiError as err:
        raise RemoteProtocolError(
            f"the new DID does not resolve: {err}", "e.did.unresolvable"
        ) from err
    rotated = connection.evolve(their_did=to_did, previous_did=connection.their_did)
    _save(ctx, rotated, "connection.rotated")
    # Saved in the same transaction: the ack is packed for the new DID.
    ctx.reply(f"{PIURI}/ack", {"status": "OK"})


async def handle_ack(ctx: HandlerContext) -> None:
    thread = ctx.message.thid
    if not thread:
        raise RemoteProtocolError("the ack names no rotation", "e.p.msg")
    try:
        pending = (await ctx.records.get(PENDING, thread)).json()
    except MoiError:
        raise RemoteProtocolError("no rotation of ours awaits this ack", "e.p.msg") from None
    connections = ctx.services["agent"].connections
    connection = await connections.get(pending["connection_id"])
    rotated = connection.evolve(my_did=pending["new_did"], previous_did=connection.my_did)
    ctx.delete(PENDING, thread)
    _save(ctx, rotated, "connection.rotated")


async def handle_hangup(ctx: HandlerContext) -> None:
    if not isinstance(ctx.connection, ConnectionRecord):
        return
    _save(ctx, ctx.connection.evolve(state=ConnectionState.ABANDONED), "connection.hangup")


async def handle_problem(ctx: HandlerContext) -> None:
    ctx.emit("did_rotate.problem", {"thread_id": ctx.message.thid, "body": dict(ctx.message.body)})


PLUGIN = ProtocolPlugin(
    piuri=PIURI,
    family=Family.V1,
    roles=("rotating_party", "observing_party"),
    handlers={
        "rotate": handle_rotate,
        "ack": handle_ack,
        "hangup": handle_hangup,
        "problem-report": handle_problem,
    },
    title="DID Rotate 1.0",
)
