"""SD-JWT building blocks shared by issuer, holder and verifier.

The wire format (draft-ietf-oauth-selective-disclosure-jwt-22): an Issuer-signed JWT, then
zero or more Disclosures, each followed by ``~``, then an optional Key Binding JWT. A
Disclosure is the base64url of a JSON array ``[salt, name, value]`` (an object property) or
``[salt, value]`` (an array element); its digest is SHA-256 over the base64url *string*, so
the issuer's exact JSON spelling is what gets signed and nothing needs canonicalising.

Also here: the claim-path form that issuer and holder use to name claims, the JWT helpers
(explicit ``typ``, allowed ``alg``, ``exp``/``nbf``/``iat`` against a clock passed in) that
VC-JOSE shares, and :func:`process_payload`, the one place where digests are matched to
Disclosures (used by the verifier, and by the holder to check what it received).
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wallet.encoding import b64url_decode
from wallet.errors import EnvelopeError, InputError, TooLargeError
from wallet.jose.jws import CompactJWS, decode_compact

from .errors import (
    CredentialError,
    ExpiredCredential,
    HolderBindingError,
    MalformedCredential,
    NotYetValid,
    PresentationError,
    UnsupportedCryptosuite,
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
    "KeyBindingRequired",
    "MalformedSdJwt",
    "SdJwtLimits",
    "SdJwtParts",
    "SdJwtTooLarge",
    "StaleKeyBinding",
    "UnreferencedDisclosure",
    "UnsupportedHashAlgorithm",
    "claim_path",
    "decode_jwt",
    "decoy_digest",
    "new_salt",
    "process_payload",
    "sd_hash",
    "split_sd_jwt",
]

#: The only ``_sd_alg`` moi issues or accepts; the draft makes it the default and the MUST.
SD_ALG = "sha-256"

#: Signature algorithms accepted on issuer-signed JWTs and KB-JWTs ("Ed25519" is RFC 9864's
#: fully specified name for what "EdDSA" means in practice).
ALLOWED_ALGS: frozenset[str] = frozenset({"EdDSA", "Ed25519", "ES256"})

_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_TO_URL_ALPHABET = bytes.maketrans(b"+/", b"-_")


# -- hot-path codecs ------------------------------------------------------------------------
# An SD-JWT carries a JSON document per Disclosure, so per-call costs dominate: json.dumps /
# json.loads with options build a new encoder / decoder (and its scanner) on every call,
# three times the cost of the parse itself. These keep one of each, with the same strictness
# as wallet.encoding (no NaN, no duplicate keys, bounded size).


def _reject_constant(name: str) -> Any:
    raise InputError(f"JSON must not contain {name}")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise InputError("JSON object has a duplicate key")
    return out


_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_constant=_reject_constant)
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)

#: Compact JSON, as :func:`wallet.encoding.dumps_compact` writes it.
dumps_compact = _ENCODER.encode


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url (as :func:`wallet.encoding.b64url_encode`, with fewer layers)."""
    return (
        binascii.b2a_base64(data, newline=False).rstrip(b"=").translate(_TO_URL_ALPHABET).decode()
    )


def loads_json(data: bytes, *, max_bytes: int, what: str) -> Any:
    """Strict, bounded JSON: UTF-8, no NaN/Infinity, no duplicate keys."""
    if len(data) > max_bytes:
        raise TooLargeError(f"{what} is {len(data)} bytes, over the limit of {max_bytes}")
    try:
        return _DECODER.decode(data.decode("utf-8"))
    except InputError:
        raise
    except UnicodeDecodeError as err:
        raise InputError(f"{what} is not valid UTF-8") from err
    except RecursionError as err:
        raise InputError(f"{what} is nested too deeply") from err
    except (ValueError, TypeError) as err:
        raise InputError(f"{what} is not valid JSON") from err


# -- errors ---------------------------------------------------------------------------------


class MalformedSdJwt(MalformedCredential):
    """The SD-JWT's structure is wrong: separators, encodings, payload members."""


class SdJwtTooLarge(MalformedSdJwt, TooLargeError):
    """The SD-JWT exceeds a size, count or depth limit."""


class DisclosureError(MalformedSdJwt):
    """A Disclosure is malformed, misplaced, or clashes with another claim."""


class DuplicateDigest(DisclosureError):
    """A digest (or a Disclosure) occurs more than once; the draft says reject."""


class UnreferencedDisclosure(DisclosureError):
    """A Disclosure matches no digest in the signed payload or in another Disclosure."""


class UnsupportedHashAlgorithm(UnsupportedCryptosuite):
    """``_sd_alg`` names a hash moi does not accept."""


