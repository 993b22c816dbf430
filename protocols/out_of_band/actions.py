"""What a person (or an organisation's controller) does with invitations: make one, and
accept one. Both end in a connection record and, for the invitee, the first message of the
handshake in the outbox."""

from __future__ import annotations

import time
import uuid
from typing import Any, Protocol

from agent.connections import ConnectionRecord, Connections, ConnectionState, InlineService
from agent.plugin import Effect, Emit, Family, Save, Send
from wallet import Wallet
from wallet.didcomm.message import Message
from wallet.errors import InputError

from . import invitation as inv
from .records import CATEGORY, InvitationRecord, encode

PING_V2 = "https://didcomm.org/trust-ping/2.0/ping"
REQUEST_V1 = "https://didcomm.org/didexchange/1.1/request"


class AgentLike(Protocol):
    """What these actions need from the runtime."""

    wallet: Wallet
    connections: Connections

    @property
    def endpoint(self) -> str: ...

    @property
    def ws_endpoint(self) -> str: ...

    async def commit(self, effects: list[Effect]) -> Any: ...

    async def create_did(self, method: str, family: Family, *, label: str | None = None) -> str: ...

    @property
    def mediation(self) -> Any: ...


async def create_invitation(
    agent: AgentLike,
    *,
    family: Family,
    label: str,
    multi_use: bool = False,
    goal_code: str | None = None,
    goal: str | None = None,
) -> InvitationRecord:
    wallet = agent.wallet
    endpoint = agent.endpoint
    if family is Family.V1:
        key_did = await wallet.create_did("key", label=f"invitation key ({label[:150]})")
        routing_keys: list[str] = []
        mediated = await agent.mediation.routing_for(Family.V1)
        if mediated is not None:
            (endpoint, *_), routing_keys = mediated
            await agent.mediation.register(key_did, Family.V1)
        invitation = inv.build_v1(
            label=label,
            endpoint=endpoint,
            recipient_key=key_did,
            routing_keys=routing_keys,
            goal_code=goal_code,
            goal=goal,
        )
        my_did = key_did
    else:
        my_did = await agent.create_did("peer2", Family.V2, label=f"invitation ({label[:150]})")
        invitation = inv.build_v2(frm=my_did, label=label, goal_code=goal_code, goal=goal)
    record = InvitationRecord(
        id=invitation.id,
        family=family.value,
        my_did=my_did,
        url=inv.to_url(invitation, endpoint),
        invitation=invitation.to_json(),
        label=label,
        multi_use=multi_use,
    )
    await agent.wallet.store.add(CATEGORY, record.id, encode(record), record.tags())
    return record


async def receive_invitation(agent: AgentLike, text: str, *, label: str) -> ConnectionRecord:
    """Accept an invitation: make a pairwise DID, record the connection, send the handshake."""
    invitation = inv.from_text(text)
    if invitation.family is Family.V1:
        return await _accept_v1(agent, invitation, label)
    return await _accept_v2(agent, invitation, label)


async def _accept_v1(agent: AgentLike, invitation: inv.Invitation, label: str) -> ConnectionRecord:
    if not any(p.endswith("/didexchange/1.1") for p in invitation.handshake_protocols):
        raise inv.InvalidInvitation("moi speaks DID exchange 1.1; the invitation does not offer it")
    service = await _their_service(agent.wallet, invitation.services[0])
    my_did = await agent.create_did(
        "peer4", Family.V1, label=f"for {(invitation.label or invitation.id)[:150]}"
    )
    request_id = str(uuid.uuid4())
    connection = ConnectionRecord.new(
        state=ConnectionState.REQUEST_SENT,
        family=Family.V1.value,
        role="invitee",
        my_did=my_did,
        their_label=invitation.label,
        invitation_id=invitation.id,
        thread_id=request_id,
        their_service=service,
    )
    request = Message(
        type=REQUEST_V1,
        body={"label": label, "did": my_did},
        id=request_id,
        thid=request_id,
        pthid=invitation.id,
    )
    await agent.commit(
        [
            Save("connection", connection.id, connection.to_json(), connection.tags()),
            Send(connection.id, request),
            Emit("connection.request_sent", connection.public_json()),
        ]
    )
    return connection


async def _their_service(wallet: Wallet, service: inv.InvitationService) -> InlineService:
    if service.did is not None:
        doc = await wallet.resolve(service.did)
        endpoints = [s.uri for s in doc.didcomm_services() if s.uri]
        if not endpoints:
            raise inv.InvalidInvitation("the invitation's DID has no DIDComm endpoint")
        return InlineService(endpoints[0], (service.did,))
    if service.endpoint is None:
        raise inv.InvalidInvitation("the invitation's service has no endpoint")
    return InlineService(service.endpoint, service.recipient_keys, service.routing_keys)


async def _accept_v2(agent: AgentLike, invitation: inv.Invitation, label: str) -> ConnectionRecord:
    if invitation.frm is None:
        raise inv.InvalidInvitation("a DIDComm v2 invitation needs a 'from' DID")
    await agent.wallet.resolve(invitation.frm)  # fail now, not in the outbox
    my_did = await agent.create_did(
        "peer2", Family.V2, label=f"for {(invitation.label or invitation.id)[:150]}"
    )
    ping_id = str(uuid.uuid4())
    connection = ConnectionRecord.new(
        state=ConnectionState.REQUEST_SENT,
        family=Family.V2.value,
        role="invitee",
        my_did=my_did,
        their_did=invitation.frm,
        their_label=invitation.label,
        invitation_id=invitation.id,
        thread_id=ping_id,
    )
    # DIDComm v2 has no handshake: the first message, on the invitation's thread, makes the
    # relationship. A ping with a response asked for tells us when both sides have it. The
    # label rides along (an extra body field others ignore) so the inviter can name us.
    ping = Message(
        type=PING_V2,
        body={"response_requested": True, "label": label},
        id=ping_id,
        pthid=invitation.id,
        created_time=int(time.time()),
    )
    await agent.commit(
        [
            Save("connection", connection.id, connection.to_json(), connection.tags()),
            Send(connection.id, ping),
            Emit("connection.request_sent", connection.public_json()),
        ]
    )
    return connection


def check_label(label: Any) -> str:
    if not isinstance(label, str) or not 0 < len(label) <= 200:
        raise InputError("a label is a string of 1 to 200 characters")
    return label
