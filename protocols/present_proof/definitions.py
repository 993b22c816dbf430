"""Proof requests: a DIF Presentation Exchange definition with the verifier's challenge and
domain, and the simple claim list a person types that becomes one.

``age_over_18`` asks for that claim wherever the format keeps it (``credentialSubject`` in a
W3C credential, the top level in an SD-JWT VC); ``age_over_18=true`` also says which value is
wanted (JSON after the ``=``). With ``--format sd-jwt`` the definition requires limited
disclosure, so the holder sends that claim and nothing else it can withhold.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.errors import RemoteProtocolError
from protocols.exchange.attachments import Attached
from wallet.encoding import loads_strict
from wallet.errors import InputError, MoiError

from .messages import DEFINITIONS

if TYPE_CHECKING:
    from wallet.credentials.pex import PresentationDefinition


def _parse(definition: Any) -> PresentationDefinition:
    # Imported on use: the credential modules would slow every agent start.
    from wallet.credentials.pex import PresentationDefinition

    return PresentationDefinition.parse(definition)


MAX_OPTION = 1024
MAX_CLAIMS = 64
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z_][A-Za-z0-9_\-]*|\.[0-9]+)*$")
_EDDSA_ES256 = ["EdDSA", "ES256"]
#: The expanded IRI of ``VerifiableCredential`` (the same in VCDM 1.1 and 2.0).
VC_TYPE_IRI = "https://www.w3.org/2018/credentials#VerifiableCredential"

#: ``--format`` → the definition's ``format`` (DIF claim format registry names).
CLAIM_FORMATS: dict[str, dict[str, Any]] = {
    "sd-jwt": {"dc+sd-jwt": {"sd-jwt_alg_values": _EDDSA_ES256, "kb-jwt_alg_values": _EDDSA_ES256}},
    "vc-jwt": {"jwt_vc_json": {"alg": _EDDSA_ES256}},
    "di-jcs": {
        "ldp_vc": {"proof_type": ["DataIntegrityProof"], "cryptosuite": ["eddsa-jcs-2022"]},
        "ldp_vp": {"proof_type": ["DataIntegrityProof"]},
    },
    "di-rdfc": {
        "ldp_vc": {"proof_type": ["DataIntegrityProof"], "cryptosuite": ["eddsa-rdfc-2022"]},
        "ldp_vp": {"proof_type": ["DataIntegrityProof"]},
    },
    "ed25519-2020": {
        "ldp_vc": {"proof_type": ["Ed25519Signature2020"]},
        "ldp_vp": {"proof_type": ["Ed25519Signature2020"]},
    },
    "ldp": {"ldp_vc": {}, "ldp_vp": {}},
}


@dataclass(frozen=True, slots=True)
class RequestDetail:
    """A checked ``dif/presentation-exchange/definitions@v1.0`` attachment."""

    definition: PresentationDefinition
    challenge: str
    domain: str | None
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return dict(self.data)

    def attached(self) -> Attached:
        return Attached(DEFINITIONS, self.to_json())


def _claim_path(name: str) -> list[str]:
    steps = name.split(".")
    # Dot notation (names are checked by _NAME): ACA-Py accepts no quoted brackets.
    dotted = "".join(f"[{s}]" if s.isdigit() else f".{s}" for s in steps)
    return [f"$.credentialSubject{dotted}", f"${dotted}"]


def _type_field(kind: str, format: str | None) -> dict[str, Any]:
    """A field asking for a credential type, in the form the holder's index serves: a W3C
    credential's ``type`` array, an SD-JWT VC's ``vct``; either, when no format is named
    (which the index cannot narrow, so every credential is then looked at)."""
    if format == "sd-jwt":
        return {"path": ["$.vct"], "filter": {"type": "string", "const": kind}}
    if format is not None:
        return {"path": ["$.type"], "filter": {"type": "array", "contains": {"const": kind}}}
    return {
        "path": ["$.type", "$.vct"],
        "filter": {"anyOf": [{"type": "array", "contains": {"const": kind}}, {"const": kind}]},
    }


def simple_definition(
    claims: Sequence[str],
    *,
    format: str | None = None,
    types: Sequence[str] = (),
    name: str | None = None,
    purpose: str | None = None,
) -> dict[str, Any]:
    """A presentation definition asking for ``claims`` (``name`` or ``name=JSON``)."""
    definition = _simple(claims, format=format, types=types, name=name, purpose=purpose)
    _parse(definition)  # our own checks, as the holder will run them
    return definition


def _simple(
    claims: Sequence[str],
    *,
    format: str | None,
    types: Sequence[str],
    name: str | None = None,
    purpose: str | None = None,
) -> dict[str, Any]:
    if not claims and not types:
        raise InputError("ask for at least one claim (or a credential type)")
    if len(claims) > MAX_CLAIMS:
        raise InputError(f"at most {MAX_CLAIMS} claims")
    if format is not None and format not in CLAIM_FORMATS:
        raise InputError(f"unknown format {format[:40]!r}; use {', '.join(CLAIM_FORMATS)}")
    fields: list[dict[str, Any]] = []
    for item in claims:
        claim, sep, wanted = item.partition("=")
        claim = claim.strip()
        if not _NAME.match(claim) or len(claim) > 256:
            raise InputError(
                f"claim {claim[:60]!r} must be a name or a dotted path (address.locality)"
            )
        field: dict[str, Any] = {"id": claim, "path": _claim_path(claim)}
        if sep:
            try:
                field["filter"] = {"const": loads_strict(wanted, what=f"the value of {claim}")}
            except InputError:
                field["filter"] = {"type": "string", "const": wanted}
        fields.append(field)
    for kind in types:
        if not isinstance(kind, str) or not kind or len(kind) > 512:
            raise InputError("a type is a non-empty string of at most 512 characters")
        fields.append(_type_field(kind, format))
    descriptor: dict[str, Any] = {
        "id": "requested",
        "name": name or "Requested claims",
        # ACA-Py's prover needs constraints on every descriptor: always give them.
        "constraints": {"fields": fields},
    }
    if format not in ("sd-jwt", "vc-jwt"):
        # Presentation Exchange 1.0 (the version of this attachment format) requires
        # ``schema``; ACA-Py's prover fails without it. Every W3C credential has this type.
        descriptor["schema"] = [{"uri": VC_TYPE_IRI}]
    if purpose:
        descriptor["purpose"] = purpose
    if format is not None:
        descriptor["format"] = CLAIM_FORMATS[format]
        if format == "sd-jwt":
            descriptor["constraints"]["limit_disclosure"] = "required"
    return {"id": str(uuid.uuid4()), "input_descriptors": [descriptor]}


def request_attachment(
    definition: Mapping[str, Any], *, challenge: str, domain: str | None
) -> Attached:
    return make_request(definition, challenge=challenge, domain=domain).attached()


def make_request(
    definition: Mapping[str, Any], *, challenge: str, domain: str | None
) -> RequestDetail:
    """Our request, checked once as a peer's would be (:func:`read_request`); raises
    :class:`InputError`."""
    if not challenge or len(challenge) > MAX_OPTION:
        raise InputError("the challenge must be 1 to 1024 characters")
    options: dict[str, Any] = {"challenge": challenge}
    if domain is not None:
        if not domain or len(domain) > MAX_OPTION:
            raise InputError("the domain must be 1 to 1024 characters")
        options["domain"] = domain
    try:
        parsed = _parse(definition)
    except MoiError as err:
        raise InputError(f"the presentation definition is not valid: {err}") from err
    data = {"presentation_definition": dict(definition), "options": options}
    return RequestDetail(parsed, challenge, domain, data)


def claims_request(
    claims: Sequence[str],
    *,
    format: str | None = None,
    types: Sequence[str] = (),
    challenge: str,
    domain: str | None,
) -> RequestDetail:
    """:func:`make_request` for :func:`simple_definition`'s definition, parsed once."""
    return make_request(
        _simple(claims, format=format, types=types), challenge=challenge, domain=domain
    )


def read_request(attached: Attached) -> RequestDetail:
    """Check a request attachment a peer sent; raises :class:`RemoteProtocolError`."""
    data = attached.data
    if attached.format != DEFINITIONS or not isinstance(data, dict):
        raise RemoteProtocolError(f"a request is a {DEFINITIONS} JSON object", "e.p.msg.invalid")
    options = data.get("options", {})
    if not isinstance(options, Mapping):
        raise RemoteProtocolError("'options' must be an object", "e.p.msg.invalid")
    challenge, domain = options.get("challenge"), options.get("domain")
    if not isinstance(challenge, str) or not 0 < len(challenge) <= MAX_OPTION:
        raise RemoteProtocolError(
            "the request needs a challenge: moi does not make presentations that can be replayed",
            "e.p.msg.invalid",
        )
    if domain is not None and (not isinstance(domain, str) or not 0 < len(domain) <= MAX_OPTION):
        raise RemoteProtocolError("the request's domain must be a short string", "e.p.msg.invalid")
    try:
        definition = _parse(data.get("presentation_definition"))
    except MoiError as err:
        raise RemoteProtocolError(f"the presentation definition is not valid: {err}") from err
    return RequestDetail(definition, challenge, domain, dict(data))
