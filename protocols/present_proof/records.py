"""The presentation exchange record: one per exchange (thread) and role, RFC 0454's states.

As for credentials, the record id is ours and the record is found by (connection, thread,
role) tags. The prover keeps the request, the credentials it picked and the preview it shows
the person; the verifier keeps the request, what was presented and the verification report.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

from agent.plugin import RecordReader
from wallet.errors import RecordNotFound

CATEGORY = "presentation-exchange"


class Role(StrEnum):
    VERIFIER = "verifier"
    PROVER = "prover"


class VerifierState(StrEnum):
    PROPOSAL_RECEIVED = "proposal-received"
    REQUEST_SENT = "request-sent"
    PRESENTATION_RECEIVED = "presentation-received"
    DONE = "done"
    ABANDONED = "abandoned"


class ProverState(StrEnum):
    PROPOSAL_SENT = "proposal-sent"
    REQUEST_RECEIVED = "request-received"
    PRESENTATION_SENT = "presentation-sent"
    DONE = "done"
    ABANDONED = "abandoned"


TERMINAL = frozenset({"done", "abandoned"})


@dataclass(frozen=True, slots=True)
class PresentationExchangeRecord:
    """One present-proof exchange as one side sees it.

    ``request`` is the request attachment's data (definition and options). Prover:
    ``selection`` lists, per input descriptor, the credential picked and the claims it would
    disclose; ``preview`` is what the person is shown. Verifier: ``presentation`` is what
    arrived, ``report`` the verification report (the ``moi credential verify`` shape) and
    ``verified`` its verdict.
    """

    id: str
    role: Role
    state: str
    connection_id: str
    thread_id: str
    family: str
    request: dict[str, Any] | None = None
    proposal: dict[str, Any] | None = None
    selection: list[dict[str, Any]] | None = None
    preview: dict[str, Any] | None = None
    presentation: dict[str, Any] | None = None
    report: dict[str, Any] | None = None
    verified: bool | None = None
    comment: str | None = None
    their_label: str | None = None
    error: str | None = None
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)

    @classmethod
    def new(cls, *, role: Role, state: str, now: float, **kw: Any) -> PresentationExchangeRecord:
        return cls(id=str(uuid.uuid4()), role=role, state=state, created=now, updated=now, **kw)

    def evolve(self, now: float, **changes: Any) -> PresentationExchangeRecord:
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
    def from_json(cls, data: Mapping[str, Any]) -> PresentationExchangeRecord:
        values = dict(data)
        values["role"] = Role(values["role"])
        return cls(**values)

    def tags(self) -> dict[str, str]:
        return {
            "connection_id": self.connection_id,
            "thread_id": self.thread_id,
            "role": self.role.value,
            "state": self.state,
            "~created": f"{self.created:017.6f}",
        }


async def find(
    records: RecordReader, connection_id: str, thread_id: str, role: Role
) -> PresentationExchangeRecord | None:
    # By the thread alone, then connection and role here: SQLite answers a one-tag query
    # for about a third of the CPU of a three-tag one, and a thread has a record or two.
    for found in await records.find(CATEGORY, {"thread_id": thread_id}):
        tags = found.tags
        if tags.get("connection_id") == connection_id and tags.get("role") == role.value:
            return PresentationExchangeRecord.from_json(found.json())
    return None


async def get(records: RecordReader, exchange_id: str) -> PresentationExchangeRecord:
    try:
        record = await records.get(CATEGORY, exchange_id)
    except RecordNotFound:
        raise RecordNotFound(f"no presentation exchange {exchange_id[:100]!r}") from None
    return PresentationExchangeRecord.from_json(record.json())
