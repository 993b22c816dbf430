"""One ``verify`` for every credential and presentation format moi reads.

    report = await verify(text, nonce="n-0S6_WzA2Mj", audience="did:web:verifier.example",
                          now=datetime.now(UTC), resolver=registry,
                          status_fetcher=status_fetcher(registry))
    report.verified, report.checks["status"], report.to_json()

Input: a VC Data Model credential with Data Integrity proofs (eddsa-jcs-2022, eddsa-rdfc-2022,
and the legacy Ed25519Signature2020/2018), a presentation with embedded credentials signed by
its holder, a ``vc+jwt``, a ``vp+jwt``, an SD-JWT VC, or an SD-JWT VC with a KB-JWT. Bad input
never raises: it fails a check with the precise error (see
:mod:`wallet.credentials.verifier_report` for the checks and their values).

When the verifier gives a ``nonce`` or an ``audience``, it expects a presentation answering
them: a bare credential then fails ``holder_binding``. The challenge and domain of a Data
Integrity presentation are compared with ``nonce`` and ``audience``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from wallet.did import ResolverRegistry
from wallet.encoding import DEFAULT_MAX_BYTES, b64url_decode, loads_object
from wallet.errors import InputError, MoiError, TooLargeError

from .data_integrity import verify_proof
from .did_keys import ASSERTION, AUTHENTICATION, authorised_method, method_key
from .errors import (
    CredentialError,
    HolderBindingError,
    MalformedCredential,
    ProofError,
)
from .formats import FORMAT_OF_CRYPTOSUITE, subject_claims
from .model import format_datetime, parse_credential, parse_presentation
from .sd_jwt_core import ChallengeMismatch
from .status_fetch import StatusListFetcher
from .vc_jose import VP_JWT_TYP
from .verifier_jwt import (
    bind_credential,
    verify_sd_jwt,
    verify_vc_jwt_credential,
    verify_vp_jwt_presentation,
)
from .verifier_report import (
    HOLDER_BINDING,
    ISSUER,
    SIGNATURE,
    CredentialInfo,
    VerificationReport,
)
from .verifier_status import (
    VerifyContext,
    bitstring_entries,
    check_period,
    check_status,
    status_fetcher,
    verify_status_list,
)

__all__ = [
    "CredentialInfo",
    "VerificationReport",
    "status_fetcher",
    "verify",
    "verify_status_list",
]

_DATA_URL = "data:application/vc+jwt,"


async def verify(
    data: str | bytes | Mapping[str, Any],
    *,
    nonce: str | None = None,
    audience: str | None = None,
    now: datetime,
    resolver: ResolverRegistry,
    status_fetcher: StatusListFetcher | None,
) -> VerificationReport:
    """Verify a credential or presentation of any format moi reads; never raises for bad input.

    ``now`` is a timezone-aware datetime; ``status_fetcher`` may be None, and then a
    credential with a status entry fails the ``status`` check (it could not be checked).
    """
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime")
    ctx = VerifyContext(resolver, now, status_fetcher, nonce, audience)
    report = VerificationReport()
    try:
        await _dispatch(data, ctx, report)
    except MoiError as err:
        # Every format checks its input; this is the last line for anything they missed.
        report.fail(SIGNATURE, err)
    if (nonce is not None or audience is not None) and not report.failed(HOLDER_BINDING):
        if report.checks.get(HOLDER_BINDING) != "ok":
            report.fail(
                HOLDER_BINDING,
                HolderBindingError("a nonce or audience was given, but nothing answers it"),
            )
    if len(report.credentials) == 1:
        _summarise(report, report.credentials[0])
    elif report.credentials:
        report.claims = _claims_of(report.credentials)
    return report.finish()


async def _dispatch(
    data: str | bytes | Mapping[str, Any], ctx: VerifyContext, report: VerificationReport
) -> None:
    if isinstance(data, Mapping):
        await _verify_json(dict(data), ctx, report)
        return
    if isinstance(data, (bytes, bytearray)):
        if len(data) > DEFAULT_MAX_BYTES:
            raise TooLargeError(f"the input is over {DEFAULT_MAX_BYTES} bytes")
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedCredential("the input is not UTF-8 text") from None
    if not isinstance(data, str):
        raise MalformedCredential("a credential is JSON text, a JSON object or a compact JWT")
    if len(data) > DEFAULT_MAX_BYTES:
        raise TooLargeError(f"the input is over {DEFAULT_MAX_BYTES} bytes")
    text = data.strip()
    if text.startswith("{"):
        try:
            doc = loads_object(text, what="credential")
        except InputError as err:
            raise MalformedCredential(str(err)) from err
        await _verify_json(doc, ctx, report)
    elif "~" in text:
        await verify_sd_jwt(text, ctx, report)
    elif text.count(".") == 2:
        if _jwt_typ(text) == VP_JWT_TYP:
            await verify_vp_jwt_presentation(text, ctx, report)
        else:
            info = await verify_vc_jwt_credential(text, ctx, report)
            report.format = "vc-jwt"
            if info is not None:
                report.credentials.append(info)
    else:
        raise MalformedCredential("the input is neither JSON, nor a compact JWT, nor an SD-JWT")


def _jwt_typ(token: str) -> str | None:
    head = token.split(".", 1)[0]
    try:
        header = loads_object(b64url_decode(head, what="JWT header"), max_bytes=4096)
    except InputError:
        return None
    typ = header.get("typ")
    if not isinstance(typ, str):
        return None
    typ = typ.lower()
    return typ[len("application/") :] if typ.startswith("application/") else typ


async def _verify_json(doc: dict[str, Any], ctx: VerifyContext, report: VerificationReport) -> None:
    kinds = doc.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "VerifiablePresentation" in kinds:
        await _di_presentation(doc, ctx, report)
        return
    info = await di_credential(doc, ctx, report)
    if info is not None:
        report.format = info.format
        report.credentials.append(info)


# -- Data Integrity ------------------------------------------------------------------------


def _di_format(proofs: Any) -> str:
    items = proofs if isinstance(proofs, (list, tuple)) else [proofs]
    for proof in items:
        if isinstance(proof, Mapping):
            suite = proof.get("cryptosuite")
            if suite in FORMAT_OF_CRYPTOSUITE:
                return FORMAT_OF_CRYPTOSUITE[suite].value
            if proof.get("type") in ("Ed25519Signature2020", "Ed25519Signature2018"):
                return "di-legacy"
    return "di"


async def di_credential(
    doc: dict[str, Any], ctx: VerifyContext, report: VerificationReport, where: str | None = None
) -> CredentialInfo | None:
    """Check a credential secured with Data Integrity proofs into ``report``."""
    try:
        cred = parse_credential(doc)
    except CredentialError as err:
        report.fail(SIGNATURE, err, where)
        return None
    info = CredentialInfo(
        format=_di_format(doc.get("proof")),
        id=cred.id,
        issuer=cred.issuer,
        subject=cred.subject_ids[0] if cred.subject_ids else None,
        types=list(cred.types),
        valid_until=format_datetime(cred.valid_until) if cred.valid_until else None,
        subject_ids=cred.subject_ids,
    )
    result = await verify_proof(
        doc,
        resolve_key=lambda vm: method_key(ctx.resolver, vm),
        expected_purpose=ASSERTION,
        now=ctx.now,
    )
    if result.verified:
        report.ok(SIGNATURE)
        info.claims = subject_claims(doc)
    else:
        report.fail(SIGNATURE, result.error or ProofError("the proof does not verify"), where)
    issuer_ok = False
    methods = [c.verification_method for c in result.checks if c.verification_method]
    if not methods:
        report.fail(ISSUER, ProofError("no proof names a verification method"), where)
    else:
        # One proof by the issuer's assertion key is what makes the issuer's claim; others
        # (witnesses, endorsements) must verify but may be anyone's.
        failure: CredentialError | None = None
        for vm in methods:
            try:
                await authorised_method(ctx.resolver, vm, cred.issuer, ASSERTION)
            except CredentialError as err:
                failure = failure or err
            else:
                issuer_ok = True
                break
        if issuer_ok:
            report.ok(ISSUER)
        else:
            report.fail(ISSUER, failure or ProofError("no proof is by the issuer"), where)
    check_period(report, cred, ctx.now, where)
    try:
        entries = bitstring_entries(doc.get("credentialStatus"))
    except CredentialError as err:
        report.fail("status", err, where)
    else:
        trusted = result.verified and issuer_ok
        await check_status(ctx, report, cred.issuer, entries, trusted=trusted, where=where)
    return info


async def _di_presentation(
    doc: dict[str, Any], ctx: VerifyContext, report: VerificationReport
) -> None:
    report.presentation = True
    try:
        pres = parse_presentation(doc)
    except CredentialError as err:
        report.fail(SIGNATURE, err)
        return
    report.format = _di_format(doc.get("proof"))
    holder = await _di_holder_proof(doc, pres, ctx, report)
    report.holder = holder
    raw = doc.get("verifiableCredential", [])
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        report.absent(SIGNATURE)
        report.absent(ISSUER)
    for n, item in enumerate(items):
        where = f"verifiableCredential[{n}]"
        if isinstance(item, str) or (
            isinstance(item, Mapping) and str(item.get("id", "")).startswith(_DATA_URL)
        ):
            token = item if isinstance(item, str) else item["id"][len(_DATA_URL) :]
            info = await verify_vc_jwt_credential(token, ctx, report, where)
        else:
            info = await di_credential(item, ctx, report, where)
        if info is not None:
            report.credentials.append(info)
            bind_credential(report, info, holder, None, where)
    if report.format == "di" and report.credentials:
        report.format = report.credentials[0].format


async def _di_holder_proof(
    doc: dict[str, Any], pres: Any, ctx: VerifyContext, report: VerificationReport
) -> str | None:
    """Check the presentation's own proofs; returns the holder they prove (or ``holder``)."""
    if not pres.proofs:
        report.absent(HOLDER_BINDING)
        return pres.holder
    try:
        for proof in pres.proofs:
            if ctx.nonce is not None and proof.get("challenge") != ctx.nonce:
                raise ChallengeMismatch("the presentation's challenge is not this verifier's")
            domain = proof.get("domain")
            domains = domain if isinstance(domain, list) else [domain]
            if ctx.audience is not None and ctx.audience not in domains:
                raise ChallengeMismatch("the presentation's domain is not this verifier")
        result = await verify_proof(
            doc,
            resolve_key=lambda vm: method_key(ctx.resolver, vm),
            expected_purpose=AUTHENTICATION,
            challenge=ctx.nonce,
            domain=ctx.audience,
            now=ctx.now,
        )
        result.raise_for_failure()
        holder = pres.holder
        if holder is None:
            # ``holder`` is optional in the data model (ACA-Py leaves it out): the presenter
            # is then the one DID whose authentication keys made every proof.
            signers = {(c.verification_method or "").split("#", 1)[0] for c in result.checks}
            if len(signers) != 1 or not next(iter(signers)).startswith("did:"):
                raise HolderBindingError("the presentation names no holder, nor one DID signed it")
            holder = signers.pop()
        for check in result.checks:
            await authorised_method(
                ctx.resolver, check.verification_method or "", holder, AUTHENTICATION
            )
    except MoiError as err:
        report.fail(HOLDER_BINDING, err)
        return pres.holder
    report.ok(HOLDER_BINDING)
    return holder


# -- summary -------------------------------------------------------------------------------


def _summarise(report: VerificationReport, info: CredentialInfo) -> None:
    report.format = report.format or info.format
    report.id = info.id
    report.issuer = info.issuer
    report.subject = info.subject
    report.types = list(info.types)
    report.valid_until = info.valid_until
    report.claims = info.claims


def _claims_of(infos: list[CredentialInfo]) -> dict[str, Any]:
    if len(infos) == 1:
        return infos[0].claims
    return {info.id or f"#{n}": info.claims for n, info in enumerate(infos)}
