"""The attachment formats moi issues over issue-credential, and the rules for each (pure).

============  =================================  ========================  =======================
``--format``  offer / request / proposal         credential                what is signed
============  =================================  ========================  =======================
di-jcs        ``aries/ld-proof-vc-detail@v1.0``  ``aries/ld-proof-vc@v1.0``  DataIntegrityProof,
                                                                           eddsa-jcs-2022
di-rdfc       ``aries/ld-proof-vc-detail@v1.0``  ``aries/ld-proof-vc@v1.0``  DataIntegrityProof,
                                                                           eddsa-rdfc-2022
ed25519-2020  ``aries/ld-proof-vc-detail@v1.0``  ``aries/ld-proof-vc@v1.0``  Ed25519Signature2020
vc-jwt        ``moi/vc+jwt-detail@v1.0``         ``moi/vc+jwt@v1.0``       a ``vc+jwt`` JWS
sd-jwt        ``moi/dc+sd-jwt-detail@v1.0``      ``moi/dc+sd-jwt@v1.0``    an SD-JWT VC
============  =================================  ========================  =======================

W3C credentials with embedded proofs use Aries RFC 0593, the registered JSON-LD format that
ACA-Py speaks: the detail is ``{"credential", "options"}`` with ``options.proofType``; moi adds
``options.cryptosuite`` for ``DataIntegrityProof``. As the RFC says, the detail's credential
is the credential as it will be issued, without ``proof`` and ``credentialStatus``: the issuer
signs exactly what the holder requested (an offer without ``credentialSubject.id`` lets the
holder bind its own DID) and adds the status entries asked for by
``options.credentialStatus.type``. Ed25519Signature2020 is what ACA-Py holders accept.

No registry has DIDComm attachment formats for VC-JOSE or SD-JWT VC, so moi names its own
after their IANA media types (``application/vc+jwt``, ``application/dc+sd-jwt``), in a ``moi/``
namespace that claims nobody else's:

- ``moi/vc+jwt-detail@v1.0``: ``{"credential": <VCDM 2.0 credential without id, validFrom and
  proof>, "options": {"credentialStatus"?}}``; the issuer mints ``id``, ``validFrom``, ``iat``.
- ``moi/dc+sd-jwt-detail@v1.0``: ``{"credential": {"iss", "sub"?, "vct", "exp"?, <claims>},
  "disclosable": [<claim paths>], "options": {"credentialStatus"?}}``; the issuer mints ``jti``
  and ``iat``, and binds the SD-JWT (``cnf``) to an authentication key of ``sub``.
- ``moi/vc+jwt@v1.0`` / ``moi/dc+sd-jwt@v1.0``: the compact token, base64 in v1 messages.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from agent.errors import RemoteProtocolError
from protocols.exchange.attachments import Attached
from wallet.credentials.contexts import CREDENTIALS_V2, ED25519_2020_V1
from wallet.credentials.errors import CredentialError
from wallet.credentials.model import format_datetime, is_url, parse_credential
from wallet.errors import InputError, MoiError

# The SD-JWT and issuer modules are imported where used: loading them costs every agent
# start about a second, and most starts never issue or receive a credential.

LD_DETAIL = "aries/ld-proof-vc-detail@v1.0"
LD_CREDENTIAL = "aries/ld-proof-vc@v1.0"
VC_JWT_DETAIL = "moi/vc+jwt-detail@v1.0"
VC_JWT_CREDENTIAL = "moi/vc+jwt@v1.0"
SD_JWT_DETAIL = "moi/dc+sd-jwt-detail@v1.0"
SD_JWT_CREDENTIAL = "moi/dc+sd-jwt@v1.0"

DETAIL_FORMATS = (LD_DETAIL, VC_JWT_DETAIL, SD_JWT_DETAIL)
CREDENTIAL_FORMATS = (LD_CREDENTIAL, VC_JWT_CREDENTIAL, SD_JWT_CREDENTIAL)
CREDENTIAL_FOR = {
    LD_DETAIL: LD_CREDENTIAL,
    VC_JWT_DETAIL: VC_JWT_CREDENTIAL,
    SD_JWT_DETAIL: SD_JWT_CREDENTIAL,
}
MEDIA_TYPES = {
    LD_CREDENTIAL: "application/json",
    VC_JWT_CREDENTIAL: "application/vc+jwt",
    SD_JWT_CREDENTIAL: "application/dc+sd-jwt",
}

DATA_INTEGRITY_PROOF = "DataIntegrityProof"
ED25519_SIGNATURE_2020 = "Ed25519Signature2020"
#: The RDF suites need every term defined; this inline context gives claims the
#: issuer-dependent vocabulary without a context a peer would have to fetch.
ISSUER_DEPENDENT = {"@vocab": "https://www.w3.org/ns/credentials/issuer-dependent#"}
ASSERTION = "assertionMethod"
#: Bitstring Status List 1.0's entry type, the status moi issues.
STATUS_ENTRY_TYPE = "BitstringStatusListEntry"
#: VC Data Model 2.0's context for terms no vocabulary defines (the wallet's issuer uses it).
UNDEFINED_TERMS = "https://www.w3.org/ns/credentials/undefined-terms/v2"
_TIME_KEYS = frozenset({"id", "validFrom", "credentialStatus", "proof", "iat", "nbf", "exp", "jti"})


class OfferFormat(StrEnum):
    """What ``moi credential offer --format`` names."""

    DI_JCS = "di-jcs"
    DI_RDFC = "di-rdfc"
    ED25519_2020 = "ed25519-2020"
    VC_JWT = "vc-jwt"
    SD_JWT = "sd-jwt"

    @property
    def detail_format(self) -> str:
        if self is OfferFormat.VC_JWT:
            return VC_JWT_DETAIL
        if self is OfferFormat.SD_JWT:
            return SD_JWT_DETAIL
        return LD_DETAIL

    @property
    def wallet_format(self) -> Any:
        """The holder wallet's ``CredentialFormat``. Ed25519Signature2020 credentials (what
        ACA-Py issues) are kept as di-rdfc: the suite signs the RDF canonical form too."""
        from wallet.credentials.formats import CredentialFormat

        return {
            OfferFormat.DI_JCS: CredentialFormat.DI_JCS,
            OfferFormat.DI_RDFC: CredentialFormat.DI_RDFC,
            OfferFormat.ED25519_2020: CredentialFormat.DI_RDFC,
            OfferFormat.VC_JWT: CredentialFormat.VC_JWT,
            OfferFormat.SD_JWT: CredentialFormat.SD_JWT,
        }.get(self)


_CRYPTOSUITE = {OfferFormat.DI_JCS: "eddsa-jcs-2022", OfferFormat.DI_RDFC: "eddsa-rdfc-2022"}


@dataclass(frozen=True, slots=True)
class OfferInput:
    """What the issuer's person (or controller) asks to offer."""

    format: OfferFormat
    issuer: str
    subject: str | None
    claims: Mapping[str, Any]
    types: Sequence[str] = ()
    disclose: Sequence[str] = ()
    valid_until: datetime | None = None
    status: bool = False
    #: A complete credential to offer as is (the JSON-LD formats only).
    credential: Mapping[str, Any] | None = None


