"""Precise errors of DID handling, each a subclass of the wallet's hierarchy.

They let a caller tell "this peer sent garbage" (:class:`~wallet.errors.InvalidDID` and
its children, also :class:`~wallet.errors.InputError`) from "the network failed"
(:class:`WebResolutionError`) and from "we do not speak that method"
(:class:`~wallet.errors.UnsupportedDIDMethod`).
"""

from __future__ import annotations

from ..errors import (
    DIDNotFound,
    InputError,
    InvalidDID,
    KeyFormatError,
    MoiError,
    ResolutionError,
    TooLargeError,
    UnsupportedDIDMethod,
    UnsupportedKeyType,
)

__all__ = [
    "DIDTooLong",
    "DIDWebNotFound",
    "DocumentIdMismatch",
    "InvalidDIDDocument",
    "InvalidDIDKey",
    "PeerDIDHashMismatch",
    "ResolverConflict",
    "UnsupportedKeyCodec",
    "UnsupportedPeerNumalgo",
    "WebDocumentTooLarge",
    "WebHTTPError",
    "WebHostUnreachable",
    "WebInvalidDocument",
    "WebResolutionError",
    "WebTLSError",
    "WebTimeout",
]


class DIDTooLong(InvalidDID, TooLargeError):
    """The DID (or DID URL) is longer than moi accepts."""


class InvalidDIDKey(InvalidDID, KeyFormatError):
    """A key encoded in the DID itself (did:key, did:peer:2) cannot be decoded."""


class UnsupportedKeyCodec(InvalidDIDKey, UnsupportedKeyType):
    """The DID encodes a key whose multicodec moi does not handle (BLS, RSA...)."""


class UnsupportedPeerNumalgo(UnsupportedDIDMethod):
    """A did:peer numalgo that moi refuses (0 and 1) or does not know."""


class PeerDIDHashMismatch(InvalidDID):
    """A long-form did:peer:4 whose hash does not match its encoded document."""


class InvalidDIDDocument(ResolutionError, InputError):
    """A DID document is malformed: wrong types, bad keys, dangling references, too big."""


class ResolverConflict(MoiError):
    """A resolver was registered for a method that already has one (pass ``replace=True``)."""


# -- did:web ----------------------------------------------------------------------------------


class WebResolutionError(ResolutionError):
    """did:web resolution failed; ``host`` names the server asked."""

    def __init__(self, host: str, message: str) -> None:
        super().__init__(f"did:web host {host}: {message}")
        self.host = host


class WebHostUnreachable(WebResolutionError):
    """The host did not answer: DNS failure, connection refused or reset."""


class WebTLSError(WebResolutionError):
    """The TLS handshake failed (untrusted or mismatched certificate)."""


class WebTimeout(WebResolutionError):
    """The host did not deliver the document in time."""


class WebHTTPError(WebResolutionError):
    """The host answered with an HTTP status other than 200."""

    def __init__(self, host: str, status: int) -> None:
        super().__init__(host, f"HTTP status {status}")
        self.status = status


class DIDWebNotFound(WebHTTPError, DIDNotFound):
    """The host answered 404 or 410: there is no such DID."""


class WebDocumentTooLarge(WebResolutionError, TooLargeError):
    """The host sent more bytes than the size limit allows."""


class WebInvalidDocument(WebResolutionError, InvalidDIDDocument):
    """The host served something that is not a JSON object."""


class DocumentIdMismatch(WebInvalidDocument):
    """The document served for a did:web has another ``id`` (or none)."""
