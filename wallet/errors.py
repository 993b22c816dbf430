"""The root of moi's exception hierarchy and the wallet layer's errors.

Every error moi raises on purpose derives from :class:`MoiError`; foreign exceptions are
translated at each layer's edge (``raise ... from err``), so a caller that catches
``MoiError`` catches everything moi means to report. Messages name what was wrong and never
carry key material.
"""

from __future__ import annotations


class MoiError(Exception):
    """Base class of every error moi raises on purpose."""


# -- input and encoding ---------------------------------------------------------------------


class InputError(MoiError):
    """Untrusted input was malformed: bad JSON, wrong type, out of bounds."""


class TooLargeError(InputError):
    """Input exceeded a size limit before it was parsed."""


# -- keys -----------------------------------------------------------------------------------


class KeyFormatError(MoiError):
    """A key could not be decoded, or has the wrong type or length for its use."""


class UnsupportedKeyType(KeyFormatError):
    """The key's curve or codec is one moi does not handle for this operation."""


# -- envelopes ------------------------------------------------------------------------------


class EnvelopeError(MoiError):
    """A packed message could not be produced or read."""


class MalformedEnvelope(EnvelopeError, InputError):
    """The envelope's structure is wrong: missing fields, bad encodings, bad headers."""


class UnsupportedAlgorithm(EnvelopeError):
    """The envelope uses an algorithm moi does not implement (or refuses)."""


class NoRecipientKey(EnvelopeError):
    """None of the envelope's recipients is a key this wallet holds."""


class DecryptionError(EnvelopeError):
    """Decryption failed: the message was tampered with, or keys do not match."""


class SignatureError(EnvelopeError):
    """A signature did not verify, or the signer is not who the message claims."""


class MalformedMessage(EnvelopeError, InputError):
    """The plaintext message is not a valid DIDComm message."""


# -- DIDs -----------------------------------------------------------------------------------


class ResolutionError(MoiError):
    """A DID could not be resolved to a usable document."""


class InvalidDID(ResolutionError, InputError):
    """The string is not a syntactically valid DID (or DID URL) for its method."""


class UnsupportedDIDMethod(ResolutionError):
    """No resolver is registered for the DID's method."""


class DIDNotFound(ResolutionError):
    """The method exists but the DID is unknown (e.g. a short did:peer:4 never seen)."""


class KeyNotFound(ResolutionError):
    """The DID document has no verification method with the wanted id or purpose."""


# -- storage --------------------------------------------------------------------------------


class StorageError(MoiError):
    """The record store failed or refused an operation."""


class RecordNotFound(StorageError):
    """No record has the given category and id."""


class DuplicateRecord(StorageError):
    """A record with the given category and id already exists."""


class ConcurrentUpdate(StorageError):
    """The record changed since it was read; re-read and retry."""


class WalletLocked(StorageError):
    """The wallet's key is wrong (bad passphrase or raw key) or the wallet is closed."""


class WalletNotFound(StorageError):
    """There is no wallet at the given location; run ``moi init`` first."""


class WalletExists(StorageError):
    """A wallet already exists at the given location."""
