"""Rules both credential protocols' machines apply, as pure functions (no store, no clock).

Who may act in which state, how an exchange is abandoned (with a problem report to the peer)
and what a peer's problem report does to it, and how an acknowledgement ends it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from agent.errors import LocalProtocolError, RemoteProtocolError
from agent.plugin import Family
from wallet.didcomm.message import Message

from .messages import ProblemReport
from .records import ExchangeRecord

R = TypeVar("R", bound=ExchangeRecord)


def expect(record: R | None, role: StrEnum, *states: str, missing: str = "") -> R:
    """The exchange a peer's message belongs to, in one of ``states`` for ``role``.

    ``missing`` says what was expected when there is no such exchange; a message that does
    not fit the exchange's state is the peer's mistake.
    """
    if record is None:
        missing = missing or "no exchange of ours awaits this message"
        raise RemoteProtocolError(missing, "e.p.msg.unexpected")
    if record.role is not role or record.state not in states:
        raise RemoteProtocolError(
            f"the exchange is {record.state} ({record.role}), which does not expect this message",
            "e.p.msg.unexpected",
        )
    return record


def require(record: ExchangeRecord, role: StrEnum, state: str, what: str) -> None:
    """A person's action needs the exchange in ``state``: otherwise it is our mistake,
    ``what`` saying what the action needed (``an offer to accept``)."""
    if record.role is not role or record.state != state:
        raise LocalProtocolError(
            f"exchange {record.id} is {record.state}, not {what}", "e.p.msg.unexpected"
        )


def acknowledged(record: R | None, role: StrEnum, awaiting: str, now: float, missing: str) -> R:
    """The peer's ack ends the exchange that awaited it."""
    return expect(record, role, awaiting, missing=missing).evolve(now, state="done")


def abandon(record: R, report: ProblemReport, now: float) -> tuple[R, Message]:
    """Stop the exchange and tell the peer why (``report``, in the protocol's own terms)."""
    if record.finished:
        raise LocalProtocolError(f"exchange {record.id} is already {record.state}", "e.p.msg")
    message = report.to_message(Family(record.family), thid=record.thread_id)
    error = f"{report.code}: {report.comment}"[:1000]
    return record.evolve(now, state="abandoned", error=error), message


def on_problem(record: R | None, problem: ProblemReport, now: float) -> R | None:
    """The peer's problem report abandons the exchange, unless it is over already."""
    if record is None or record.finished:
        return None
    return record.evolve(
        now, state="abandoned", error=f"peer: {problem.code}: {problem.comment}"[:1000]
    )