def _bad(text: str) -> RemoteProtocolError:
    return RemoteProtocolError(text, "e.p.msg.invalid")


# -- building an offer (issuer) ----------------------------------------------------------------


def build_offer(spec: OfferInput, now: datetime) -> Attached:
    """The offer's detail attachment. Raises :class:`InputError` for a bad request."""
    if not spec.claims and spec.credential is None:
        raise InputError("an offer needs claims (a non-empty JSON object)")
    if spec.disclose and spec.format is not OfferFormat.SD_JWT:
        raise InputError("selectively disclosable claims (--sd) need --format sd-jwt")
    if spec.credential is not None and spec.format.detail_format != LD_DETAIL:
        raise InputError("a complete credential can only be offered in the JSON-LD formats")
    status = {"credentialStatus": {"type": STATUS_ENTRY_TYPE}} if spec.status else {}
    if spec.format is OfferFormat.SD_JWT:
        return Attached(SD_JWT_DETAIL, _sd_jwt_detail(spec, status))
    credential = _vcdm(spec, now)
    if spec.format is OfferFormat.VC_JWT:
        # The issuer mints id and validFrom when it signs (its wallet's issuer does).
        for key in ("id", "validFrom"):
            credential.pop(key, None)
        return Attached(VC_JWT_DETAIL, {"credential": credential, "options": status})
    options: dict[str, Any]
    if spec.format is OfferFormat.ED25519_2020:
        options = {"proofType": ED25519_SIGNATURE_2020}
    else:
        options = {"proofType": DATA_INTEGRITY_PROOF, "cryptosuite": _CRYPTOSUITE[spec.format]}
    options["proofPurpose"] = ASSERTION
    options.update(status)
    if status and "id" not in credential:
        raise InputError("a credential with status needs an id")
    return Attached(LD_DETAIL, {"credential": credential, "options": options})


