"""Issuing credentials from one of the wallet's own DIDs, in the four formats moi speaks.

    issued = await issue_credential(
        wallet, issuer=my_did, subject=their_did, format="sd-jwt",
        claims={"given_name": "Erika", "age_over_18": True}, disclose=["given_name", "age_over_18"],
        status=True, status_base_url="https://issuer.example",
    )
    issued.serialize()      # the JSON text (Data Integrity) or the compact string (JWT forms)

The signing key is an *assertion* method of the issuer's DID held in the wallet, named by
its key id. With ``status``, the credential gets an index in the issuer's revocation list and
one in its suspension list (see :mod:`wallet.credentials.issuer_status`), and
:func:`revoke`, :func:`suspend`, :func:`unsuspend` change them by credential id; the agent
serves the lists with :func:`status_list_document`.

Format notes: Data Integrity and vc+jwt credentials are VC Data Model 2.0 with
``credentialSubject.id`` = the subject DID; the vc+jwt also carries ``iat`` and, with
``valid_until``, ``exp``. SD-JWT VCs carry ``iss``, ``sub`` (the subject DID), ``jti``, ``vct``
(the one ``--type``, or ``VerifiableCredential``), ``iat``, ``exp``, holder binding ``cnf`` =
the subject DID's authentication key as a JWK, and decoy digests beside the disclosable ones.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from wallet.did import parse_did
from wallet.encoding import dumps_compact
from wallet.errors import InputError
from wallet.keys import KeyType, PrivateKey, PublicKey

from .contexts import CREDENTIALS_V2
from .data_integrity import add_proof
from .did_keys import ASSERTION, OwnDIDRequired, own_signing_key, require_own_did
from .errors import MalformedCredential
from .formats import (
    CRYPTOSUITES,
    MAX_TYPES,
    SD_JWT_METADATA,
    SD_JWT_STATUS_KEY,
    CredentialFormat,
)
from .issuer_status import (
    SigningWallet,
    StatusAssignment,
    allocate,
    change_status,
    credential_status,
    record_issued,
    status_list_document,
)
from .model import format_datetime, is_url, parse_credential
from .sd_jwt_vc import issue_sd_jwt_vc
from .vc_jose import issue_vc_jwt

__all__ = [
    "IssuedCredential",
    "OwnDIDRequired",
    "credential_status",
    "issue_credential",
    "revoke",
    "status_list_document",
    "suspend",
    "unsuspend",
]

DEFAULT_VCT = "VerifiableCredential"
#: VC Data Model 2.0's context for terms no vocabulary defines: the claims and types given
#: on the command line are arbitrary words, which RDF canonicalisation would otherwise refuse.
UNDEFINED_TERMS = "https://www.w3.org/ns/credentials/undefined-terms/v2"
#: Decoys per ``_sd`` array: between 1 and this many, so the number of claims stays hidden.
SD_JWT_DECOYS = 4
MAX_CLAIMS_BYTES = 256 * 1024
_JWT_ALGS_KEYS = frozenset({KeyType.ED25519, KeyType.P256})


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    """A credential just issued: its id, format, the secured form and its status indexes."""

    id: str
    format: CredentialFormat
    credential: dict[str, Any] | str
    status: tuple[StatusAssignment, ...] = field(default=())

    def serialize(self) -> str:
        """The JSON text (Data Integrity) or the compact string (vc+jwt, SD-JWT)."""
        if isinstance(self.credential, str):
            return self.credential
        return dumps_compact(self.credential)


async def issue_credential(
    wallet: SigningWallet,
    *,
    issuer: str,
    subject: str,
    format: CredentialFormat | str,
    claims: Mapping[str, Any],
    types: Sequence[str] = (),
    disclose: Iterable[str | Sequence[str | int | None]] = (),
    valid_until: datetime | None = None,
    status: bool = False,
    status_base_url: str | None = None,
    now: datetime | None = None,
) -> IssuedCredential:
    """Issue a credential about ``subject`` from the wallet's own DID ``issuer``.

    ``disclose`` (SD-JWT only) names the selectively disclosable claims as claim paths
    (``"age_over_18"``, ``"address.locality"``). ``status`` needs ``status_base_url``, the
    agent's public endpoint under which ``/status/{list_id}`` is served.
    """
    fmt = _format(format)
    when = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    _check_claims(claims, fmt)
    type_list = _types(types, fmt)
    sd_paths = list(disclose)
    if sd_paths and fmt is not CredentialFormat.SD_JWT:
        raise InputError(f"selective disclosure (--sd) needs --format sd-jwt, not {fmt}")
    for path in sd_paths:
        head = path.split(".", 1)[0] if isinstance(path, str) else (path[0] if path else None)
        if head in SD_JWT_METADATA:
            raise InputError(f"{head!r} is set by moi and cannot be selectively disclosable")
    if valid_until is not None:
        if valid_until.tzinfo is None:
            raise InputError("valid_until must carry a timezone")
        if valid_until <= when:
            raise InputError("valid_until must be in the future")
    if status and not status_base_url:
        raise InputError("a credential with status needs the public URL its lists are served at")
    _check_subject(subject)
    await require_own_did(wallet, issuer)

    key_types = _JWT_ALGS_KEYS if fmt.is_jwt else frozenset({KeyType.ED25519})
    vm, key = await own_signing_key(wallet, wallet.resolver, issuer, ASSERTION, key_types=key_types)
    holder_key = None
    if fmt is CredentialFormat.SD_JWT:
        # Holder binding: the subject's authentication key, so only its holder can present.
        doc = await wallet.resolver.resolve(subject)
        bound = [m for m in doc.authentication_keys() if m.public_key.type in _JWT_ALGS_KEYS]
        if not bound:
            raise InputError(f"{subject[:80]} has no Ed25519 or P-256 authentication key to bind")
        holder_key = bound[0].public_key

    draft = _Draft(
        fmt,
        key,
        vm,
        f"urn:uuid:{uuid.uuid4()}",
        issuer,
        subject,
        dict(claims),
        type_list,
        when,
        valid_until,
        holder_key,
        sd_paths,
    )
    if not (status and status_base_url):
        return await draft.secure(())
    async with wallet.store.transaction() as tx:
        # The indexes are taken and recorded only if signing succeeds (one transaction).
        assignments = await allocate(
            tx, issuer=issuer, verification_method=vm, base_url=status_base_url, now=when
        )
        await record_issued(tx, draft.id, issuer, assignments)
        return await draft.secure(tuple(assignments))


def _check_subject(subject: Any) -> None:
    """Refuse a subject that is not a DID."""
    if isinstance(subject, str):
        _check_did_text(subject)
    else:
        _check_did_text.__wrapped__(subject)


@functools.lru_cache(maxsize=256)
def _check_did_text(subject: Any) -> None:
    # Kept for the DIDs seen lately: a did:peer:4 long form is kilobytes of text for the
    # regular expression, and an issuer issues to the same relationships again and again
    # (a refusal raises, so it is never kept).
    try:
        parse_did(subject)
    except InputError as err:
        raise InputError(f"the subject must be a DID: {err}") from err


@dataclass(frozen=True, slots=True)
class _Draft:
    """A checked issuance request, ready to be signed."""

    format: CredentialFormat
    key: PrivateKey
    vm: str
    id: str
    issuer: str
    subject: str
    claims: dict[str, Any]
    types: list[str]
    when: datetime
    valid_until: datetime | None
    holder_key: PublicKey | None
    sd_paths: list[Any]

    async def secure(self, assignments: tuple[StatusAssignment, ...]) -> IssuedCredential:
        entries = [a.entry() for a in assignments]
        iat = int(self.when.timestamp())
        exp = int(self.valid_until.timestamp()) if self.valid_until else None
        secured: dict[str, Any] | str
        if self.format is CredentialFormat.SD_JWT:
            secured = issue_sd_jwt_vc(
                {"sub": self.subject, "jti": self.id, **self.claims},
                self.key,
                vct=self.types[0] if self.types else DEFAULT_VCT,
                iss=self.issuer,
                iat=iat,
                exp=exp,
                holder_key=self.holder_key,
                status={SD_JWT_STATUS_KEY: entries} if entries else None,
                kid=self.vm,
                disclosable=self.sd_paths,
                decoys=SD_JWT_DECOYS,
            )
            return IssuedCredential(self.id, self.format, secured, assignments)
        doc = _vcdm(
            self.id,
            self.issuer,
            self.subject,
            self.claims,
            self.types,
            self.when,
            self.valid_until,
        )
        if entries:
            doc["credentialStatus"] = entries
        parse_credential(doc)  # the data model's checks, before anything is signed
        if self.format is CredentialFormat.VC_JWT:
            secured = issue_vc_jwt(doc, self.key, kid=self.vm, iat=iat, exp=exp)
        else:
            secured = await add_proof(
                doc,
                cryptosuite=CRYPTOSUITES[self.format],
                key=self.key,
                verification_method=self.vm,
                created=self.when,
            )
        return IssuedCredential(self.id, self.format, secured, assignments)


async def revoke(
    wallet: SigningWallet, credential_id: str, *, now: datetime | None = None
) -> dict[str, Any]:
    """Set the credential's revocation bit (for good); returns its status afterwards."""
    return await change_status(wallet, credential_id, "revoke", now=now)


