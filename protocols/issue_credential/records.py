"""The credential exchange record: one per exchange (thread) and role, and its states.

States are Aries RFC 0453's names. A peer chooses its message ids, so a record is never keyed
by the thread alone: its id is ours (a UUID) and it is found by (connection, thread, role)
tags, so nobody can overwrite another relationship's exchange by reusing a thread id.
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

CATEGORY = "credential-exchange"


class Role(StrEnum):
    ISSUER = "issuer"
    HOLDER = "holder"


class IssuerState(StrEnum):
    PROPOSAL_RECEIVED = "proposal-received"
    OFFER_SENT = "offer-sent"
    REQUEST_RECEIVED = "request-received"
    CREDENTIAL_ISSUED = "credential-issued"
    DONE = "done"
    ABANDONED = "abandoned"


class HolderState(StrEnum):
    PROPOSAL_SENT = "proposal-sent"
    OFFER_RECEIVED = "offer-received"
    REQUEST_SENT = "request-sent"
    CREDENTIAL_RECEIVED = "credential-received"
    DONE = "done"
    ABANDONED = "abandoned"


TERMINAL = frozenset({"done", "abandoned"})


@dataclass(frozen=True, slots=True)
class CredentialExchangeRecord:
    """One issue-credential exchange as one side sees it.

    ``offer`` / ``request`` / ``proposal`` are the attachments' data (the detail) with their
    format identifiers; ``summary`` says in plain terms what the credential says (for the
    person deciding); ``credential_id`` is the issued (issuer) or stored (holder) credential.
    """

    id: str
    role: Role
    state: str
    connection_id: str
    thread_id: str
    family: str
    format: str
    offer: dict[str, Any] | None = None
    request: dict[str, Any] | None = None
    proposal: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    credential_id: str | None = None
    comment: str | None = None
    their_label: str | None = None
    error: str | None = None
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)

    @classmethod
    def new(cls, *, role: Role, state: str, now: float, **kw: Any) -> CredentialExchangeRecord:
        return cls(id=str(uuid.uuid4()), role=role, state=state, created=now, updated=now, **kw)

    def evolve(self, now: float, **changes: Any) -> CredentialExchangeRecord:
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
    def from_json(cls, data: Mapping[str, Any]) -> CredentialExchangeRecord:
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

    def public_json(self) -> dict[str, Any]:
        """What the admin API shows (the details are kept, for the person to read)."""
        return self.to_json()


async def find(
    records: RecordReader, connection_id: str, thread_id: str, role: Role
) -> CredentialExchangeRecord | None:
    # By the thread alone, then connection and role here: SQLite answers a one-tag query
    # for about a third of the CPU of a three-tag one, and a thread has a record or two.
    for found in await records.find(CATEGORY, {"thread_id": thread_id}):
        tags = found.tags
        if tags.get("connection_id") == connection_id and tags.get("role") == role.value:
            return CredentialExchangeRecord.from_json(found.json())
    return None


async def get(records: RecordReader, exchange_id: str) -> CredentialExchangeRecord:
    try:
        record = await records.get(CATEGORY, exchange_id)
    except RecordNotFound:
        raise RecordNotFound(f"no credential exchange {exchange_id[:100]!r}") from None
    return CredentialExchangeRecord.from_json(record.json())
