"""The verifier's JOSE side: vc+jwt credentials, vp+jwt presentations, SD-JWT VC (+KB).

Each step of the formats' own verifiers is run separately here, so that a report can say
which check failed (an expired credential still has a good signature; a replayed
presentation still carries genuine credentials).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from wallet.errors import MoiError, SignatureError
from wallet.jose.jws import verify_compact
from wallet.keys import PublicKey

from .did_keys import ASSERTION, AUTHENTICATION, authorised_method, method_key
from .errors import (
    CredentialError,
    ExpiredCredential,
    HolderBindingError,
    MalformedCredential,
    NotYetValid,
    PresentationError,
    ProofError,
)
from .formats import SD_JWT_STATUS_KEY, CredentialFormat, sd_jwt_id, subject_claims, user_claims
from .model import format_datetime, parse_credential, parse_presentation
from .sd_jwt_core import (
    ALLOWED_ALGS,
    ChallengeMismatch,
    Disclosure,
    MalformedSdJwt,
    check_time_claims,
    check_typ,
    decode_jwt,
    normalize_typ,
    numeric_date,
    process_payload,
    split_sd_jwt,
)
from .sd_jwt_vc import LEGACY_SD_JWT_VC_TYP, NEVER_DISCLOSED, SD_JWT_VC_TYP
from .sd_jwt_verify import holder_public_key, verify_issuer_jwt, verify_key_binding
from .vc_jose import VC_JWT_TYP, StalePresentation, verify_vc_jwt
from .verifier_report import (
    HOLDER_BINDING,
    ISSUER,
    SIGNATURE,
    VALIDITY,
    CredentialInfo,
    VerificationReport,
)
from .verifier_status import (
    LEEWAY,
    MAX_PRESENTATION_AGE,
    UnsupportedStatus,
    VerifyContext,
    bitstring_entries,
    check_period,
    check_status,
    proof_error,
)

_DATA_URL = "data:application/vc+jwt,"


async def verify_vc_jwt_credential(
    token: str, ctx: VerifyContext, report: VerificationReport, where: str | None = None
) -> CredentialInfo | None:
    """Check a ``vc+jwt`` into ``report``; the credential's description, or None if unreadable."""
    try:
        jws, payload = decode_jwt(token, "the vc+jwt")
        typ = jws.header.get("typ")
        if typ is not None and normalize_typ(typ) != VC_JWT_TYP:
            raise MalformedCredential(f"the JWT has typ {str(typ)[:40]!r}, not vc+jwt")
        cred = parse_credential(payload)
    except MalformedSdJwt as err:
        report.fail(SIGNATURE, MalformedCredential(str(err)), where)
        return None
    except CredentialError as err:
        report.fail(SIGNATURE, err, where)
        return None
    kid = jws.header.get("kid")
    info = CredentialInfo(
        format=CredentialFormat.VC_JWT.value,
        id=cred.id,
        issuer=cred.issuer,
        subject=cred.subject_ids[0] if cred.subject_ids else None,
        types=list(cred.types),
        valid_until=format_datetime(cred.valid_until) if cred.valid_until else None,
        subject_ids=cred.subject_ids,
        bound_key=_cnf_key(payload),
    )
    issuer_ok = await _issuer_check(ctx, report, kid, cred.issuer, where)
    signature_ok = False
    try:
        if not isinstance(kid, str):
            raise ProofError("the vc+jwt header names no kid")
        key = await method_key(ctx.resolver, kid)
        verify_vc_jwt(token, lambda _i, _k: key, now=ctx.timestamp, leeway=LEEWAY)
        signature_ok = True
        report.ok(SIGNATURE)
        _validity_ok(report, cred.valid_from or cred.valid_until or "exp" in payload)
    except (ExpiredCredential, NotYetValid) as err:
        # verify_vc_jwt checks times only after the signature.
        signature_ok = True
        report.ok(SIGNATURE)
        report.fail(VALIDITY, err, where)
    except MoiError as err:
        report.fail(SIGNATURE, proof_error(err), where)
        check_period(report, cred, ctx.now, where)
    if signature_ok:
        info.claims = subject_claims(payload)
    try:
        entries = bitstring_entries(payload.get("credentialStatus"))
    except CredentialError as err:
        report.fail("status", err, where)
    else:
        await check_status(
            ctx, report, cred.issuer, entries, trusted=signature_ok and issuer_ok, where=where
        )
    return info


