"""The rules of Hello 1.0 as pure functions: a record and a message in, the next record (and
the answer to send) out. No I/O and no clock: time comes in as ``now``, so every rule can be
tested without a network or a store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from agent.errors import LocalProtocolError, RemoteProtocolError

from .messages import MAX_GREETING, Hello, HelloBack

CATEGORY = "hello"


class Role(StrEnum):
    GREETER = "greeter"
    RESPONDER = "responder"


class State(StrEnum):
    HELLO_SENT = "hello-sent"
    ANSWERED = "answered"


@dataclass(frozen=True, slots=True)
class ExchangeRecord:
    """One hello and its answer, on one connection, seen from one side."""

    thread_id: str
    connection_id: str
    role: Role
    state: State
    greeting: str
    reply: str | None
    updated: float

    @property
    def id(self) -> str:
        # Role and connection in the id: a peer choosing its hello's id cannot overwrite a
        # record of ours, nor one of another connection.
        return f"{self.role.value}:{self.connection_id}:{self.thread_id}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["role"], data["state"] = self.role.value, self.state.value
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExchangeRecord:
        values = dict(data)
        values["role"], values["state"] = Role(values["role"]), State(values["state"])
        return cls(**values)

    def tags(self) -> dict[str, str]:
        return {"connection_id": self.connection_id, "role": self.role.value}


def record_id(role: Role, connection_id: str, thread_id: str) -> str:
    return f"{role.value}:{connection_id}:{thread_id}"


def start(thread_id: str, connection_id: str, greeting: str, now: float) -> ExchangeRecord:
    """We greet: the record of a hello about to be sent."""
    if not greeting or len(greeting) > MAX_GREETING:
        raise LocalProtocolError(f"a greeting is 1 to {MAX_GREETING} characters")
    return ExchangeRecord(
        thread_id, connection_id, Role.GREETER, State.HELLO_SENT, greeting, None, now
    )


def on_hello(
    thread_id: str, connection_id: str, hello: Hello, their_label: str | None, now: float
) -> tuple[ExchangeRecord, HelloBack]:
    """They greet us: we answer at once, and the exchange is over on our side."""
    name = their_label or "friend"
    back = HelloBack(f"Hello to you too, {name[:100]}!", hello.greeting)
    record = ExchangeRecord(
        thread_id, connection_id, Role.RESPONDER, State.ANSWERED, hello.greeting, back.greeting, now
    )
    return record, back


def on_hello_back(record: ExchangeRecord | None, back: HelloBack, now: float) -> ExchangeRecord:
    """Our hello is answered; anything else is the peer's mistake."""
    if record is None or record.role is not Role.GREETER:
        raise RemoteProtocolError("no hello of ours awaits this answer", "e.p.msg.unexpected")
    if back.in_reply_to != record.greeting:
        raise RemoteProtocolError("the answer quotes another greeting", "e.p.msg.invalid")
    if record.state is State.ANSWERED:
        return record  # a repeated answer changes nothing
    return replace(record, state=State.ANSWERED, reply=back.greeting, updated=now)
