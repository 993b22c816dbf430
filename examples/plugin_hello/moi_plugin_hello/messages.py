"""The two messages of Hello 1.0, as typed classes that check what a peer sends."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from agent.plugin import AgentMessage, require_str

PIURI = "https://example.org/hello/1.0"
MAX_GREETING = 500


@dataclass(frozen=True, slots=True)
class Hello(AgentMessage):
    TYPE: ClassVar[str] = f"{PIURI}/hello"
    greeting: str

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        # require_str raises RemoteProtocolError: the runtime answers with a problem report.
        return cls(require_str(body, "greeting", limit=MAX_GREETING))

    def to_body(self) -> dict[str, Any]:
        return {"greeting": self.greeting}


@dataclass(frozen=True, slots=True)
class HelloBack(AgentMessage):
    TYPE: ClassVar[str] = f"{PIURI}/hello-back"
    greeting: str
    in_reply_to: str

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        return cls(
            require_str(body, "greeting", limit=MAX_GREETING),
            require_str(body, "in_reply_to", limit=MAX_GREETING),
        )

    def to_body(self) -> dict[str, Any]:
        return {"greeting": self.greeting, "in_reply_to": self.in_reply_to}
