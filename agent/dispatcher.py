"""The dispatcher: from a stored inbound message to its handler, and from the handler's
effects to one committed transaction.

Inbound messages are handled per *lane* (one sender) in arrival order, lanes in parallel
up to a bound. For each message: find its connection, find the handler for its type in its
family, run the handler under the thread's lock, then in ONE transaction apply the effects
(records saved, messages appended to the outbox, events appended to the log) and mark the
inbox record done. Only after the commit are the outbox lanes woken and the events published.
A handler that fails, or a type nobody handles, becomes a problem report to the sender —
never a crash and never a traceback on the wire.

Commits that arrive while a transaction is under way (other lanes, admin requests) wait
and go together in the next one (group commit): each keeps its own outcome, but a burst
pays BEGIN, COMMIT and the writer lock once.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from protocols.did_rotate import from_prior
from protocols.out_of_band.v2 import relationship_for
from wallet.didcomm.message import Message, from_aries
from wallet.didcomm.packing import did_of
from wallet.encoding import dumps_compact
from wallet.errors import DuplicateRecord, MoiError
from wallet.storage import Add, Store, Upsert, WriteOp
from wallet.storage import Delete as DeleteRecord

from . import events, inbox, outbox
from .connections import ConnectionRecord, Connections
from .errors import ProtocolError
from .events import EventBus
from .lanes import Lanes
from .plugin import Delete, Effect, Emit, Family, HandlerContext, Save, Send
from .registry import Registry

log = logging.getLogger("moi.dispatcher")

#: RFC 0035 names it report-problem/1.0, but deployed Aries agents (ACA-Py, Credo) send and
#: understand only this name; moi reads both.
PROBLEM_V1 = "https://didcomm.org/notification/1.0/problem-report"
PROBLEM_V2 = "https://didcomm.org/report-problem/2.0/problem-report"
#: Every protocol may adopt problem-report (RFC 0035), as ``problem-report`` or
#: ``problem_report`` (ACA-Py's generic one is ``notification/1.0/problem-report``): answering
#: a peer's report, in whatever protocol, with one of ours would ping-pong forever.
_PROBLEM_NAMES = frozenset({"problem-report", "problem_report"})


class KeyedLock:
    """One asyncio lock per key (a thread id), dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: defaultdict[str, int] = defaultdict(int)

    def busy(self, key: str) -> bool:
        return key in self._users

    @contextlib.asynccontextmanager
    async def __call__(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] += 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key]
                self._locks.pop(key, None)


