"""The prover's side: pick credentials for a request, show the person what would be disclosed
and to whom, and make the presentation they agreed to.

Candidates come from :meth:`Holder.preselect` (one indexed query, so the cost follows the
credentials that could match, not the wallet's size). For an SD-JWT VC only the claims the
definition's fields point at are disclosed, whether or not it insists on limited disclosure:
moi shows least. Other formats are shown whole, and the preview says so.

The presentation, in the ``dif/presentation-exchange/submission@v1.0`` attachment:

- W3C credentials of one holder (Data Integrity or Ed25519Signature2020 proofs): one
  Verifiable Presentation with ``presentation_submission`` inside, signed by the holder's
  authentication key with the request's challenge and domain -- the shape ACA-Py sends and
  verifies. The proof suite is the first the definition's ``ldp_vp`` format allows that moi
  makes, else the credentials' own.
- Anything else (SD-JWT VC with a KB-JWT, vc+jwt in a vp+jwt, or credentials of several
  subjects): ``{"presentation_submission": ..., "vp_token": [...]}``, one presentation per
  credential, following OpenID4VP's response parameters; the descriptor map's paths point
  into ``vp_token`` (``path_nested`` into a vp+jwt or a VP).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agent.errors import LocalProtocolError
from protocols.exchange.attachments import Attached
from wallet.credentials.contexts import (
    CREDENTIALS_V1,
    CREDENTIALS_V2,
    DATA_INTEGRITY_V2,
    ED25519_2020_V1,
)
from wallet.credentials.data_integrity import add_proof
from wallet.credentials.did_keys import AUTHENTICATION, own_signing_key, require_own_did
from wallet.credentials.formats import CredentialFormat
from wallet.credentials.holder import Holder, StoredCredential
from wallet.credentials.holder_preview import preview_disclosure
from wallet.credentials.pex import DescriptorMatch, NoMatch, presented_credentials
from wallet.errors import MoiError

from .definitions import RequestDetail
from .messages import SUBMISSION

#: The Data Integrity suites moi signs presentations with, by PEX ``proof_type``.
VP_SUITES = {
    "DataIntegrityProof": ("eddsa-jcs-2022", "eddsa-rdfc-2022"),
    "Ed25519Signature2020": ("Ed25519Signature2020",),
}
_LEGACY = ("Ed25519Signature2020", "Ed25519Signature2018")
_PE = "https://identity.foundation/presentation-exchange/#presentation-submission"
#: The terms of DIF's submission context, inline (nothing to fetch): the submission is kept as
#: a JSON literal, so the RDF suites sign it as it is.
SUBMISSION_CONTEXT = {
    "PresentationSubmission": _PE,
    "presentation_submission": {"@id": _PE, "@type": "@json"},
}


@dataclass(frozen=True, slots=True)
class Prepared:
    """What the prover would send: the picked credentials and the person's preview; ``held``,
    the credentials read to make it, for :func:`present` not to read them again."""

    satisfiable: bool
    selection: list[dict[str, Any]]
    preview: dict[str, Any]
    held: Mapping[str, StoredCredential] = field(default_factory=dict)


def _paths(match: DescriptorMatch) -> list[list[str | int]] | None:
    if not match.candidate.can_limit_disclosure:
        return None
    # The fields the verifier asked for (optional ones it matched too), nothing else.
    return [list(p) for p in dict.fromkeys(f.path for f in match.fields)]


async def prepare(
    wallet: Any,
    request: RequestDetail,
    *,
    verifier: Mapping[str, Any],
    audience: str,
    choices: Mapping[str, str] | None = None,
) -> Prepared:
    """Match the request against held credentials and preview the answer; nothing is signed."""
    holder = Holder(wallet)
    held: dict[str, StoredCredential] = {}
    # Without the person's choices the first match of each descriptor is what is picked:
    # the holder stops reading once each has one.
    evaluation = await holder.preselect(request.definition, first=not choices, held=held)
    # A domain that is not the verifier's own DID may mean the request was relayed from
    # someone else (the presentation would then be valid there): the person should see it.
    theirs = request.domain in (None, verifier.get("did"))
    base: dict[str, Any] = {
        "to": {**verifier, "domain": request.domain, "domain_is_theirs": theirs},
        "definition": {
            "id": request.definition.id,
            "name": request.definition.name,
            "purpose": request.definition.purpose,
        },
    }
    try:
        picked = evaluation.select(choices)
    except NoMatch as err:
        reasons = {k: dict(v) for k, v in err.reasons.items()}
        preview = {**base, "satisfiable": False, "credentials": [], "reasons": reasons}
        return Prepared(False, [], preview)
    selection = [
        {
            "descriptor_id": m.descriptor_id,
            "credential_id": m.candidate.id,
            "format": m.format,
            "disclose": _paths(m),
            "fields": [f.jsonpath for f in m.fields],
        }
        for m in picked
    ]
    previews = []
    for candidate in presented_credentials(picked):
        paths = _disclosed(selection, candidate.id)
        stored = held[candidate.id]
        shown = preview_disclosure(stored, list(paths or ()), stored.subject, audience)
        previews.append(shown.to_json())
    descriptors = [
        {
            "id": d.id,
            "name": d.name,
            "purpose": d.purpose,
            "credential": next(
                (s["credential_id"] for s in selection if s["descriptor_id"] == d.id), None
            ),
        }
        for d in request.definition.input_descriptors
    ]
    preview = {**base, "satisfiable": True, "credentials": previews, "descriptors": descriptors}
    picked_ids = {s["credential_id"] for s in selection}
    return Prepared(True, selection, preview, {k: v for k, v in held.items() if k in picked_ids})


def _disclosed(selection: Sequence[Mapping[str, Any]], credential_id: str) -> list[Any] | None:
    paths: list[Any] = []
    whole = False
    for entry in selection:
        if entry["credential_id"] != credential_id:
            continue
        if entry["disclose"] is None:
            whole = True
        else:
            paths.extend(p for p in entry["disclose"] if p not in paths)
    return None if whole else paths


async def present(
    wallet: Any,
    request: RequestDetail,
    selection: Sequence[Mapping[str, Any]],
    *,
    audience: str,
    now: datetime,
    held: Mapping[str, StoredCredential] | None = None,
) -> Attached:
    """The presentation of exactly the previewed selection; ``held``: credentials of the
    selection already read (by :func:`prepare`), which are not read again."""
    if not selection:
        raise LocalProtocolError("no credentials were picked for this request", "e.p.msg")
    holder = Holder(wallet)
    order: list[str] = list(dict.fromkeys(s["credential_id"] for s in selection))
    known = held or {}
    held = {cid: known.get(cid) or await holder.get(cid) for cid in order}
    ldp = all(not held[cid].format.is_jwt for cid in order)
    subjects = {held[cid].subject for cid in order}
    versions = {_version(held[cid]) for cid in order}
    if ldp and len(subjects) == 1 and len(versions) == 1 and None not in subjects:
        data = await _one_vp(wallet, request, selection, order, held, audience, now)
    else:
        data = await _envelope(holder, request, selection, order, held, audience, now)
    return Attached(SUBMISSION, data)


def _version(stored: StoredCredential) -> str | None:
    credential = stored.credential
    if isinstance(credential, dict):
        contexts = credential.get("@context")
        first = contexts[0] if isinstance(contexts, list) and contexts else contexts
        return first if isinstance(first, str) else None
    return None


def _vp_suite(request: RequestDetail, held: Sequence[StoredCredential]) -> str:
    allowed: list[str] = []
    for spec_holder in [
        request.definition.format,
        *(d.format for d in request.definition.input_descriptors),
    ]:
        for name in ("ldp_vp", "di_vp"):
            spec = (spec_holder or {}).get(name)
            if isinstance(spec, Mapping):
                allowed.extend(spec.get("proof_type") or [])
                allowed.extend(spec.get("cryptosuite") or [])
    own = [s.pex.get("cryptosuite") or s.pex.get("proof_type") for s in held]
    if allowed:
        for name in allowed:
            if name in VP_SUITES:
                preferred = [o for o in own if o in VP_SUITES[name]]
                return preferred[0] if preferred else VP_SUITES[name][0]
            if name in ("eddsa-jcs-2022", "eddsa-rdfc-2022"):
                return name
        raise LocalProtocolError(
            f"the verifier accepts presentations signed with {allowed[:4]}; moi signs"
            " DataIntegrityProof (eddsa-jcs-2022, eddsa-rdfc-2022) and Ed25519Signature2020",
            "e.p.msg.unsupported-format",
        )
    if any(o in _LEGACY for o in own):
        return "Ed25519Signature2020"
    return next((o for o in own if o in ("eddsa-jcs-2022", "eddsa-rdfc-2022")), "eddsa-jcs-2022")


async def _one_vp(
    wallet: Any,
    request: RequestDetail,
    selection: Sequence[Mapping[str, Any]],
    order: list[str],
    held: Mapping[str, StoredCredential],
    audience: str,
    now: datetime,
) -> dict[str, Any]:
    first = held[order[0]]
    holder_did = first.subject or ""
    await require_own_did(wallet, holder_did)
    suite = _vp_suite(request, list(held.values()))
    contexts: list[Any] = [CREDENTIALS_V1 if _version(first) == CREDENTIALS_V1 else CREDENTIALS_V2]
    if suite == "Ed25519Signature2020":
        contexts.append(ED25519_2020_V1)
    elif contexts[0] == CREDENTIALS_V1:
        contexts.append(DATA_INTEGRITY_V2)
    contexts.append(SUBMISSION_CONTEXT)
    submission = {
        "id": str(uuid.uuid4()),
        "definition_id": request.definition.id,
        "descriptor_map": [
            {
                "id": s["descriptor_id"],
                "format": s["format"],
                "path": f"$.verifiableCredential[{order.index(s['credential_id'])}]",
            }
            for s in selection
        ],
    }
    presentation = {
        "@context": contexts,
        "type": ["VerifiablePresentation", "PresentationSubmission"],
        "holder": holder_did,
        "verifiableCredential": [held[cid].credential for cid in order],
        "presentation_submission": submission,
    }
    vm, key = await own_signing_key(wallet, wallet.resolver, holder_did, AUTHENTICATION)
    return await add_proof(
        presentation,
        cryptosuite=suite,
        key=key,
        verification_method=vm,
        proof_purpose=AUTHENTICATION,
        challenge=request.challenge,
        domain=request.domain or audience,
        created=now.astimezone(UTC).replace(microsecond=0),
    )


async def _envelope(
    holder: Holder,
    request: RequestDetail,
    selection: Sequence[Mapping[str, Any]],
    order: list[str],
    held: Mapping[str, StoredCredential],
    audience: str,
    now: datetime,
) -> dict[str, Any]:
    tokens: list[Any] = []
    descriptor_map: list[dict[str, Any]] = []
    for index, cid in enumerate(order):
        stored = held[cid]
        paths = _disclosed(selection, cid)
        try:
            item = await holder.present_held(
                stored,
                disclose=paths or (),
                nonce=request.challenge,
                audience=request.domain or audience,
                now=now,
            )
        except MoiError as err:
            raise LocalProtocolError(f"credential {cid[:80]} cannot be presented: {err}") from err
        tokens.append(item)
        where = f"$.vp_token[{index}]"
        for entry in selection:
            if entry["credential_id"] != cid:
                continue
            descriptor_map.append(_entry(entry, stored.format, where))
    return {
        "presentation_submission": {
            "id": str(uuid.uuid4()),
            "definition_id": request.definition.id,
            "descriptor_map": descriptor_map,
        },
        "vp_token": tokens,
    }


def _entry(entry: Mapping[str, Any], fmt: CredentialFormat, where: str) -> dict[str, Any]:
    if fmt is CredentialFormat.SD_JWT:
        return {"id": entry["descriptor_id"], "format": entry["format"], "path": where}
    outer = "jwt_vp_json" if fmt is CredentialFormat.VC_JWT else "ldp_vp"
    return {
        "id": entry["descriptor_id"],
        "format": outer,
        "path": where,
        "path_nested": {
            "id": entry["descriptor_id"],
            "format": entry["format"],
            "path": "$.verifiableCredential[0]",
        },
    }


__all__ = ["Prepared", "prepare", "present"]