def _vcdm(spec: OfferInput, now: datetime) -> dict[str, Any]:
    if spec.credential is not None:
        credential = dict(spec.credential)
        credential.setdefault("issuer", spec.issuer)
        if credential["issuer"] != spec.issuer and not (
            isinstance(credential["issuer"], Mapping)
            and credential["issuer"].get("id") == spec.issuer
        ):
            raise InputError("the credential's issuer is not the DID the offer is made from")
    else:
        if spec.format is OfferFormat.ED25519_2020:
            contexts: list[Any] = [CREDENTIALS_V2, ED25519_2020_V1, ISSUER_DEPENDENT]
        else:
            contexts = [CREDENTIALS_V2, UNDEFINED_TERMS]
        subject = dict(spec.claims)
        for name in subject:
            if not isinstance(name, str) or not name or name.startswith("@") or name == "id":
                raise InputError(f"claim name {str(name)[:40]!r} is not allowed")
        if spec.subject:
            subject = {"id": spec.subject, **subject}
        types = [t for t in spec.types if t != "VerifiableCredential"]
        credential = {
            "@context": contexts,
            "id": f"urn:uuid:{uuid.uuid4()}",
            "type": ["VerifiableCredential", *types],
            "issuer": spec.issuer,
            "validFrom": format_datetime(now.replace(microsecond=0)),
        }
        if spec.valid_until is not None:
            if spec.valid_until <= now:
                raise InputError("valid_until must be in the future")
            credential["validUntil"] = format_datetime(spec.valid_until)
        credential["credentialSubject"] = subject
    try:
        parse_credential(credential)
    except CredentialError as err:
        raise InputError(f"the credential would be malformed: {err}") from err
    return credential


def _sd_jwt_detail(spec: OfferInput, status: dict[str, Any]) -> dict[str, Any]:
    from wallet.credentials.formats import SD_JWT_METADATA

    if len([t for t in spec.types if t != "VerifiableCredential"]) > 1:
        raise InputError("an SD-JWT VC has one type (its vct); give one --type")
    vct = next((t for t in spec.types if t != "VerifiableCredential"), "VerifiableCredential")
    credential: dict[str, Any] = {"iss": spec.issuer, "vct": vct}
    if spec.subject:
        credential["sub"] = spec.subject
    if spec.valid_until is not None:
        credential["exp"] = int(spec.valid_until.timestamp())
    for name, value in spec.claims.items():
        if name in SD_JWT_METADATA or name in ("_sd", "_sd_alg", "..."):
            raise InputError(f"claim {name!r} is set by moi, not by the claims")
        credential[name] = value
    return {"credential": credential, "disclosable": list(spec.disclose), "options": status}


# -- reading a detail (both sides) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Detail:
    """A checked offer / request detail."""

    attached: Attached
    format: OfferFormat
    credential: dict[str, Any]
    options: dict[str, Any]
    disclosable: tuple[str, ...] = ()

    @property
    def status(self) -> bool:
        return isinstance(self.options.get("credentialStatus"), Mapping)

    @property
    def issuer(self) -> str | None:
        if self.format is OfferFormat.SD_JWT:
            iss = self.credential.get("iss")
        else:
            iss = self.credential.get("issuer")
            iss = iss.get("id") if isinstance(iss, Mapping) else iss
        return iss if isinstance(iss, str) else None

    @property
    def subject(self) -> str | None:
        if self.format is OfferFormat.SD_JWT:
            sub = self.credential.get("sub")
        else:
            subject = self.credential.get("credentialSubject")
            subject = subject[0] if isinstance(subject, list) and subject else subject
            sub = subject.get("id") if isinstance(subject, Mapping) else None
        return sub if isinstance(sub, str) else None

    def to_json(self) -> dict[str, Any]:
        return {"format": self.attached.format, "data": self.attached.data}

    def summary(self) -> dict[str, Any]:
        """What the credential will say, in plain terms, for the person deciding."""
        from wallet.credentials.formats import user_claims

        if self.format is OfferFormat.SD_JWT:
            claims = user_claims(self.credential)
            types = [self.credential.get("vct")]
            valid_until = self.credential.get("exp")
        else:
            subject = self.credential.get("credentialSubject")
            subject = subject[0] if isinstance(subject, list) and subject else subject
            claims = {k: v for k, v in (subject or {}).items() if k != "id"}
            types = [t for t in _list(self.credential.get("type")) if t != "VerifiableCredential"]
            valid_until = self.credential.get("validUntil") or self.credential.get("expirationDate")
        return {
            "format": self.format.value,
            "issuer": self.issuer,
            "subject": self.subject,
            "types": types,
            "claims": claims,
            "selectively_disclosable": list(self.disclosable),
            "valid_until": valid_until,
            "revocable": self.status,
        }


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value] if value is not None else []


