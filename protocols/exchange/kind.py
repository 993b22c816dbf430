"""What the shared code needs to know about one credential protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from .messages import ProblemReport
from .records import ExchangeRecord

R = TypeVar("R", bound=ExchangeRecord)


@dataclass(frozen=True, slots=True)
class ExchangeKind(Generic[R]):
    """One credential protocol, as the shared glue sees it."""

    #: Its exchange record class.
    record: type[R]
    #: Its problem report (named with its own protocol URIs).
    problem: type[ProblemReport]
    #: The first word of its event topics (``credential`` in ``credential.abandoned``).
    topic: str
    #: The problem code its RFC defines for a stopped exchange (Aries peers expect it).
    code: str
    #: What it exchanges, for a person reading an error ("credentials").
    subject: str