class ClaimPathError(CredentialError, InputError):
    """A claim path is malformed, or names a claim the credential does not have."""


class KeyBindingRequired(HolderBindingError):
    """The verifier requires key binding and the presentation has no (usable) KB-JWT."""


class ChallengeMismatch(HolderBindingError, PresentationError):
    """The KB-JWT (or VP) was made for another nonce or audience: a replay."""


class StaleKeyBinding(HolderBindingError):
    """The KB-JWT's ``iat`` is outside the verifier's freshness window."""


# -- limits ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SdJwtLimits:
    """Bounds applied to untrusted SD-JWTs before and while they are processed."""

    max_bytes: int = 512 * 1024
    max_disclosures: int = 1024
    max_depth: int = 32


DEFAULT_LIMITS = SdJwtLimits()


# -- disclosures ----------------------------------------------------------------------------


def new_salt() -> str:
    """128 bits from the OS CSPRNG, base64url: the draft's recommended salt."""
    return b64url_encode(secrets.token_bytes(16))


def _digest(text: str) -> str:
    return b64url_encode(hashlib.sha256(text.encode("ascii")).digest())


def decoy_digest() -> str:
    """A digest over fresh random bytes, indistinguishable from a real one."""
    return b64url_encode(hashlib.sha256(secrets.token_bytes(32)).digest())


@dataclass(frozen=True, slots=True)
class Disclosure:
    """One Disclosure: ``name`` is None for an array element."""

    encoded: str
    salt: str = field(repr=False)
    name: str | None
    value: Any
    digest: str

    @classmethod
    def create(
        cls,
        name: str | None,
        value: Any,
        *,
        salt: str | None = None,
        dumps: Any = dumps_compact,
    ) -> Disclosure:
        """A new Disclosure; ``dumps`` picks the JSON spelling (any is valid)."""
        if name is not None and (not isinstance(name, str) or name in ("_sd", "...")):
            raise ClaimPathError(f"{name!r} cannot be a selectively disclosable claim name")
        salt = new_salt() if salt is None else salt
        array = [salt, value] if name is None else [salt, name, value]
        encoded = b64url_encode(dumps(array).encode("utf-8"))
        return cls(encoded, salt, name, value, _digest(encoded))

    @classmethod
    def decode(cls, encoded: str, *, max_bytes: int = DEFAULT_LIMITS.max_bytes) -> Disclosure:
        """Parse a received Disclosure strictly; its digest is over ``encoded`` as given."""
        if not isinstance(encoded, str) or not _B64URL.fullmatch(encoded):
            raise DisclosureError("a Disclosure must be non-empty unpadded base64url")
        try:
            array = loads_json(
                b64url_decode(encoded, what="Disclosure"), max_bytes=max_bytes, what="Disclosure"
            )
        except TooLargeError as err:
            raise SdJwtTooLarge(str(err)) from err
        except InputError as err:
            raise DisclosureError(str(err)) from err
        if not isinstance(array, list) or len(array) not in (2, 3):
            raise DisclosureError("a Disclosure must be a JSON array of 2 or 3 elements")
        if not isinstance(array[0], str):
            raise DisclosureError("a Disclosure's salt must be a string")
        if len(array) == 2:
            return cls(encoded, array[0], None, array[1], _digest(encoded))
        name = array[1]
        if not isinstance(name, str):
            raise DisclosureError("a Disclosure's claim name must be a string")
        if name in ("_sd", "..."):
            raise DisclosureError(f"a Disclosure must not disclose the reserved name {name!r}")
        return cls(encoded, array[0], name, array[2], _digest(encoded))


# -- the compact form -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SdJwtParts:
    """An SD-JWT or SD-JWT+KB split at its ``~`` separators (nothing verified yet)."""

    issuer_jwt: str
    disclosures: tuple[str, ...]
    kb_jwt: str | None

    @property
    def sd_jwt(self) -> str:
        """The SD-JWT without its KB-JWT: the exact string ``sd_hash`` covers."""
        return self.issuer_jwt + "~" + "".join(d + "~" for d in self.disclosures)

    def serialize(self) -> str:
        return self.sd_jwt + (self.kb_jwt or "")


