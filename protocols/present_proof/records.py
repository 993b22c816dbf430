"""The presentation exchange record: one per exchange (thread) and role, RFC 0454's states.

As for credentials (:mod:`protocols.exchange.records`), the record id is ours and the record
is found by (connection, thread, role) tags. The prover keeps the request, the credentials it
picked and the preview it shows the person; the verifier keeps the request, what was
presented and the verification report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from protocols.exchange.records import TERMINAL, ExchangeRecord

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


__all__ = [
    "CATEGORY",
    "TERMINAL",
    "PresentationExchangeRecord",
    "ProverState",
    "Role",
    "VerifierState",
    "find",
    "get",
]


@dataclass(frozen=True, slots=True)
class PresentationExchangeRecord(ExchangeRecord):
    """One present-proof exchange as one side sees it.

    ``request`` is the request attachment's data (definition and options). Prover:
    ``selection`` lists, per input descriptor, the credential picked and the claims it would
    disclose; ``preview`` is what the person is shown. Verifier: ``presentation`` is what
    arrived, ``report`` the verification report (the ``moi credential verify`` shape) and
    ``verified`` its verdict.
    """

    CATEGORY: ClassVar[str] = CATEGORY
    ROLES: ClassVar[type[StrEnum]] = Role
    WHAT: ClassVar[str] = "presentation exchange"
    EVENT_FIELDS: ClassVar[tuple[str, ...]] = ("verified",)

    role: Role
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


find = PresentationExchangeRecord.find
get = PresentationExchangeRecord.get
