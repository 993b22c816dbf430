"""JOSE for moi: JWS (compact and General JSON) and DIDComm v2 JWE envelopes.

- :mod:`.jws` — ``sign_compact``/``decode_compact``/``verify_compact`` for JWT and SD-JWT;
  ``sign_general``/``parse_general``/``verify_signature`` for DIDComm signed messages.
- :mod:`.jwe` — ``encrypt``/``parse``/``decrypt``: anoncrypt (ECDH-ES+A256KW) and authcrypt
  (ECDH-1PU+A256KW), several recipients sharing one ephemeral key.
- :mod:`.content` and :mod:`.ecdh` — the content ciphers, AES key wrap, ECDH and Concat KDF.
"""

from .ecdh import AgreementCache
from .jwe import (
    ANONCRYPT_ALG,
    AUTHCRYPT_ALG,
    DIDCOMM_ENCRYPTED_TYP,
    InvalidEphemeralKey,
    JWERecipient,
    ParsedJWE,
    RecipientError,
    SenderKeyError,
    decrypt,
    encrypt,
    kids_digest,
    parse,
)
from .jws import (
    DIDCOMM_SIGNED_TYP,
    AlgorithmRefused,
    CompactJWS,
    JWSSignature,
    ParsedJWS,
    SignerError,
    alg_for_key,
    decode_compact,
    parse_general,
    sign_compact,
    sign_general,
    verify_compact,
    verify_signature,
)

__all__ = [
    "ANONCRYPT_ALG",
    "AUTHCRYPT_ALG",
    "DIDCOMM_ENCRYPTED_TYP",
    "DIDCOMM_SIGNED_TYP",
    "AgreementCache",
    "AlgorithmRefused",
    "CompactJWS",
    "InvalidEphemeralKey",
    "JWERecipient",
    "JWSSignature",
    "ParsedJWE",
    "ParsedJWS",
    "RecipientError",
    "SenderKeyError",
    "SignerError",
    "alg_for_key",
    "decode_compact",
    "decrypt",
    "encrypt",
    "kids_digest",
    "parse",
    "parse_general",
    "sign_compact",
    "sign_general",
    "verify_compact",
    "verify_signature",
]