def read_detail(attached: Attached) -> Detail:
    """Check a detail a peer sent (or we stored); raises :class:`RemoteProtocolError`."""
    data = attached.data
    if not isinstance(data, dict):
        raise _bad(f"a {attached.format} attachment must be a JSON object")
    credential = data.get("credential")
    options = data.get("options", {})
    if not isinstance(credential, dict) or not isinstance(options, dict):
        raise _bad("the detail needs a 'credential' object and an 'options' object")
    if attached.format == SD_JWT_DETAIL:
        disclosable = data.get("disclosable", [])
        if not isinstance(disclosable, list) or len(disclosable) > 256:
            raise _bad("'disclosable' must be a list of claim paths")
        for path in disclosable:
            if not isinstance(path, (str, list)) or not path:
                raise _bad("each disclosable claim is a path (a string or a list)")
        for key in ("iss", "vct"):
            if not isinstance(credential.get(key), str) or not credential[key]:
                raise _bad(f"the SD-JWT VC detail needs a string {key!r}")
        return Detail(
            attached,
            OfferFormat.SD_JWT,
            credential,
            options,
            tuple(p if isinstance(p, str) else ".".join(map(str, p)) for p in disclosable),
        )
    try:
        parse_credential(credential)
    except CredentialError as err:
        raise _bad(f"the offered credential is malformed: {err}") from err
    if "proof" in credential:
        raise _bad("the detail's credential must not carry a proof")
    if attached.format == VC_JWT_DETAIL:
        return Detail(attached, OfferFormat.VC_JWT, credential, options)
    if attached.format != LD_DETAIL:
        raise RemoteProtocolError(
            f"unsupported detail format {attached.format[:80]}", "e.p.msg.unsupported-format"
        )
    proof_type = options.get("proofType")
    if proof_type == ED25519_SIGNATURE_2020:
        fmt = OfferFormat.ED25519_2020
    elif proof_type == DATA_INTEGRITY_PROOF:
        suite = options.get("cryptosuite", "eddsa-jcs-2022")
        fmt = {v: k for k, v in _CRYPTOSUITE.items()}.get(suite)
        if fmt is None:
            raise RemoteProtocolError(
                f"moi does not issue cryptosuite {str(suite)[:60]!r}", "e.p.msg.unsupported-format"
            )
    else:
        raise RemoteProtocolError(
            f"moi does not issue proofType {str(proof_type)[:60]!r}; it issues"
            " DataIntegrityProof (eddsa-jcs-2022, eddsa-rdfc-2022) and Ed25519Signature2020",
            "e.p.msg.unsupported-format",
        )
    purpose = options.get("proofPurpose", ASSERTION)
    if purpose != ASSERTION:
        raise _bad(f"proofPurpose {str(purpose)[:40]!r}: a credential is signed for assertion")
    status = options.get("credentialStatus")
    if status is not None and (
        not isinstance(status, Mapping) or status.get("type") != STATUS_ENTRY_TYPE
    ):
        raise RemoteProtocolError(
            f"moi issues status as {STATUS_ENTRY_TYPE} only", "e.p.msg.unsupported-format"
        )
    return Detail(attached, fmt, credential, options)


# -- the holder's request ------------------------------------------------------------------------


def bind_request(offer: Detail, holder_did: str) -> Attached:
    """The request: the offer as it stands, with the holder's DID as subject if none was set."""
    if offer.subject is not None:
        return offer.attached
    data = dict(offer.attached.data) if isinstance(offer.attached.data, dict) else {}
    credential = dict(offer.credential)
    if offer.format is OfferFormat.SD_JWT:
        credential["sub"] = holder_did
    else:
        subject = credential.get("credentialSubject")
        if isinstance(subject, list):
            raise _bad("an offer about several subjects must name them")
        credential["credentialSubject"] = {"id": holder_did, **(subject or {})}
    data["credential"] = credential
    return Attached(offer.attached.format, data)


