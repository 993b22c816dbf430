"""The one plaintext message model moi uses inside: a DIDComm v2 JWM.

DIDComm v1 (Aries) messages are translated to and from this model at the edge
(:func:`from_aries` / :func:`to_aries`), so protocols see a single shape whichever family the
peer speaks.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..encoding import dumps_compact, loads_object
from ..errors import InputError, MalformedMessage

#: The message type moi uses when none is given (DIDComm basic message 2.0).
BASIC_MESSAGE_V2 = "https://didcomm.org/basicmessage/2.0/message"

PLAINTEXT_TYP = "application/didcomm-plain+json"

_MAX_ID = 256
_MAX_TYPE = 512
#: a did:peer:4 long form carries a whole document; DIDs in headers get room for it
_MAX_DID = 16 * 1024
_MAX_RECIPIENTS = 100
_HEADERS = (
    "id",
    "type",
    "typ",
    "from",
    "to",
    "thid",
    "pthid",
    "created_time",
    "expires_time",
    "body",
    "attachments",
    "from_prior",
)


@dataclass(frozen=True, slots=True)
class Message:
    """A DIDComm v2 plaintext message. ``extra`` holds headers moi does not model."""

    type: str
    body: Mapping[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    frm: str | None = None
    to: tuple[str, ...] = ()
    thid: str | None = None
    pthid: str | None = None
    created_time: int | None = None
    expires_time: int | None = None
    attachments: tuple[Mapping[str, Any], ...] = ()
    from_prior: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def thread_id(self) -> str:
        """The thread this message belongs to (its own id when it starts one)."""
        return self.thid or self.id

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "type": self.type, "typ": PLAINTEXT_TYP}
        if self.frm is not None:
            out["from"] = self.frm
        if self.to:
            out["to"] = list(self.to)
        for name in ("thid", "pthid", "created_time", "expires_time", "from_prior"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        out["body"] = dict(self.body)
        if self.attachments:
            out["attachments"] = [dict(a) for a in self.attachments]
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out

    def to_bytes(self) -> bytes:
        return dumps_compact(self.to_json()).encode("utf-8")

    @classmethod
    def from_json(cls, obj: Any) -> Message:
        """Validate a decoded plaintext; every problem is a :class:`MalformedMessage`."""
        check_plaintext(obj)
        get = obj.get
        return cls(
            id=obj["id"],
            type=obj["type"],
            body=obj["body"],
            frm=get("from"),
            to=tuple(get("to", ())),
            thid=get("thid"),
            pthid=get("pthid"),
            created_time=get("created_time"),
            expires_time=get("expires_time"),
            attachments=tuple(get("attachments", ())),
            from_prior=get("from_prior"),
            extra={k: v for k, v in obj.items() if k not in _HEADER_SET},
        )

    @classmethod
    def from_bytes(cls, data: bytes | str, *, max_bytes: int = 1024 * 1024) -> Message:
        try:
            obj = loads_object(data, max_bytes=max_bytes, what="message")
        except InputError as err:
            raise MalformedMessage(str(err)) from err
        return cls.from_json(obj)


def check_plaintext(obj: Any) -> tuple[str | None, Sequence[str]]:
    """Check a decoded plaintext as :meth:`Message.from_json` does, without building the
    message; returns its ``from`` (or None) and its ``to`` (the list itself, or ``()``).

    Every problem is a :class:`MalformedMessage`. (Every message received and sent passes
    here, so the common shapes are checked inline and the helpers only say what is wrong.)
    """
    if type(obj) is not dict and not isinstance(obj, Mapping):
        raise MalformedMessage("a DIDComm message must be a JSON object")
    get = obj.get
    msg_id, msg_type = get("id"), get("type")
    if type(msg_id) is not str or not 0 < len(msg_id) <= _MAX_ID:
        _string(msg_id, "id", _MAX_ID, required=True)
    if type(msg_type) is not str or not 0 < len(msg_type) <= _MAX_TYPE:
        _string(msg_type, "type", _MAX_TYPE, required=True)
    if "typ" in obj and obj["typ"] not in _PLAINTEXT_TYPS:
        raise MalformedMessage(f"plaintext 'typ' must be {PLAINTEXT_TYP!r}")
    body = get("body", _NONE)
    if body is _NONE:
        raise MalformedMessage("message has no 'body'")
    if type(body) is not dict and not isinstance(body, Mapping):
        raise MalformedMessage("message 'body' must be a JSON object")
    to = get("to", _NONE)
    if not isinstance(to, list):
        raise MalformedMessage("message 'to' must be a list of DID strings")
    for t in to:
        if not isinstance(t, str) or not 0 < len(t) <= _MAX_DID:
            raise MalformedMessage("message 'to' must be a list of DID strings")
    if len(to) > _MAX_RECIPIENTS:
        raise MalformedMessage(f"message 'to' lists more than {_MAX_RECIPIENTS} recipients")
    attachments = get("attachments", _NONE)
    if attachments is not _NONE:
        if not isinstance(attachments, list):
            raise MalformedMessage("message 'attachments' must be a list of objects")
        for a in attachments:
            if type(a) is not dict and not isinstance(a, Mapping):
                raise MalformedMessage("message 'attachments' must be a list of objects")
    frm = get("from")
    if frm is not None and (type(frm) is not str or not 0 < len(frm) <= _MAX_DID):
        _string(frm, "from", _MAX_DID)
    if not _OPTIONAL_SET.isdisjoint(obj.keys()):
        _check_optional(get)
    return frm, to if to is not _NONE else ()


def _check_optional(get: Any) -> None:
    _string(get("thid"), "thid", _MAX_ID)
    _string(get("pthid"), "pthid", _MAX_ID)
    _timestamp(get("created_time"), "created_time")
    _timestamp(get("expires_time"), "expires_time")
    _string(get("from_prior"), "from_prior", 16 * 1024)


def plaintext_json(obj: Any) -> dict[str, Any]:
    """``Message.from_json(obj).to_json()`` without the message in between: the checked
    plaintext in moi's header order, ``typ`` set, unmodelled headers kept after the body."""
    frm, to = check_plaintext(obj)
    get = obj.get
    out: dict[str, Any] = {"id": obj["id"], "type": obj["type"], "typ": PLAINTEXT_TYP}
    if frm is not None:
        out["from"] = frm
    if to:
        out["to"] = list(to)
    for name in _OPTIONAL:
        value = get(name)
        if value is not None:
            out[name] = value
    out["body"] = dict(obj["body"])
    attachments = get("attachments")
    if attachments:
        out["attachments"] = [dict(a) for a in attachments]
    if not obj.keys() <= _HEADER_SET:
        for key, value in obj.items():
            if key not in _HEADER_SET:
                out[key] = value
    return out


