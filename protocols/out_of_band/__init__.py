"""Out-of-Band 1.1 (Aries RFC 0434) and 2.0 (DIDComm v2): invitations, as URLs and QR codes.

Invitations travel outside DIDComm; this package builds and reads them
(:mod:`.invitation`), keeps what we invited with (:mod:`.records`), and accepts them
(:mod:`.actions`). Reusing an existing connection (``handshake-reuse``) is answered in the
v1 family.
"""

from agent.plugin import Family, HandlerContext, ProtocolPlugin

PIURI_V1 = "https://didcomm.org/out-of-band/1.1"
PIURI_V2 = "https://didcomm.org/out-of-band/2.0"


async def handle_reuse(ctx: HandlerContext) -> None:
    """An invitee who already knows us answers an invitation on its existing connection."""
    ctx.reply(f"{PIURI_V1}/handshake-reuse-accepted", {})
    ctx.emit(
        "connection.reused",
        {
            "connection_id": ctx.connection.id if ctx.connection else None,
            "invitation_id": ctx.message.pthid,
        },
    )


async def handle_reuse_accepted(ctx: HandlerContext) -> None:
    ctx.emit(
        "connection.reuse_accepted",
        {"connection_id": ctx.connection.id if ctx.connection else None},
    )


PLUGIN_V1 = ProtocolPlugin(
    piuri=PIURI_V1,
    family=Family.V1,
    roles=("sender", "receiver"),
    handlers={"handshake-reuse": handle_reuse, "handshake-reuse-accepted": handle_reuse_accepted},
    title="Out-of-Band 1.1",
)
PLUGIN_V2 = ProtocolPlugin(
    piuri=PIURI_V2,
    family=Family.V2,
    roles=("sender", "receiver"),
    handlers={},
    title="Out-of-Band 2.0",
)
