"""Small checks shared by the document parsers: bounded strings and lists, id resolution."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidDID
from .errors import InvalidDIDDocument
from .url import MAX_DID_LENGTH, parse_did_url

#: Longest id, controller or key reference (a DID URL, so a DID plus a fragment).
MAX_REF = MAX_DID_LENGTH + 512
#: Longest other string: a type, a URI, a media type.
MAX_STRING = 4096
#: Most entries in a small list: accept, routingKeys, recipientKeys, alsoKnownAs, @context.
MAX_LIST = 32


def preview(value: str, limit: int = 60) -> str:
    """A bounded repr for error messages (documents are public; keys are not secrets)."""
    return repr(value if len(value) <= limit else value[: limit - 3] + "...")


def text(value: Any, what: str, limit: int = MAX_STRING) -> str:
    if not isinstance(value, str):
        raise InvalidDIDDocument(f"{what} must be a string, not {type(value).__name__}")
    if len(value) > limit:
        raise InvalidDIDDocument(f"{what} is {len(value)} characters, over the limit of {limit}")
    return value


def text_list(value: Any, what: str, limit: int = MAX_STRING) -> tuple[str, ...]:
    """A list of strings (a lone string is taken as a list of one, as many peers send it)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (text(value, what, limit),)
    if not isinstance(value, list):
        raise InvalidDIDDocument(f"{what} must be a list of strings")
    if len(value) > MAX_LIST:
        raise InvalidDIDDocument(f"{what} has {len(value)} entries, over the limit of {MAX_LIST}")
    return tuple(text(item, f"an entry of {what}", limit) for item in value)


def absolute(ref: str, did: str, what: str) -> str:
    """Make a DID URL reference absolute against the document's DID."""
    if ref.startswith("#"):
        if len(ref) == 1:
            raise InvalidDIDDocument(f"{what} is an empty fragment")
        return did + ref
    if ref.startswith("did:"):
        try:
            parse_did_url(ref)
        except InvalidDID as err:
            raise InvalidDIDDocument(f"{what} {preview(ref)} is not a DID URL") from err
        return ref
    raise InvalidDIDDocument(f"{what} {preview(ref)} is neither a DID URL nor a '#' reference")
