"""What a presentation of a held credential would disclose, and to whom, before it is made.

Only SD-JWT credentials can withhold claims; for the others the preview says the whole
credential is shown, and naming claims to disclose is refused rather than ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from wallet.errors import InputError

from .formats import SD_JWT_METADATA, CredentialFormat, subject_claims, user_claims
from .holder_records import StoredCredential
from .sd_jwt_holder import HeldSdJwt

#: Most claim paths one presentation may name.
MAX_DISCLOSE = 256


@dataclass(frozen=True, slots=True)
class DisclosurePreview:
    """What a presentation would reveal, to whom, before it is made."""

    credential_id: str
    format: CredentialFormat
    issuer: str | None
    holder: str | None
    audience: str | None
    #: The claims about the subject the verifier will see.
    disclosed: dict[str, Any]
    #: Claims (dotted paths) the credential holds that will not be shown.
    withheld: tuple[str, ...]
    #: Shown with every presentation of this credential (type, issuer, validity, ...).
    metadata: dict[str, Any]
    #: False when the format cannot withhold anything: the whole credential is shown.
    selective: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "credential": self.credential_id,
            "format": self.format.value,
            "issuer": self.issuer,
            "holder": self.holder,
            "to": self.audience,
            "disclosed": self.disclosed,
            "withheld": list(self.withheld),
            "always_shown": self.metadata,
            "selective": self.selective,
        }


def preview_disclosure(
    stored: StoredCredential,
    paths: list[str | Sequence[str | int | None]],
    holder: str | None,
    audience: str | None,
    *,
    sd_jwt: HeldSdJwt | None = None,
) -> DisclosurePreview:
    """The preview of presenting ``stored`` with the claims at ``paths`` disclosed
    (``sd_jwt``: the SD-JWT credential already parsed, which is not parsed again)."""
    if len(paths) > MAX_DISCLOSE:
        raise InputError(f"at most {MAX_DISCLOSE} claims can be named for disclosure")
    if stored.format is CredentialFormat.SD_JWT:
        held = sd_jwt if sd_jwt is not None else HeldSdJwt.parse(stored.serialize())
        shown = held.preview(paths)
        disclosed = user_claims(shown)
        seen = set(_leaves(disclosed))
        withheld = tuple(p for p in _leaves(user_claims(held.claims)) if p not in seen)
        metadata = {k: v for k, v in shown.items() if k in SD_JWT_METADATA and k != "cnf"}
        if "cnf" in shown:
            metadata["cnf"] = "the holder's public key"
        return DisclosurePreview(
            stored.id,
            stored.format,
            stored.issuer,
            holder,
            audience,
            disclosed,
            withheld,
            metadata,
            True,
        )
    if paths:
        raise InputError(
            f"a {stored.format} credential is shown whole; only sd-jwt credentials can"
            " disclose some claims and withhold the rest"
        )
    metadata = {
        k: v for k, v in stored.claims.items() if k not in ("credentialSubject", "proof", "cnf")
    }
    if stored.subject:
        metadata["credentialSubject.id"] = stored.subject
    return DisclosurePreview(
        stored.id,
        stored.format,
        stored.issuer,
        holder,
        audience,
        subject_claims(stored.claims),
        (),
        metadata,
        False,
    )


def _leaves(value: Any, prefix: str = "") -> list[str]:
    if isinstance(value, dict) and value:
        out: list[str] = []
        for key, child in value.items():
            out.extend(_leaves(child, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value:
        out = []
        for index, child in enumerate(value):
            out.extend(_leaves(child, f"{prefix}.{index}"))
        return out
    return [prefix]