async def verify_vp_jwt_presentation(
    token: str, ctx: VerifyContext, report: VerificationReport
) -> None:
    """Check a ``vp+jwt``: the holder's signature and freshness, then each credential."""
    report.presentation = True
    report.format = CredentialFormat.VC_JWT.value
    try:
        jws, payload = decode_jwt(token, "the vp+jwt")
        pres = parse_presentation(payload)
        if pres.credentials:
            raise PresentationError("credentials in a vp+jwt must be enveloped vc+jwt tokens")
    except MalformedSdJwt as err:
        report.fail(SIGNATURE, MalformedCredential(str(err)))
        return
    except CredentialError as err:
        report.fail(SIGNATURE, err)
        return
    report.holder = pres.holder
    holder_key: PublicKey | None = None
    try:
        kid = jws.header.get("kid")
        if not isinstance(kid, str):
            raise HolderBindingError("the vp+jwt header names no kid")
        if pres.holder is None:
            raise HolderBindingError("the presentation names no holder")
        vm = await authorised_method(ctx.resolver, kid, pres.holder, AUTHENTICATION)
        if jws.alg not in ALLOWED_ALGS:
            raise HolderBindingError(f"the vp+jwt uses alg {jws.alg[:20]!r}")
        try:
            verify_compact(jws, vm.public_key)
        except SignatureError as err:
            raise HolderBindingError(f"the vp+jwt does not verify: {err}") from err
        holder_key = vm.public_key
        _answers(payload.get("nonce"), payload.get("aud"), ctx)
        iat = numeric_date(payload, "iat", "the vp+jwt")
        if iat is None:
            raise StalePresentation("the vp+jwt has no iat")
        now = ctx.timestamp
        if iat > now + LEEWAY or iat < now - LEEWAY - MAX_PRESENTATION_AGE:
            raise StalePresentation(f"the presentation was made at {int(iat)}, outside the window")
        check_time_claims(payload, now, LEEWAY, "the vp+jwt")
        report.ok(HOLDER_BINDING)
    except MoiError as err:
        report.fail(HOLDER_BINDING, err)
    for n, item in enumerate(pres.enveloped):
        where = f"verifiableCredential[{n}]"
        url = item.get("id") if isinstance(item, dict) else None
        if not isinstance(url, str) or not url.startswith(_DATA_URL):
            report.fail(SIGNATURE, PresentationError("not an enveloped vc+jwt"), where)
            continue
        info = await verify_vc_jwt_credential(url[len(_DATA_URL) :], ctx, report, where)
        if info is not None:
            report.credentials.append(info)
            bind_credential(report, info, pres.holder, holder_key, where)


def bind_credential(
    report: VerificationReport,
    info: CredentialInfo,
    holder: str | None,
    holder_key: PublicKey | None,
    where: str,
) -> None:
    """A presented credential must be the presenter's: its cnf key signed, or it is about them."""
    if info.bound_key is not None:
        if holder_key is None or info.bound_key != holder_key:
            report.fail(
                HOLDER_BINDING, HolderBindingError("bound to another key than the holder's"), where
            )
        return
    if holder is None or holder not in info.subject_ids:
        report.fail(
            HOLDER_BINDING,
            HolderBindingError("the credential's subject is not the presentation's holder"),
            where,
        )