async def suspend(
    wallet: SigningWallet, credential_id: str, *, now: datetime | None = None
) -> dict[str, Any]:
    """Set the credential's suspension bit; returns its status afterwards."""
    return await change_status(wallet, credential_id, "suspend", now=now)


async def unsuspend(
    wallet: SigningWallet, credential_id: str, *, now: datetime | None = None
) -> dict[str, Any]:
    """Clear the credential's suspension bit; returns its status afterwards."""
    return await change_status(wallet, credential_id, "unsuspend", now=now)


# -- building --------------------------------------------------------------------------------


def _format(value: CredentialFormat | str) -> CredentialFormat:
    try:
        return CredentialFormat(value)
    except ValueError:
        names = ", ".join(f.value for f in CredentialFormat)
        raise InputError(f"unknown credential format {str(value)[:40]!r}; use {names}") from None


def _check_claims(claims: Mapping[str, Any], fmt: CredentialFormat) -> None:
    if not isinstance(claims, Mapping) or not claims:
        raise MalformedCredential("the claims must be a non-empty JSON object")
    try:
        size = len(dumps_compact(dict(claims)))
    except (TypeError, ValueError) as err:
        raise MalformedCredential(f"the claims are not JSON: {err}") from err
    if size > MAX_CLAIMS_BYTES:
        raise MalformedCredential(f"the claims are over {MAX_CLAIMS_BYTES} bytes")
    for name in claims:
        if not isinstance(name, str) or not name:
            raise MalformedCredential("claim names must be non-empty strings")
        if name.startswith("@"):
            raise MalformedCredential(f"claim name {name[:40]!r} is a JSON-LD keyword")
        sd_jwt = fmt is CredentialFormat.SD_JWT
        reserved = SD_JWT_METADATA | {"_sd", "_sd_alg", "..."} if sd_jwt else {"id"}
        if name in reserved:
            raise MalformedCredential(f"claim {name!r} is set by moi, not by the claims")


