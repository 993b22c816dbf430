"""Issue Credential 2.0 (Aries RFC 0453, DIDComm v1) and 3.0 (DIDComm v2): the messages.

One class per message, named as the RFC names it, on the shared codec of
:mod:`protocols.exchange.messages` (both families, attachments base64 in v1).
``credential_preview`` is informational (the attachments are what counts); ``ack`` and
``problem-report`` are adopted into the protocol, as the RFC asks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from agent.errors import RemoteProtocolError
from agent.plugin import AgentMessage, Family
from protocols.exchange import messages as exchange

PIURI = {
    Family.V1: "https://didcomm.org/issue-credential/2.0",
    Family.V2: "https://didcomm.org/issue-credential/3.0",
}
MAX_COMMENT = exchange.MAX_COMMENT
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
class _Attaching(exchange.Attaching):
    """The four messages that carry format-tagged attachments, with a preview."""

    PIURI: ClassVar[Mapping[Family, str]] = PIURI

    preview: tuple[PreviewAttribute, ...] = field(default=())

    @classmethod
    def _read_more(cls, body: Mapping[str, Any], family: Family) -> dict[str, Any]:
        return {"preview": _preview_in(body, family)}

    def _more(self, family: Family) -> dict[str, Any]:
        return {"credential_preview": _preview_out(self.preview, family)} if self.preview else {}


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
class Ack(exchange.Ack):
    """The holder's acknowledgement that the credential was verified and kept."""

    PIURI: ClassVar[Mapping[Family, str]] = PIURI
    TYPE: ClassVar[str] = message_type(Family.V1, "ack")


@dataclass(frozen=True, slots=True)
class ProblemReport(exchange.ProblemReport):
    PIURI: ClassVar[Mapping[Family, str]] = PIURI
    TYPE: ClassVar[str] = message_type(Family.V1, "problem-report")


MESSAGES: tuple[type[AgentMessage], ...] = (
    ProposeCredential,
    OfferCredential,
    RequestCredential,
    IssueCredential,
    Ack,
    ProblemReport,
)