async def verify_sd_jwt(token: str, ctx: VerifyContext, report: VerificationReport) -> None:
    """Check an SD-JWT VC, or an SD-JWT VC presentation with a KB-JWT."""
    report.format = CredentialFormat.SD_JWT.value
    try:
        parts = split_sd_jwt(token)
        jws, payload = decode_jwt(parts.issuer_jwt, "the issuer-signed JWT")
        check_typ(jws.header, {SD_JWT_VC_TYP, LEGACY_SD_JWT_VC_TYP}, "the issuer-signed JWT")
    except CredentialError as err:
        report.fail(SIGNATURE, err)
        return
    report.presentation = parts.kb_jwt is not None
    iss = payload.get("iss")
    kid = jws.header.get("kid")
    issuer = iss if isinstance(iss, str) else None
    report.issuer = issuer
    report.id = sd_jwt_id(parts.issuer_jwt, payload)
    issuer_ok = await _issuer_check(ctx, report, kid, issuer, None)
    try:
        if not isinstance(kid, str):
            raise ProofError("the issuer-signed JWT names no kid")
        key = await method_key(ctx.resolver, kid)
        verify_issuer_jwt(jws, payload, key)
        disclosures = tuple(Disclosure.decode(d) for d in parts.disclosures)
        claims = process_payload(payload, disclosures)
        _sd_jwt_vc_rules(payload, claims)
    except MoiError as err:
        report.fail(SIGNATURE, proof_error(err))
        return
    report.ok(SIGNATURE)
    vct = claims.get("vct")
    report.types = [vct] if isinstance(vct, str) else []
    sub = claims.get("sub")
    report.subject = sub if isinstance(sub, str) else None
    report.claims = user_claims(claims)
    try:
        check_time_claims(claims, ctx.timestamp, LEEWAY, "the SD-JWT")
        _validity_ok(report, "exp" in claims or "nbf" in claims)
    except CredentialError as err:
        report.fail(VALIDITY, err)
    exp = claims.get("exp")
    if isinstance(exp, int) and not isinstance(exp, bool) and 0 < exp < 253402300800:
        report.valid_until = format_datetime(datetime.fromtimestamp(exp, UTC))
    try:
        entries = _sd_jwt_status(claims.get("status"))
    except CredentialError as err:
        report.fail("status", err)
    else:
        await check_status(ctx, report, issuer, entries, trusted=issuer_ok)
    if parts.kb_jwt is None:
        report.absent(HOLDER_BINDING)
        return
    report.holder = report.subject
    try:
        holder = holder_public_key(claims)
        verify_key_binding(
            parts,
            holder,
            now=ctx.timestamp,
            leeway=LEEWAY,
            nonce=ctx.nonce,
            aud=ctx.audience,
            max_age=MAX_PRESENTATION_AGE,
        )
        report.ok(HOLDER_BINDING)
    except MoiError as err:
        report.fail(HOLDER_BINDING, err)


# -- helpers --------------------------------------------------------------------------------


async def _issuer_check(
    ctx: VerifyContext,
    report: VerificationReport,
    kid: Any,
    issuer: str | None,
    where: str | None,
) -> bool:
    try:
        await authorised_method(ctx.resolver, kid, issuer or "", ASSERTION)
    except CredentialError as err:
        report.fail(ISSUER, err, where)
        return False
    report.ok(ISSUER)
    return True


def _validity_ok(report: VerificationReport, bounded: Any) -> None:
    if bounded:
        report.ok(VALIDITY)
    else:
        report.absent(VALIDITY)


def _answers(nonce: Any, aud: Any, ctx: VerifyContext) -> None:
    """A presentation's nonce and audience must be the verifier's (when it gave them)."""
    if ctx.nonce is not None and nonce != ctx.nonce:
        raise ChallengeMismatch("the presentation's nonce is not this verifier's")
    if ctx.audience is not None:
        if aud != ctx.audience and not (isinstance(aud, list) and ctx.audience in aud):
            raise ChallengeMismatch("the presentation is addressed to another audience")


def _cnf_key(payload: dict[str, Any]) -> PublicKey | None:
    cnf = payload.get("cnf")
    if isinstance(cnf, dict) and "jwk" in cnf:
        try:
            return PublicKey.from_jwk(cnf["jwk"])
        except MoiError:
            return None
    return None


def _sd_jwt_vc_rules(payload: dict[str, Any], claims: dict[str, Any]) -> None:
    """SD-JWT VC on top of SD-JWT: a string vct, and the registered claims never disclosed."""
    for name in NEVER_DISCLOSED & set(claims):
        if name not in payload or _has_sd_markers(payload[name]):
            raise MalformedSdJwt(f"{name!r} must not be selectively disclosed")
    vct = payload.get("vct")
    if not isinstance(vct, str) or not vct:
        raise MalformedSdJwt("an SD-JWT VC needs a string vct")


def _has_sd_markers(value: Any) -> bool:
    if isinstance(value, dict):
        return "_sd" in value or "..." in value or any(_has_sd_markers(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_sd_markers(v) for v in value)
    return False


def _sd_jwt_status(status: Any) -> list[Any]:
    if status is None:
        return []
    if not isinstance(status, dict):
        raise MalformedSdJwt("status must be a JSON object")
    if SD_JWT_STATUS_KEY not in status:
        names = sorted(str(k)[:30] for k in status)[:4]
        raise UnsupportedStatus(
            f"status mechanism {names} is not supported (moi reads {SD_JWT_STATUS_KEY})"
        )
    return bitstring_entries(status[SD_JWT_STATUS_KEY])
