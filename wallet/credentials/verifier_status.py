"""The verifier's status check and what every format's verification shares.

A credential's status is checked only once its proof and issuer are verified: a forged
credential must not make the verifier fetch URLs of the forger's choosing. Each list is
fetched through :class:`~wallet.credentials.status_fetch.StatusListFetcher` (size limits,
cache, no plain http unless allowed), its proof checked by :func:`verify_status_list`, and
it must be issued by the credential's own issuer.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from wallet.did import ResolverRegistry
from wallet.errors import InputError, MoiError

from .data_integrity import verify_proof
from .did_keys import ASSERTION, authorised_method, method_key
from .errors import (
    CredentialError,
    ExpiredCredential,
    MalformedCredential,
    NotYetValid,
    ProofError,
    StatusError,
)
from .model import Credential, parse_credential
from .sd_jwt_core import MalformedSdJwt, decode_jwt
from .status_fetch import StatusListFetcher
from .status_list import StatusListEntry, StatusVerificationError, evaluate_status
from .vc_jose import verify_vc_jwt
from .verifier_report import STATUS, VALIDITY, VerificationReport

#: Seconds of clock difference tolerated on JWT times and KB-JWT / VP freshness.
LEEWAY = 60.0
#: How old a KB-JWT or vp+jwt may be.
MAX_PRESENTATION_AGE = 300.0


class StatusListIssuerMismatch(StatusVerificationError):
    """The status list is issued by someone else than the credential."""


class UnsupportedStatus(StatusError):
    """The credential's status uses a mechanism moi does not check."""


@dataclass(frozen=True, slots=True)
class VerifyContext:
    """What one call of ``verify`` checks against."""

    resolver: ResolverRegistry
    now: datetime
    status_fetcher: StatusListFetcher | None
    nonce: str | None
    audience: str | None

    @property
    def timestamp(self) -> float:
        return self.now.timestamp()


async def check_status(
    ctx: VerifyContext,
    report: VerificationReport,
    issuer: str | None,
    entries: Sequence[Any],
    *,
    trusted: bool,
    where: str | None = None,
) -> None:
    """Check Bitstring Status List entries (raw JSON objects) of one credential."""
    if not entries:
        report.absent(STATUS)
        return
    if not trusted:
        reason = "not checked: the credential's proof or issuer did not verify"
        report.fail(STATUS, StatusError(reason), where)
        return
    if ctx.status_fetcher is None:
        report.fail(STATUS, StatusError("not checked: no status list fetcher was given"), where)
        return
    for raw in entries:
        try:
            entry = StatusListEntry.from_json(raw)
            parsed = await ctx.status_fetcher.get(entry.list_credential, ctx.now)
            if parsed.issuer != issuer:
                raise StatusListIssuerMismatch(
                    f"status list {entry.list_credential[:100]} is not issued by the credential's"
                    " issuer"
                )
            evaluate_status(entry, parsed, ctx.now).raise_for_status()
        except MoiError as err:
            report.fail(STATUS, err, where)
            return
    report.ok(STATUS)


def check_period(
    report: VerificationReport, cred: Credential, now: datetime, where: str | None = None
) -> None:
    """validFrom / validUntil (issuanceDate / expirationDate in 1.1) against ``now``, with the
    same clock leeway as JWT times: a credential issued a moment ago by an issuer whose clock
    runs a little ahead is not refused."""
    slack = timedelta(seconds=LEEWAY)
    if cred.valid_from is not None and now + slack < cred.valid_from:
        error: CredentialError = NotYetValid(f"the credential is valid only from {cred.valid_from}")
        report.fail(VALIDITY, error, where)
    elif cred.valid_until is not None and now - slack > cred.valid_until:
        report.fail(
            VALIDITY, ExpiredCredential(f"the credential expired at {cred.valid_until}"), where
        )
    elif cred.valid_from or cred.valid_until:
        report.ok(VALIDITY)
    else:
        report.absent(VALIDITY)


def bitstring_entries(value: Any) -> list[Any]:
    """``credentialStatus`` as a list, refusing status types other than Bitstring Status List."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    if len(items) > 32:
        raise MalformedCredential("credentialStatus has more than 32 entries")
    for item in items:
        kind = item.get("type") if isinstance(item, Mapping) else None
        if kind != "BitstringStatusListEntry":
            raise UnsupportedStatus(f"status type {str(kind)[:60]!r} is not supported")
    return items


def status_fetcher(resolver: ResolverRegistry, **options: Any) -> StatusListFetcher:
    """A fetcher whose lists must carry a valid proof by an assertion key of their issuer."""

    async def verify_list(raw: Any) -> Mapping[str, Any]:
        return await verify_status_list(raw, resolver)

    return StatusListFetcher(verify_list, **options)


async def verify_status_list(raw: Any, resolver: ResolverRegistry) -> Mapping[str, Any]:
    """Check a status list credential's proof (Data Integrity or vc+jwt) and its issuer's key;
    return the credential. Raises a :class:`CredentialError` when it does not verify."""
    if isinstance(raw, Mapping):
        cred = parse_credential(dict(raw))
        result = await verify_proof(
            raw,
            resolve_key=lambda vm: method_key(resolver, vm),
            now=datetime.now(UTC),
        )
        result.raise_for_failure()
        for check in result.checks:
            await authorised_method(
                resolver, check.verification_method or "", cred.issuer, ASSERTION
            )
        return raw
    if isinstance(raw, str):
        try:
            jws, payload = decode_jwt(raw, "the status list vc+jwt")
        except MalformedSdJwt as err:
            raise MalformedCredential(str(err)) from err
        kid = jws.header.get("kid")
        if not isinstance(kid, str):
            raise ProofError("the status list vc+jwt names no kid")
        issuer = payload.get("issuer")
        issuer = issuer.get("id") if isinstance(issuer, Mapping) else issuer
        vm = await authorised_method(resolver, kid, str(issuer), ASSERTION)
        verified = verify_vc_jwt(raw, lambda _i, _k: vm.public_key, now=time.time())
        return verified.payload
    raise InputError("a status list credential is a JSON object or a vc+jwt")


def proof_error(err: MoiError) -> CredentialError:
    """A resolution or key error met while checking a signature, as a proof error."""
    if isinstance(err, CredentialError):
        return err
    out = ProofError(f"the signing key could not be found: {err}")
    out.__cause__ = err
    return out