def _types(types: Sequence[str], fmt: CredentialFormat) -> list[str]:
    if isinstance(types, str):
        raise InputError("types is a list of strings")
    out: list[str] = []
    for t in types:
        if not isinstance(t, str) or not t or len(t) > 512 or any(c.isspace() for c in t):
            raise MalformedCredential(f"type {str(t)[:40]!r} must be a short word or a URL")
        if ":" in t and not is_url(t):
            raise MalformedCredential(f"type {t[:40]!r} has a colon but is not a URL")
        if t != "VerifiableCredential" and t not in out:
            out.append(t)
    if len(out) > MAX_TYPES:
        raise MalformedCredential(f"at most {MAX_TYPES} types")
    if fmt is CredentialFormat.SD_JWT and len(out) > 1:
        raise MalformedCredential("an SD-JWT VC has one type (its vct); give one --type")
    return out


def _vcdm(
    credential_id: str,
    issuer: str,
    subject: str,
    claims: Mapping[str, Any],
    types: list[str],
    when: datetime,
    valid_until: datetime | None,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@context": [CREDENTIALS_V2, UNDEFINED_TERMS],
        "id": credential_id,
        "type": ["VerifiableCredential", *types],
        "issuer": issuer,
        "validFrom": format_datetime(when),
    }
    if valid_until is not None:
        doc["validUntil"] = format_datetime(valid_until)
    doc["credentialSubject"] = {"id": subject, **claims}
    return doc
