"""The exchange record both credential protocols keep: one per exchange (thread) and role.

A peer chooses its message ids, so a record is never keyed by the thread alone: its id is
ours (a UUID) and it is found by (connection, thread, role) tags, so nobody can overwrite
another relationship's exchange by reusing a thread id. Each protocol's record class adds its
own fields after these and names its category, its roles and what its events carry.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Self

from agent.plugin import Family, RecordReader
from wallet.errors import RecordNotFound

#: The states in which an exchange is over, in both protocols and every role.
TERMINAL = frozenset({"done", "abandoned"})


@dataclass(frozen=True, slots=True)
class Opening:
    """Where and when an exchange begins: its connection and DIDComm family, its thread, the
    peer's label (kept so that the person sees whom the exchange is with), and the time."""

    connection_id: str
    family: Family
    thread_id: str
    now: float
    their_label: str | None = None


@dataclass(frozen=True, slots=True)
class ExchangeRecord:
    """The fields and behaviour every exchange record has.

    Subclasses are frozen dataclasses that declare ``their_label``, ``error``, ``created``
    and ``updated`` last among their own fields (so that a record's JSON keeps its order),
    and set the class variables below.
    """

    #: The storage category of this kind of record.
    CATEGORY: ClassVar[str]
    #: The protocol's roles (a ``StrEnum`` whose values are the spec's names).
    ROLES: ClassVar[type[StrEnum]]
    #: What the record is called in an error message ("credential exchange").
    WHAT: ClassVar[str]
    #: The fields an event carries besides the exchange's identity, state and error.
    EVENT_FIELDS: ClassVar[tuple[str, ...]] = ()

    id: str
    role: StrEnum
    state: str
    connection_id: str
    thread_id: str
    family: str

    if TYPE_CHECKING:  # declared by each subclass, after its own fields
        their_label: str | None
        error: str | None
        created: float
        updated: float

    @classmethod
    def opened(cls, opening: Opening, role: StrEnum, state: str, **fields: Any) -> Self:
        """A new exchange (with an id of ours), begun at ``opening``."""
        return cls(
            id=str(uuid.uuid4()),
            role=role,
            state=state,
            connection_id=opening.connection_id,
            thread_id=opening.thread_id,
            family=opening.family.value,
            their_label=opening.their_label,
            created=opening.now,
            updated=opening.now,
            **fields,
        )

    def evolve(self, now: float, **changes: Any) -> Self:
        return replace(self, updated=now, **changes)

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL

    def to_json(self) -> dict[str, Any]:
        # Shallow on purpose: asdict() would deep-copy every detail, on every save.
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["role"] = self.role.value
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        values = dict(data)
        values["role"] = cls.ROLES(values["role"])
        return cls(**values)

    def tags(self) -> dict[str, str]:
        return {
            "connection_id": self.connection_id,
            "thread_id": self.thread_id,
            "role": self.role.value,
            "state": self.state,
            "~created": f"{self.created:017.6f}",
        }

    def event(self) -> dict[str, Any]:
        """What an event about this exchange carries."""
        return {
            "exchange_id": self.id,
            "connection_id": self.connection_id,
            "thread_id": self.thread_id,
            "role": self.role.value,
            "state": self.state,
            **{name: getattr(self, name) for name in self.EVENT_FIELDS},
            "error": self.error,
        }

    @classmethod
    async def find(
        cls, records: RecordReader, connection_id: str, thread_id: str, role: StrEnum
    ) -> Self | None:
        """The exchange of this connection, thread and role, if there is one."""
        # By the thread alone, then connection and role here: SQLite answers a one-tag query
        # for about a third of the CPU of a three-tag one, and a thread has a record or two.
        for found in await records.find(cls.CATEGORY, {"thread_id": thread_id}):
            tags = found.tags
            if tags.get("connection_id") == connection_id and tags.get("role") == role.value:
                return cls.from_json(found.json())
        return None

    @classmethod
    async def get(cls, records: RecordReader, exchange_id: str) -> Self:
        try:
            record = await records.get(cls.CATEGORY, exchange_id)
        except RecordNotFound:
            raise RecordNotFound(f"no {cls.WHAT} {exchange_id[:100]!r}") from None
        return cls.from_json(record.json())
