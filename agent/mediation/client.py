"""The mediation client: a person's agent that nobody can reach directly (behind NAT, asleep,
``--no-inbound``) asks a mediator to hold its messages, and collects them.

Live mode keeps a WebSocket open to the mediator (pings detect a dead one; it reconnects with
backoff) and asks for live delivery; poll mode asks for deliveries every ``interval``
seconds. Either way a delivered message is stored in our inbox before the mediator is told it
may forget it. Once mediation is granted, the DIDs we create carry the mediator's endpoint and
routing keys, and their keys are registered with the mediator before the DID is given out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from typing import Any

import aiohttp

from protocols.coordinate_mediation import messages as cm
from protocols.coordinate_mediation import records
from protocols.pickup import read_attachments, type_of
from wallet.did import create_did_key
from wallet.didcomm.message import Message, from_aries
from wallet.didcomm.packing import did_of
from wallet.errors import MoiError

from ..connections import ConnectionRecord, canonical_did
from ..errors import RemoteProtocolError, TransportError
from ..plugin import Family, Save, Send
from ..tasks import cancel

log = logging.getLogger("moi.mediation")

HEARTBEAT = 10.0
MAX_BACKOFF = 30.0
#: How long a mediator has to answer our pickup requests before we stop waiting to learn
#: whether it speaks Message Pickup at all.
VERDICT_WAIT = 10.0
#: Implicit pickup: how often an idle session is nudged for what the mediator holds.
NUDGE_INTERVAL = 5.0
PING = {
    Family.V1: "https://didcomm.org/trust_ping/1.0/ping",
    Family.V2: "https://didcomm.org/trust-ping/2.0/ping",
}


class ClientSession:
    """Our WebSocket to the mediator, as a return-route session for our sends."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.wanted = True

    async def send(self, data: bytes) -> None:
        await self.ws.send_str(data.decode("utf-8"))

    @property
    def closed(self) -> bool:
        return self.ws.closed


