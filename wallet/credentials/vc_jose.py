"""VC-JOSE (W3C "Securing Verifiable Credentials using JOSE and COSE"): a VC Data Model 2.0
credential is the JWS payload itself (``typ`` ``vc+jwt``), and a presentation (``vp+jwt``)
carries credentials as ``EnvelopedVerifiableCredential`` objects whose ``id`` is a
``data:application/vc+jwt,<token>`` URL.

The JWT claims ``iat`` / ``exp`` are the signature's lifetime; ``validFrom`` / ``validUntil``
the data's. Both are checked against a clock passed in. A presentation answers a request
through the JWT claims ``nonce`` and ``aud``. Keys come from a callback ``(id, kid) -> key``
(``id`` is the issuer or holder, ``kid`` the header's, e.g. a DID URL).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from wallet.encoding import DEFAULT_MAX_BYTES, dumps_compact
from wallet.errors import KeyFormatError, SignatureError
from wallet.jose.jws import CompactJWS, sign_compact, verify_compact
from wallet.keys import PrivateKey, PublicKey

from .contexts import CREDENTIALS_V2
from .errors import (
    ExpiredCredential,
    HolderBindingError,
    MalformedCredential,
    NotYetValid,
    PresentationError,
    ProofError,
)
from .model import Credential, Presentation, Version, parse_credential, parse_presentation
from .sd_jwt_core import (
    ALLOWED_ALGS,
    ChallengeMismatch,
    MalformedSdJwt,
    SdJwtLimits,
    check_time_claims,
    decode_jwt,
    normalize_typ,
    numeric_date,
)
from .sd_jwt_issue import signing_alg

__all__ = [
    "VC_JWT_TYP",
    "VP_JWT_TYP",
    "KeyResolver",
    "StalePresentation",
    "VerifiedVcJwt",
    "VerifiedVpJwt",
    "envelope",
    "issue_vc_jwt",
    "present_vp_jwt",
    "verify_vc_jwt",
    "verify_vp_jwt",
]

VC_JWT_TYP = "vc+jwt"
VP_JWT_TYP = "vp+jwt"
_DATA_URL = "data:application/vc+jwt,"

#: ``(issuer or holder id, header kid) -> key``; both come from the unverified token.
KeyResolver = Callable[[str | None, str | None], PublicKey]


class StalePresentation(PresentationError):
    """The presentation's ``iat`` is outside the verifier's freshness window."""


@dataclass(frozen=True, slots=True)
class VerifiedVcJwt:
    """A verified ``vc+jwt``: the validated credential and the JOSE parts around it."""

    credential: Credential
    header: dict[str, Any]
    payload: dict[str, Any]
    issuer_key: PublicKey


@dataclass(frozen=True, slots=True)
class VerifiedVpJwt:
    """A verified ``vp+jwt`` and the verified credentials it enveloped."""

    presentation: Presentation
    header: dict[str, Any]
    payload: dict[str, Any]
    holder_key: PublicKey
    credentials: tuple[VerifiedVcJwt, ...]


# -- credentials ----------------------------------------------------------------------------


def issue_vc_jwt(
    credential: Mapping[str, Any],
    issuer_key: PrivateKey,
    *,
    kid: str | None = None,
    iat: int | None = None,
    exp: int | None = None,
    holder_key: PublicKey | None = None,
) -> str:
    """Secure a VCDM 2.0 credential as a ``vc+jwt``.

    ``kid`` is required when the issuer is a DID (the spec: a DID URL key needs one) and must
    then be a key of that DID. ``holder_key`` adds ``cnf.jwk``, binding the credential to the
    holder's key for presentations.
    """
    cred = parse_credential(dict(credential))
    if cred.version is not Version.V2_0:
        raise MalformedCredential("vc+jwt secures VC Data Model 2.0 credentials only")
    if "vc" in credential or "vp" in credential:
        raise MalformedCredential("the JWT claims 'vc' and 'vp' must not be present")
    if cred.issuer.startswith("did:") and kid is None:
        raise MalformedCredential("a DID issuer needs kid, the DID URL of its signing key")
    _check_kid_belongs_to(cred.issuer, kid)
    payload = dict(credential)
    for name, value in (("iat", iat), ("exp", exp)):
        if value is not None:
            payload[name] = value
    if holder_key is not None:
        if "cnf" in payload:
            raise MalformedCredential("give either holder_key or a cnf claim, not both")
        payload["cnf"] = {"jwk": holder_key.to_jwk()}
    header: dict[str, Any] = {"alg": signing_alg(issuer_key.type), "typ": VC_JWT_TYP}
    if kid is not None:
        header["kid"] = kid
    return sign_compact(header, dumps_compact(payload).encode("utf-8"), issuer_key)


def verify_vc_jwt(
    token: str,
    resolve_key: KeyResolver,
    *,
    now: float,
    leeway: float = 60,
    allowed_algs: Collection[str] = ALLOWED_ALGS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> VerifiedVcJwt:
    """Verify a ``vc+jwt``: signature by the issuer's key, data model, and both lifetimes."""
    jws, payload = _decode(token, VC_JWT_TYP, "the vc+jwt", max_bytes)
    if "vc" in payload or "vp" in payload:
        raise MalformedCredential("a vc+jwt must not carry the JWT claims 'vc' or 'vp'")
    cred = parse_credential(payload, max_bytes=max_bytes)
    if cred.version is not Version.V2_0:
        raise MalformedCredential("a vc+jwt must secure a VC Data Model 2.0 credential")
    if "iss" in payload and payload["iss"] != cred.issuer:
        raise MalformedCredential("the JWT iss does not match the credential's issuer")
    key = _verify_signature(jws, cred.issuer, resolve_key, allowed_algs, "the vc+jwt")
    _check_times(payload, now, leeway, "the vc+jwt")
    moment = datetime.fromtimestamp(now, UTC)
    slack = timedelta(seconds=leeway)
    if cred.valid_from is not None and moment + slack < cred.valid_from:
        raise NotYetValid(f"the credential is valid only from {cred.valid_from.isoformat()}")
    if cred.valid_until is not None and moment - slack > cred.valid_until:
        raise ExpiredCredential(f"the credential expired at {cred.valid_until.isoformat()}")
    return VerifiedVcJwt(cred, jws.header, payload, key)


