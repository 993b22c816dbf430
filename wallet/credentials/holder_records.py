"""How the holder keeps a credential in the wallet's store: one record per credential id.

The record's value holds the credential as received (JSON object or compact string), the
claims Presentation Exchange matches against (for SD-JWT: every disclosure applied) and a
summary for listing. Its tags are :func:`~wallet.credentials.pex_query.index_terms` (format,
issuer, types, vct) plus the moi format, the subject and two plain, orderable ones
(``~stored``, ``~valid_until``), so a presentation request selects its candidates with one
indexed query instead of reading every credential.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wallet.encoding import dumps_compact
from wallet.storage import Record

from .errors import CredentialError
from .formats import CredentialFormat
from .model import ValidityState, parse_datetime
from .pex import Candidate
from .pex_query import index_terms

CATEGORY = "credential"
#: Tag names are bounded by the store; a longer one (a long type URL) is kept as its digest,
#: in the index and in every query alike.
MAX_TAG_NAME = 200
MAX_INDEX_TAGS = 56


class TooManyTags(CredentialError):
    """The credential names more types or issuers than the index can hold."""


@dataclass(frozen=True, slots=True)
class StoredCredential:
    """A held credential: the secured form and what the wallet knows about it."""

    id: str
    format: CredentialFormat
    credential: dict[str, Any] | str
    issuer: str | None
    types: tuple[str, ...]
    subject: str | None
    valid_from: str | None
    valid_until: str | None
    revocable: bool
    stored: int
    claims: dict[str, Any]
    pex: dict[str, Any]

    def validity(self, now: datetime) -> ValidityState:
        if self.valid_from and now < parse_datetime(self.valid_from):
            return ValidityState.NOT_YET_VALID
        if self.valid_until and now > parse_datetime(self.valid_until):
            return ValidityState.EXPIRED
        return ValidityState.VALID

    def summary(self, now: datetime) -> dict[str, Any]:
        """The listing entry: id, format, issuer, types, subject, valid_until, status."""
        return {
            "id": self.id,
            "format": self.format.value,
            "issuer": self.issuer,
            "types": list(self.types),
            "subject": self.subject,
            "valid_until": self.valid_until,
            # What the holder can tell offline; revocation is the verifier's to check.
            "status": self.validity(now).value,
            "revocable": self.revocable,
        }

    def candidate(self) -> Candidate:
        return Candidate(
            id=self.id,
            format=self.pex["format"],
            claims=self.claims,
            alg=self.pex.get("alg"),
            proof_type=self.pex.get("proof_type"),
            cryptosuite=self.pex.get("cryptosuite"),
        )

    def serialize(self) -> str:
        if isinstance(self.credential, str):
            return self.credential
        return dumps_compact(self.credential)

    # -- the record ---------------------------------------------------------------------------

    def value(self) -> bytes:
        out: dict[str, Any] = {
            "format": self.format.value,
            "credential": self.credential,
            "issuer": self.issuer,
            "types": list(self.types),
            "subject": self.subject,
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
            "revocable": self.revocable,
            "stored": self.stored,
            "pex": self.pex,
        }
        if self.claims is not self.credential:
            # A Data Integrity credential is its own claim set; do not keep it twice.
            out["claims"] = self.claims
        return dumps_compact(out).encode("utf-8")

    def tags(self) -> dict[str, str]:
        tags = {tag_name(k): v for k, v in index_terms(self.candidate()).items()}
        if len(tags) > MAX_INDEX_TAGS:
            raise TooManyTags(f"the credential has {len(tags)} index terms, over {MAX_INDEX_TAGS}")
        tags["kind"] = self.format.value
        if self.subject:
            tags["subject"] = self.subject
        tags["~stored"] = f"{self.stored:012d}"
        if self.valid_until:
            tags["~valid_until"] = self.valid_until
        return tags

    @classmethod
    def from_record(cls, record: Record) -> StoredCredential:
        data = record.json()
        credential = data["credential"]
        return cls(
            id=record.id,
            format=CredentialFormat(data["format"]),
            credential=credential,
            issuer=data.get("issuer"),
            types=tuple(data.get("types") or ()),
            subject=data.get("subject"),
            valid_from=data.get("valid_from"),
            valid_until=data.get("valid_until"),
            revocable=bool(data.get("revocable")),
            stored=int(data.get("stored", 0)),
            claims=data["claims"] if "claims" in data else credential,
            pex=dict(data.get("pex") or {}),
        )


def tag_name(name: str) -> str:
    """The stored name of an index tag (a digest when too long for the store)."""
    if len(name) <= MAX_TAG_NAME:
        return name
    return "h:" + hashlib.sha256(name.encode("utf-8")).hexdigest()


def rewrite_query(query: Any) -> Any:
    """A :func:`~wallet.credentials.pex_query.query_for` query with tag names as stored."""
    if isinstance(query, list):
        return [rewrite_query(q) for q in query]
    if isinstance(query, Mapping):
        return {
            (k if k.startswith("$") else tag_name(k)): rewrite_query(v) for k, v in query.items()
        }
    return query
