"""SD-JWT issuance: conceal the claims the issuer marks, sign, return the compact form."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from wallet.errors import UnsupportedKeyType
from wallet.jose.jws import alg_for_key, sign_compact
from wallet.keys import PrivateKey, PublicKey

from .errors import MalformedCredential
from .sd_jwt_core import (
    ALLOWED_ALGS,
    SD_ALG,
    ClaimPath,
    ClaimPathError,
    Disclosure,
    claim_paths,
    decoy_digest,
    dumps_compact,
)

__all__ = ["issue_sd_jwt", "signing_alg"]

#: Most decoy digests per ``_sd`` array; more only inflates the token.
MAX_DECOYS = 64

ConcretePath = tuple[str | int, ...]
_SCALARS = frozenset({str, int, float, bool})


def signing_alg(key_type: Any) -> str:
    """The JWS alg for an issuer or holder key, refusing curves outside EdDSA / ES256."""
    alg = alg_for_key(key_type)
    if alg not in ALLOWED_ALGS:
        raise UnsupportedKeyType(f"SD-JWT keys are Ed25519 (EdDSA) or P-256 (ES256), not {alg}")
    return alg


def issue_sd_jwt(
    claims: Mapping[str, Any],
    issuer_key: PrivateKey,
    *,
    disclosable: Iterable[str | Sequence[str | int | None]] = (),
    holder_key: PublicKey | None = None,
    typ: str | None = None,
    header: Mapping[str, Any] | None = None,
    decoys: int = 0,
    salt: Callable[[ConcretePath], str] | None = None,
    disclosure_json: Callable[[Any], str] = dumps_compact,
) -> str:
    """Issue an SD-JWT (``<issuer-signed JWT>~<Disclosure>~...~``).

    ``disclosable`` names the claims (object members or array elements) to make selectively
    disclosable, as claim paths; naming both a claim and something inside it gives recursive
    disclosure. ``holder_key`` becomes ``cnf.jwk`` for key binding. ``decoys`` adds between
    1 and that many decoy digests to every ``_sd`` array. ``salt`` (a function of the claim's
    path) and ``disclosure_json`` exist to reproduce published examples; leave them alone
    otherwise: salts then come from the OS CSPRNG, 128 bits each.
    """
    if not isinstance(claims, Mapping):
        raise MalformedCredential("SD-JWT claims must be a JSON object")
    if "_sd_alg" in claims:
        raise MalformedCredential("_sd_alg is set by the issuer code, not by the claims")
    if holder_key is not None and "cnf" in claims:
        raise MalformedCredential("give either holder_key or a cnf claim, not both")
    if not 0 <= decoys <= MAX_DECOYS:
        raise ValueError(f"decoys must be between 0 and {MAX_DECOYS}")
    marks = _expand(claims, claim_paths(disclosable))
    disclosures: list[Disclosure] = []

    def conceal(value: Any, path: ConcretePath) -> Any:
        if value is None or type(value) in _SCALARS:
            return value  # before the Mapping check, an ABC check costing more than the rest
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            digests: list[str] = []
            for key, child in value.items():
                if not isinstance(key, str):
                    raise MalformedCredential("claim names must be strings")
                if key in ("_sd", "..."):
                    raise MalformedCredential(f"{key!r} is reserved by SD-JWT")
                here = (*path, key)
                inner = conceal(child, here)
                if here in marks:
                    d = _disclosure(key, inner, here)
                    disclosures.append(d)
                    digests.append(d.digest)
                else:
                    out[key] = inner
            if digests:
                if decoys:
                    digests.extend(decoy_digest() for _ in range(1 + secrets.randbelow(decoys)))
                # Sorting hides the claims' original order, as the draft asks.
                out["_sd"] = sorted(digests)
            return out
        if isinstance(value, (list, tuple)):
            items = []
            for index, child in enumerate(value):
                here = (*path, index)
                inner = conceal(child, here)
                if here in marks:
                    d = _disclosure(None, inner, here)
                    disclosures.append(d)
                    items.append({"...": d.digest})
                else:
                    items.append(inner)
            return items
        return value

    def _disclosure(name: str | None, value: Any, path: ConcretePath) -> Disclosure:
        try:
            return Disclosure.create(
                name, value, salt=salt(path) if salt else None, dumps=disclosure_json
            )
        except (TypeError, ValueError) as err:
            raise MalformedCredential(f"claim {_show(path)} is not JSON: {err}") from err

    payload = conceal(claims, ())
    payload["_sd_alg"] = SD_ALG
    if holder_key is not None:
        signing_alg(holder_key.type)
        payload["cnf"] = {"jwk": holder_key.to_jwk()}
    hdr: dict[str, Any] = {"alg": signing_alg(issuer_key.type)}
    if typ is not None:
        hdr["typ"] = typ
    hdr.update(header or {})
    try:
        body = dumps_compact(payload).encode("utf-8")
    except (TypeError, ValueError) as err:
        raise MalformedCredential(f"the claims are not JSON: {err}") from err
    jwt = sign_compact(hdr, body, issuer_key)
    return jwt + "~" + "".join(d.encoded + "~" for d in disclosures)


def _expand(claims: Mapping[str, Any], paths: list[ClaimPath]) -> set[ConcretePath]:
    """Resolve each path against the claims: ``None`` fans out, every target must exist."""
    marks: set[ConcretePath] = set()
    for path in paths:
        found = _resolve(claims, path, ())
        if not found:
            raise ClaimPathError(f"no claim at {_show(path)} to make disclosable")
        marks.update(found)
    return marks


def _resolve(value: Any, path: ClaimPath, prefix: ConcretePath) -> list[ConcretePath]:
    if not path:
        return [prefix]
    head, rest = path[0], path[1:]
    if isinstance(value, Mapping):
        # A digit segment may name an object key such as "18" (age_equal_or_over.18).
        key = str(head) if isinstance(head, int) else head
        if key is None:
            raise ClaimPathError(f"'every element' (None) at {_show(prefix)}, not an array")
        return _resolve(value[key], rest, (*prefix, key)) if key in value else []
    if isinstance(value, (list, tuple)):
        if isinstance(head, str):
            raise ClaimPathError(f"claim name {head!r} used on the array at {_show(prefix)}")
        indices = range(len(value)) if head is None else [head] if head < len(value) else []
        return [p for i in indices for p in _resolve(value[i], rest, (*prefix, i))]
    return []


def _show(path: Sequence[Any]) -> str:
    return "[" + ", ".join(repr(p) for p in path)[:120] + "]"