class Dispatcher:
    def __init__(
        self,
        *,
        store: Store,
        registry: Registry,
        bus: EventBus,
        outbox_worker: outbox.OutboxWorker,
        services: dict[str, Any],
        concurrency: int = 16,
        connections: Connections | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.bus = bus
        self.outbox = outbox_worker
        self.services = services
        self.connections = connections or Connections(store)
        self.locks = KeyedLock()
        self.lanes = Lanes(self._lane, name="inbox", limit=concurrency)
        self._ready: dict[str, list[inbox.InboxItem]] = {}
        self._handled: OrderedDict[str, None] = OrderedDict()
        self._backlog: set[str] = set()
        self._lane_locks = KeyedLock()
        self._committing = False  # a transaction of commit() is under way
        self._queued: list[_Commit] = []  # commits waiting for the next transaction
        self._committer: asyncio.Task[None] | None = None
        #: called after an item is handled: (item, connection id, effects committed)
        self.on_handled: Callable[[inbox.InboxItem, str | None, list[Effect]], None] | None = None

    async def start(self) -> None:
        """Resume handling of everything stored but not yet handled (after a crash)."""
        pending = await self.store.find(inbox.CATEGORY, {"state": inbox.InboxState.PENDING.value})
        for record in pending:
            self._backlog.add(record.tags["lane"])
            self.lanes.notify(record.tags["lane"])

    def notify(self, lane: str) -> None:
        self.lanes.notify(lane)

    def submit(self, item: inbox.InboxItem) -> None:
        """Hand over an item just stored, so its lane need not read it back from the store."""
        ready = self._ready.setdefault(item.lane, [])
        bisect.insort(ready, item, key=lambda i: i.seq)
        self.lanes.notify(item.lane)

    async def close(self) -> None:
        await self.lanes.close()
        if self._committer is not None and not self._committer.done():
            await asyncio.wait({self._committer})

    # -- handling ---------------------------------------------------------------------------

    async def try_inline(self, item: inbox.InboxItem) -> str | None:
        """Handle a message as it arrives, storing it already handled: one transaction holds
        the inbox record and the handler's effects, and only then is the sender answered.
        Possible when nothing of its lane waits or runs (else order would break): None then,
        and the caller stores the message for its lane."""
        lane = item.lane
        if (
            lane in self._backlog
            or self._ready.get(lane)
            or self.lanes.busy(lane)
            or self._lane_locks.busy(lane)
        ):
            return None
        async with self._lane_locks(lane):
            try:
                await self.handle(item, inline=True)
            except DuplicateRecord:
                return "duplicate"
        self._handled[item.id] = None
        if len(self._handled) > 4096:
            self._handled.popitem(last=False)
        return "accepted"

    async def _lane(self, lane: str) -> bool:
        async with self._lane_locks(lane):
            return await self._lane_body(lane)

    async def _lane_body(self, lane: str) -> bool:
        # Items handed over in memory go first — unless older ones wait in the store (after
        # a restart, or a run that failed half way): then the store is read until drained.
        if lane not in self._backlog:
            ready = self._ready.pop(lane, None)
            if ready:
                self._backlog.add(lane)  # should this run fail, trust the store
                for item in ready:
                    await self._handle_once(item)
                self._backlog.discard(lane)
                # Nothing else to look for: what this process stores for the lane is handed
                # over (submit), and more handed over or a notify meanwhile runs the lane
                # again by itself. Reading the store here cost a trip per burst.
                return False
        # State first: the store drives the query from the first equality, and the pending
        # few are a far smaller set than a lane's whole history (kept for deduplication).
        records = await self.store.find(
            inbox.CATEGORY,
            {"state": inbox.InboxState.PENDING.value, "lane": lane},
            order_by="~seq",
            limit=64,
        )
        for record in records:
            await self._handle_once(inbox.InboxItem.from_json(record.json()))
        if len(records) < 64:
            self._backlog.discard(lane)
        return bool(records) or lane in self._ready

    async def _handle_once(self, item: inbox.InboxItem) -> bool:
        # An item can be both handed over and read back from the store; handle it once.
        if item.id in self._handled:
            return False
        await self.handle(item)
        self._handled[item.id] = None
        if len(self._handled) > 4096:
            self._handled.popitem(last=False)
        return True

    async def handle(self, item: inbox.InboxItem, *, inline: bool = False) -> None:
        family = Family(item.family)
        metadata = item.metadata
        try:
            message = (
                from_aries(item.message) if family is Family.V1 else Message.from_json(item.message)
            )
        except MoiError as err:
            await self.commit([], done=item.finished(inbox.InboxState.FAILED, str(err)), new=inline)
            return
        first: list[Effect] = []
        try:
            connection, my_did = await self.find_connection(family, message, metadata)
            if family is Family.V2:
                connection, rotated = await self._rotations(message, my_did, connection)
                first.extend(rotated)
        except ProtocolError as err:
            ctx = HandlerContext(
                message=message,
                connection=None,
                records=self.store,
                family=family,
                now=time.time(),
                services=self.services,
            )
            await self.commit(
                self._problem(ctx, err.problem_code, str(err)),
                done=item.finished(inbox.InboxState.FAILED, str(err)),
                new=inline,
            )
            return
        if family is Family.V2:
            connection, made = await relationship_for(
                self.store, message, metadata, my_did, connection
            )
            first.extend(made)
        ctx = HandlerContext(
            message=message,
            connection=connection,
            records=self.store,
            family=family,
            now=time.time(),
            sender_kid=metadata.get("sender_kid"),
            recipient_kid=metadata.get("recipient_kid"),
            services=self.services,
            effects=list(first),
        )
        state, error = inbox.InboxState.DONE, None
        try:
            found = self.registry.handler_for(family, message.type)
            if found is None:
                raise ProtocolError(
                    f"message type {message.type[:200]} is not supported", "e.p.msg.unsupported"
                )
            async with self.locks(message.thread_id):
                await found[1](ctx)
            effects = ctx.effects
        except ProtocolError as err:
            state, error = inbox.InboxState.FAILED, str(err)
            effects = first + self._problem(ctx, err.problem_code, str(err))
        except MoiError as err:
            state, error = inbox.InboxState.FAILED, str(err)
            effects = first + self._problem(ctx, "e.p.msg", str(err))
        except Exception as err:  # the catch-all of the inbound path: log, answer, go on
            log.exception("handler for %s failed", message.type[:200])
            state, error = inbox.InboxState.FAILED, f"internal error: {type(err).__name__}"
            problem = self._problem(ctx, "e.p.me", "internal error while handling the message")
            effects = first + problem
        await self.commit(effects, done=item.finished(state, error), new=inline)
        if self.on_handled is not None:
            self.on_handled(item, connection.id if connection else None, effects)

    def _problem(self, ctx: HandlerContext, code: str, comment: str) -> list[Effect]:
        message = ctx.message
        out: list[Effect] = [
            Emit(
                "problem_report.sent",
                {
                    "connection_id": ctx.connection.id if ctx.connection else None,
                    "thread_id": message.thread_id,
                    "code": code,
                    "comment": comment,
                },
            )
        ]
        if message.type.rpartition("/")[2] in _PROBLEM_NAMES:
            return out
        if ctx.family is Family.V1:
            report = Message(
                type=PROBLEM_V1,
                body={"description": {"code": code, "en": comment}},
                id=str(uuid.uuid4()),
                thid=message.thread_id,
            )
        else:
            report = Message(
                type=PROBLEM_V2,
                body={"code": code, "comment": comment},
                id=str(uuid.uuid4()),
                pthid=message.thread_id,
            )
        if ctx.connection is not None:
            out.append(Send(ctx.connection.id, report))
        elif ctx.family is Family.V2 and message.frm:
            # No relationship yet, but an authenticated v2 sender can be answered directly.
            out.append(Send(did_of(message.frm), report))
        return out

    async def _rotations(
        self, message: Message, my_did: str | None, connection: ConnectionRecord | None
    ) -> tuple[ConnectionRecord | None, list[Effect]]:
        """v2 DID rotation: a valid ``from_prior`` moves the peer's connection to its new DID;
        a message to our new DID means the peer has switched, so we stop sending ours."""
        effects: list[Effect] = []
        if message.from_prior and message.frm:
            rotation = await from_prior.verify(
                message.from_prior,
                message.frm,
                self.services["wallet"].resolver.resolve_method,
                now=time.time(),
            )
            if connection is None:
                connection = await self.connections.by_dids(my_did, rotation.prior)
            if connection is not None and connection.their_did != rotation.new:
                connection = connection.evolve(
                    their_did=rotation.new, previous_did=connection.their_did
                )
                effects.append(
                    Save("connection", connection.id, connection.to_json(), connection.tags())
                )
                effects.append(Emit("connection.rotated", connection.public_json()))
        if connection is not None and connection.from_prior and my_did == connection.my_did:
            connection = connection.evolve(from_prior=None)
            effects.append(
                Save("connection", connection.id, connection.to_json(), connection.tags())
            )
        return connection, effects

    async def find_connection(
        self, family: Family, message: Message, metadata: Mapping[str, Any]
    ) -> tuple[ConnectionRecord | None, str | None]:
        """The message's connection, and which of our DIDs it was sent to."""
        wallet = self.services["wallet"]
        recipient = metadata.get("recipient_kid")
        my_did = await wallet.did_for_kid(recipient) if recipient else None
        if my_did is None:
            return None, None
        their_did = None
        if family is Family.V2 and message.frm:
            their_did = did_of(message.frm)
        connection = await self.connections.by_dids(my_did, their_did)
        if connection is None and their_did is not None:
            # After we rotated (v2), the peer may still write to our previous DID.
            found = await self.connections.by_dids(None, their_did)
            if found is not None and found.previous_did == my_did:
                connection = found
        return connection, my_did

    # -- committing effects -----------------------------------------------------------------

    async def commit(
        self,
        effects: Sequence[Effect],
        *,
        done: inbox.InboxItem | None = None,
        new: bool = False,
    ) -> list[events.Event]:
        """Apply effects in one transaction; wake the outbox and publish events after it.

        Group commit: while one transaction runs, commits that come meanwhile (other lanes,
        admin requests) wait and then go together in the next one, so that a burst pays the
        transaction's fixed cost (BEGIN, COMMIT, the writer lock) once. Each caller returns
        only once its own effects are committed, and a batch that fails is retried one
        commit at a time, so every caller gets its own outcome, as if it had been alone.
        """
        request = _Commit(effects, done, new)
        if self._committing:
            request.future = asyncio.get_running_loop().create_future()
            self._queued.append(request)
            return await request.future
        self._committing = True
        # The write runs in a task of its own, shielded: if the caller is cancelled while
        # its write is under way, the write may still land, and then what follows it
        # (waking the outbox lanes, publishing the events, passing on to queued commits)
        # must happen too, or its messages would wait in the store until a restart.
        first = asyncio.create_task(self._commit_first(request), name="commit")
        first.add_done_callback(_retrieve)
        return await asyncio.shield(first)

    async def _commit_first(self, request: _Commit) -> list[events.Event]:
        try:
            return await self._commit_one(request)
        finally:
            self._pass_on()

    def _pass_on(self) -> None:
        """After a transaction: commits queued meanwhile go next, together, in a task of
        their own (no caller's cancellation can then undo the others' work)."""
        if self._queued:
            self._committer = asyncio.create_task(self._commit_queued(), name="group-commit")
        else:
            self._committing = False

    async def _commit_queued(self) -> None:
        batch: list[_Commit] = []
        try:
            while self._queued:
                # A caller that gave up before its turn keeps its effects out, as before.
                batch = [r for r in self._queued if r.future is not None and not r.future.done()]
                self._queued = []
                try:
                    written = await self._write_all(batch) if len(batch) > 1 else None
                except Exception:
                    written = None  # one of them failed: each alone, for its own outcome
                if written is None:
                    for request in batch:
                        await self._settle(request)
                else:
                    for request, appended in zip(batch, self._after(batch, written), strict=True):
                        _resolve(request, appended)
                batch = []
        finally:
            # Only when cancelled (the loop is going away): nobody is left to commit them.
            for request in [*batch, *self._queued]:
                if request.future is not None and not request.future.done():
                    request.future.cancel()
            self._queued = []
            self._committing = False

    async def _settle(self, request: _Commit) -> None:
        try:
            appended = await self._commit_one(request)
        except Exception as err:
            if request.future is not None and not request.future.done():
                request.future.set_exception(err)
            return
        _resolve(request, appended)

    async def _commit_one(self, request: _Commit) -> list[events.Event]:
        return self._after([request], await self._write_all([request]))[0]

    async def _write_all(self, batch: list[_Commit]) -> list[_Written]:
        """One atomic write for the batch, each commit's effects in order: the whole batch
        is built first (no I/O) and then costs one trip to the store."""
        ops: list[WriteOp] = []
        written = [_ops_for(request, ops) for request in batch]
        await self.store.write(ops)
        return written

    def _after(self, batch: list[_Commit], written: list[_Written]) -> list[list[events.Event]]:
        """Once committed, in order: caches, outbox lanes, subscribers."""
        for request, (published, items) in zip(batch, written, strict=True):
            for effect in request.effects:
                if isinstance(effect, Save) and effect.category == "connection":
                    self.connections.remember(ConnectionRecord.from_json(effect.value))
                elif isinstance(effect, Delete) and effect.category == "connection":
                    self.connections.forget(effect.id)
            for item in items:
                self.outbox.submit(item)
            self.bus.publish(published)
        return [published for published, _ in written]


class _Commit:
    """One caller's effects (and inbox item) on their way into a transaction."""

    __slots__ = ("done", "effects", "future", "new")

    def __init__(self, effects: Sequence[Effect], done: inbox.InboxItem | None, new: bool):
        self.effects = effects
        self.done = done
        self.new = new
        self.future: asyncio.Future[list[events.Event]] | None = None


def _retrieve(task: asyncio.Task[Any]) -> None:
    # A shielded commit whose caller left: its error has nobody to reach, and must not be
    # reported as never retrieved (the caller that stayed got it from the shield).
    if not task.cancelled():
        task.exception()


def _resolve(request: _Commit, appended: list[events.Event]) -> None:
    if request.future is not None and not request.future.done():
        request.future.set_result(appended)


#: What one commit wrote: the events appended and the outbox items queued.
_Written = tuple[list[events.Event], list[outbox.OutboxItem]]


def _ops_for(request: _Commit, ops: list[WriteOp]) -> _Written:
    """Append one commit's writes to ``ops``; what it will have appended and queued once
    they are stored. Outbox items and events take their ``~seq`` here, before the write:
    safe because commits run one at a time (the group commit), and nothing else makes
    them, so ids still grow in commit order."""
    appended: list[events.Event] = []
    queued: list[outbox.OutboxItem] = []
    for effect in request.effects:
        if isinstance(effect, Save):
            value = dumps_compact(dict(effect.value)).encode("utf-8")
            # A fresh id cannot exist yet: a plain add (a clash is an error, not a replace).
            make = Add if effect.new else Upsert
            ops.append(make(effect.category, effect.id, value, effect.tags))
        elif isinstance(effect, Delete):
            ops.append(DeleteRecord(effect.category, effect.id, missing_ok=True))
        elif isinstance(effect, Send):
            item, op = outbox.make(effect.connection_id, effect.message.to_json())
            queued.append(item)
            ops.append(op)
        elif isinstance(effect, Emit):
            event, op = events.make(effect.topic, effect.payload)
            appended.append(event)
            ops.append(op)
    if request.done is not None:
        # Handled as it arrived (new): the inbox record is written here, already done, and
        # a duplicate raises DuplicateRecord, which undoes this commit's writes with it.
        # Else the stored record moves on to its final state.
        ops.append(inbox.record_op(request.done, new=request.new))
    return appended, queued
