"""JOSE for moi: JWS (compact and General JSON) and DIDComm v2 JWE envelopes."""

from .jws import (
    DIDCOMM_SIGNED_TYP,
    AlgorithmRefused,
    CompactJWS,
    JWSSignature,
    ParsedJWS,
    alg_for_key,
    decode_compact,
    parse_general,
    sign_compact,
    sign_general,
    verify_compact,
    verify_signature,
)

__all__ = [
    "DIDCOMM_SIGNED_TYP",
    "AlgorithmRefused",
    "CompactJWS",
    "JWSSignature",
    "ParsedJWS",
    "alg_for_key",
    "decode_compact",
    "parse_general",
    "sign_compact",
    "sign_general",
    "verify_compact",
    "verify_signature",
]
