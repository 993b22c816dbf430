"""Trust Ping 1.0 messages: the body fields of the Aries message (RFC 0048)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from agent.errors import RemoteProtocolError
from agent.plugin import AgentMessage, optional_str

PIURI = "https://didcomm.org/trust_ping/1.0"


@dataclass(frozen=True, slots=True)
class Ping(AgentMessage):
    TYPE: ClassVar[str] = f"{PIURI}/ping"
    response_requested: bool = True
    comment: str | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        requested = body.get("response_requested", True)
        if not isinstance(requested, bool):
            raise RemoteProtocolError("'response_requested' must be a boolean", "e.p.msg.invalid")
        return cls(requested, optional_str(body, "comment", limit=4096))

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"response_requested": self.response_requested}
        if self.comment is not None:
            body["comment"] = self.comment
        return body


@dataclass(frozen=True, slots=True)
class PingResponse(AgentMessage):
    TYPE: ClassVar[str] = f"{PIURI}/ping_response"
    comment: str | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        return cls(optional_str(body, "comment", limit=4096))

    def to_body(self) -> dict[str, Any]:
        return {} if self.comment is None else {"comment": self.comment}
