"""SD-JWT verification (§7.1 and §7.3 of the draft): issuer signature, Disclosures, validity
claims, and key binding. Pure: the clock and the issuer key (or a function finding it) are
passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from wallet.errors import KeyFormatError, SignatureError
from wallet.jose.jws import CompactJWS, verify_compact
from wallet.keys import PublicKey

from .errors import ExpiredCredential, HolderBindingError, NotYetValid, ProofError
from .sd_jwt_core import (
    ALLOWED_ALGS,
    DEFAULT_LIMITS,
    ChallengeMismatch,
    Disclosure,
    KeyBindingRequired,
    MalformedSdJwt,
    SdJwtLimits,
    SdJwtParts,
    StaleKeyBinding,
    check_time_claims,
    check_typ,
    decode_jwt,
    normalize_typ,
    numeric_date,
    process_payload,
    sd_hash_matches,
    split_sd_jwt,
)

__all__ = [
    "IssuerKey",
    "VerifiedSdJwt",
    "holder_public_key",
    "verify_issuer_jwt",
    "verify_key_binding",
    "verify_sd_jwt",
]

KB_TYP = "kb+jwt"

#: The issuer's key, or a function of the (unverified) header and payload that finds it.
IssuerKey = PublicKey | Callable[[Mapping[str, Any], Mapping[str, Any]], PublicKey]

#: Finds the holder's key from a ``cnf`` other than ``jwk`` (e.g. ``kid`` with a DID URL).
HolderKeyResolver = Callable[[Mapping[str, Any]], PublicKey]


@dataclass(frozen=True, slots=True)
class VerifiedSdJwt:
    """What a verified SD-JWT yields: the processed payload and how it was bound."""

    claims: dict[str, Any]
    header: dict[str, Any]
    payload: dict[str, Any]
    disclosures: tuple[Disclosure, ...]
    key_binding: dict[str, Any] | None
    holder_key: PublicKey | None


def verify_sd_jwt(
    presentation: str,
    issuer_key: IssuerKey,
    *,
    now: float,
    leeway: float = 60,
    key_binding: bool = False,
    nonce: str | None = None,
    aud: str | None = None,
    kb_max_age: float = 300,
    typ: Collection[str] | None = None,
    resolve_holder_key: HolderKeyResolver | None = None,
    allowed_algs: Collection[str] = ALLOWED_ALGS,
    limits: SdJwtLimits = DEFAULT_LIMITS,
) -> VerifiedSdJwt:
    """Verify an SD-JWT or SD-JWT+KB and return its processed payload.

    ``key_binding`` is the verifier's policy, decided before looking at the input (the draft
    forbids deciding from whether a KB-JWT is present); when True, ``nonce`` and ``aud`` are
    required and a presentation without a valid KB-JWT is refused. A KB-JWT that is present
    is always checked. ``typ`` lists the accepted issuer-JWT types (None: any).
    """
    if key_binding and (nonce is None or aud is None):
        raise ValueError("a verifier requiring key binding must pass its nonce and aud")
    parts = split_sd_jwt(presentation, limits)
    if key_binding and parts.kb_jwt is None:
        raise KeyBindingRequired("key binding is required and the presentation has no KB-JWT")
    jws, payload = decode_jwt(parts.issuer_jwt, "the issuer-signed JWT", limits)
    check_typ(jws.header, typ, "the issuer-signed JWT")
    verify_issuer_jwt(jws, payload, issuer_key, allowed_algs)
    disclosures = tuple(Disclosure.decode(d, max_bytes=limits.max_bytes) for d in parts.disclosures)
    claims = process_payload(payload, disclosures, limits)
    check_time_claims(claims, now, leeway, "the SD-JWT")
    kb_payload = holder = None
    if parts.kb_jwt is not None:
        holder = holder_public_key(claims, resolve_holder_key)
        kb_payload = verify_key_binding(
            parts,
            holder,
            now=now,
            leeway=leeway,
            nonce=nonce,
            aud=aud,
            max_age=kb_max_age,
            allowed_algs=allowed_algs,
            limits=limits,
        )
    return VerifiedSdJwt(claims, jws.header, payload, disclosures, kb_payload, holder)


def verify_issuer_jwt(
    jws: CompactJWS,
    payload: Mapping[str, Any],
    issuer_key: IssuerKey,
    allowed_algs: Collection[str] = ALLOWED_ALGS,
) -> PublicKey:
    """Check the issuer's signature; the alg must be allowed and fit the key."""
    if jws.alg not in allowed_algs:
        raise ProofError(f"the issuer-signed JWT uses alg {jws.alg[:20]!r}, not an allowed one")
    key = issuer_key if isinstance(issuer_key, PublicKey) else issuer_key(jws.header, payload)
    if not isinstance(key, PublicKey):
        raise TypeError("the issuer key resolver must return a PublicKey")
    try:
        verify_compact(jws, key)
    except SignatureError as err:
        raise ProofError(f"the issuer-signed JWT does not verify: {err}") from err
    return key


