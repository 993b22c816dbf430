"""Trust Ping 2.0 message bodies (DIDComm v2: ``response_requested`` in the body)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from agent.errors import RemoteProtocolError
from agent.plugin import AgentMessage

PIURI = "https://didcomm.org/trust-ping/2.0"


@dataclass(frozen=True, slots=True)
class Ping(AgentMessage):
    TYPE: ClassVar[str] = f"{PIURI}/ping"
    response_requested: bool = True

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        requested = body.get("response_requested", True)
        if not isinstance(requested, bool):
            raise RemoteProtocolError("'response_requested' must be a boolean", "e.p.msg.invalid")
        return cls(requested)

    def to_body(self) -> dict[str, Any]:
        return {"response_requested": self.response_requested}


@dataclass(frozen=True, slots=True)
class PingResponse(AgentMessage):
    TYPE: ClassVar[str] = f"{PIURI}/ping-response"

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        return cls()

    def to_body(self) -> dict[str, Any]:
        return {}
