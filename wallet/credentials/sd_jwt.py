"""Selective Disclosure for JWTs (draft-ietf-oauth-selective-disclosure-jwt-22).

Issuer: :func:`issue_sd_jwt`. Holder: :func:`receive_sd_jwt` / :class:`HeldSdJwt` (choose
claims by path, preview, present with an optional Key Binding JWT). Verifier:
:func:`verify_sd_jwt`. The JWS JSON Serialization is read and written by converting to and
from the compact form (:func:`sd_jwt_from_json`, :func:`sd_jwt_to_json`). Everything is
pure: time and keys come in as arguments.

Only sha-256 digests and the EdDSA / ES256 algorithms are accepted. Unlike the reference
library, a Disclosure that no digest refers to is refused, as the draft says, and ``exp`` /
``nbf`` / ``iat`` are checked.
"""

from __future__ import annotations

from .sd_jwt_core import (
    ALLOWED_ALGS,
    DEFAULT_LIMITS,
    SD_ALG,
    ChallengeMismatch,
    ClaimPath,
    ClaimPathError,
    Disclosure,
    DisclosureError,
    DuplicateDigest,
    KeyBindingRequired,
    MalformedSdJwt,
    SdJwtLimits,
    SdJwtParts,
    SdJwtTooLarge,
    StaleKeyBinding,
    UnreferencedDisclosure,
    UnsupportedHashAlgorithm,
    claim_path,
    process_payload,
    sd_hash,
    split_sd_jwt,
)
from .sd_jwt_holder import HeldSdJwt, present_sd_jwt, receive_sd_jwt
from .sd_jwt_issue import issue_sd_jwt
from .sd_jwt_json import sd_jwt_from_json, sd_jwt_to_json
from .sd_jwt_verify import (
    IssuerKey,
    VerifiedSdJwt,
    holder_public_key,
    verify_key_binding,
    verify_sd_jwt,
)

__all__ = [
    "ALLOWED_ALGS",
    "DEFAULT_LIMITS",
    "SD_ALG",
    "ChallengeMismatch",
    "ClaimPath",
    "ClaimPathError",
    "Disclosure",
    "DisclosureError",
    "DuplicateDigest",
    "HeldSdJwt",
    "IssuerKey",
    "KeyBindingRequired",
    "MalformedSdJwt",
    "SdJwtLimits",
    "SdJwtParts",
    "SdJwtTooLarge",
    "StaleKeyBinding",
    "UnreferencedDisclosure",
    "UnsupportedHashAlgorithm",
    "VerifiedSdJwt",
    "claim_path",
    "holder_public_key",
    "issue_sd_jwt",
    "present_sd_jwt",
    "process_payload",
    "receive_sd_jwt",
    "sd_hash",
    "sd_jwt_from_json",
    "sd_jwt_to_json",
    "split_sd_jwt",
    "verify_key_binding",
    "verify_sd_jwt",
]
