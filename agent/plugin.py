"""The small, stable interface between the runtime and protocol plugins.

A protocol package (built in or third party) exposes one or more :class:`ProtocolPlugin`
objects through the ``moi.protocols`` entry point group. Each declares the protocol URI, its
roles, its message classes and a handler per message type; optionally admin routes. The
runtime gives a handler a :class:`HandlerContext`: the inbound message, its connection, and
effect methods (``send``, ``emit``, ``save``) that the runtime applies in one transaction
after the handler returns — so a handler never does I/O of its own and never races its
webhooks.

This module is the plugin API (version :data:`PLUGIN_API_VERSION`); the runtime's internals
are not, and plugins must not import them.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Protocol, Self

from aiohttp import web

from wallet.didcomm.message import Message
from wallet.storage import Record

from .errors import RemoteProtocolError

#: The plugin API version this runtime serves. A plugin declares the one it was written for;
#: the registry refuses a plugin whose major version it cannot serve.
PLUGIN_API_VERSION = 1


class Family(StrEnum):
    """The DIDComm family a message or a relationship speaks."""

    V1 = "v1"
    V2 = "v2"


# -- message classes --------------------------------------------------------------------------


class AgentMessage(ABC):
    """Base of typed message classes. Subclasses set ``TYPE`` and implement the body codec.

    A message class validates its body on the way in (``from_body``) and raises
    :class:`RemoteProtocolError` for anything the peer got wrong.
    """

    TYPE: ClassVar[str]

    @classmethod
    @abstractmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self: ...

    @abstractmethod
    def to_body(self) -> dict[str, Any]: ...


def require_str(body: Mapping[str, Any], name: str, *, limit: int = 65536) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise RemoteProtocolError(f"'{name}' must be a string", "e.p.msg.invalid")
    if len(value) > limit:
        raise RemoteProtocolError(f"'{name}' is longer than {limit} characters", "e.p.msg.invalid")
    return value


def optional_str(body: Mapping[str, Any], name: str, *, limit: int = 65536) -> str | None:
    if body.get(name) is None:
        return None
    return require_str(body, name, limit=limit)


# -- effects ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    """Queue a message to a connection (the runtime packs it in the connection's family)."""

    connection_id: str
    message: Message


@dataclass(frozen=True, slots=True)
class Emit:
    """Append an event to the event log (and so to webhooks and the event stream)."""

    topic: str
    payload: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Save:
    """Add or replace a record in the same transaction as the other effects. ``new`` says
    the record cannot exist yet (a fresh id), which saves the runtime a lookup."""

    category: str
    id: str
    value: Mapping[str, Any]
    tags: Mapping[str, str] = field(default_factory=dict)
    new: bool = False


@dataclass(frozen=True, slots=True)
class Delete:
    category: str
    id: str


Effect = Send | Emit | Save | Delete


# -- handler context --------------------------------------------------------------------------


class ConnectionView(Protocol):
    """What a handler may know about the relationship a message came over."""

    id: str
    state: str
    family: str
    my_did: str | None
    their_did: str | None
    their_label: str | None


class RecordReader(Protocol):
    async def get(self, category: str, id: str, *, for_update: bool = False) -> Record: ...

    async def find(
        self, category: str, query: Mapping[str, Any] | None = None, **kw: Any
    ) -> list[Record]: ...


@dataclass(slots=True)
class HandlerContext:
    """Everything a handler gets: the message, its relationship, records, and effect methods."""

    message: Message
    connection: ConnectionView | None
    records: RecordReader
    family: Family
    now: float
    sender_kid: str | None = None
    recipient_kid: str | None = None
    services: Mapping[str, Any] = field(default_factory=dict)
    effects: list[Effect] = field(default_factory=list)

    def send(self, message: Message, connection_id: str | None = None) -> None:
        target = connection_id or (self.connection.id if self.connection else None)
        if target is None:
            raise RemoteProtocolError("this message needs a connection to answer over")
        self.effects.append(Send(target, message))

    def reply(
        self,
        msg_type: str,
        body: Mapping[str, Any] | None = None,
        *,
        attachments: Sequence[Mapping[str, Any]] = (),
    ) -> Message:
        """Answer on the inbound message's thread."""
        reply = Message(
            type=msg_type,
            body=dict(body or {}),
            id=str(uuid.uuid4()),
            thid=self.message.thread_id,
            pthid=self.message.pthid,
            attachments=tuple(attachments),
        )
        self.send(reply)
        return reply

    def emit(self, topic: str, payload: Mapping[str, Any]) -> None:
        self.effects.append(Emit(topic, dict(payload)))

    def save(
        self,
        category: str,
        id: str,
        value: Mapping[str, Any],
        tags: Mapping[str, str] | None = None,
        *,
        new: bool = False,
    ) -> None:
        self.effects.append(Save(category, id, dict(value), dict(tags or {}), new))

    def delete(self, category: str, id: str) -> None:
        self.effects.append(Delete(category, id))


Handler = Callable[[HandlerContext], Awaitable[None]]


# -- admin routes -------------------------------------------------------------------------------


class ConnectionLookup(Protocol):
    async def lookup(self, ref: str) -> ConnectionView:
        """A connection by id or by the peer's label (RecordNotFound → HTTP 404)."""
        ...


class AgentView(Protocol):
    """What a plugin's admin route may use of the running agent."""

    connections: ConnectionLookup
    store: RecordReader

    async def commit(self, effects: Sequence[Effect]) -> Any:
        """Apply effects in one transaction, as after a handler (messages go out after it)."""
        ...


#: Where the admin application keeps its agent; plugin routes reach it with ``agent_of``.
AGENT_KEY: web.AppKey[Any] = web.AppKey("moi.agent", object)


def agent_of(request: web.Request) -> AgentView:
    """The agent serving an admin request (for a plugin's routes)."""
    return request.app[AGENT_KEY]


# -- the plugin object --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProtocolPlugin:
    """A protocol as the runtime sees it.

    ``piuri`` is the protocol URI without the message name
    (``https://didcomm.org/trust_ping/2.0``); ``handlers`` maps message names (``ping``) to
    handlers. ``family`` says which DIDComm family carries it; ``routes`` is an optional
    function that adds admin routes to the admin ``aiohttp.web.Application`` (they sit behind
    its API key and error mapping and are listed in its OpenAPI document; their handlers reach
    the agent with :func:`agent_of`).
    """

    piuri: str
    family: Family
    roles: Sequence[str]
    handlers: Mapping[str, Handler]
    messages: Sequence[type[AgentMessage]] = ()
    routes: Callable[[Any], None] | None = None
    plugin_api: int = PLUGIN_API_VERSION
    title: str = ""

    def message_type(self, name: str) -> str:
        return f"{self.piuri}/{name}"


def split_type(type_uri: str) -> tuple[str, str]:
    """``https://didcomm.org/trust_ping/2.0/ping`` → (piuri, message name)."""
    piuri, _, name = type_uri.rpartition("/")
    if not piuri or not name:
        raise RemoteProtocolError(f"malformed message type {type_uri[:100]!r}", "e.p.msg.type")
    return piuri, name
