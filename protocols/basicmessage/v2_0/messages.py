"""Basic Message 2.0 (DIDComm v2): the text in ``body.content``, the time in ``created_time``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from agent.plugin import AgentMessage, require_str

from ..records import MAX_CONTENT

PIURI = "https://didcomm.org/basicmessage/2.0"


@dataclass(frozen=True, slots=True)
class Message(AgentMessage):
    TYPE: ClassVar[str] = f"{PIURI}/message"
    content: str

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        return cls(require_str(body, "content", limit=MAX_CONTENT))

    def to_body(self) -> dict[str, Any]:
        return {"content": self.content}
