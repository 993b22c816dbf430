"""Issue Credential 2.0 (Aries RFC 0453, DIDComm v1) and 3.0 (DIDComm v2): the messages.

One class per message, named as the RFC names it; each reads and writes both families
(:meth:`from_message` / :meth:`to_message`). The v1 form keeps ``formats`` and the
``<name>~attach`` decorator in the body; the v2 form puts the format on each attachment.
``credential_preview`` is informational (the attachments are what counts); ``ack`` and
``problem-report`` are adopted into the protocol, as the RFC asks.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from agent.errors import RemoteProtocolError
from agent.plugin import AgentMessage, Family, optional_str
from protocols.exchange import attachments as att
from protocols.exchange.attachments import Attached
from wallet.didcomm.message import Message

PIURI = {
    Family.V1: "https://didcomm.org/issue-credential/2.0",
    Family.V2: "https://didcomm.org/issue-credential/3.0",
}
MAX_COMMENT = 4096
MAX_PREVIEW = 256


def message_type(family: Family, name: str) -> str:
    return f"{PIURI[family]}/{name}"


@dataclass(frozen=True, slots=True)
class PreviewAttribute:
    """One ``credential_preview`` attribute: what the credential will say, for a person."""

    name: str
    value: str
    mime_type: str | None = None

    def to_json(self, family: Family) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "value": self.value}
        if self.mime_type:
            out["mime-type" if family is Family.V1 else "media_type"] = self.mime_type
        return out


def _preview_in(body: Mapping[str, Any], family: Family) -> tuple[PreviewAttribute, ...]:
    raw = body.get("credential_preview")
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise RemoteProtocolError("'credential_preview' must be an object", "e.p.msg.invalid")
    holder = raw.get("body") if family is Family.V2 and "body" in raw else raw
    attrs = holder.get("attributes") if isinstance(holder, Mapping) else None
    if not isinstance(attrs, list) or len(attrs) > MAX_PREVIEW:
        raise RemoteProtocolError(
            f"'credential_preview.attributes' must be a list of at most {MAX_PREVIEW}",
            "e.p.msg.invalid",
        )
    out = []
    for attr in attrs:
        if not isinstance(attr, Mapping) or not isinstance(attr.get("name"), str):
            raise RemoteProtocolError("a preview attribute needs a name", "e.p.msg.invalid")
        value = attr.get("value")
        mime = attr.get("mime-type", attr.get("media_type"))
        out.append(
            PreviewAttribute(
                attr["name"][:256],
                value[:4096] if isinstance(value, str) else str(value)[:4096],
                mime[:100] if isinstance(mime, str) else None,
            )
        )
    return tuple(out)


def _preview_out(preview: tuple[PreviewAttribute, ...], family: Family) -> dict[str, Any]:
    attributes = [a.to_json(family) for a in preview]
    if family is Family.V1:
        return {"@type": message_type(family, "credential-preview"), "attributes": attributes}
    return {"type": message_type(family, "credential-preview"), "body": {"attributes": attributes}}


@dataclass(frozen=True, slots=True)
class _Attaching(AgentMessage):
    """The four messages that carry format-tagged attachments."""

    NAME: ClassVar[str]
    DECORATOR: ClassVar[str]
    REQUIRED: ClassVar[bool] = True
    TYPE: ClassVar[str]

    attachments: tuple[Attached, ...] = ()
    comment: str | None = None
    goal_code: str | None = None
    preview: tuple[PreviewAttribute, ...] = field(default=())

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        """The v1 form (attachments in the body)."""
        return cls._read(body, att.from_v1(body, cls.DECORATOR, required=cls.REQUIRED), Family.V1)

    @classmethod
    def _read(cls, body: Mapping[str, Any], items: tuple[Attached, ...], family: Family) -> Self:
        return cls(
            attachments=items,
            comment=optional_str(body, "comment", limit=MAX_COMMENT),
            goal_code=optional_str(body, "goal_code", limit=200),
            preview=_preview_in(body, family),
        )

    @classmethod
    def from_message(cls, message: Message, family: Family) -> Self:
        if family is Family.V1:
            return cls.from_body(message.body)
        items = att.from_v2(message.attachments, required=cls.REQUIRED)
        return cls._read(message.body, items, family)

    def _fields(self, family: Family) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.goal_code:
            body["goal_code"] = self.goal_code
        if self.comment:
            body["comment"] = self.comment
        if self.preview:
            body["credential_preview"] = _preview_out(self.preview, family)
        return body

    def to_body(self) -> dict[str, Any]:
        return {**self._fields(Family.V1), **att.to_v1(self.attachments, self.DECORATOR)}

    def to_message(self, family: Family, *, thid: str | None, pthid: str | None = None) -> Message:
        msg_id = str(uuid.uuid4())
        if family is Family.V1:
            return Message(
                type=message_type(family, self.NAME),
                body=self.to_body(),
                id=msg_id,
                thid=thid,
                pthid=pthid,
            )
        return Message(
            type=message_type(family, self.NAME),
            body=self._fields(family),
            id=msg_id,
            thid=thid,
            pthid=pthid,
            attachments=tuple(att.to_v2(self.attachments)),
        )


@dataclass(frozen=True, slots=True)
class ProposeCredential(_Attaching):
    NAME: ClassVar[str] = "propose-credential"
    DECORATOR: ClassVar[str] = "filters~attach"
    TYPE: ClassVar[str] = message_type(Family.V1, NAME)


@dataclass(frozen=True, slots=True)
class OfferCredential(_Attaching):
    NAME: ClassVar[str] = "offer-credential"
    DECORATOR: ClassVar[str] = "offers~attach"
    TYPE: ClassVar[str] = message_type(Family.V1, NAME)


@dataclass(frozen=True, slots=True)
class RequestCredential(_Attaching):
    NAME: ClassVar[str] = "request-credential"
    DECORATOR: ClassVar[str] = "requests~attach"
    TYPE: ClassVar[str] = message_type(Family.V1, NAME)


@dataclass(frozen=True, slots=True)
class IssueCredential(_Attaching):
    NAME: ClassVar[str] = "issue-credential"
    DECORATOR: ClassVar[str] = "credentials~attach"
    TYPE: ClassVar[str] = message_type(Family.V1, NAME)


@dataclass(frozen=True, slots=True)
class Ack(AgentMessage):
    """The holder's acknowledgement that the credential was verified and kept."""

    NAME: ClassVar[str] = "ack"
    TYPE: ClassVar[str] = message_type(Family.V1, NAME)
    status: str = "OK"

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        status = body.get("status", "OK")
        return cls(status[:20] if isinstance(status, str) else "OK")

    def to_body(self) -> dict[str, Any]:
        return {"status": self.status}

    def to_message(self, family: Family, *, thid: str) -> Message:
        return Message(type=message_type(family, self.NAME), body=self.to_body(), thid=thid)


