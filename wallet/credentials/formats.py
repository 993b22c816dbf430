"""The four credential formats moi issues, holds and verifies, and what they share.

=========  =========================================================================
di-jcs     VC Data Model 2.0 JSON with a ``DataIntegrityProof``, ``eddsa-jcs-2022``
di-rdfc    the same with ``eddsa-rdfc-2022`` (RDF canonicalisation, pinned contexts)
vc-jwt     VC-JOSE: the credential is the payload of a JWS typed ``vc+jwt``
sd-jwt     SD-JWT VC (``dc+sd-jwt``) with selectively disclosable claims and ``cnf``
=========  =========================================================================

Status in SD-JWT VCs: moi uses W3C Bitstring Status List for every format, so an SD-JWT VC
it issues carries ``"status": {"bitstring_status_list": [<BitstringStatusListEntry>, ...]}``
-- the same entry objects a VC Data Model credential has under ``credentialStatus``. (The
IETF Token Status List's ``status_list`` member is a different mechanism; moi's verifier
reports it as unsupported rather than guessing.)

Every credential moi issues has an id: the VC's ``id`` (``urn:uuid:...``), and for SD-JWT VC
the ``jti`` claim. An SD-JWT VC without ``jti`` (from another issuer) is known by the SHA-256
of its issuer-signed JWT, which holder and verifier compute alike.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from .sd_jwt_core import b64url_encode

#: Member of an SD-JWT VC's ``status`` claim holding Bitstring Status List entries.
SD_JWT_STATUS_KEY = "bitstring_status_list"
#: Registered claims of an SD-JWT VC that are metadata, not claims about the subject.
SD_JWT_METADATA = frozenset(
    {"iss", "iat", "nbf", "exp", "cnf", "vct", "vct#integrity", "status", "sub", "jti"}
)
#: Most ``--type`` values a credential may be issued with.
MAX_TYPES = 16


class CredentialFormat(StrEnum):
    """How a credential is secured (the CLI's ``--format``)."""

    DI_JCS = "di-jcs"
    DI_RDFC = "di-rdfc"
    VC_JWT = "vc-jwt"
    SD_JWT = "sd-jwt"

    @property
    def is_jwt(self) -> bool:
        return self in (CredentialFormat.VC_JWT, CredentialFormat.SD_JWT)

    @property
    def pex_format(self) -> str:
        """The Presentation Exchange claim-format name (DIF registry)."""
        return _PEX[self]


_PEX = {
    CredentialFormat.DI_JCS: "ldp_vc",
    CredentialFormat.DI_RDFC: "ldp_vc",
    CredentialFormat.VC_JWT: "jwt_vc_json",
    CredentialFormat.SD_JWT: "dc+sd-jwt",
}

#: Data Integrity cryptosuite per format.
CRYPTOSUITES = {
    CredentialFormat.DI_JCS: "eddsa-jcs-2022",
    CredentialFormat.DI_RDFC: "eddsa-rdfc-2022",
}
FORMAT_OF_CRYPTOSUITE = {v: k for k, v in CRYPTOSUITES.items()}


def sd_jwt_id(issuer_jwt: str, payload: Mapping[str, Any]) -> str:
    """An SD-JWT VC's id: its ``jti`` when a string, else a digest of the signed JWT."""
    jti = payload.get("jti")
    if isinstance(jti, str) and 0 < len(jti) <= 512:
        return jti
    digest = hashlib.sha256(issuer_jwt.encode("ascii")).digest()
    return "urn:moi:sd-jwt:" + b64url_encode(digest)


def user_claims(claims: Mapping[str, Any]) -> dict[str, Any]:
    """An SD-JWT VC's claims about the subject, without the registered metadata claims."""
    return {k: v for k, v in claims.items() if k not in SD_JWT_METADATA and k != "_sd_alg"}


def subject_claims(credential: Mapping[str, Any]) -> dict[str, Any]:
    """A VC Data Model credential's claims: its one subject without ``id``, or all subjects."""
    subject = credential.get("credentialSubject")
    if isinstance(subject, list) and len(subject) == 1:
        subject = subject[0]
    if isinstance(subject, Mapping):
        return {k: v for k, v in subject.items() if k != "id"}
    if isinstance(subject, list):
        return {"credentialSubject": list(subject)}
    return {}
