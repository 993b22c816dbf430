"""DIDComm v2 relationships: made by the first authenticated message on an invitation's
thread, completed by the first authenticated answer. There is no handshake protocol in v2;
these two rules are what the runtime applies before handing a message to its handler."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.connections import ConnectionRecord, ConnectionState, canonical_did
from agent.plugin import Effect, Emit, Family, Save
from wallet.didcomm.message import Message
from wallet.didcomm.packing import did_of
from wallet.storage import Store

from . import records


def _save(connection: ConnectionRecord, topic: str) -> list[Effect]:
    return [
        Save("connection", connection.id, connection.to_json(), connection.tags()),
        Emit(topic, connection.public_json()),
    ]


async def relationship_for(
    store: Store,
    message: Message,
    metadata: Mapping[str, Any],
    my_did: str | None,
    connection: ConnectionRecord | None,
) -> tuple[ConnectionRecord | None, list[Effect]]:
    """The connection a v2 message belongs to, made or completed by it where the rules say."""
    authenticated = bool(metadata.get("authenticated")) and message.frm is not None
    if connection is not None:
        if authenticated and connection.state is not ConnectionState.COMPLETED:
            done = connection.evolve(state=ConnectionState.COMPLETED)
            return done, _save(done, "connection.completed")
        return connection, []
    if not authenticated or not message.pthid or my_did is None:
        return None, []
    invitation = await records.by_id(store, message.pthid)
    if (
        invitation is None
        or invitation.family != Family.V2.value
        or canonical_did(invitation.my_did) != canonical_did(my_did)
        or not invitation.usable
    ):
        return None, []
    label = message.body.get("label")
    connection = ConnectionRecord.new(
        state=ConnectionState.COMPLETED,
        family=Family.V2.value,
        role="inviter",
        my_did=invitation.my_did,
        their_did=did_of(message.frm or ""),
        their_label=label[:200] if isinstance(label, str) else None,
        invitation_id=invitation.id,
        thread_id=message.id,
    )
    effects: list[Effect] = [
        Save(records.CATEGORY, invitation.id, invitation.use().to_json(), invitation.tags())
    ]
    return connection, effects + _save(connection, "connection.completed")
