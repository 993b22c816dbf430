"""The credential exchange record: one per exchange (thread) and role, and its states.

States are Aries RFC 0453's names. The record's id is ours and it is found by (connection,
thread, role) tags (:mod:`protocols.exchange.records`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from protocols.exchange.records import TERMINAL, ExchangeRecord

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


__all__ = [
    "CATEGORY",
    "TERMINAL",
    "CredentialExchangeRecord",
    "HolderState",
    "IssuerState",
    "Role",
    "find",
    "get",
]


@dataclass(frozen=True, slots=True)
class CredentialExchangeRecord(ExchangeRecord):
    """One issue-credential exchange as one side sees it.

    ``offer`` / ``request`` / ``proposal`` are the attachments' data (the detail) with their
    format identifiers; ``summary`` says in plain terms what the credential says (for the
    person deciding); ``credential_id`` is the issued (issuer) or stored (holder) credential.
    """

    CATEGORY: ClassVar[str] = CATEGORY
    ROLES: ClassVar[type[StrEnum]] = Role
    WHAT: ClassVar[str] = "credential exchange"
    EVENT_FIELDS: ClassVar[tuple[str, ...]] = ("format", "credential_id")

    role: Role
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


find = CredentialExchangeRecord.find
get = CredentialExchangeRecord.get
