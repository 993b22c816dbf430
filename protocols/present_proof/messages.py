"""Present Proof 2.0 (Aries RFC 0454, DIDComm v1) and 3.0 (DIDComm v2): the messages.

As in issue-credential, one class per message reads and writes both families, on the shared
codec of :mod:`protocols.exchange.messages`. Requests and presentations carry their
attachments as inline JSON (``data.json``), which is what ACA-Py writes for DIF Presentation
Exchange; base64 is read too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from agent.errors import RemoteProtocolError
from agent.plugin import AgentMessage, Family
from protocols.exchange import messages as exchange

PIURI = {
    Family.V1: "https://didcomm.org/present-proof/2.0",
    Family.V2: "https://didcomm.org/present-proof/3.0",
}
#: DIF Presentation Exchange attachment formats (Aries RFC 0510), as ACA-Py names them.
DEFINITIONS = "dif/presentation-exchange/definitions@v1.0"
SUBMISSION = "dif/presentation-exchange/submission@v1.0"
MAX_COMMENT = exchange.MAX_COMMENT


def message_type(family: Family, name: str) -> str:
    return f"{PIURI[family]}/{name}"


@dataclass(frozen=True, slots=True)
class _Attaching(exchange.Attaching):
    PIURI: ClassVar[Mapping[Family, str]] = PIURI
    INLINE_JSON: ClassVar[bool] = True
    #: Whether the message says if the verifier will confirm (an ack or a problem report).
    CONFIRMS: ClassVar[bool] = False

    will_confirm: bool = False

    @classmethod
    def _read_more(cls, body: Mapping[str, Any], family: Family) -> dict[str, Any]:
        confirm = body.get("will_confirm", False)
        if not isinstance(confirm, bool):
            raise RemoteProtocolError("'will_confirm' must be a boolean", "e.p.msg.invalid")
        return {"will_confirm": confirm}

    def _more(self, family: Family) -> dict[str, Any]:
        return {"will_confirm": self.will_confirm} if self.CONFIRMS else {}


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
    CONFIRMS: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class Presentation(_Attaching):
    NAME: ClassVar[str] = "presentation"
    DECORATOR: ClassVar[str] = "presentations~attach"
    TYPE: ClassVar[str] = message_type(Family.V1, NAME)


@dataclass(frozen=True, slots=True)
class Ack(exchange.Ack):
    """The verifier's acknowledgement that the presentation verified."""

    PIURI: ClassVar[Mapping[Family, str]] = PIURI
    TYPE: ClassVar[str] = message_type(Family.V1, "ack")


@dataclass(frozen=True, slots=True)
class ProblemReport(exchange.ProblemReport):
    PIURI: ClassVar[Mapping[Family, str]] = PIURI
    TYPE: ClassVar[str] = message_type(Family.V1, "problem-report")


MESSAGES: tuple[type[AgentMessage], ...] = (
    ProposePresentation,
    RequestPresentation,
    Presentation,
    Ack,
    ProblemReport,
)