def envelope(token: str) -> dict[str, Any]:
    """The ``EnvelopedVerifiableCredential`` that carries a ``vc+jwt`` in a presentation."""
    return {
        "@context": CREDENTIALS_V2,
        "id": _DATA_URL + token,
        "type": "EnvelopedVerifiableCredential",
    }


# -- presentations --------------------------------------------------------------------------


def present_vp_jwt(
    credentials: Sequence[str],
    holder_key: PrivateKey,
    *,
    nonce: str,
    aud: str,
    iat: int,
    holder: str | None = None,
    kid: str | None = None,
    exp: int | None = None,
) -> str:
    """A ``vp+jwt`` enveloping ``vc+jwt`` credentials, answering the verifier's ``nonce`` and
    ``aud``; ``holder`` (a DID, usually) and ``kid`` say whose key signs it."""
    if isinstance(credentials, str):
        raise TypeError("credentials is a list of vc+jwt tokens")
    if not isinstance(nonce, str) or not isinstance(aud, str):
        raise ValueError("a presentation answers a request: nonce and aud are strings")
    _check_kid_belongs_to(holder, kid)
    payload: dict[str, Any] = {
        "@context": [CREDENTIALS_V2],
        "type": ["VerifiablePresentation"],
    }
    if holder is not None:
        payload["holder"] = holder
    payload["verifiableCredential"] = [envelope(t) for t in credentials]
    payload.update({"nonce": nonce, "aud": aud, "iat": iat})
    if exp is not None:
        payload["exp"] = exp
    header: dict[str, Any] = {"alg": signing_alg(holder_key.type), "typ": VP_JWT_TYP}
    if kid is not None:
        header["kid"] = kid
    return sign_compact(header, dumps_compact(payload).encode("utf-8"), holder_key)


