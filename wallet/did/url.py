"""DID and DID URL syntax (W3C DID Core §3), checked before anything else looks at them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InvalidDID
from .errors import DIDTooLong

#: Longest DID or DID URL accepted. A did:peer:4 long form carries its whole document,
#: so this is generous; it still bounds the quadratic base58 decoding behind it.
MAX_DID_LENGTH = 16 * 1024

_IDCHAR = r"(?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2})"
_DID_RE = re.compile(rf"did:([a-z0-9]+):((?:{_IDCHAR}|:)*{_IDCHAR})")
# RFC 3986 pchar plus "/" and "?" (path, query and fragment share it, minus the delimiters).
_PCHAR = r"(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})"
_DID_URL_RE = re.compile(
    rf"(did:[a-z0-9]+:(?:{_IDCHAR}|:)*{_IDCHAR})"
    rf"((?:/{_PCHAR}*)*)"
    rf"(?:\?((?:{_PCHAR}|[/?])*))?"
    rf"(?:#((?:{_PCHAR}|[/?])*))?"
)


@dataclass(frozen=True, slots=True)
class DIDUrl:
    """A parsed DID URL; ``path``, ``query`` and ``fragment`` are ``None`` when absent."""

    did: str
    method: str
    path: str | None = None
    query: str | None = None
    fragment: str | None = None

    def __str__(self) -> str:
        text = self.did + (self.path or "")
        if self.query is not None:
            text += "?" + self.query
        if self.fragment is not None:
            text += "#" + self.fragment
        return text


def _check_text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidDID(f"a {what} must be a string, not {type(value).__name__}")
    if len(value) > MAX_DID_LENGTH:
        raise DIDTooLong(f"the {what} is {len(value)} characters, over {MAX_DID_LENGTH}")
    return value


def _preview(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")


def parse_did(value: object) -> tuple[str, str]:
    """Check a bare DID and return ``(method, method_specific_id)``."""
    text = _check_text(value, "DID")
    match = _DID_RE.fullmatch(text)
    if match is None:
        raise InvalidDID(f"not a valid DID: {_preview(text)}")
    return match.group(1), match.group(2)


def parse_did_url(value: object) -> DIDUrl:
    """Parse a DID URL (``did[/path][?query][#fragment]``)."""
    text = _check_text(value, "DID URL")
    match = _DID_URL_RE.fullmatch(text)
    if match is None:
        raise InvalidDID(f"not a valid DID URL: {_preview(text)}")
    did, path, query, fragment = match.groups()
    method = did.split(":", 2)[1]
    return DIDUrl(did, method, path or None, query, fragment)
