"""The messages both credential protocols send, as base classes each protocol names.

A protocol subclasses these with its ``PIURI`` (DIDComm v1 and v2 protocol URIs) and its
message names; each class reads and writes both families (:meth:`from_message` /
:meth:`to_message`). The v1 form keeps ``formats`` and the ``<name>~attach`` decorator in the
body; the v2 form puts the format on each attachment. ``ack`` and ``problem-report`` are
adopted into each protocol, as Aries RFCs 0453 and 0454 ask.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from agent.plugin import AgentMessage, Family, optional_str
from wallet.didcomm.message import Message

from . import attachments as att
from .attachments import Attached

MAX_COMMENT = 4096


@dataclass(frozen=True, slots=True)
class Attaching(AgentMessage):
    """A message that carries format-tagged attachments, with a comment and a goal code.

    Subclasses set ``PIURI``, ``NAME``, ``DECORATOR`` and ``TYPE``; one that carries more
    fields reads them in :meth:`_read_more` and writes them in :meth:`_more`.
    """

    PIURI: ClassVar[Mapping[Family, str]]
    NAME: ClassVar[str]
    DECORATOR: ClassVar[str]
    TYPE: ClassVar[str]
    #: Whether a message without attachments is refused.
    REQUIRED: ClassVar[bool] = True
    #: Whether a v1 message carries JSON attachments inline (``data.json``) or as base64.
    INLINE_JSON: ClassVar[bool] = False

    attachments: tuple[Attached, ...] = ()
    comment: str | None = None
    goal_code: str | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        """The v1 form (attachments in the body)."""
        return cls._read(body, att.from_v1(body, cls.DECORATOR, required=cls.REQUIRED), Family.V1)

    @classmethod
    def from_message(cls, message: Message, family: Family) -> Self:
        if family is Family.V1:
            return cls.from_body(message.body)
        items = att.from_v2(message.attachments, required=cls.REQUIRED)
        return cls._read(message.body, items, family)

    @classmethod
    def _read(cls, body: Mapping[str, Any], items: tuple[Attached, ...], family: Family) -> Self:
        return cls(
            attachments=items,
            comment=optional_str(body, "comment", limit=MAX_COMMENT),
            goal_code=optional_str(body, "goal_code", limit=200),
            **cls._read_more(body, family),
        )

    @classmethod
    def _read_more(cls, body: Mapping[str, Any], family: Family) -> dict[str, Any]:
        """The subclass's own fields, read (and checked) from a body."""
        return {}

    def _more(self, family: Family) -> dict[str, Any]:
        """The subclass's own body fields."""
        return {}

    def _fields(self, family: Family) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.goal_code:
            body["goal_code"] = self.goal_code
        if self.comment:
            body["comment"] = self.comment
        body.update(self._more(family))
        return body

    def to_body(self) -> dict[str, Any]:
        v1 = att.to_v1(self.attachments, self.DECORATOR, inline_json=self.INLINE_JSON)
        return {**self._fields(Family.V1), **v1}

    def to_message(self, family: Family, *, thid: str | None, pthid: str | None = None) -> Message:
        msg_id = str(uuid.uuid4())
        kind = f"{self.PIURI[family]}/{self.NAME}"
        if family is Family.V1:
            return Message(type=kind, body=self.to_body(), id=msg_id, thid=thid, pthid=pthid)
        return Message(
            type=kind,
            body=self._fields(family),
            id=msg_id,
            thid=thid,
            pthid=pthid,
            attachments=tuple(att.to_v2(self.attachments)),
        )


@dataclass(frozen=True, slots=True)
class Ack(AgentMessage):
    """The acknowledgement that ends an exchange well (a credential kept, a proof verified)."""

    PIURI: ClassVar[Mapping[Family, str]]
    NAME: ClassVar[str] = "ack"
    status: str = "OK"

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        status = body.get("status", "OK")
        return cls(status[:20] if isinstance(status, str) else "OK")

    def to_body(self) -> dict[str, Any]:
        return {"status": self.status}

    def to_message(self, family: Family, *, thid: str) -> Message:
        return Message(type=f"{self.PIURI[family]}/{self.NAME}", body=self.to_body(), thid=thid)


@dataclass(frozen=True, slots=True)
class ProblemReport(AgentMessage):
    """The protocol's problem report: the exchange is abandoned on both sides."""

    PIURI: ClassVar[Mapping[Family, str]]
    NAME: ClassVar[str] = "problem-report"
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
        base = piuri or self.PIURI[family]
        body = (
            self.to_body() if family is Family.V1 else {"code": self.code, "comment": self.comment}
        )
        return Message(type=f"{base}/{self.NAME}", body=body, thid=thid)
