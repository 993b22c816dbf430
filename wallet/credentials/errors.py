"""Errors of the credentials package.

One hierarchy for every credential format (Data Integrity, VC-JOSE, SD-JWT VC), status lists
and presentations, so a verifier can report each failed check by its class. All derive from
:class:`wallet.errors.MoiError`; malformed input also derives from
:class:`wallet.errors.InputError`.
"""

from __future__ import annotations

from wallet.errors import InputError, MoiError


class CredentialError(MoiError):
    """A credential or presentation could not be issued, read or verified."""


class MalformedCredential(CredentialError, InputError):
    """The credential's JSON breaks the data model: a missing or ill-typed property."""


class ProofError(CredentialError):
    """A proof is missing, malformed, or does not verify."""


class UnsupportedCryptosuite(ProofError):
    """The proof uses a type or cryptosuite moi does not implement."""


class HolderBindingError(ProofError):
    """The presenter is not bound to the credential (key binding, cnf, holder mismatch)."""


class ContextError(CredentialError):
    """A JSON-LD @context is wrong, unknown, or outside the bundled, pinned set."""


class StatusError(CredentialError):
    """The credential's status could not be checked, or it is revoked or suspended."""


class ExpiredCredential(CredentialError):
    """The credential's validity period ended before the time of the check."""


class NotYetValid(CredentialError):
    """The credential's validity period starts after the time of the check."""


class PresentationError(CredentialError):
    """A presentation is malformed or does not satisfy its request (challenge, domain, ...)."""