class MediationClient:
    def __init__(self, agent: Any) -> None:
        self.agent = agent
        self.store = agent.store
        self.record: records.MediationRecord | None = None
        self.live = False
        #: the mediator does not speak Message Pickup: it hands over what it holds only in
        #: answer to a message we send on the session (ACA-Py's implicit pickup)
        self.implicit = False
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._status_seen = asyncio.Event()
        self._nudge = asyncio.Event()

    def is_mediator(self, connection_id: str) -> bool:
        return self.record is not None and self.record.connection_id == connection_id

    # -- requesting ---------------------------------------------------------------------------

    async def request(
        self,
        connection: ConnectionRecord,
        *,
        pickup: str = "live",
        interval: float = 5.0,
        ws_endpoint: str | None = None,
        timeout: float = 30.0,
    ) -> records.MediationRecord:
        family = Family(connection.family)
        pending = records.MediationRecord(
            connection.id, family.value, "requested", pickup, interval, ws_endpoint=ws_endpoint
        )
        message = Message(type=cm.type_of(family, "mediate-request"), body={}, id=str(uuid.uuid4()))
        with self.agent.bus.subscribe() as queue:
            await self.agent.commit(
                [
                    Save(records.CLIENT, connection.id, pending.to_json(), pending.tags()),
                    Send(connection.id, message),
                ]
            )
            self.record = pending  # replies to the request come back on its return route

            def answered(event: Any) -> bool:
                return event.topic in (
                    "mediation.granted",
                    "mediation.denied",
                    "problem_report.received",
                ) and (event.payload.get("connection_id") == connection.id)

            async with asyncio.timeout(timeout):
                event = await self.agent.bus.wait_for(answered, queue)
        record = await records.mediation_of(self.store, connection.id)
        if event.topic != "mediation.granted" or record is None or record.state != "granted":
            self.record = None
            raise RemoteProtocolError("the mediator did not grant mediation", "mediation.denied")
        record = record.evolve(pickup=pickup, interval=interval, ws_endpoint=ws_endpoint)
        await self._save(record)
        await self._restart(record)
        return record

    async def _save(self, record: records.MediationRecord) -> None:
        await self.agent.commit(
            [Save(records.CLIENT, record.connection_id, record.to_json(), record.tags())]
        )

    # -- what new DIDs carry --------------------------------------------------------------------

    async def routing_for(self, family: Family) -> tuple[list[str], list[str]] | None:
        """(endpoints, routing keys) for a new DID of ``family``, when mediated in it."""
        record = self.record
        if record is None or record.state != "granted" or record.family != family.value:
            return None
        if family is Family.V1:
            return [record.endpoint or ""], list(record.routing_keys)
        # v2: the mediator's endpoints, and its routing DID's key agreement key as the hop.
        doc = await self.agent.wallet.resolve(record.routing_did or "")
        endpoints = [s.uri for s in doc.didcomm_services() if s.uri]
        keys = [m.id for m in doc.key_agreement_keys()][:1]
        return endpoints, keys

    async def register(self, did: str, family: Family, *, timeout: float = 15.0) -> None:
        """Tell the mediator to route a new DID's key to us; wait until it has."""
        record = self.record
        if record is None or record.family != family.value:
            return
        if family is Family.V1:
            doc = await self.agent.wallet.resolve(did)
            key = next(
                m.public_key
                for m in doc.verification_methods
                if m.public_key.type.value == "Ed25519"
            )
            recipient = create_did_key(key)
        else:
            recipient = did
        field = cm.RECIPIENT_FIELD[family]
        message = Message(
            type=cm.type_of(family, cm.UPDATE[family]),
            body={"updates": [{field: recipient, "action": "add"}]},
            id=str(uuid.uuid4()),
        )
        with self.agent.bus.subscribe() as queue:
            await self.agent.commit([Send(record.connection_id, message)])
            async with asyncio.timeout(timeout):
                event = await self.agent.bus.wait_for(
                    lambda e: (
                        e.topic in ("mediation.updated", "problem_report.received")
                        and e.payload.get("thread_id") == message.id
                    ),
                    queue,
                )
        results = event.payload.get("updated", []) if event.topic == "mediation.updated" else []
        if not results or any(r.get("result") != "success" for r in results):
            raise RemoteProtocolError(
                "the mediator refused to route our new key", "mediation.update"
            )

    # -- collecting -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Resume the granted mediation after a restart."""
        record = await records.active_mediation(self.store)
        if record is not None:
            await self._restart(record)

    async def _restart(self, record: records.MediationRecord) -> None:
        self.record = record
        await self.close()
        self._task = asyncio.create_task(self._run(), name="mediation-pickup")

    async def close(self) -> None:
        await cancel(self._task)
        self._task = None
        self.live = False

    async def on_status(self, connection_id: str, count: int, live: Any) -> None:
        if self.record is None or self.record.connection_id != connection_id:
            return
        self._status_seen.set()
        self.record = self.record.evolve(pending=count)
        await self._save(self.record)
        if count and self.record.pickup == "poll":
            self._wake.set()  # more is waiting: ask again now rather than after the interval

    async def store_delivered(self, packed: bytes, *, inline: bool = False) -> None:
        """Store a delivered message in our inbox (deduplicated) — before we acknowledge.
        ``inline`` also handles it at once, in the same transaction, when its lane is idle."""
        try:
            await self.agent.receive(packed, inline=inline)
        except MoiError as err:
            # Undecryptable or malformed: acknowledging it is right (it will never improve),
            # and it is logged so that nothing disappears silently.
            log.warning("a delivered message was refused: %s", err)

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            record = self.record
            if record is None:
                return
            try:
                if record.pickup == "live":
                    await self._live(record)
                else:
                    await self._poll(record)
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except (MoiError, aiohttp.ClientError, OSError, TimeoutError) as err:
                log.info("pickup from the mediator interrupted (%s); retrying", err)
            except Exception:  # the pickup loop must outlive anything
                log.exception("pickup loop failed; retrying")
            self.live = False
            await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
            backoff = min(MAX_BACKOFF, backoff * 2)

    async def _ask(self, name: str, body: dict[str, Any]) -> str:
        record = self.record
        if record is None:
            return ""
        family = Family(record.family)
        message = Message(type=type_of(family, name), body=body, id=str(uuid.uuid4()))
        await self.agent.commit([Send(record.connection_id, message)])
        return message.id

    async def _poll(self, record: records.MediationRecord) -> None:
        while True:
            await self._ask("delivery-request", {"limit": 100})
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(record.interval):
                    await self._wake.wait()

    async def _live(self, record: records.MediationRecord) -> None:
        connection = await self.agent.connections.get(record.connection_id)
        url = record.ws_endpoint or await self._ws_url(connection)
        peer = await self.agent.sender.peer_key(connection)
        if peer is None:
            raise TransportError("cannot tell the mediator's key")
        session_http = self.agent.outbound.session
        async with session_http.ws_connect(url, heartbeat=HEARTBEAT, autoping=True) as ws:
            session = ClientSession(ws)
            self.agent.sessions.add(peer, session)
            helpers: list[asyncio.Task[None]] = []
            deliveries: asyncio.Queue[tuple[str, list[tuple[str, bytes]]]] = asyncio.Queue(8)
            try:
                self.live = True
                # The outbox may hold requests that waited for this socket.
                self.agent.outbox.notify(record.connection_id)
                helpers.append(asyncio.create_task(self._learn_pickup(record)))
                helpers.append(
                    asyncio.create_task(self._take_deliveries(deliveries, session, connection))
                )
                async for frame in ws:
                    if frame.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                        data = frame.data.encode() if isinstance(frame.data, str) else frame.data
                        try:
                            await self._on_frame(data, session, connection, peer, deliveries)
                        except MoiError as err:
                            log.info("refused a message from the mediator: %s", err)
                        if self.implicit:
                            self._nudge.set()  # it may hold more: ask for the next one
                    elif frame.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSED):
                        break
            finally:
                self.live = False
                for helper in helpers:
                    helper.cancel()
                await asyncio.gather(*helpers, return_exceptions=True)
                self.agent.sessions.remove(session)
        raise TransportError("the mediator's WebSocket closed")

    async def _on_frame(
        self,
        data: bytes,
        session: ClientSession,
        connection: ConnectionRecord,
        peer: str,
        deliveries: asyncio.Queue[tuple[str, list[tuple[str, bytes]]]],
    ) -> None:
        """A message on our live socket. A delivery from the mediator goes to
        :meth:`_take_deliveries`; anything else is stored for the dispatcher. Nothing here
        runs a handler: one may wait for a later message of this very socket (answering a
        connection request registers a new DID with the mediator, whose answer comes here),
        and the reader must be free to read it."""
        family = Family(connection.family)
        if self.implicit:  # raw forwarded messages: nothing to look into
            await self.agent.receive(data, session, inline=False)
            return
        unpacked = await self.agent.wallet.unpack(data)
        message = unpacked.message
        kind = message.get("@type") if family is Family.V1 else message.get("type")
        if kind != type_of(family, "delivery") or _sender(unpacked, family) != peer:
            await self.agent.receive(data, session, inline=False)
            return
        delivery = from_aries(message) if family is Family.V1 else Message.from_json(message)
        try:
            attached = read_attachments(family, delivery)
        except RemoteProtocolError as err:
            log.warning("a malformed delivery from the mediator was dropped: %s", err)
            return
        await deliveries.put((delivery.id, attached))

    async def _take_deliveries(
        self,
        deliveries: asyncio.Queue[tuple[str, list[tuple[str, bytes]]]],
        session: ClientSession,
        connection: ConnectionRecord,
    ) -> None:
        """Live deliveries, in order: each message is stored — and handled at once when it
        can be, in the same transaction — then the acknowledgement goes straight back on
        the socket. The delivery itself is not kept (unacknowledged, the mediator sends it
        again), which spares each one an inbox record, a dispatch and an outbox record."""
        family = Family(connection.family)
        while True:
            delivery_id, attached = await deliveries.get()
            try:
                received = []
                for item_id, packed in attached:
                    await self.store_delivered(packed, inline=True)
                    received.append(item_id)
                ack = Message(
                    type=type_of(family, "messages-received"),
                    body={"message_id_list": received},
                    id=str(uuid.uuid4()),
                    thid=delivery_id,
                )
                data = await self.agent.sender.pack_for(ack, connection, return_route=True)
                await session.send(data)
            except (MoiError, ConnectionError, RuntimeError, OSError) as err:
                # Unacknowledged, the delivery comes again (after a reconnect at the latest).
                log.info("could not take a delivery from the mediator: %s", err)

    async def _learn_pickup(self, record: records.MediationRecord) -> None:
        """Ask for live delivery; a mediator that answers with a problem report instead of a
        status does not speak Message Pickup (ACA-Py): it delivers on the session only in
        answer to something we send there, so we keep sending (see :meth:`_nudging`)."""
        self._status_seen.clear()
        with self.agent.bus.subscribe() as events:
            asked = {
                await self._ask("live-delivery-change", {"live_delivery": True}),
                await self._ask("status-request", {}),
            }

            async def refused() -> None:
                await self.agent.bus.wait_for(
                    lambda e: (
                        e.topic == "problem_report.received" and e.payload.get("thread_id") in asked
                    ),
                    events,
                )

            waiters = [
                asyncio.create_task(refused()),
                asyncio.create_task(self._status_seen.wait()),
            ]
            done, pending = await asyncio.wait(
                waiters, timeout=VERDICT_WAIT, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in pending:
                waiter.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self.implicit = waiters[0] in done and not self._status_seen.is_set()
        if self.implicit:
            log.info("the mediator has no Message Pickup; collecting by implicit pickup")
            await self._nudging(record)

    async def _nudging(self, record: records.MediationRecord) -> None:
        """Implicit pickup: each message we send on the session lets the mediator hand over
        one message it holds for us (ACA-Py buffers one reply per session and queues the
        rest until the session carries another inbound message). Send a ping that wants no
        answer after every message received, and every few seconds when idle."""
        family = Family(record.family)
        body = {"response_requested": False}
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(NUDGE_INTERVAL):
                    await self._nudge.wait()
            self._nudge.clear()
            ping = Message(type=PING[family], body=body, id=str(uuid.uuid4()))
            await self.agent.commit([Send(record.connection_id, ping)])

    async def _ws_url(self, connection: ConnectionRecord) -> str:
        if connection.their_did is not None:
            doc = await self.agent.wallet.resolve(connection.their_did)
            for service in doc.didcomm_services():
                if service.uri and service.uri.startswith("ws"):
                    return service.uri
            for service in doc.didcomm_services():
                if service.uri and service.uri.startswith("http"):
                    scheme, rest = service.uri.split("://", 1)
                    return f"{'wss' if scheme == 'https' else 'ws'}://{rest.rstrip('/')}/ws"
        raise TransportError("the mediator has no WebSocket endpoint")

    async def status(self) -> dict[str, Any]:
        record = self.record or await records.active_mediation(self.store)
        if record is None:
            return {"mediator": None, "state": "none", "live": False, "pending": 0}
        return {
            "mediator": record.connection_id,
            "state": record.state,
            "live": self.live,
            "pending": record.pending,
            "pickup": record.pickup,
            "updated": time.time() - record.updated,
        }


def _sender(unpacked: Any, family: Family) -> str | None:
    """Who sent an authenticated message, as sessions name peers (v1 verkey, v2 DID)."""
    meta = unpacked.metadata
    if not meta.authenticated:
        return None
    if family is Family.V1:
        return meta.sender_kid
    frm = unpacked.message.get("from")
    return canonical_did(did_of(frm)) if isinstance(frm, str) else None