_NONE: list[Any] = []  # read-only stand-in for an absent list
_PLAINTEXT_TYPS = (PLAINTEXT_TYP, "application/didcomm-plain")
_OPTIONAL = ("thid", "pthid", "created_time", "expires_time", "from_prior")
_HEADER_SET = frozenset(_HEADERS)
_OPTIONAL_SET = frozenset(_OPTIONAL)


def _string(value: Any, name: str, limit: int, *, required: bool = False) -> Any:
    if value is None:
        if required:
            raise MalformedMessage(f"message has no '{name}'")
        return None
    if not isinstance(value, str) or not value:
        raise MalformedMessage(f"message '{name}' must be a non-empty string")
    if len(value) > limit:
        raise MalformedMessage(f"message '{name}' is longer than {limit} characters")
    return value


def _timestamp(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**53:
        raise MalformedMessage(f"message '{name}' must be a non-negative integer (seconds)")
    return value


# -- DIDComm v1 (Aries) at the edge ---------------------------------------------------------


def from_aries(obj: Any) -> Message:
    """Read an Aries (DIDComm v1) message into the one model.

    ``@id``/``@type`` become ``id``/``type``; ``~thread`` gives ``thid``/``pthid``; the other
    top-level fields, decorators included, become the body, so a protocol finds its fields
    where the Aries RFC puts them.
    """
    if not isinstance(obj, Mapping):
        raise MalformedMessage("an Aries message must be a JSON object")
    msg_id = _string(obj.get("@id"), "@id", _MAX_ID, required=True)
    msg_type = _string(obj.get("@type"), "@type", _MAX_TYPE, required=True)
    thread = obj.get("~thread", {})
    if not isinstance(thread, Mapping):
        raise MalformedMessage("'~thread' must be an object")
    thid = _string(thread.get("thid"), "thid", _MAX_ID)
    pthid = _string(thread.get("pthid"), "pthid", _MAX_ID)
    body = {k: v for k, v in obj.items() if k not in ("@id", "@type")}
    return Message(
        id=msg_id,
        type=normalise_aries_type(msg_type),
        body=body,
        thid=thid,
        pthid=pthid,
        extra={"aries": True},
    )


def to_aries(message: Message) -> dict[str, Any]:
    """Write a message in the Aries (DIDComm v1) form."""
    out: dict[str, Any] = {"@type": message.type, "@id": message.id}
    out.update({k: v for k, v in message.body.items() if k not in ("@id", "@type")})
    if message.thid or message.pthid:
        thread = dict(out.get("~thread") or {})
        if message.thid:
            thread["thid"] = message.thid
        if message.pthid:
            thread["pthid"] = message.pthid
        out["~thread"] = thread
    return out


_OLD_PREFIX = "did:sov:BzCbsNYhMrjHiqZDTUASHg;spec/"


def normalise_aries_type(msg_type: str) -> str:
    """Aries RFC 0348: the legacy ``did:sov:…;spec/`` prefix means ``https://didcomm.org/``."""
    if msg_type.startswith(_OLD_PREFIX):
        return "https://didcomm.org/" + msg_type[len(_OLD_PREFIX) :]
    return msg_type


def new_message(
    msg_type: str,
    body: Mapping[str, Any] | None = None,
    *,
    frm: str | None = None,
    to: Sequence[str] = (),
    thid: str | None = None,
    msg_id: str | None = None,
    created_time: int | None = None,
) -> Message:
    """Build a message with a fresh id; a convenience for callers and tests."""
    return Message(
        type=msg_type,
        body=dict(body or {}),
        id=msg_id or str(uuid.uuid4()),
        frm=frm,
        to=tuple(to),
        thid=thid,
        created_time=created_time,
    )
