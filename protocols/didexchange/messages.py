"""DID exchange 1.1 (Aries RFC 0023) messages: request, response, complete."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from agent.errors import RemoteProtocolError
from agent.plugin import AgentMessage, optional_str, require_str

PIURI = "https://didcomm.org/didexchange/1.1"
MAX_DID = 16 * 1024


def _did(body: Mapping[str, Any]) -> str:
    did = require_str(body, "did", limit=MAX_DID)
    if not did.startswith("did:"):
        # An unqualified DID with a did_doc~attach is DID exchange 1.0 style; moi asks
        # for resolvable DIDs (did:peer:2/4, did:key, did:web).
        raise RemoteProtocolError(
            "the DID must be a resolvable DID (did:peer:2, did:peer:4, ...)",
            "request_not_accepted",
        )
    return did


@dataclass(frozen=True, slots=True)
class Request(AgentMessage):
    TYPE: ClassVar[str] = f"{PIURI}/request"
    label: str
    did: str
    goal_code: str | None = None
    goal: str | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        return cls(
            label=optional_str(body, "label", limit=200) or "",
            did=_did(body),
            goal_code=optional_str(body, "goal_code", limit=200),
            goal=optional_str(body, "goal", limit=2000),
        )

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"label": self.label, "did": self.did}
        if self.goal_code:
            body["goal_code"] = self.goal_code
        if self.goal:
            body["goal"] = self.goal
        return body


@dataclass(frozen=True, slots=True)
class Response(AgentMessage):
    TYPE: ClassVar[str] = f"{PIURI}/response"
    did: str
    did_rotate: Mapping[str, Any] | None = field(default=None)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        rotate = body.get("did_rotate~attach")
        if rotate is not None and not isinstance(rotate, Mapping):
            raise RemoteProtocolError("'did_rotate~attach' must be an object", "e.p.msg.invalid")
        return cls(did=_did(body), did_rotate=rotate)

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"did": self.did}
        if self.did_rotate is not None:
            body["did_rotate~attach"] = dict(self.did_rotate)
        return body


@dataclass(frozen=True, slots=True)
class Complete(AgentMessage):
    TYPE: ClassVar[str] = f"{PIURI}/complete"

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        return cls()

    def to_body(self) -> dict[str, Any]:
        return {}