def split_sd_jwt(token: Any, limits: SdJwtLimits = DEFAULT_LIMITS) -> SdJwtParts:
    """Split the compact form, bounding size and Disclosure count first."""
    if isinstance(token, bytes):
        try:
            token = token.decode("ascii")
        except UnicodeDecodeError:
            raise MalformedSdJwt("an SD-JWT must be ASCII") from None
    if not isinstance(token, str):
        raise MalformedSdJwt("an SD-JWT must be a string")
    if len(token) > limits.max_bytes:
        raise SdJwtTooLarge(f"the SD-JWT is over the limit of {limits.max_bytes} bytes")
    if token.count("~") > limits.max_disclosures + 1:
        raise SdJwtTooLarge(f"an SD-JWT may carry at most {limits.max_disclosures} Disclosures")
    parts = token.strip().split("~")
    if len(parts) < 2:
        raise MalformedSdJwt("an SD-JWT has a '~' after the issuer-signed JWT")
    issuer_jwt, *disclosures, last = parts
    if not issuer_jwt:
        raise MalformedSdJwt("the SD-JWT has no issuer-signed JWT")
    if any(not d for d in disclosures):
        raise MalformedSdJwt("the SD-JWT has an empty Disclosure ('~~')")
    return SdJwtParts(issuer_jwt, tuple(disclosures), last or None)


def decode_jwt(
    token: str, what: str, limits: SdJwtLimits = DEFAULT_LIMITS
) -> tuple[CompactJWS, dict[str, Any]]:
    """Decode (not verify) a compact JWT whose payload must be a JSON object."""
    try:
        jws = decode_compact(token, max_bytes=limits.max_bytes)
        payload = loads_json(jws.payload, max_bytes=limits.max_bytes, what=f"{what} payload")
        if not isinstance(payload, dict):
            raise MalformedSdJwt(f"{what}: the payload must be a JSON object")
    except TooLargeError as err:
        raise SdJwtTooLarge(f"{what}: {err}") from err
    except (EnvelopeError, InputError) as err:
        raise MalformedSdJwt(f"{what}: {err}") from err
    return jws, payload


def sd_hash(sd_jwt: str) -> str:
    """The KB-JWT's ``sd_hash``: SHA-256 over the SD-JWT up to and including its last ``~``."""
    return _digest(sd_jwt)


def sd_hash_matches(sd_jwt: str, claimed: Any) -> bool:
    return isinstance(claimed, str) and hmac.compare_digest(sd_hash(sd_jwt), claimed)


# -- processing -----------------------------------------------------------------------------


def process_payload(
    payload: Mapping[str, Any],
    disclosures: Sequence[Disclosure],
    limits: SdJwtLimits = DEFAULT_LIMITS,
) -> dict[str, Any]:
    """Replace digests by their Disclosures' claims (§7.1 step 3-5) and return the result.

    Rejects, as the draft says: a digest seen twice, a Disclosure sent twice, one that no
    digest refers to, a 3-element Disclosure in an array or a 2-element one in ``_sd``, a
    disclosed name that already exists at its level, and ``_sd`` / ``...`` / ``_sd_alg``
    used for anything else. Undisclosed digests (and decoys) are dropped silently.
    """
    alg = payload.get("_sd_alg", SD_ALG)
    if alg != SD_ALG:
        raise UnsupportedHashAlgorithm(f"_sd_alg {str(alg)[:20]!r} is not supported")
    by_digest: dict[str, Disclosure] = {}
    for d in disclosures:
        if d.digest in by_digest:
            raise DuplicateDigest("the same Disclosure is presented twice")
        by_digest[d.digest] = d
    seen: set[str] = set()
    used: set[str] = set()

    def claim(digest: Any, where: str) -> Disclosure | None:
        if not isinstance(digest, str):
            raise DisclosureError(f"{where} holds a digest that is not a string")
        if digest in seen:
            raise DuplicateDigest("a digest occurs more than once in the SD-JWT")
        seen.add(digest)
        d = by_digest.get(digest)
        if d is not None:
            used.add(digest)
        return d

    def walk(value: Any, depth: int) -> Any:
        if depth > limits.max_depth:
            raise SdJwtTooLarge(f"the SD-JWT is nested deeper than {limits.max_depth} levels")
        if isinstance(value, dict):
            if "..." in value:
                raise DisclosureError("'...' is only allowed alone in an array element")
            if "_sd_alg" in value and depth > 0:
                raise DisclosureError("_sd_alg is only allowed at the top level")
            out = {k: walk(v, depth + 1) for k, v in value.items() if k != "_sd"}
            if "_sd" in value:
                digests = value["_sd"]
                if not isinstance(digests, list):
                    raise DisclosureError("_sd must be an array of digests")
                for digest in digests:
                    d = claim(digest, "_sd")
                    if d is None:
                        continue
                    if d.name is None:
                        raise DisclosureError("an array-element Disclosure is referenced by _sd")
                    if d.name in out:
                        raise DisclosureError(f"disclosed claim {d.name!r} already exists")
                    if d.name == "_sd_alg":
                        raise DisclosureError("_sd_alg cannot be selectively disclosed")
                    out[d.name] = walk(d.value, depth + 1)
            return out
        if isinstance(value, list):
            items = []
            for element in value:
                if isinstance(element, dict) and "..." in element:
                    if len(element) != 1:
                        raise DisclosureError("an array placeholder must hold only '...'")
                    d = claim(element["..."], "an array placeholder")
                    if d is None:
                        continue
                    if d.name is not None:
                        raise DisclosureError("an object-property Disclosure is in an array")
                    items.append(walk(d.value, depth + 1))
                else:
                    items.append(walk(element, depth + 1))
            return items
        return value

    result = walk(dict(payload), 0)
    if len(used) != len(by_digest):
        raise UnreferencedDisclosure("a Disclosure is not referenced by any digest")
    result.pop("_sd_alg", None)
    return result


