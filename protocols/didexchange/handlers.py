"""DID exchange 1.1: the glue between messages, connection records and the wallet.

Responder: a request that answers one of our invitations gets a fresh pairwise did:peer:4,
signed over with the invitation key (``did_rotate~attach``) so the requester can trust it.
Requester: the response's signature is checked against the invitation key before the new DID
is accepted; then ``complete``. Either side's connection is ``completed`` at the end.
"""

from __future__ import annotations

import uuid

from agent.connections import ConnectionRecord, ConnectionState
from agent.errors import RemoteProtocolError
from agent.plugin import Family, HandlerContext
from protocols.out_of_band import records as invitations
from wallet.did import did_key_public_key
from wallet.didcomm.message import Message
from wallet.errors import MoiError, ResolutionError
from wallet.keys import KeyType, PublicKey

from .attachments import sign_attachment, verify_attachment
from .messages import Complete, Request, Response


def _save(ctx: HandlerContext, connection: ConnectionRecord, topic: str) -> None:
    ctx.save("connection", connection.id, connection.to_json(), connection.tags())
    ctx.emit(topic, connection.public_json())


async def handle_request(ctx: HandlerContext) -> None:
    wallet = ctx.services["wallet"]
    agent = ctx.services["agent"]
    request = Request.from_body(ctx.message.body)
    if ctx.connection is not None:
        raise RemoteProtocolError("this key already has a connection", "request_not_accepted")
    invitation_did = await wallet.did_for_kid(ctx.recipient_kid) if ctx.recipient_kid else None
    invitation = await invitations.by_did(ctx.records, invitation_did) if invitation_did else None
    if invitation is None or invitation.family != Family.V1.value:
        raise RemoteProtocolError(
            "the request answers no invitation of ours", "request_not_accepted"
        )
    if not invitation.usable:
        raise RemoteProtocolError("the invitation was already used", "request_not_accepted")
    if ctx.message.pthid not in (None, invitation.id):
        raise RemoteProtocolError("the request names another invitation", "request_not_accepted")
    try:
        their_doc = await wallet.resolve(request.did)
    except ResolutionError as err:
        raise RemoteProtocolError(
            f"cannot resolve the requester's DID: {err}", "request_not_accepted"
        ) from err
    if ctx.sender_kid and not any(
        m.public_key.base58 == ctx.sender_kid for m in their_doc.verification_methods
    ):
        raise RemoteProtocolError(
            "the request was not sent with a key of the DID it presents", "request_not_accepted"
        )
    my_did = await agent.create_did(
        "peer4", Family.V1, label=f"for {(request.label or 'peer')[:150]}"
    )
    invitation_key = did_key_public_key(invitation.my_did)
    rotate = await sign_attachment(
        my_did.encode("utf-8"),
        invitation_key,
        lambda data: wallet.sign(invitation_key.base58, data),
        "text/string",
    )
    connection = ConnectionRecord.new(
        state=ConnectionState.RESPONSE_SENT,
        family=Family.V1.value,
        role="inviter",
        my_did=my_did,
        their_did=request.did,
        their_label=request.label or None,
        invitation_id=invitation.id,
        thread_id=ctx.message.id,
        invitation_key=invitation_key.base58,
    )
    response = Message(
        type=Response.TYPE,
        body=Response(did=my_did, did_rotate=rotate).to_body(),
        id=str(uuid.uuid4()),
        thid=ctx.message.id,
        pthid=invitation.id,
    )
    ctx.save(invitations.CATEGORY, invitation.id, invitation.use().to_json(), invitation.tags())
    _save(ctx, connection, "connection.request_received")
    ctx.send(response, connection.id)


async def handle_response(ctx: HandlerContext) -> None:
    response = Response.from_body(ctx.message.body)
    connection = ctx.connection
    if connection is None or connection.state is not ConnectionState.REQUEST_SENT:
        raise RemoteProtocolError(
            "no DID exchange request of ours awaits this response", "response_not_accepted"
        )
    if ctx.message.thid != connection.thread_id:
        raise RemoteProtocolError("the response is on another thread", "response_not_accepted")
    invitation_key = await _invitation_key(ctx, connection)
    if response.did_rotate is not None:
        signed = verify_attachment(response.did_rotate, invitation_key)
        if signed.decode("utf-8", "replace") != response.did:
            raise RemoteProtocolError(
                "the signed DID is not the response's DID", "response_not_accepted"
            )
    elif invitation_key is not None:
        raise RemoteProtocolError(
            "the response's new DID is not signed by the invitation key", "response_not_accepted"
        )
    try:
        await ctx.services["wallet"].resolve(response.did)
    except MoiError as err:
        raise RemoteProtocolError(
            f"cannot resolve the responder's DID: {err}", "response_not_accepted"
        ) from err
    completed = connection.evolve(
        state=ConnectionState.COMPLETED, their_did=response.did, their_service=None
    )
    complete = Message(
        type=Complete.TYPE,
        body={},
        id=str(uuid.uuid4()),
        thid=connection.thread_id,
        pthid=connection.invitation_id,
    )
    _save(ctx, completed, "connection.completed")
    ctx.send(complete, connection.id)


async def _invitation_key(ctx: HandlerContext, connection: ConnectionRecord) -> PublicKey | None:
    """The key the invitation named: a did:key of an inline service, or the recipient key of
    the DID the invitation gave as its service (its first v1 service's, else its first
    Ed25519 key, the one the request was encrypted to)."""
    if not (connection.their_service and connection.their_service.recipient_keys):
        return None
    first = connection.their_service.recipient_keys[0]
    if first.startswith("did:key:"):
        return did_key_public_key(first)
    if not first.startswith("did:"):
        return None
    try:
        doc = await ctx.services["wallet"].resolve(first)
        for service in doc.didcomm_services():
            for ref in service.recipient_keys:
                if ref.startswith("did:key:"):
                    key = did_key_public_key(ref.split("#", 1)[0])
                else:
                    key = doc.method(ref).public_key
                if key.type is KeyType.ED25519:
                    return key
        for method in doc.verification_methods:
            if method.public_key.type is KeyType.ED25519:
                return method.public_key
    except MoiError as err:
        raise RemoteProtocolError(
            f"cannot resolve the invitation's DID: {err}", "response_not_accepted"
        ) from err
    return None


async def handle_complete(ctx: HandlerContext) -> None:
    Complete.from_body(ctx.message.body)
    connection = ctx.connection
    if connection is None:
        raise RemoteProtocolError("no connection awaits this completion", "e.p.msg")
    if connection.state is ConnectionState.COMPLETED:
        return  # a repeated complete changes nothing
    if connection.state is not ConnectionState.RESPONSE_SENT:
        raise RemoteProtocolError("the exchange is not awaiting completion", "e.p.msg")
    _save(ctx, connection.evolve(state=ConnectionState.COMPLETED), "connection.completed")
