"""What a person's actions on either credential protocol share.

Actions run outside message handling (the admin API, the CLI through it, tests), on the
running agent: they take the exchange's thread lock as a handler would, apply the machine's
rules, and commit the record, the message and the event in one transaction. Here: that lock,
that commit, the connection an exchange needs, and :class:`Exchanges` -- listing one
protocol's exchanges, acting on one under its lock, stopping one, and waiting for one to
reach a state (or for the peer to give up on it).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from typing import Any, Generic, TypeVar

from agent.errors import LocalProtocolError
from agent.plugin import Effect, Emit, Family, Save, Send
from wallet.didcomm.message import Message

from . import rules
from .kind import ExchangeKind
from .records import ExchangeRecord

R = TypeVar("R", bound=ExchangeRecord)


@contextlib.asynccontextmanager
async def thread_lock(agent: Any, thread_id: str) -> AsyncIterator[None]:
    """The lock a handler of this thread would hold, so a person's action and a peer's
    message never interleave on one exchange."""
    locks = getattr(getattr(agent, "dispatcher", None), "locks", None)
    if locks is None:
        yield
        return
    async with locks(thread_id):
        yield


async def active_connection(agent: Any, ref: str) -> Any:
    """The connection ``ref`` names (id or label), if it is completed."""
    connection = await agent.connections.lookup(ref)
    if connection.state != "completed":
        raise LocalProtocolError(
            f"the connection is {connection.state}, not completed", "e.p.conn.state"
        )
    return connection


def towards(peer: Any) -> dict[str, Any]:
    """Where an exchange we open with ``peer`` runs, as the machines' keyword arguments."""
    return {
        "connection_id": peer.id,
        "family": Family(peer.family),
        "their_label": peer.their_label,
    }


def effects(record: ExchangeRecord, topic: str, *sends: Send, new: bool = False) -> list[Effect]:
    """The record saved, the messages sent and the event, as one commit's effects. ``new``
    says the record was just opened (a fresh id): the store adds it without first trying
    an update that cannot match."""
    return [
        Save(record.CATEGORY, record.id, record.to_json(), record.tags(), new=new),
        *sends,
        Emit(topic, record.event()),
    ]


async def commit(
    agent: Any,
    record: ExchangeRecord,
    topic: str,
    message: Message | None,
    *,
    new: bool = False,
) -> None:
    """Save ``record``, send ``message`` (if any) to its peer and announce ``topic``, together;
    ``new`` for an exchange opened by this commit (see :func:`effects`)."""
    sends = (Send(record.connection_id, message),) if message is not None else ()
    await agent.commit(effects(record, topic, *sends, new=new))


class Exchanges(Generic[R]):
    """One protocol's exchanges, as a person's actions reach them."""

    def __init__(self, kind: ExchangeKind[R]) -> None:
        self.kind = kind

    async def get(self, agent: Any, exchange_id: str) -> R:
        return await self.kind.record.get(agent.store, exchange_id)

    @contextlib.asynccontextmanager
    async def locked(self, agent: Any, exchange_id: str) -> AsyncIterator[R]:
        """The exchange, read again under its thread's lock (what it was before the lock may
        have changed while waiting for it)."""
        record = await self.get(agent, exchange_id)
        async with thread_lock(agent, record.thread_id):
            yield await self.get(agent, exchange_id)

    async def stop(self, agent: Any, exchange_id: str, why: Callable[[R], str]) -> R:
        """Abandon the exchange and tell the peer ``why(record)``."""
        async with self.locked(agent, exchange_id) as record:
            report = self.kind.problem(self.kind.code, why(record))
            abandoned, message = rules.abandon(record, report, time.time())
            await commit(agent, abandoned, f"{self.kind.topic}.abandoned", message)
        return abandoned

    async def list(
        self,
        agent: Any,
        *,
        connection_id: str | None = None,
        role: str | None = None,
        state: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[R]:
        """The exchanges (of one connection, role or state), oldest first."""
        query: dict[str, str] = {}
        if connection_id:
            query["connection_id"] = connection_id
        if role:
            query["role"] = self.kind.record.ROLES(role).value
        if state:
            query["state"] = state
        found = await agent.store.find(
            self.kind.record.CATEGORY,
            query or None,
            order_by="~created",
            limit=limit,
            offset=offset,
        )
        return [self.kind.record.from_json(r.json()) for r in found]

    async def wait_for(
        self,
        agent: Any,
        exchange_id: str,
        states: Collection[str],
        *,
        timeout: float,
        queue: asyncio.Queue[Any] | None = None,
        record: R | None = None,
    ) -> R:
        """The exchange once it reaches one of ``states`` (or is abandoned); ``TimeoutError``
        after ``timeout`` seconds. Pass a ``queue`` subscribed before the action that is
        awaited, so that its outcome cannot be missed, and the ``record`` that action
        committed (then it is not read back)."""
        wanted = set(states) | {"abandoned"}
        async with asyncio.timeout(timeout):
            if queue is not None:
                return await self._follow(agent, exchange_id, wanted, queue, record)
            with agent.bus.subscribe() as subscribed:
                # Subscribed first, read after: a change between the two is not missed.
                return await self._follow(agent, exchange_id, wanted, subscribed, None)

    async def _follow(
        self,
        agent: Any,
        exchange_id: str,
        wanted: Collection[str],
        queue: asyncio.Queue[Any],
        record: R | None,
    ) -> R:
        # A peer may answer with a problem report of another protocol (report-problem, or an
        # Aries notification) that our handlers never see as theirs; one on the exchange's
        # thread and connection abandons it here, so nobody waits for an answer that will
        # not come.
        if record is None or record.id != exchange_id:
            record = await self.get(agent, exchange_id)
        thread, connection = record.thread_id, record.connection_id
        prefix = f"{self.kind.topic}."

        def relevant(e: Any) -> bool:
            if e.topic == "problem_report.received":
                p = e.payload
                return bool(p.get("thread_id") == thread and p.get("connection_id") == connection)
            return bool(e.payload.get("exchange_id") == exchange_id and e.topic.startswith(prefix))

        # Each event of the exchange carries its state (ExchangeRecord.event), committed
        # before it was published: the record is read once, when the state is one wanted,
        # not after every step.
        state = record.state
        while state not in wanted:
            event = await agent.bus.wait_for(relevant, queue)
            if event.topic == "problem_report.received":
                record = await self.get(agent, exchange_id)
                if not record.finished:
                    record = await self._abandoned_by_peer(agent, record, event.payload)
                state = record.state
                continue
            state = event.payload.get("state")
            if state in wanted:
                record = await self.get(agent, exchange_id)
        return record

    async def _abandoned_by_peer(self, agent: Any, record: R, problem: Mapping[str, Any]) -> R:
        async with self.locked(agent, record.id) as record:
            if record.finished:
                return record
            error = f"peer: {problem.get('code')}: {problem.get('comment')}"[:1000]
            ended = record.evolve(time.time(), state="abandoned", error=error)
            await commit(agent, ended, f"{self.kind.topic}.abandoned", None)
            return ended
