"""Basic Message 1.0 (Aries RFC 0095)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

from agent.plugin import AgentMessage, optional_str, require_str

from ..records import MAX_CONTENT

PIURI = "https://didcomm.org/basicmessage/1.0"


@dataclass(frozen=True, slots=True)
class Message(AgentMessage):
    TYPE: ClassVar[str] = f"{PIURI}/message"
    content: str
    sent_time: str | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        return cls(
            require_str(body, "content", limit=MAX_CONTENT),
            optional_str(body, "sent_time", limit=64),
        )

    def to_body(self) -> dict[str, Any]:
        sent = self.sent_time or datetime.now(UTC).isoformat(timespec="microseconds")
        return {"content": self.content, "sent_time": sent, "~l10n": {"locale": "en"}}