def verify_vp_jwt(
    token: str,
    resolve_key: KeyResolver,
    *,
    now: float,
    nonce: str,
    aud: str,
    leeway: float = 60,
    max_age: float = 300,
    holder_binding: bool = True,
    allowed_algs: Collection[str] = ALLOWED_ALGS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> VerifiedVpJwt:
    """Verify a ``vp+jwt`` and every credential it envelopes.

    The presentation must answer this verifier's ``nonce`` and ``aud`` and be at most
    ``max_age`` seconds old. With ``holder_binding``, each credential must be bound to the
    presenter: its ``cnf.jwk`` is the key that signed the presentation, or one of its
    subjects' ids is the presentation's ``holder``.
    """
    jws, payload = _decode(token, VP_JWT_TYP, "the vp+jwt", max_bytes)
    pres = parse_presentation(payload, max_bytes=max_bytes)
    if pres.version is not Version.V2_0:
        raise PresentationError("a vp+jwt must secure a VC Data Model 2.0 presentation")
    if pres.credentials:
        raise PresentationError("credentials in a vp+jwt must be enveloped vc+jwt tokens")
    holder_key = _verify_signature(jws, pres.holder, resolve_key, allowed_algs, "the vp+jwt")
    if payload.get("nonce") != nonce:
        raise ChallengeMismatch("the presentation's nonce is not this verifier's")
    audience = payload.get("aud")
    if audience != aud and not (isinstance(audience, list) and aud in audience):
        raise ChallengeMismatch("the presentation is addressed to another audience")
    iat = _numeric(payload, "iat", "the vp+jwt")
    if iat is None:
        raise PresentationError("the vp+jwt needs an iat")
    if iat > now + leeway or iat < now - leeway - max_age:
        raise StalePresentation(f"the presentation was made at {int(iat)}, outside the window")
    _check_times(payload, now, leeway, "the vp+jwt")
    verified = []
    for n, item in enumerate(pres.enveloped):
        vc_token = _unwrap(item, n)
        vc = verify_vc_jwt(
            vc_token,
            resolve_key,
            now=now,
            leeway=leeway,
            allowed_algs=allowed_algs,
            max_bytes=max_bytes,
        )
        if holder_binding:
            _check_bound(vc, pres.holder, holder_key, n)
        verified.append(vc)
    return VerifiedVpJwt(pres, jws.header, payload, holder_key, tuple(verified))


# -- helpers --------------------------------------------------------------------------------


def _decode(token: str, typ: str, what: str, max_bytes: int) -> tuple[CompactJWS, dict[str, Any]]:
    try:
        jws, payload = decode_jwt(token, what, SdJwtLimits(max_bytes=max_bytes))
    except MalformedSdJwt as err:
        raise MalformedCredential(str(err)) from err
    # typ is optional (SHOULD); when present it must be ours, so a vp+jwt, a KB-JWT or an
    # SD-JWT cannot pass for a credential.
    if "typ" in jws.header and normalize_typ(jws.header["typ"]) != typ:
        raise MalformedCredential(f"{what} has typ {str(jws.header['typ'])[:40]!r}")
    return jws, payload


def _verify_signature(
    jws: CompactJWS,
    signer: str | None,
    resolve_key: KeyResolver,
    allowed_algs: Collection[str],
    what: str,
) -> PublicKey:
    if jws.alg not in allowed_algs:
        raise ProofError(f"{what} uses alg {jws.alg[:20]!r}, not an allowed one")
    kid = jws.header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise MalformedCredential(f"{what} has a kid that is not a string")
    _check_kid_belongs_to(signer, kid)
    key = resolve_key(signer, kid)
    try:
        verify_compact(jws, key)
    except SignatureError as err:
        raise ProofError(f"{what} does not verify: {err}") from err
    return key


def _numeric(payload: Mapping[str, Any], name: str, what: str) -> float | None:
    try:
        return numeric_date(payload, name, what)
    except MalformedSdJwt as err:
        raise MalformedCredential(str(err)) from err


def _check_times(payload: Mapping[str, Any], now: float, leeway: float, what: str) -> None:
    try:
        check_time_claims(payload, now, leeway, what)
    except MalformedSdJwt as err:
        raise MalformedCredential(str(err)) from err


def _unwrap(item: Any, n: int) -> str:
    where = f"verifiableCredential[{n}]"
    if not isinstance(item, dict):
        raise PresentationError(f"{where} must be an EnvelopedVerifiableCredential")
    url = item.get("id")
    if not isinstance(url, str) or not url.startswith(_DATA_URL):
        raise PresentationError(f"{where} id must be a data:application/vc+jwt URL")
    return url[len(_DATA_URL) :]


def _check_bound(vc: VerifiedVcJwt, holder: str | None, key: PublicKey, n: int) -> None:
    cnf = vc.payload.get("cnf")
    if isinstance(cnf, dict) and "jwk" in cnf:
        try:
            bound = PublicKey.from_jwk(cnf["jwk"])
        except KeyFormatError as err:
            raise HolderBindingError(f"credential {n}: its cnf jwk is not a usable key") from err
        if bound != key:
            raise HolderBindingError(f"credential {n} is bound to another key than the holder's")
        return
    if holder is None or holder not in vc.credential.subject_ids:
        raise HolderBindingError(f"credential {n}'s subject is not the presentation's holder")


def _check_kid_belongs_to(controller: str | None, kid: str | None) -> None:
    """A DID URL ``kid`` must be a key of the issuer's (or holder's) DID."""
    if controller is None or kid is None:
        return
    if controller.startswith("did:") and kid.startswith("did:"):
        if kid.split("#", 1)[0].split("?", 1)[0] != controller:
            raise ProofError("the header kid is a key of another DID than the signer's")