@dataclass(frozen=True, slots=True)
class ProblemReport(AgentMessage):
    """The protocol's problem report: the exchange is abandoned on both sides."""

    NAME: ClassVar[str] = "problem-report"
    TYPE: ClassVar[str] = message_type(Family.V1, NAME)
    code: str
    comment: str = ""

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        # Lenient on purpose: a problem report must never cause another one.
        description = body.get("description")
        if isinstance(description, Mapping):
            code, comment = description.get("code"), description.get("en")
        else:
            code, comment = body.get("code"), body.get("comment")
        code = code if isinstance(code, str) else "unknown"
        comment = comment if isinstance(comment, str) else ""
        return cls(code[:200], comment[:2000])

    def to_body(self) -> dict[str, Any]:
        return {"description": {"code": self.code, "en": self.comment}}

    def to_message(self, family: Family, *, thid: str, piuri: str | None = None) -> Message:
        base = piuri or PIURI[family]
        body = (
            self.to_body() if family is Family.V1 else {"code": self.code, "comment": self.comment}
        )
        return Message(type=f"{base}/{self.NAME}", body=body, thid=thid)


MESSAGES: tuple[type[AgentMessage], ...] = (
    ProposeCredential,
    OfferCredential,
    RequestCredential,
    IssueCredential,
    Ack,
    ProblemReport,
)
