"""The mediator: takes forwards for the recipients it serves, holds them durably, and hands
them over — live over the recipient's WebSocket, on pickup requests, or by relaying to the
recipient's own endpoint when it has one.

A message leaves the queue only when the recipient has it: acknowledged by pickup
(``messages-received``), or accepted by the recipient's endpoint (HTTP 2xx), or — for clients
that use the implicit pickup of a return-routed WebSocket (as ACA-Py's clients do) — written
to that socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from protocols.coordinate_mediation import messages as cm
from protocols.coordinate_mediation import records as cm_records
from protocols.pickup import build_delivery, type_of
from protocols.routing import parse_forward
from wallet.didcomm.message import Message
from wallet.errors import DuplicateRecord, MoiError, RecordNotFound

from ..connections import ConnectionRecord
from ..errors import RemoteProtocolError
from ..lanes import Lanes
from ..plugin import Family
from ..sessions import HttpReturn
from . import queue
from .refusals import ForwardRefused, RateLimited, RateLimiter, UnknownRecipient

log = logging.getLogger("moi.mediator")

ROUTING_RECORD = "mediator-routing"
IN_FLIGHT_SECONDS = 30.0
SWEEP_SECONDS = 0.5
WAKE_ALL_SECONDS = 30.0
CLOCK_MARGIN = 2.0  # seconds by which mediator processes' clocks (queue positions) may differ
#: Live delivery: at most this many deliveries unacknowledged per recipient. Messages that
#: arrive meanwhile wait and go together in the next one, so a busy recipient gets a few
#: large deliveries instead of one per message (each costs an envelope and an ack). One
#: out at a time batched 1.65 messages per delivery under 20 in flight (two: 1.05), for
#: 5.1 ms of mediator CPU per message instead of 6.9 (benchmarks/mediation). A backlog
#: (the last delivery was full) gets a second one in transit while the first is stored.
WINDOW = 1
BACKLOG_WINDOW = 2
BATCH = 50
BATCH_BYTES = 256 * 1024
MAX_ACK_IDS = 1000
#: At most this many messages (and bytes) queued here are remembered per live recipient
#: while its window is full; past it, the queue is read again (a recipient that stopped
#: acknowledging, or one that is sent large messages).
MAX_KNOWN = 2 * BATCH
MAX_KNOWN_BYTES = 4 * BATCH_BYTES


@dataclass(slots=True)
class Flight:
    """Live deliveries to one recipient that are not acknowledged yet."""

    #: the queue position of the last message sent: the next delivery starts after it
    cursor: str | None = None
    #: message id -> (when sent, delivery number, size)
    items: dict[str, tuple[float, int, int]] = field(default_factory=dict)
    sent: int = 0
    #: the last delivery could not take all that was queued
    backlog: bool = False
    #: messages behind the cursor that this process knows of, in queue order: read from
    #: the store, or queued here since
    known: list[queue.Queued] = field(default_factory=list)
    #: ``known`` is all there is behind the cursor, so the next delivery needs no read.
    #: Only where this process alone queues (a store of its own): then the queue order is
    #: the order in which this process committed.
    synced: bool = False

    def deliveries(self) -> int:
        return len({number for _, number, _ in self.items.values()})

    def overdue(self, now: float) -> bool:
        return any(now - sent >= IN_FLIGHT_SECONDS for sent, _, _ in self.items.values())

    def restart(self) -> None:
        """Send everything still queued again, from the start of the queue."""
        self.cursor = None
        self.items.clear()
        self.synced = False

    def queued(self, item: queue.Queued) -> None:
        """This process just queued ``item`` (after everything it queued before)."""
        last = self.known[-1].seq if self.known else self.cursor
        if last is not None and item.seq <= last:
            return  # a read of the queue, done since it was committed, has it already
        if (
            len(self.known) >= MAX_KNOWN
            or sum(k.size for k in self.known) + item.size > MAX_KNOWN_BYTES
        ):
            self.known.clear()
            self.synced = False
        else:
            self.known.append(item)

    def read(self, items: list[queue.Queued], *, complete: bool) -> None:
        """``items``: what the store holds behind the cursor, in order, as far as it was
        read (``complete``: to its end). Messages queued here while it was read are kept;
        those the read saw already are dropped from what was known."""
        last = items[-1].seq if items else self.cursor
        self.known = [*items, *(k for k in self.known if last is None or k.seq > last)]
        self.synced = complete


class Mediator:
    def __init__(
        self,
        agent: Any,
        *,
        auto_grant: bool,
        deny: Sequence[str] = (),
        limits: queue.Limits | None = None,
        rate: float = 0.0,
        burst: int = 1,
    ) -> None:
        self.agent = agent
        self.store = agent.store
        self.auto_grant = auto_grant
        self.deny = {d for d in deny if d}
        self.limits = limits or queue.Limits()
        self.rate_limiter = RateLimiter(rate, burst)
        self._live: set[str] = set()
        self._flights: dict[str, Flight] = {}
        self._reported: dict[str, int] = {}  # connection id -> message count last reported
        self._granted: set[str] = set()
        self._connected: dict[str, str] = {}  # peer key -> connection id, sessions seen here
        self.lanes = Lanes(self._lane, name="mediator")
        #: other processes may queue for our recipients (a PostgreSQL store is shared)
        url = getattr(getattr(agent, "config", None), "wallet_url", None) or ""
        self.shared = url.startswith(("postgres://", "postgresql://"))
        self.queue = queue.Queue(self.store, self.limits, shared=self.shared)
        self._sweeper: asyncio.Task[None] | None = None

    # -- policy and identity ----------------------------------------------------------------

    def denies(self, connection: Any) -> bool:
        return bool(self.deny) and (
            connection.their_did in self.deny or connection.their_label in self.deny
        )

    async def granted(self, connection_id: str) -> bool:
        # Asked for every pickup message; a grant is never taken back, so a yes is kept.
        if connection_id in self._granted:
            return True
        grant = await cm_records.grant_of(self.store, connection_id)
        if grant is not None and grant.state == "granted":
            self._granted.add(connection_id)
            return True
        return False

    async def routing(self, family: Family) -> tuple[str, str]:
        """(endpoint, routing key or DID) this mediator gives out; made once, shared by all
        recipients so that senders see one crowd, not one recipient."""
        name = f"routing-{family.value}"
        try:
            routing = (await self.store.get(ROUTING_RECORD, name)).value.decode("utf-8")
        except RecordNotFound:
            wallet = self.agent.wallet
            if family is Family.V1:
                routing = await wallet.create_did("key", label="mediator routing key")
            else:
                routing = await wallet.create_did(
                    "peer2",
                    endpoints=[self.agent.endpoint, self.agent.ws_endpoint],
                    label="mediator routing DID",
                )
            try:
                await self.store.add(ROUTING_RECORD, name, routing.encode("utf-8"))
            except DuplicateRecord:
                # Another mediator process on the same store made one first: use it, so
                # that every process gives out the same route.
                routing = (await self.store.get(ROUTING_RECORD, name)).value.decode("utf-8")
        return self.agent.endpoint, routing

    def normalise(self, family: Family, value: Any) -> str:
        return cm.normalise(family, value)

    async def update_route(self, recipient: str, connection_id: str, action: str) -> bool:
        self.queue.forget_route(recipient)
        if action == "add":
            return await queue.add_route(self.store, recipient, connection_id)
        return await queue.remove_route(self.store, recipient, connection_id)

    async def routes_of(self, connection_id: str) -> list[str]:
        return await queue.routes_of(self.store, connection_id)

    # -- the queue ----------------------------------------------------------------------------

    async def accept_forward(
        self, message: Mapping[str, Any], family: Family, client: str | None = None
    ) -> str:
        """Queue a forward's inner message for its recipient (before acknowledging it).

        ``client`` is the address the forward came from, for the rate limit. A refusal is a
        :class:`ForwardRefused` (its HTTP status and problem report), and queues nothing.
        """
        try:
            wait = self.rate_limiter.take(client)
            if wait:
                raise RateLimited(
                    f"too many forwards from this address; retry in {wait:.1f} s", wait
                )
            try:
                forward = parse_forward(message, family)
            except RemoteProtocolError as err:
                raise ForwardRefused(str(err), err.problem_code) from None
            connection_id = await self.queue.route_for(forward.recipient)
            if connection_id is None:
                raise UnknownRecipient("no recipient with that key is mediated here")
            item = await self.queue.enqueue(connection_id, forward.recipient, forward.message)
        except ForwardRefused as refused:
            log.info("refused a forward from %s: %s", client or "an unknown address", refused)
            raise refused.about(family, message) from None
        flight = self._flights.get(connection_id)
        if flight is not None and not self.shared:
            flight.queued(item)  # its delivery need not read back what was just written
        self.lanes.notify(connection_id)
        return "queued"

    async def count(self, connection_id: str, recipient: str | None = None) -> int:
        return await queue.count(self.store, connection_id, recipient)

    async def pending(
        self, connection_id: str, recipient: str | None, limit: int
    ) -> list[queue.Queued]:
        return await queue.pending(self.store, connection_id, recipient=recipient, limit=limit)

    async def acknowledge(self, connection_id: str, ids: Sequence[str]) -> None:
        flight = self._flights.get(connection_id)
        # What we delivered from this queue is known to be in it, and its size: no need to
        # read it back to check and count it.
        sizes = {}
        if flight is not None:
            sizes = {i: flight.items[i][2] for i in ids if i in flight.items}
        await self.queue.remove(connection_id, ids, sizes)
        if flight is not None:
            for item_id in ids:
                flight.items.pop(item_id, None)
        self.lanes.notify(connection_id)

    async def take_ack(self, message: Mapping[str, Any], family: Family, sender: str) -> bool:
        """Apply a live recipient's ``messages-received`` as it arrives, without the inbox:
        losing it costs nothing (unacknowledged messages are sent again and the recipient
        drops what it already has), while storing and dispatching it cost as much as the
        delivery it answers. False leaves the message to the usual path — anything
        unexpected, a refusal to report, or a status to send."""
        kind = message.get("@type") if family is Family.V1 else message.get("type")
        if kind != type_of(family, "messages-received"):
            return False
        connection_id = self._connected.get(sender)
        if connection_id is None or connection_id not in self._live:
            return False
        body = message if family is Family.V1 else message.get("body")
        ids = body.get("message_id_list") if isinstance(body, Mapping) else None
        if (
            not isinstance(ids, list)
            or len(ids) > MAX_ACK_IDS
            or not all(isinstance(i, str) for i in ids)
        ):
            return False
        try:
            await self.acknowledge(connection_id, ids)
        except MoiError:
            return False  # the handler will say why, in a problem report
        return not await self.status_after_ack(connection_id)

    def is_live(self, connection_id: str) -> bool:
        return connection_id in self._live

    def set_live(self, connection_id: str, live: bool) -> None:
        if live:
            self._live.add(connection_id)
            self._flights.pop(connection_id, None)  # a new session: resend what was out
            self.lanes.notify(connection_id)
        else:
            self._live.discard(connection_id)

    def reported(self, connection_id: str, count: int) -> None:
        """A status with ``count`` went to this recipient."""
        self._reported[connection_id] = count

    async def status_after_ack(self, connection_id: str) -> bool:
        """Whether an acknowledgement deserves a status (RFC 0685: SHOULD). Polling
        recipients need it to know whether to ask again; a live one is sent what comes
        anyway, so it hears only that the queue it last heard of is now empty — not one
        status per delivery (nor a count of the queue per acknowledgement)."""
        if connection_id not in self._live:
            return True
        if self._reported.get(connection_id, 0) == 0:
            return False
        return not await queue.pending(self.store, connection_id, limit=1)

    # -- delivery ---------------------------------------------------------------------------

    def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep(), name="mediator-sweep")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.queue.close()
        await self.lanes.close()

    def _wake(self, connection_id: str) -> None:
        """Something may have been queued for this recipient that this process did not
        see (another process queued it, or the clock is in doubt): read the queue."""
        flight = self._flights.get(connection_id)
        if flight is not None:
            flight.synced = False
        self.lanes.notify(connection_id)

    async def _sweep(self) -> None:
        """Wake the lanes of recipients connected here when something was queued for them
        by another mediator process sharing the store (this process wakes its own lanes as
        it queues); expire what is too old.

        One query a round, for what was queued lately by anyone, whatever the number of
        recipients connected: waking every connected lane twice a second cost a store
        query per recipient per round (2,000 a second with 1,000 recipients, idle). Every
        30 s all connected lanes are woken anyway, in case a clock between processes is off
        by more than the margin."""
        last_purge = last_all = time.time()
        since = time.time()
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                now = time.time()
                connected = set(self._live) | set(self._session_connections())
                if connected and now - last_all > WAKE_ALL_SECONDS:
                    last_all = now
                    for connection_id in connected:
                        self._wake(connection_id)
                elif connected and self.shared:
                    cutoff = f"{int((since - CLOCK_MARGIN) * 1e9):020d}"
                    recent = await self.store.find(
                        queue.CATEGORY, {"~seq": {"$gt": cutoff}}, limit=1000
                    )
                    for connection_id in {r.tags.get("connection_id") for r in recent}:
                        if connection_id in connected:
                            self._wake(connection_id)
                since = now
                if now - last_purge > 60:
                    last_purge = now
                    await self.queue.purge_expired(now)
            except Exception:  # the sweeper must survive a store hiccup
                log.exception("mediator sweep failed")

    def _session_connections(self) -> list[str]:
        sessions = self.agent.sessions
        return [cid for peer, cid in list(self._connected.items()) if sessions.get(peer)]

    async def _lane(self, connection_id: str) -> bool:
        try:
            connection = await self.agent.connections.get(connection_id)
        except RecordNotFound:
            return False
        peer = await self.agent.sender.peer_key(connection)
        session = self.agent.sessions.get(peer) if peer else None
        if isinstance(session, HttpReturn):
            # A pending HTTP response belongs to the request it answers (a pickup request
            # gets its delivery there); queued messages wait for pickup or a live socket.
            session = None
        if session is not None:
            self._connected[peer] = connection_id
        elif connection_id in self._live:
            # RFC 0685: a broken connection ends live mode; the next one asks again.
            self._live.discard(connection_id)
            self._flights.pop(connection_id, None)
        if session is not None and connection_id in self._live:
            return await self._push_deliveries(connection, session)
        if session is not None:
            return await self._push_raw(connection, session)
        return await self._relay(connection)

    async def _push_deliveries(self, connection: ConnectionRecord, session: Any) -> bool:
        flight = self._flights.setdefault(connection.id, Flight())
        now = time.monotonic()
        if flight.overdue(now):
            flight.restart()  # unacknowledged too long: the session may be dead; resend
        if flight.deliveries() >= (BACKLOG_WINDOW if flight.backlog else WINDOW):
            return False  # the next acknowledgement wakes the lane
        if not flight.synced:
            read = await queue.pending(self.store, connection.id, after=flight.cursor, limit=BATCH)
            if not read and not flight.items and flight.cursor is not None:
                # Nothing after the cursor and nothing out: anything still queued was
                # committed late with an earlier position (a concurrent sender, another
                # mediator process). Start from the head again.
                read = await queue.pending(self.store, connection.id, limit=BATCH)
                if read:
                    flight.restart()
            flight.read(read, complete=len(read) < BATCH and not self.shared)
        items = flight.known[:BATCH]
        if not items:
            return False
        batch, size = [], 0
        for item in items:
            if batch and size + item.size > BATCH_BYTES:
                break
            batch.append(item)
            size += item.size
        family = Family(connection.family)
        body, attached = build_delivery(family, batch, None)
        message = Message(
            type=type_of(family, "delivery"),
            body=body,
            id=str(uuid.uuid4()),
            attachments=tuple(attached),
        )
        try:
            data = await self.agent.sender.pack_for(message, connection)
            await session.send(data)
        except (MoiError, ConnectionError, RuntimeError, OSError) as err:
            log.info("live delivery to %s failed: %s", connection.id, err)
            return False
        flight.sent += 1
        flight.backlog = len(batch) < len(items) or len(items) == BATCH
        for item in batch:
            flight.items[item.id] = (now, flight.sent, item.size)
        flight.cursor = batch[-1].seq
        del flight.known[: len(batch)]
        return True  # room in the window for more, if more is queued

    async def _push_raw(self, connection: ConnectionRecord, session: Any) -> bool:
        items = await queue.pending(self.store, connection.id, limit=50)
        for item in items:
            try:
                await session.send(item.data)
            except (ConnectionError, RuntimeError, OSError):
                return False
            await self.queue.remove(connection.id, [item.id], {item.id: item.size})
        return len(items) == 50

    async def _relay(self, connection: ConnectionRecord) -> bool:
        endpoint = await self.agent.sender.direct_endpoint(connection)
        if endpoint is None:
            return False  # held for pickup
        items = await queue.pending(self.store, connection.id, limit=50)
        for item in items:
            try:
                await self.agent.outbound.send(
                    endpoint, item.data, content_type="application/didcomm-encrypted+json"
                )
            except MoiError as err:
                log.info("relay to %s failed (%s); the message stays queued", endpoint, err)
                return False
            await self.queue.remove(connection.id, [item.id], {item.id: item.size})
        return len(items) == 50

    async def recipients(self) -> list[dict[str, Any]]:
        grants = await self.store.find(cm_records.GRANT, {"state": "granted"})
        out = []
        for record in grants:
            connection_id = record.json()["connection_id"]
            try:
                connection = await self.agent.connections.get(connection_id)
            except RecordNotFound:
                continue
            out.append(
                {
                    "recipient": connection.their_label or connection.their_did,
                    "connection": connection_id,
                    "queued": await queue.count(self.store, connection_id),
                    "live": connection_id in self._live,
                    "keys": await queue.routes_of(self.store, connection_id),
                }
            )
        return out