def holder_public_key(
    claims: Mapping[str, Any], resolve: HolderKeyResolver | None = None
) -> PublicKey:
    """The key named by the payload's ``cnf``: ``jwk`` by value, anything else via ``resolve``."""
    cnf = claims.get("cnf")
    if not isinstance(cnf, dict):
        raise KeyBindingRequired("the SD-JWT has no cnf claim to bind a holder key")
    if "jwk" in cnf:
        try:
            return PublicKey.from_jwk(cnf["jwk"])
        except KeyFormatError as err:
            raise HolderBindingError(f"the cnf jwk is not a usable key: {err}") from err
    if resolve is None:
        raise HolderBindingError("the cnf claim has no jwk and no resolver was given")
    return resolve(cnf)


def verify_key_binding(
    parts: SdJwtParts,
    holder_key: PublicKey,
    *,
    now: float,
    leeway: float,
    nonce: str | None,
    aud: str | None,
    max_age: float,
    allowed_algs: Collection[str] = ALLOWED_ALGS,
    limits: SdJwtLimits = DEFAULT_LIMITS,
) -> dict[str, Any]:
    """Check a KB-JWT (§7.3 step 5) and return its payload.

    ``nonce`` / ``aud`` of None skip that comparison; a verifier requiring key binding never
    passes None (see :func:`verify_sd_jwt`).
    """
    if parts.kb_jwt is None:
        raise KeyBindingRequired("the presentation has no KB-JWT")
    try:
        jws, payload = decode_jwt(parts.kb_jwt, "the KB-JWT", limits)
    except MalformedSdJwt as err:
        raise HolderBindingError(str(err)) from err
    if normalize_typ(jws.header.get("typ")) != KB_TYP:
        raise HolderBindingError("the KB-JWT's typ is not kb+jwt")
    if jws.alg not in allowed_algs:
        raise HolderBindingError(f"the KB-JWT uses alg {jws.alg[:20]!r}, not an allowed one")
    try:
        verify_compact(jws, holder_key)
    except SignatureError as err:
        raise HolderBindingError(f"the KB-JWT is not signed by the cnf key: {err}") from err
    for name in ("nonce", "aud", "sd_hash"):
        if not isinstance(payload.get(name), str):
            raise HolderBindingError(f"the KB-JWT needs a string {name!r}")
    try:
        iat = numeric_date(payload, "iat", "the KB-JWT")
    except MalformedSdJwt as err:
        raise HolderBindingError(str(err)) from err
    if iat is None:
        raise HolderBindingError("the KB-JWT needs an 'iat'")
    if not sd_hash_matches(parts.sd_jwt, payload["sd_hash"]):
        raise HolderBindingError("the KB-JWT's sd_hash is over another SD-JWT or Disclosures")
    if nonce is not None and payload["nonce"] != nonce:
        raise ChallengeMismatch("the KB-JWT's nonce is not this verifier's")
    if aud is not None and payload["aud"] != aud:
        raise ChallengeMismatch("the KB-JWT's aud is not this verifier")
    if iat > now + leeway or iat < now - leeway - max_age:
        raise StaleKeyBinding(f"the KB-JWT was made at {int(iat)}, outside the accepted window")
    try:
        check_time_claims({k: v for k, v in payload.items() if k != "iat"}, now, leeway, "KB-JWT")
    except (ExpiredCredential, NotYetValid, MalformedSdJwt) as err:
        raise StaleKeyBinding(str(err)) from err
    return payload
