"""The JWS JSON Serialization of SD-JWT (draft §8), converted to and from the compact form.

The draft computes ``sd_hash`` over the compact form even for JSON-serialized SD-JWTs, so
moi reads a JSON one by rebuilding its compact form and verifying that. A General JSON
SD-JWT may carry several issuer signatures; the Disclosures and KB-JWT sit in the first
signature's unprotected header, and the compact form (hence what moi verifies) is the one
with the first signature. The older placement of ``disclosures`` and ``kb_jwt`` at the top
level of the object (written by the reference library ``sd-jwt`` 0.10.4) is read too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wallet.encoding import loads_object
from wallet.errors import InputError, TooLargeError

from .sd_jwt_core import (
    DEFAULT_LIMITS,
    MalformedSdJwt,
    SdJwtLimits,
    SdJwtParts,
    SdJwtTooLarge,
    split_sd_jwt,
)

__all__ = ["sd_jwt_from_json", "sd_jwt_to_json"]


def sd_jwt_from_json(
    obj: Mapping[str, Any] | str | bytes, limits: SdJwtLimits = DEFAULT_LIMITS
) -> str:
    """The compact form of a Flattened or General JSON serialized SD-JWT (or SD-JWT+KB)."""
    if isinstance(obj, (str, bytes)):
        try:
            obj = loads_object(obj, max_bytes=limits.max_bytes, what="JSON SD-JWT")
        except TooLargeError as err:
            raise SdJwtTooLarge(str(err)) from err
        except InputError as err:
            raise MalformedSdJwt(str(err)) from err
    if not isinstance(obj, Mapping):
        raise MalformedSdJwt("a JSON serialized SD-JWT must be an object")
    payload = obj.get("payload")
    if "signatures" in obj:
        entries = obj["signatures"]
        if not isinstance(entries, list) or not entries:
            raise MalformedSdJwt("'signatures' must be a non-empty list")
        first = entries[0]
        for later in entries[1:]:
            header = later.get("header", {}) if isinstance(later, Mapping) else None
            if not isinstance(header, Mapping) or {"disclosures", "kb_jwt"} & set(header):
                raise MalformedSdJwt("only the first signature's header may carry Disclosures")
    else:
        first = obj
    if not isinstance(first, Mapping):
        raise MalformedSdJwt("a JWS signature entry must be an object")
    protected, signature = first.get("protected"), first.get("signature")
    header = first.get("header", {})
    for name, value in (("payload", payload), ("protected", protected), ("signature", signature)):
        if not isinstance(value, str):
            raise MalformedSdJwt(f"the JSON SD-JWT needs a string {name!r}")
    if not isinstance(header, Mapping):
        raise MalformedSdJwt("the unprotected 'header' must be an object")
    legacy = {"disclosures", "kb_jwt"} & set(obj)
    if legacy:
        if {"disclosures", "kb_jwt"} & set(header):
            raise MalformedSdJwt("Disclosures both in the header and at the top level")
        header = {name: obj[name] for name in legacy}
    disclosures = header.get("disclosures", [])
    if not isinstance(disclosures, list) or not all(isinstance(d, str) for d in disclosures):
        raise MalformedSdJwt("'disclosures' must be a list of strings")
    if len(disclosures) > limits.max_disclosures:
        raise SdJwtTooLarge(f"an SD-JWT may carry at most {limits.max_disclosures} Disclosures")
    kb_jwt = header.get("kb_jwt")
    if kb_jwt is not None and not isinstance(kb_jwt, str):
        raise MalformedSdJwt("'kb_jwt' must be a string")
    if any("~" in part for part in (protected, payload, signature, *disclosures, kb_jwt or "")):
        raise MalformedSdJwt("a JSON SD-JWT part contains '~'")
    jwt = f"{protected}.{payload}.{signature}"
    return SdJwtParts(jwt, tuple(disclosures), kb_jwt or None).serialize()


def sd_jwt_to_json(token: str, limits: SdJwtLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    """The Flattened JSON Serialization of a compact SD-JWT or SD-JWT+KB."""
    parts = split_sd_jwt(token, limits)
    pieces = parts.issuer_jwt.split(".")
    if len(pieces) != 3:
        raise MalformedSdJwt("the issuer-signed JWT must have 3 parts")
    header: dict[str, Any] = {"disclosures": list(parts.disclosures)}
    if parts.kb_jwt is not None:
        header["kb_jwt"] = parts.kb_jwt
    return {"header": header, "payload": pieces[1], "protected": pieces[0], "signature": pieces[2]}
