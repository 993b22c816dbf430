"""The event log, and what reads it: live subscribers, webhooks and the admin event stream.

Events are appended in the same transaction as the change they report, with a sortable id;
subscribers hear of them only after the commit, so a webhook can never arrive before the
state it describes is readable ("race between a reply and its webhook" cannot happen).
Webhooks are delivered from the log with a persisted cursor per URL: at least once, in order,
with retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from wallet.encoding import dumps_compact
from wallet.errors import RecordNotFound
from wallet.storage import Add, Store, WriteOp

from .ids import SEQ
from .tasks import cancel

log = logging.getLogger("moi.events")

CATEGORY = "event"
CURSOR_CATEGORY = "webhook-cursor"
MAX_TOPIC = 200


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    topic: str
    payload: Mapping[str, Any]
    time: float

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "topic": self.topic,
            "payload": dict(self.payload),
            "time": self.time,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Event:
        return cls(data["id"], data["topic"], data["payload"], data["time"])


def make(topic: str, payload: Mapping[str, Any]) -> tuple[Event, WriteOp]:
    """An event and the write that appends it, without I/O, for a caller that writes it in
    one batch with the change it reports. Its id orders the log (readers resume after the
    last id they saw): write it before any event made later (the dispatcher's commits,
    which make all of them, run one at a time)."""
    event = Event(SEQ.next(), topic[:MAX_TOPIC], dict(payload), time.time())
    op = Add(
        CATEGORY,
        event.id,
        dumps_compact(event.to_json()).encode("utf-8"),
        {"topic": event.topic, "~seq": event.id},
    )
    return event, op


async def append(store: Store, topic: str, payload: Mapping[str, Any]) -> Event:
    """Append an event; call inside the transaction of the change it reports."""
    event, op = make(topic, payload)
    await store.write([op])
    return event


class EventBus:
    """In-process fan-out of committed events, and reads of the log."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._subscribers: set[asyncio.Queue[Event]] = set()
        self._listeners: list[Callable[[], None]] = []

    def on_commit(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after events are committed (webhook workers wake on it)."""
        self._listeners.append(listener)

    def publish(self, events: Sequence[Event]) -> None:
        if not events:
            return
        for queue in list(self._subscribers):
            for event in events:
                if queue.full():
                    # A subscriber that does not read loses live events, not the log; it
                    # can resume from the last id it saw.
                    with contextlib.suppress(asyncio.QueueEmpty):
                        queue.get_nowait()
                queue.put_nowait(event)
        for listener in self._listeners:
            listener()

    @contextlib.contextmanager
    def subscribe(self, maxsize: int = 10_000) -> Any:
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    async def since(
        self, after: str | None = None, *, limit: int = 100, topic: str | None = None
    ) -> list[Event]:
        query: dict[str, Any] = {}
        if after:
            query["~seq"] = {"$gt": after}
        if topic:
            query["topic"] = topic
        records = await self.store.find(CATEGORY, query or None, order_by="~seq", limit=limit)
        return [Event.from_json(r.json()) for r in records]

    async def stream(self, after: str | None = None) -> AsyncIterator[Event]:
        """The log from ``after`` on, then live events, each once and in order."""
        with self.subscribe() as queue:
            last = after
            while True:
                batch = await self.since(last, limit=500)
                for event in batch:
                    last = event.id
                    yield event
                if len(batch) < 500:
                    break
            while True:
                event = await queue.get()
                if last is not None and event.id <= last:
                    continue
                last = event.id
                yield event

    @staticmethod
    async def wait_for(predicate: Callable[[Event], bool], queue: asyncio.Queue[Event]) -> Event:
        """Wait on a subscription made *before* the action whose outcome is awaited (bound
        the wait with ``asyncio.timeout``)."""
        while True:
            event = await queue.get()
            if predicate(event):
                return event


class WebhookWorker:
    """POSTs each event to one URL, in order, at least once, resuming from a stored cursor."""

    def __init__(
        self,
        store: Store,
        bus: EventBus,
        url: str,
        session: aiohttp.ClientSession,
        *,
        max_delay: float = 60.0,
        timeout: float = 10.0,
    ) -> None:
        self.store = store
        self.bus = bus
        self.url = url
        self.session = session
        self.max_delay = max_delay
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        bus.on_commit(self._wake.set)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"webhook-{self.url[:40]}")

    async def _cursor(self) -> str | None:
        try:
            return (await self.store.get(CURSOR_CATEGORY, self.url)).value.decode("ascii")
        except RecordNotFound:
            # A new webhook starts from now, not from the beginning of history.
            latest = await self.store.find(
                CATEGORY, None, order_by="~seq", descending=True, limit=1
            )
            cursor = latest[0].id if latest else ""
            await self.store.add(CURSOR_CATEGORY, self.url, cursor.encode("ascii"))
            return cursor

    async def _run(self) -> None:
        cursor = await self._cursor()
        while True:
            self._wake.clear()
            events = await self.bus.since(cursor or None, limit=100)
            for event in events:
                await self._post(event)
                cursor = event.id
                await self.store.update(CURSOR_CATEGORY, self.url, cursor.encode("ascii"))
            if len(events) < 100:
                await self._wake.wait()

    async def _post(self, event: Event) -> None:
        delay = 0.5
        body = dumps_compact(event.to_json())
        headers = {"Content-Type": "application/json", "X-Moi-Event-Id": event.id}
        while True:
            try:
                async with self.session.post(
                    self.url, data=body, headers=headers, timeout=self.timeout
                ) as resp:
                    if 200 <= resp.status < 300:
                        return
                    reason = f"HTTP {resp.status}"
            except (aiohttp.ClientError, TimeoutError) as err:
                reason = type(err).__name__
            log.info("webhook %s: event %s not taken (%s); retrying", self.url, event.id, reason)
            await asyncio.sleep(delay)
            delay = min(self.max_delay, delay * 2)

    async def close(self) -> None:
        await cancel(self._task)
