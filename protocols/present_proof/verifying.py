"""The verifier's side: check a presentation against the request that asked for it.

Each presentation is verified by the wallet's one ``verify`` with the request's challenge
(nonce) and domain (audience): a presentation made for another request or another verifier
fails ``holder_binding``. Then the ``presentation_submission`` must answer the definition
with what was actually disclosed; that is reported as one more check, ``submission``, beside
the five of ``moi credential verify``, in the same report shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from protocols.exchange.attachments import Attached
from wallet.credentials.errors import MalformedCredential, PresentationError
from wallet.credentials.pex_verify import check_submission
from wallet.credentials.sd_jwt_core import Disclosure, decode_jwt, process_payload, split_sd_jwt
from wallet.credentials.status_fetch import StatusListFetcher
from wallet.credentials.verifier import VerificationReport, verify
from wallet.credentials.verifier_report import CHECKS, OK, SIGNATURE
from wallet.errors import MoiError

from .definitions import RequestDetail
from .messages import SUBMISSION

SUBMISSION_CHECK = "submission"
MAX_TOKENS = 16
_VC_JWT_URL = "data:application/vc+jwt,"


async def verify_presentation(
    wallet: Any,
    request: RequestDetail,
    attached: Attached,
    *,
    status_fetcher: StatusListFetcher | None,
    now: datetime,
) -> VerificationReport:
    """The report on a presentation; never raises for what the prover sent."""
    data = attached.data

    async def check(item: Any) -> VerificationReport:
        return await verify(
            item,
            nonce=request.challenge,
            audience=request.domain,
            now=now,
            resolver=wallet.resolver,
            status_fetcher=status_fetcher,
        )

    if attached.format != SUBMISSION or not isinstance(data, dict):
        report = VerificationReport(presentation=True)
        report.fail(SIGNATURE, MalformedCredential(f"a presentation is a {SUBMISSION} object"))
        return report.finish()
    if "vp_token" in data:
        tokens = data["vp_token"]
        if not isinstance(tokens, list) or not 0 < len(tokens) <= MAX_TOKENS:
            report = VerificationReport(presentation=True)
            report.fail(
                SIGNATURE,
                MalformedCredential(f"vp_token must list 1 to {MAX_TOKENS} presentations"),
            )
            return report.finish()
        report = merge([await check(t) for t in tokens])
    else:
        report = await check(data)
    try:
        check_submission(
            request.definition, data.get("presentation_submission"), data, decode=_decode
        )
    except MoiError as err:
        report.fail(SUBMISSION_CHECK, err)
    else:
        report.checks[SUBMISSION_CHECK] = OK
    return report


def merge(reports: list[VerificationReport]) -> VerificationReport:
    """One report for several presentations: a check fails if it fails in any."""
    if len(reports) == 1:
        return reports[0]
    out = VerificationReport(presentation=True)
    for n, report in enumerate(reports):
        where = f"vp_token[{n}]"
        for check in CHECKS:
            value = report.checks.get(check)
            if value == OK:
                out.ok(check)
            elif value == "absent":
                out.absent(check)
        for entry, error in zip(report.errors, report.exceptions, strict=False):
            out.fail(entry["check"], error, where)
        out.credentials.extend(report.credentials)
    formats = {r.format for r in reports}
    out.format = formats.pop() if len(formats) == 1 else "mixed"
    out.holder = reports[0].holder
    out.claims = {f"vp_token[{n}]": r.claims for n, r in enumerate(reports)}
    return out.finish()


def _decode(fmt: str, value: Any) -> Mapping[str, Any]:
    """A submitted claim, decoded as its format says (signatures are verify()'s job)."""
    if fmt in ("dc+sd-jwt", "vc+sd-jwt"):
        if not isinstance(value, str):
            raise PresentationError(f"a {fmt} presentation is a compact string")
        parts = split_sd_jwt(value)
        _, payload = decode_jwt(parts.issuer_jwt, "the issuer-signed JWT")
        return process_payload(payload, tuple(Disclosure.decode(d) for d in parts.disclosures))
    if fmt in ("jwt_vp_json", "jwt_vp", "jwt_vc_json", "jwt_vc"):
        if isinstance(value, Mapping) and str(value.get("id", "")).startswith(_VC_JWT_URL):
            value = value["id"][len(_VC_JWT_URL) :]
        if not isinstance(value, str):
            raise PresentationError(f"a {fmt} claim is a compact JWT")
        return decode_jwt(value, f"the {fmt}")[1]
    if isinstance(value, Mapping):
        return value
    raise PresentationError(f"a {fmt[:40]} claim must be a JSON object")
