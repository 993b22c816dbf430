"""Retention: handled inbox records, delivered outbox items and events are forgotten once
older than the retention; pending, queued and dead ones, and anything younger, are kept."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from typing import Any

import pytest

from agent import events, inbox, outbox
from agent.config import Config
from agent.errors import ConfigError
from agent.ids import SEQ
from agent.retention import Janitor, purge, seq_before
from wallet.storage import create_store


def _inbox(state: inbox.InboxState, age: float, n: int) -> inbox.InboxItem:
    item = inbox.new_item(
        sender=f"did:example:{n}",
        lane="lane",
        family="v2",
        message={"id": f"m{n}", "type": "https://example.org/t/1.0/m"},
        metadata={},
    )
    return replace(item, state=state, seq=seq_before(time.time() - age))


def _outbox(state: outbox.DeliveryState, age: float, n: int) -> outbox.OutboxItem:
    item, _ = outbox.make("conn", {"id": f"o{n}", "type": "https://example.org/t/1.0/m"})
    return replace(item, state=state, seq=seq_before(time.time() - age))


@pytest.fixture
async def store(tmp_path: Any) -> Any:
    real = await create_store(f"sqlite://{tmp_path}/w.db", raw_key=os.urandom(32))
    yield real
    await real.close()


async def test_old_finished_records_go_and_the_rest_stay(store: Any) -> None:
    day = 24 * 3600.0
    kept_in = [
        _inbox(inbox.InboxState.PENDING, 40 * day, 1),  # not handled yet
        _inbox(inbox.InboxState.DONE, 1 * day, 2),  # younger than the retention
    ]
    gone_in = [
        _inbox(inbox.InboxState.DONE, 40 * day, 3),
        _inbox(inbox.InboxState.FAILED, 31 * day, 4),
    ]
    kept_out = [
        _outbox(outbox.DeliveryState.QUEUED, 40 * day, 1),
        _outbox(outbox.DeliveryState.DEAD, 40 * day, 2),  # a dead letter waits to be seen
        _outbox(outbox.DeliveryState.DELIVERED, 1 * day, 3),
    ]
    gone_out = [_outbox(outbox.DeliveryState.DELIVERED, 40 * day, 4)]
    for item in [*kept_in, *gone_in]:
        await store.add(inbox.CATEGORY, item.id, inbox.encode(item), item.tags())
    for o in [*kept_out, *gone_out]:
        await store.add(outbox.CATEGORY, o.id, outbox._encode(o), o.tags())

    old_event = await events.append(store, "old", {})
    await store.update(
        events.CATEGORY,
        old_event.id,
        (await store.get(events.CATEGORY, old_event.id)).value,
        {"topic": "old", "~seq": seq_before(time.time() - 40 * day)},
    )
    recent = await events.append(store, "recent", {})

    counts = await Janitor(store, 30 * day).run_once()

    assert counts == {inbox.CATEGORY: 2, outbox.CATEGORY: 1, events.CATEGORY: 1}
    assert {r.id for r in await store.find(inbox.CATEGORY)} == {i.id for i in kept_in}
    assert {r.id for r in await store.find(outbox.CATEGORY)} == {o.id for o in kept_out}
    assert [r.id for r in await store.find(events.CATEGORY)] == [recent.id]
    assert await Janitor(store, 30 * day).run_once() == {
        inbox.CATEGORY: 0,
        outbox.CATEGORY: 0,
        events.CATEGORY: 0,
    }


async def test_purge_goes_page_by_page(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agent.retention.PAGE", 3)
    for n in range(8):
        item = _inbox(inbox.InboxState.DONE, 100.0, n)
        await store.add(inbox.CATEGORY, item.id, inbox.encode(item), item.tags())
    counts = await purge(store, time.time())
    assert counts[inbox.CATEGORY] == 8
    assert await store.count(inbox.CATEGORY) == 0


def test_seq_before_orders_like_the_queues_ids() -> None:
    now = time.time()
    assert seq_before(now - 1) < SEQ.next() < seq_before(now + 1)
    assert len(seq_before(now)) == 20 and seq_before(-5) == "0" * 20


def test_retention_is_bounded() -> None:
    assert Config().retention == 30 * 24 * 3600
    with pytest.raises(ConfigError, match="retention"):
        Config(retention=60)
