"""Present Proof 2.0 (Aries RFC 0454, DIDComm v1) and 3.0 (DIDComm v2): the messages.

As in issue-credential, one class per message reads and writes both families. Requests and
presentations carry their attachments as inline JSON (``data.json``), which is what ACA-Py
writes for DIF Presentation Exchange; base64 is read too.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from agent.errors import RemoteProtocolError
from agent.plugin import AgentMessage, Family, optional_str
from protocols.exchange import attachments as att
from protocols.exchange.attachments import Attached
from protocols.issue_credential.messages import Ack, ProblemReport
from wallet.didcomm.message import Message

PIURI = {
    Family.V1: "https://didcomm.org/present-proof/2.0",
    Family.V2: "https://didcomm.org/present-proof/3.0",
}
#: DIF Presentation Exchange attachment formats (Aries RFC 0510), as ACA-Py names them.
DEFINITIONS = "dif/presentation-exchange/definitions@v1.0"
SUBMISSION = "dif/presentation-exchange/submission@v1.0"
MAX_COMMENT = 4096

__all__ = [
    "DEFINITIONS",
    "PIURI",
    "SUBMISSION",
    "Ack",
    "Presentation",
    "ProblemReport",
    "ProposePresentation",
    "RequestPresentation",
]


def message_type(family: Family, name: str) -> str:
    return f"{PIURI[family]}/{name}"


@dataclass(frozen=True, slots=True)
class _Attaching(AgentMessage):
    NAME: ClassVar[str]
    DECORATOR: ClassVar[str]
    TYPE: ClassVar[str]

    attachments: tuple[Attached, ...] = ()
    comment: str | None = None
    goal_code: str | None = None
    will_confirm: bool = False

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        return cls._read(body, att.from_v1(body, cls.DECORATOR))

    @classmethod
    def _read(cls, body: Mapping[str, Any], items: tuple[Attached, ...]) -> Self:
        confirm = body.get("will_confirm", False)
        if not isinstance(confirm, bool):
            raise RemoteProtocolError("'will_confirm' must be a boolean", "e.p.msg.invalid")
        return cls(
            attachments=items,
            comment=optional_str(body, "comment", limit=MAX_COMMENT),
            goal_code=optional_str(body, "goal_code", limit=200),
            will_confirm=confirm,
        )

    @classmethod
    def from_message(cls, message: Message, family: Family) -> Self:
        if family is Family.V1:
            return cls.from_body(message.body)
        return cls._read(message.body, att.from_v2(message.attachments))

    def _fields(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.goal_code:
            body["goal_code"] = self.goal_code
        if self.comment:
            body["comment"] = self.comment
        if self.NAME == "request-presentation":
            body["will_confirm"] = self.will_confirm
        return body

    def to_body(self) -> dict[str, Any]:
        return {**self._fields(), **att.to_v1(self.attachments, self.DECORATOR, inline_json=True)}

    def to_message(self, family: Family, *, thid: str | None) -> Message:
        kind = message_type(family, self.NAME)
        if family is Family.V1:
            return Message(type=kind, body=self.to_body(), id=str(uuid.uuid4()), thid=thid)
        return Message(
            type=kind,
            body=self._fields(),
            id=str(uuid.uuid4()),
            thid=thid,
            attachments=tuple(att.to_v2(self.attachments)),
        )


@dataclass(frozen=True, slots=True)
class ProposePresentation(_Attaching):
    NAME: ClassVar[str] = "propose-presentation"
    DECORATOR: ClassVar[str] = "proposals~attach"
    TYPE: ClassVar[str] = message_type(Family.V1, NAME)


@dataclass(frozen=True, slots=True)
class RequestPresentation(_Attaching):
    NAME: ClassVar[str] = "request-presentation"
    DECORATOR: ClassVar[str] = "request_presentations~attach"
    TYPE: ClassVar[str] = message_type(Family.V1, NAME)


@dataclass(frozen=True, slots=True)
class Presentation(_Attaching):
    NAME: ClassVar[str] = "presentation"
    DECORATOR: ClassVar[str] = "presentations~attach"
    TYPE: ClassVar[str] = message_type(Family.V1, NAME)


def ack(family: Family, thid: str) -> Message:
    return Message(type=message_type(family, "ack"), body=Ack().to_body(), thid=thid)


def problem(family: Family, thid: str, code: str, comment: str) -> Message:
    return ProblemReport(code, comment).to_message(family, thid=thid, piuri=PIURI[family])


MESSAGES: tuple[type[AgentMessage], ...] = (
    ProposePresentation,
    RequestPresentation,
    Presentation,
    Ack,
    ProblemReport,
)
