"""Format-tagged attachments, as both credential protocols carry them in either family.

DIDComm v1 (Aries RFC 0453 / 0454) lists ``formats: [{attach_id, format}]`` in the body and
the attachments under a decorator (``offers~attach``, ``request_presentations~attach``, ...)
with ``@id``, ``mime-type`` and ``data``. DIDComm v2 (issue-credential 3.0, present-proof 3.0)
puts ``id``, ``media_type``, ``format`` and ``data`` on each message attachment. Inside, the
data is inline JSON (``data.json``) or base64 (``data.base64``: a JSON document or a compact
JWT / SD-JWT). Everything a peer sends is bounded and checked here; the protocols only ever
see :class:`Attached` values.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agent.errors import RemoteProtocolError
from wallet.encoding import b64_decode_any, dumps_compact, loads_object
from wallet.errors import InputError

#: Most attachments one protocol message may carry (one per format offered).
MAX_ATTACHMENTS = 8
#: Largest decoded attachment (a credential, a presentation, a definition).
MAX_ATTACHMENT_BYTES = 512 * 1024
_MAX_ID = 256
_MAX_FORMAT = 200

JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Attached:
    """One attachment: its id, its format identifier and its decoded data.

    ``data`` is a JSON object, or a string for the compact forms (vc+jwt, SD-JWT).
    """

    format: str
    data: dict[str, Any] | str
    id: str = ""
    media_type: str = JSON

    def with_id(self) -> Attached:
        return (
            self
            if self.id
            else Attached(self.format, self.data, str(uuid.uuid4()), self.media_type)
        )


def _bad(text: str) -> RemoteProtocolError:
    return RemoteProtocolError(text, "e.p.msg.invalid")


def _data_out(attached: Attached, inline_json: bool) -> dict[str, Any]:
    if isinstance(attached.data, str):
        raw = attached.data.encode("utf-8")
    elif inline_json:
        return {"json": attached.data}
    else:
        raw = dumps_compact(attached.data).encode("utf-8")
    # Aries peers (ACA-Py) write and expect padded standard base64 here.
    return {"base64": base64.b64encode(raw).decode("ascii")}


def _data_in(data: Any, where: str) -> dict[str, Any] | str:
    if not isinstance(data, Mapping):
        raise _bad(f"{where}: 'data' must be an object")
    if "json" in data:
        value = data["json"]
        if isinstance(value, Mapping):
            return dict(value)
        if isinstance(value, str) and len(value) <= MAX_ATTACHMENT_BYTES:
            return value.strip()
        raise _bad(f"{where}: data.json must be an object or a compact string")
    encoded = data.get("base64")
    if not isinstance(encoded, str):
        raise _bad(f"{where}: the data must be inline json or base64")
    if len(encoded) > MAX_ATTACHMENT_BYTES * 4 // 3 + 8:
        raise RemoteProtocolError(
            f"{where} is larger than {MAX_ATTACHMENT_BYTES} bytes", "e.p.msg.size"
        )
    try:
        raw = b64_decode_any(encoded, what=f"{where} data")
        text = raw.decode("utf-8").strip()
    except (InputError, UnicodeDecodeError) as err:
        raise _bad(f"{where}: the base64 data is not UTF-8 text ({err})") from err
    if text.startswith("{"):
        try:
            return loads_object(text, max_bytes=MAX_ATTACHMENT_BYTES, what=f"{where} data")
        except InputError as err:
            raise _bad(f"{where}: {err}") from err
    return text


def to_v1(
    items: Sequence[Attached], decorator: str, *, inline_json: bool = False
) -> dict[str, Any]:
    """The body fields of an Aries message: ``formats`` and the ``decorator`` list."""
    formats = []
    attachments = []
    for item in items:
        item = item.with_id()
        formats.append({"attach_id": item.id, "format": item.format})
        attachments.append(
            {"@id": item.id, "mime-type": item.media_type, "data": _data_out(item, inline_json)}
        )
    return {"formats": formats, decorator: attachments}


def to_v2(items: Sequence[Attached], *, inline_json: bool = True) -> list[dict[str, Any]]:
    """DIDComm v2 message attachments, each naming its format."""
    out = []
    for item in items:
        item = item.with_id()
        out.append(
            {
                "id": item.id,
                "media_type": item.media_type,
                "format": item.format,
                "data": _data_out(item, inline_json),
            }
        )
    return out


def _string(value: Any, where: str, limit: int) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise _bad(f"{where} must be a non-empty string of at most {limit} characters")
    return value


def _attached(
    item: Mapping[str, Any], where: str, fmt: str, attach_id: str, media: Any
) -> Attached:
    # A media type is informational (the format says what the data is): a bad one is dropped.
    kind = media if isinstance(media, str) and len(media) <= 200 else JSON
    return Attached(fmt, _data_in(item.get("data"), where), attach_id, kind)


def from_v1(
    body: Mapping[str, Any], decorator: str, *, required: bool = True
) -> tuple[Attached, ...]:
    """Read ``formats`` and the ``decorator`` attachments of an Aries message body."""
    raw = body.get(decorator)
    if raw is None and not required:
        return ()
    if not isinstance(raw, list) or (required and not raw):
        raise _bad(f"'{decorator}' must be a non-empty list of attachments")
    if len(raw) > MAX_ATTACHMENTS:
        raise _bad(f"'{decorator}' has more than {MAX_ATTACHMENTS} attachments")
    formats = body.get("formats")
    if not isinstance(formats, list) or len(formats) > MAX_ATTACHMENTS:
        raise _bad("'formats' must list the format of each attachment")
    by_id: dict[str, str] = {}
    for n, entry in enumerate(formats):
        if not isinstance(entry, Mapping):
            raise _bad(f"formats[{n}] must be an object")
        attach_id = _string(entry.get("attach_id"), f"formats[{n}].attach_id", _MAX_ID)
        by_id[attach_id] = _string(entry.get("format"), f"formats[{n}].format", _MAX_FORMAT)
    out = []
    for n, item in enumerate(raw):
        where = f"{decorator}[{n}]"
        if not isinstance(item, Mapping):
            raise _bad(f"{where} must be an object")
        attach_id = _string(item.get("@id"), f"{where}.@id", _MAX_ID)
        fmt = by_id.get(attach_id)
        if fmt is None:
            raise _bad(f"{where} is not listed in 'formats'")
        out.append(_attached(item, where, fmt, attach_id, item.get("mime-type")))
    return tuple(out)


def from_v2(attachments: Sequence[Any], *, required: bool = True) -> tuple[Attached, ...]:
    """Read the attachments of a DIDComm v2 message (each must name its format)."""
    if required and not attachments:
        raise _bad("the message carries no attachment")
    if len(attachments) > MAX_ATTACHMENTS:
        raise _bad(f"the message has more than {MAX_ATTACHMENTS} attachments")
    out = []
    for n, item in enumerate(attachments):
        where = f"attachments[{n}]"
        if not isinstance(item, Mapping):
            raise _bad(f"{where} must be an object")
        attach_id = item.get("id")
        attach_id = attach_id if isinstance(attach_id, str) and len(attach_id) <= _MAX_ID else ""
        fmt = _string(item.get("format"), f"{where}.format", _MAX_FORMAT)
        out.append(_attached(item, where, fmt, attach_id, item.get("media_type")))
    return tuple(out)


def pick(items: Sequence[Attached], formats: Sequence[str]) -> Attached:
    """The first attachment in one of ``formats`` (the ones this side speaks)."""
    for item in items:
        if item.format in formats:
            return item
    seen = ", ".join(sorted({i.format[:60] for i in items})) or "none"
    raise RemoteProtocolError(
        f"no attachment in a format moi speaks ({seen}); moi reads {', '.join(formats)}",
        "e.p.msg.unsupported-format",
    )
