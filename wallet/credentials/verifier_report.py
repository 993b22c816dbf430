"""The verifier's report: each check separately, what was disclosed, and every error.

Checks are ``signature`` (the credentials' proofs, their integrity), ``issuer`` (the issuer's
DID resolves and the signing key is one of its assertion methods), ``validity`` (validFrom /
validUntil, exp / nbf), ``status`` (Bitstring Status List) and ``holder_binding`` (the
presentation's proof or KB-JWT by the holder, answering this nonce / challenge and audience
/ domain). Each is ``"ok"``, ``"failed: <reason>"`` or ``"absent"`` (the input has nothing to
check there); for a presentation of several credentials, one failure fails the check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OK = "ok"
ABSENT = "absent"
FAILED = "failed: "
SIGNATURE = "signature"
ISSUER = "issuer"
VALIDITY = "validity"
STATUS = "status"
HOLDER_BINDING = "holder_binding"
CHECKS = (SIGNATURE, ISSUER, VALIDITY, STATUS, HOLDER_BINDING)
_MAX_ERRORS = 64


def _rank(value: str | None) -> int:
    if value is None:
        return 0
    if value == ABSENT:
        return 1
    if value == OK:
        return 2
    return 3


@dataclass
class CredentialInfo:
    """What a verified (or examined) credential says about itself."""

    format: str | None = None
    id: str | None = None
    issuer: str | None = None
    subject: str | None = None
    types: list[str] = field(default_factory=list)
    valid_until: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)
    #: The cnf key (SD-JWT, vc+jwt) and subject ids, for holder binding in presentations.
    bound_key: Any = None
    subject_ids: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "id": self.id,
            "issuer": self.issuer,
            "subject": self.subject,
            "types": list(self.types),
            "valid_until": self.valid_until,
            "claims": self.claims,
        }


@dataclass
class VerificationReport:
    """The outcome of :func:`wallet.credentials.verifier.verify`; ``to_json`` is the CLI's."""

    format: str | None = None
    presentation: bool = False
    checks: dict[str, str] = field(default_factory=dict)
    claims: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    id: str | None = None
    issuer: str | None = None
    subject: str | None = None
    holder: str | None = None
    types: list[str] = field(default_factory=list)
    valid_until: str | None = None
    credentials: list[CredentialInfo] = field(default_factory=list)
    #: The exceptions behind ``errors``, in order (not serialised).
    exceptions: list[Exception] = field(default_factory=list, repr=False)

    # -- building ---------------------------------------------------------------------------

    def _set(self, check: str, value: str) -> None:
        if _rank(value) > _rank(self.checks.get(check)):
            self.checks[check] = value

    def ok(self, check: str) -> None:
        self._set(check, OK)

    def absent(self, check: str) -> None:
        self._set(check, ABSENT)

    def fail(self, check: str, error: Exception, where: str | None = None) -> None:
        reason = " ".join(str(error).split()) or type(error).__name__
        if where:
            reason = f"{where}: {reason}"
        reason = reason if len(reason) <= 300 else reason[:297] + "..."
        self._set(check, FAILED + reason)
        if len(self.errors) < _MAX_ERRORS:
            self.errors.append({"check": check, "error": type(error).__name__, "message": reason})
            self.exceptions.append(error)

    def failed(self, check: str) -> bool:
        return _rank(self.checks.get(check)) == 3

    def finish(self) -> VerificationReport:
        for check in CHECKS:
            self.checks.setdefault(check, ABSENT)
        self.checks = {c: self.checks[c] for c in CHECKS}
        return self

    # -- reading ----------------------------------------------------------------------------

    @property
    def verified(self) -> bool:
        """Nothing failed, and something was proven: a credential's proof, or (a presentation
        of no credential) the holder's."""
        if self.errors or any(_rank(v) == 3 for v in self.checks.values()):
            return False
        if self.checks.get(SIGNATURE) == OK:
            return self.checks.get(ISSUER) == OK
        return self.presentation and self.checks.get(HOLDER_BINDING) == OK

    def raise_for_failure(self) -> None:
        """Raise the first error (the precise exception), if the report is not verified."""
        if self.exceptions:
            raise self.exceptions[0]
        if not self.verified:
            from .errors import CredentialError

            raise CredentialError("the credential was not verified")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "verified": self.verified,
            "format": self.format,
            "presentation": self.presentation,
            "checks": dict(self.checks),
            "claims": self.claims,
            "errors": list(self.errors),
            "id": self.id,
            "issuer": self.issuer,
            "subject": self.subject,
            "types": list(self.types),
            "valid_until": self.valid_until,
        }
        if self.presentation:
            out["holder"] = self.holder
            out["credentials"] = [c.to_json() for c in self.credentials]
        return out
