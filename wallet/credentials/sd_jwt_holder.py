"""The holder's side of SD-JWT: keep what the issuer sent, choose what to disclose, bind.

A presentation is built from claim paths (``["address", "region"]``): the holder includes the
Disclosure of every claim on each path (the parents a nested claim needs) and every
Disclosure inside the claim the path ends at, and nothing else. :meth:`HeldSdJwt.preview`
shows the person exactly what a verifier will receive before anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wallet.encoding import dumps_compact
from wallet.errors import KeyFormatError
from wallet.jose.jws import sign_compact
from wallet.keys import PrivateKey, PublicKey

from .errors import HolderBindingError
from .sd_jwt_core import (
    DEFAULT_LIMITS,
    ClaimPath,
    ClaimPathError,
    Disclosure,
    MalformedSdJwt,
    SdJwtLimits,
    SdJwtParts,
    claim_paths,
    decode_jwt,
    process_payload,
    sd_hash,
    split_sd_jwt,
)
from .sd_jwt_issue import signing_alg
from .sd_jwt_verify import IssuerKey, verify_sd_jwt

__all__ = ["HeldSdJwt", "present_sd_jwt", "receive_sd_jwt"]

ClaimPathLike = str | Sequence[str | int | None]


@dataclass(frozen=True, slots=True)
class HeldSdJwt:
    """An issued SD-JWT as the holder keeps it, with every Disclosure it came with."""

    issuer_jwt: str
    header: dict[str, Any]
    payload: dict[str, Any]
    disclosures: tuple[Disclosure, ...]
    claims: dict[str, Any]

    @classmethod
    def parse(cls, token: str, limits: SdJwtLimits = DEFAULT_LIMITS) -> HeldSdJwt:
        """Read an issued SD-JWT (not its signature: see :func:`receive_sd_jwt`).

        Its Disclosures are checked against the payload as a verifier would, so a broken
        issuance is refused here rather than by every verifier later.
        """
        parts = split_sd_jwt(token, limits)
        if parts.kb_jwt is not None:
            raise MalformedSdJwt("an issued SD-JWT must not carry a KB-JWT")
        jws, payload = decode_jwt(parts.issuer_jwt, "the issuer-signed JWT", limits)
        disclosures = tuple(
            Disclosure.decode(d, max_bytes=limits.max_bytes) for d in parts.disclosures
        )
        claims = process_payload(payload, disclosures, limits)
        return cls(parts.issuer_jwt, jws.header, payload, disclosures, claims)

    def serialize(self) -> str:
        return SdJwtParts(self.issuer_jwt, tuple(d.encoded for d in self.disclosures), None).sd_jwt

    def select(self, disclose: Iterable[ClaimPathLike]) -> tuple[Disclosure, ...]:
        """The Disclosures a presentation of ``disclose`` needs, in issuance order."""
        by_digest = {d.digest: d for d in self.disclosures}
        chosen: set[str] = set()
        for path in claim_paths(disclose):
            if not _select(self.payload, path, by_digest, chosen):
                raise ClaimPathError(f"the credential has no claim at {list(path)!r}"[:160])
        return tuple(d for d in self.disclosures if d.digest in chosen)

    def preview(self, disclose: Iterable[ClaimPathLike]) -> dict[str, Any]:
        """The processed payload a verifier will see for a presentation of ``disclose``."""
        return process_payload(self.payload, self.select(disclose))

    def present(
        self,
        disclose: Iterable[ClaimPathLike],
        *,
        holder_key: PrivateKey | None = None,
        nonce: str | None = None,
        aud: str | None = None,
        iat: int | None = None,
    ) -> str:
        """The SD-JWT with only the chosen Disclosures, plus a KB-JWT when ``holder_key`` is
        given (then ``nonce``, ``aud`` and ``iat`` are required)."""
        sd_jwt = SdJwtParts(
            self.issuer_jwt, tuple(d.encoded for d in self.select(disclose)), None
        ).sd_jwt
        if holder_key is None:
            return sd_jwt
        if not isinstance(nonce, str) or not isinstance(aud, str):
            raise ValueError("a key-bound presentation needs the verifier's nonce and aud")
        if isinstance(iat, bool) or not isinstance(iat, int):
            raise ValueError("a key-bound presentation needs iat, the current time in seconds")
        self._check_bound_to(holder_key.public)
        header = {"alg": signing_alg(holder_key.type), "typ": "kb+jwt"}
        body = {"iat": iat, "aud": aud, "nonce": nonce, "sd_hash": sd_hash(sd_jwt)}
        return sd_jwt + sign_compact(header, dumps_compact(body).encode("utf-8"), holder_key)

    def _check_bound_to(self, key: PublicKey) -> None:
        cnf = self.claims.get("cnf")
        if not isinstance(cnf, dict):
            raise HolderBindingError("the SD-JWT has no cnf claim, so it cannot be key-bound")
        jwk = cnf.get("jwk")
        if jwk is not None:
            try:
                bound = PublicKey.from_jwk(jwk)
            except KeyFormatError as err:
                raise HolderBindingError("the SD-JWT's cnf jwk is not a usable key") from err
            if bound != key:
                raise HolderBindingError("the holder key is not the one the SD-JWT is bound to")


def receive_sd_jwt(
    token: str,
    issuer_key: IssuerKey,
    *,
    now: float,
    leeway: float = 60,
    typ: Sequence[str] | None = None,
    limits: SdJwtLimits = DEFAULT_LIMITS,
) -> HeldSdJwt:
    """Verify an SD-JWT the holder receives from its issuer, then keep it (§7.2)."""
    parts = split_sd_jwt(token, limits)
    if parts.kb_jwt is not None:
        raise MalformedSdJwt("an issued SD-JWT must not carry a KB-JWT")
    verified = verify_sd_jwt(token, issuer_key, now=now, leeway=leeway, typ=typ, limits=limits)
    return HeldSdJwt(
        parts.issuer_jwt, verified.header, verified.payload, verified.disclosures, verified.claims
    )


def present_sd_jwt(
    token: str,
    disclose: Iterable[ClaimPathLike],
    *,
    holder_key: PrivateKey | None = None,
    nonce: str | None = None,
    aud: str | None = None,
    iat: int | None = None,
) -> str:
    """:meth:`HeldSdJwt.present` on an issued SD-JWT string."""
    return HeldSdJwt.parse(token).present(
        disclose, holder_key=holder_key, nonce=nonce, aud=aud, iat=iat
    )


def _select(node: Any, path: ClaimPath, by_digest: Mapping[str, Disclosure], out: set[str]) -> bool:
    """Add to ``out`` the digests of the Disclosures ``path`` needs; False when it names nothing.

    A parent's Disclosure is added only when something below it matched, so a wildcard path
    (``degrees.*.type``) does not reveal the elements that lack the claim.
    """
    if not path:
        _everything_under(node, by_digest, out)
        return True
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        if head is None:
            raise ClaimPathError("'every element' (None) used on an object")
        key = str(head) if isinstance(head, int) else head
        if key in node and key != "_sd":
            return _select(node[key], rest, by_digest, out)
        for digest in node.get("_sd", ()):
            d = by_digest.get(digest)
            if d is not None and d.name == key:
                found = _select(d.value, rest, by_digest, out)
                if found:
                    out.add(d.digest)
                return found
        return False
    if isinstance(node, list):
        if isinstance(head, str):
            raise ClaimPathError(f"claim name {head!r} used on an array")
        elements: list[tuple[Any, Disclosure | None]] = []
        for element in node:
            if isinstance(element, dict) and len(element) == 1 and "..." in element:
                d = by_digest.get(element["..."])
                if d is not None:  # no Disclosure: a decoy, not part of the holder's view
                    elements.append((d.value, d))
            else:
                elements.append((element, None))
        if head is None:
            chosen = elements
        else:
            chosen = elements[head : head + 1]
        found_any = False
        for value, d in chosen:
            if _select(value, rest, by_digest, out):
                found_any = True
                if d is not None:
                    out.add(d.digest)
        return found_any
    return False


def _everything_under(node: Any, by_digest: Mapping[str, Disclosure], out: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "_sd":
                for digest in value:
                    d = by_digest.get(digest)
                    if d is not None:
                        out.add(d.digest)
                        _everything_under(d.value, by_digest, out)
            else:
                _everything_under(value, by_digest, out)
    elif isinstance(node, list):
        for element in node:
            if isinstance(element, dict) and len(element) == 1 and "..." in element:
                d = by_digest.get(element["..."])
                if d is not None:
                    out.add(d.digest)
                    _everything_under(d.value, by_digest, out)
            else:
                _everything_under(element, by_digest, out)