def check_request(offer: Detail, request: Attached) -> Detail:
    """The issuer's check: the request asks for exactly what was offered (the subject may be
    bound by the holder when the offer left it open)."""
    if request.format != offer.attached.format:
        raise _bad(f"the request is in {request.format[:80]}, the offer in {offer.attached.format}")
    asked = read_detail(request)
    if offer.subject is not None and asked.subject != offer.subject:
        raise _bad("the request is about another subject than the offer")
    if asked.subject is None:
        raise _bad("the request names no subject")
    if not is_url(asked.subject):
        raise _bad("the requested subject must be a DID or URL")
    bound = read_detail(bind_request(offer, asked.subject))
    # Compared by meaning, not bytes: a peer's serializer may drop empty options or write
    # defaults out, and neither changes what would be signed.
    if (
        bound.credential != asked.credential
        or _options(bound.options) != _options(asked.options)
        or bound.disclosable != asked.disclosable
    ):
        raise _bad("the request differs from the offer")
    return asked


def _options(options: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in options.items() if v is not None}
    out.setdefault("proofPurpose", ASSERTION)
    return out


# -- the issued credential (holder) ----------------------------------------------------------


def check_issued(request: Detail, attached: Attached) -> dict[str, Any] | str:
    """The holder's check that the credential is the one requested (signatures are checked
    when it is stored); returns the credential in the form the holder wallet keeps."""
    from wallet.credentials.formats import user_claims
    from wallet.credentials.sd_jwt_core import decode_jwt
    from wallet.credentials.sd_jwt_holder import HeldSdJwt

    expected = CREDENTIAL_FOR[request.attached.format]
    if attached.format != expected:
        raise _bad(f"the credential is in {attached.format[:80]}, not {expected}")
    data = attached.data
    if request.format is OfferFormat.SD_JWT:
        if not isinstance(data, str):
            raise _bad("an SD-JWT VC is a compact string")
        try:
            claims = HeldSdJwt.parse(data).claims
        except MoiError as err:
            raise _bad(f"the SD-JWT VC is malformed: {err}") from err
        want = request.credential
        for key in ("iss", "vct", "sub", "exp"):
            if want.get(key) != claims.get(key):
                raise _bad(f"the SD-JWT VC's {key!r} is not the one requested")
        if user_claims(claims) != user_claims(want):
            raise _bad("the SD-JWT VC's claims are not the ones requested")
        if bool(isinstance(claims.get("status"), Mapping)) != request.status:
            raise _bad("the SD-JWT VC's status is not as requested")
        return data
    if request.format is OfferFormat.VC_JWT:
        if not isinstance(data, str):
            raise _bad("a vc+jwt is a compact string")
        try:
            _, payload = decode_jwt(data, "the vc+jwt")
        except MoiError as err:
            raise _bad(f"the vc+jwt is malformed: {err}") from err
        got = {k: v for k, v in payload.items() if k not in _TIME_KEYS}
        want = {k: v for k, v in request.credential.items() if k not in _TIME_KEYS}
        if got != want:
            raise _bad("the vc+jwt is not the credential requested")
        if ("credentialStatus" in payload) != request.status:
            raise _bad("the vc+jwt's status is not as requested")
        return data
    if not isinstance(data, dict):
        raise _bad("a JSON-LD credential is a JSON object")
    unsecured = {k: v for k, v in data.items() if k not in ("proof", "credentialStatus")}
    if unsecured != request.credential:
        raise _bad("the credential is not the one requested")
    if ("credentialStatus" in data) != request.status:
        raise _bad("the credential's status is not as requested")
    proof = data.get("proof")
    proofs = proof if isinstance(proof, list) else [proof]
    if len(proofs) != 1 or not isinstance(proofs[0], Mapping):
        raise _bad("the credential must carry one proof")
    if proofs[0].get("type") != request.options.get("proofType"):
        raise _bad("the credential's proof is not of the type requested")
    if (
        request.format in _CRYPTOSUITE
        and proofs[0].get("cryptosuite") != _CRYPTOSUITE[request.format]
    ):
        raise _bad("the credential's cryptosuite is not the one requested")
    for option in ("challenge", "domain"):
        if request.options.get(option) != proofs[0].get(option):
            raise _bad(f"the proof's {option} is not the one requested")
    return data


def describe_proposal(attached: Attached) -> Detail:
    """A holder's proposal is a detail in the same formats."""
    return read_detail(attached)


def wallet_format_error(fmt: OfferFormat) -> str | None:
    """Why the moi holder cannot keep this format, if it cannot."""
    if fmt.wallet_format is None:
        return (
            f"moi's holder wallet does not keep {fmt.value} credentials yet"
            " (it keeps di-jcs, di-rdfc, vc-jwt and sd-jwt)"
        )
    return None


__all__ = [
    "CREDENTIAL_FOR",
    "DETAIL_FORMATS",
    "Detail",
    "OfferFormat",
    "OfferInput",
    "bind_request",
    "build_offer",
    "check_issued",
    "check_request",
    "read_detail",
]
