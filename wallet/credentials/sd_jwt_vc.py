"""SD-JWT VC (draft-ietf-oauth-sd-jwt-vc): SD-JWT credentials typed ``dc+sd-jwt``.

On top of SD-JWT: a required ``vct`` (the credential type), the claims that must never be
selectively disclosed (``iss``, ``nbf``, ``exp``, ``cnf``, ``vct``, ``vct#integrity``,
``aka_vcts``, ``status``, including their sub-claims), the issuer's key found by a callback
from ``iss`` and the header's ``kid`` (e.g. a DID URL), and the ``status`` reference handed to
a callback (Token Status List, or whatever the deployment uses). The legacy ``vc+sd-jwt``
type is accepted on input, never produced.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wallet.encoding import dumps_compact
from wallet.keys import PrivateKey, PublicKey

from .errors import MalformedCredential
from .sd_jwt_core import (
    ALLOWED_ALGS,
    DEFAULT_LIMITS,
    ClaimPathError,
    Disclosure,
    MalformedSdJwt,
    SdJwtLimits,
    claim_paths,
    split_sd_jwt,
)
from .sd_jwt_holder import HeldSdJwt
from .sd_jwt_issue import issue_sd_jwt
from .sd_jwt_verify import HolderKeyResolver, verify_sd_jwt

__all__ = [
    "LEGACY_SD_JWT_VC_TYP",
    "NEVER_DISCLOSED",
    "SD_JWT_VC_TYP",
    "IssuerKeyResolver",
    "StatusCheck",
    "VerifiedSdJwtVc",
    "issue_sd_jwt_vc",
    "receive_sd_jwt_vc",
    "verify_sd_jwt_vc",
]

SD_JWT_VC_TYP = "dc+sd-jwt"
LEGACY_SD_JWT_VC_TYP = "vc+sd-jwt"

#: Registered claims the draft forbids in Disclosures (with everything inside them).
NEVER_DISCLOSED: frozenset[str] = frozenset(
    {"iss", "nbf", "exp", "cnf", "vct", "vct#integrity", "aka_vcts", "status"}
)

#: ``(iss, kid) -> key``: both come from the unverified token; the resolver decides whether
#: the key really belongs to that issuer (DID resolution, JWT VC issuer metadata, a pin).
IssuerKeyResolver = Callable[[str | None, str | None], PublicKey]

#: Called with the payload's ``status`` object; raises StatusError when the credential is
#: revoked or suspended, or its status cannot be established.
StatusCheck = Callable[[Mapping[str, Any]], None]


@dataclass(frozen=True, slots=True)
class VerifiedSdJwtVc:
    """A verified SD-JWT VC: its type, issuer, processed claims and what was checked."""

    vct: str
    iss: str | None
    claims: dict[str, Any]
    header: dict[str, Any]
    disclosures: tuple[Disclosure, ...]
    status: dict[str, Any] | None
    status_checked: bool
    holder_key: PublicKey | None
    key_binding: dict[str, Any] | None


def issue_sd_jwt_vc(
    claims: Mapping[str, Any],
    issuer_key: PrivateKey,
    *,
    vct: str,
    iss: str | None = None,
    iat: int | None = None,
    exp: int | None = None,
    nbf: int | None = None,
    holder_key: PublicKey | None = None,
    status: Mapping[str, Any] | None = None,
    kid: str | None = None,
    disclosable: Iterable[str | Sequence[str | int | None]] = (),
    decoys: int = 0,
    salt: Callable[[tuple[str | int, ...]], str] | None = None,
    disclosure_json: Callable[[Any], str] = dumps_compact,
) -> str:
    """Issue an SD-JWT VC. The registered claims come as arguments, the subject's claims in
    ``claims``; ``disclosable`` names which of those the holder may withhold."""
    if not isinstance(vct, str) or not vct:
        raise MalformedCredential("vct must be a non-empty string")
    reserved = (NEVER_DISCLOSED | {"iat"}) & set(claims)
    if reserved:
        raise MalformedCredential(f"pass {sorted(reserved)} as arguments, not in the claims")
    paths = claim_paths(disclosable)
    for path in paths:
        if path[0] in NEVER_DISCLOSED:
            raise ClaimPathError(f"{path[0]!r} must not be selectively disclosable")
    if status is not None and not isinstance(status, Mapping):
        raise MalformedCredential("status must be a JSON object")
    _check_kid_belongs_to(iss, kid)
    payload: dict[str, Any] = {}
    for name, value in (("iss", iss), ("iat", iat), ("nbf", nbf), ("exp", exp)):
        if value is not None:
            payload[name] = value
    payload["vct"] = vct
    if status is not None:
        payload["status"] = dict(status)
    payload.update(claims)
    return issue_sd_jwt(
        payload,
        issuer_key,
        disclosable=paths,
        holder_key=holder_key,
        typ=SD_JWT_VC_TYP,
        header={"kid": kid} if kid is not None else None,
        decoys=decoys,
        salt=salt,
        disclosure_json=disclosure_json,
    )


def verify_sd_jwt_vc(
    presentation: str,
    resolve_issuer_key: IssuerKeyResolver,
    *,
    now: float,
    leeway: float = 60,
    key_binding: bool = False,
    nonce: str | None = None,
    aud: str | None = None,
    kb_max_age: float = 300,
    vct: Collection[str] | None = None,
    check_status: StatusCheck | None = None,
    accept_legacy_typ: bool = True,
    resolve_holder_key: HolderKeyResolver | None = None,
    allowed_algs: Collection[str] = ALLOWED_ALGS,
    limits: SdJwtLimits = DEFAULT_LIMITS,
) -> VerifiedSdJwtVc:
    """Verify an SD-JWT VC presentation (or issuance).

    ``vct`` restricts the accepted types (matching ``vct`` or any of ``aka_vcts``).
    ``check_status`` is called when the credential carries a ``status``; without it the
    status is returned unchecked (``status_checked`` False) for the caller's policy.
    """
    typs = {SD_JWT_VC_TYP, LEGACY_SD_JWT_VC_TYP} if accept_legacy_typ else {SD_JWT_VC_TYP}

    def issuer_key(header: Mapping[str, Any], payload: Mapping[str, Any]) -> PublicKey:
        iss = payload.get("iss")
        kid = header.get("kid")
        if iss is not None and not isinstance(iss, str):
            raise MalformedSdJwt("iss must be a string")
        if kid is not None and not isinstance(kid, str):
            raise MalformedSdJwt("kid must be a string")
        _check_kid_belongs_to(iss, kid)
        return resolve_issuer_key(iss, kid)

    verified = verify_sd_jwt(
        presentation,
        issuer_key,
        now=now,
        leeway=leeway,
        key_binding=key_binding,
        nonce=nonce,
        aud=aud,
        kb_max_age=kb_max_age,
        typ=typs,
        resolve_holder_key=resolve_holder_key,
        allowed_algs=allowed_algs,
        limits=limits,
    )
    claims, payload = verified.claims, verified.payload
    for name in NEVER_DISCLOSED & set(claims):
        if name not in payload or _has_sd_markers(payload[name]):
            raise MalformedSdJwt(f"{name!r} must not be selectively disclosed")
    type_ = payload.get("vct")
    if not isinstance(type_, str) or not type_:
        raise MalformedSdJwt("an SD-JWT VC needs a string vct")
    if vct is not None and not ({type_, *_aka_vcts(payload)} & set(vct)):
        raise MalformedSdJwt(f"vct {type_[:80]!r} is not an accepted credential type")
    status = payload.get("status")
    if status is not None and not isinstance(status, dict):
        raise MalformedSdJwt("status must be a JSON object")
    if status is not None and check_status is not None:
        check_status(status)
    iss = payload.get("iss")
    return VerifiedSdJwtVc(
        vct=type_,
        iss=iss if isinstance(iss, str) else None,
        claims=claims,
        header=verified.header,
        disclosures=verified.disclosures,
        status=status,
        status_checked=status is not None and check_status is not None,
        holder_key=verified.holder_key,
        key_binding=verified.key_binding,
    )


def receive_sd_jwt_vc(
    token: str,
    resolve_issuer_key: IssuerKeyResolver,
    *,
    now: float,
    leeway: float = 60,
    limits: SdJwtLimits = DEFAULT_LIMITS,
) -> HeldSdJwt:
    """Verify an SD-JWT VC from its issuer (no KB-JWT allowed) and keep it for presenting."""
    parts = split_sd_jwt(token, limits)
    if parts.kb_jwt is not None:
        raise MalformedSdJwt("an issued SD-JWT VC must not carry a KB-JWT")
    verify_sd_jwt_vc(token, resolve_issuer_key, now=now, leeway=leeway, limits=limits)
    return HeldSdJwt.parse(token, limits)


def _aka_vcts(payload: Mapping[str, Any]) -> list[str]:
    aka = payload.get("aka_vcts", [])
    if not isinstance(aka, list) or not all(isinstance(t, str) for t in aka):
        raise MalformedSdJwt("aka_vcts must be an array of strings")
    return aka


def _has_sd_markers(value: Any) -> bool:
    if isinstance(value, dict):
        return "_sd" in value or "..." in value or any(_has_sd_markers(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_sd_markers(v) for v in value)
    return False


def _check_kid_belongs_to(iss: str | None, kid: str | None) -> None:
    """A DID URL ``kid`` must be a key of the ``iss`` DID, or any DID could vouch for any iss."""
    if iss is None or kid is None or not iss.startswith("did:") or not kid.startswith("did:"):
        return
    if kid.split("#", 1)[0].split("?", 1)[0] != iss:
        raise MalformedSdJwt("the header kid is a key of another DID than iss")