# -- claim paths ----------------------------------------------------------------------------

#: A claim path as SD-JWT VC type metadata and DCQL write it: object keys (str), array
#: indices (int) and None for "every element".
ClaimPath = tuple[str | int | None, ...]


def claim_path(path: str | Sequence[str | int | None]) -> ClaimPath:
    """Normalise a claim path.

    A sequence is taken as is (``["address", "street_address"]``, ``["degrees", None]``); a
    string is split at dots, with digit segments as indices and ``*`` as every element
    (``"nationalities.0"``, ``"degrees.*.type"``). Claim names with dots need the sequence form.
    """
    if isinstance(path, str):
        if not path or len(path) > 1024:
            raise ClaimPathError("a claim path must be a non-empty string or sequence")
        parts: list[str | int | None] = []
        for seg in path.split("."):
            if seg == "*":
                parts.append(None)
            elif seg.isdigit() and seg.isascii():
                parts.append(int(seg))
            elif seg:
                parts.append(seg)
            else:
                raise ClaimPathError(f"claim path {path[:60]!r} has an empty segment")
        return tuple(parts)
    if not isinstance(path, Sequence) or not path or len(path) > 64:
        raise ClaimPathError("a claim path must be a non-empty string or sequence")
    for seg in path:
        if seg is None or isinstance(seg, str):
            continue
        if isinstance(seg, bool) or not isinstance(seg, int) or seg < 0:
            raise ClaimPathError("claim path segments are strings, indices >= 0, or None")
    return tuple(path)


def claim_paths(paths: Iterable[str | Sequence[str | int | None]]) -> list[ClaimPath]:
    if isinstance(paths, str):
        raise ClaimPathError("pass a list of claim paths, not a single string")
    return [claim_path(p) for p in paths]


# -- JWT helpers shared with VC-JOSE --------------------------------------------------------


def normalize_typ(typ: Any) -> str | None:
    """``typ`` compared as RFC 7515 §4.1.9 says: case-insensitive, ``application/`` optional."""
    if not isinstance(typ, str):
        return None
    typ = typ.lower()
    return typ[len("application/") :] if typ.startswith("application/") else typ


def check_typ(header: Mapping[str, Any], accepted: Collection[str] | None, what: str) -> None:
    if accepted is None:
        return
    typ = normalize_typ(header.get("typ"))
    if typ is None or typ not in {normalize_typ(t) for t in accepted}:
        shown = str(header.get("typ"))[:40]
        raise MalformedSdJwt(f"{what} has typ {shown!r}, expected one of {sorted(accepted)}")


def numeric_date(claims: Mapping[str, Any], name: str, what: str) -> float | None:
    value = claims.get(name)
    if value is None and name not in claims:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MalformedSdJwt(f"{what} claim {name!r} must be a number of seconds")
    return float(value)


def check_time_claims(claims: Mapping[str, Any], now: float, leeway: float, what: str) -> None:
    """``exp``, ``nbf`` and ``iat`` against ``now``, each with ``leeway`` seconds of slack."""
    exp = numeric_date(claims, "exp", what)
    if exp is not None and now - leeway >= exp:
        raise ExpiredCredential(f"{what} expired (exp {int(exp)})")
    nbf = numeric_date(claims, "nbf", what)
    if nbf is not None and now + leeway < nbf:
        raise NotYetValid(f"{what} is not valid before {int(nbf)}")
    iat = numeric_date(claims, "iat", what)
    if iat is not None and iat > now + leeway:
        raise NotYetValid(f"{what} is issued in the future (iat {int(iat)})")
