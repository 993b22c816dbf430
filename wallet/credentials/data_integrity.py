"""W3C Data Integrity proofs with Ed25519: create and verify.

Cryptosuites: ``eddsa-jcs-2022`` and ``eddsa-rdfc-2022`` (``DataIntegrityProof``, W3C VC Data
Integrity EdDSA Cryptosuites v1.0), and, for credentials already in the world, the legacy
``Ed25519Signature2020`` (also issued, for older verifiers) and ``Ed25519Signature2018``
(verified only). Proof sets (several proofs) and proof chains (``previousProof``) follow VC
Data Integrity 1.0 §4.

Keys are not looked up here: :func:`verify_proof` takes a ``resolve_key`` callback from a
verification method id to its public key, so DID resolution stays with the caller. Binding
that key to the credential's issuer (is the method the issuer's, authorised for the purpose?)
is the caller's check too; :class:`ProofCheck` reports the method that was used.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from wallet.encoding import b64url_decode, loads_object
from wallet.errors import InputError, MoiError
from wallet.keys import KeyType, PrivateKey, PublicKey

from .contexts import DEFAULT_LOADER, ContextLoader
from .di_jcs import jcs
from .di_rdfc import hash_pair
from .errors import (
    ContextError,
    CredentialError,
    MalformedCredential,
    ProofError,
    UnsupportedCryptosuite,
)
from .model import format_datetime, is_url, parse_datetime
from .multibase import b58decode, b58encode

EDDSA_JCS_2022 = "eddsa-jcs-2022"
EDDSA_RDFC_2022 = "eddsa-rdfc-2022"
ED25519_SIGNATURE_2020 = "Ed25519Signature2020"
ED25519_SIGNATURE_2018 = "Ed25519Signature2018"
DATA_INTEGRITY_PROOF = "DataIntegrityProof"

#: What :func:`add_proof` can create.
ISSUABLE = frozenset({EDDSA_JCS_2022, EDDSA_RDFC_2022, ED25519_SIGNATURE_2020})
#: More proofs than this on one document are refused before any work is done.
MAX_PROOFS = 16

ResolveKey = Callable[[str], Awaitable[PublicKey]]


@dataclass(frozen=True, slots=True)
class _Suite:
    name: str
    proof_type: str
    cryptosuite: str | None
    rdf: bool
    value_key: str  # "proofValue", or "jws" for the 2018 suite


_SUITES: dict[tuple[str, str | None], _Suite] = {
    (DATA_INTEGRITY_PROOF, EDDSA_JCS_2022): _Suite(
        EDDSA_JCS_2022, DATA_INTEGRITY_PROOF, EDDSA_JCS_2022, False, "proofValue"
    ),
    (DATA_INTEGRITY_PROOF, EDDSA_RDFC_2022): _Suite(
        EDDSA_RDFC_2022, DATA_INTEGRITY_PROOF, EDDSA_RDFC_2022, True, "proofValue"
    ),
    (ED25519_SIGNATURE_2020, None): _Suite(
        ED25519_SIGNATURE_2020, ED25519_SIGNATURE_2020, None, True, "proofValue"
    ),
    (ED25519_SIGNATURE_2018, None): _Suite(
        ED25519_SIGNATURE_2018, ED25519_SIGNATURE_2018, None, True, "jws"
    ),
}
_BY_NAME = {s.name: s for s in _SUITES.values()}


# -- results ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProofCheck:
    """The outcome for one proof of the document."""

    index: int
    proof_id: str | None
    type: str | None
    cryptosuite: str | None
    verification_method: str | None
    proof_purpose: str | None
    created: datetime | None
    verified: bool
    error: CredentialError | None = None

    @property
    def reason(self) -> str | None:
        """Why the proof failed, in words; ``None`` when it verified."""
        return None if self.error is None else str(self.error)


@dataclass(frozen=True, slots=True)
class ProofResult:
    """The outcome for a document: verified only if it has proofs and every one verified."""

    verified: bool
    checks: tuple[ProofCheck, ...]
    error: CredentialError | None = None

    @property
    def reason(self) -> str | None:
        return None if self.error is None else str(self.error)

    def raise_for_failure(self) -> None:
        """Raise the precise error of the first failure (nothing when verified)."""
        if self.error is not None:
            raise self.error


# -- creating --------------------------------------------------------------------------------


async def add_proof(
    doc: Mapping[str, Any],
    *,
    cryptosuite: str,
    key: PrivateKey,
    verification_method: str,
    proof_purpose: str = "assertionMethod",
    created: datetime | None = None,
    expires: datetime | None = None,
    challenge: str | None = None,
    domain: str | list[str] | None = None,
    nonce: str | None = None,
    proof_id: str | None = None,
    previous_proof: str | list[str] | None = None,
    contexts: ContextLoader | None = None,
) -> dict[str, Any]:
    """Return ``doc`` with one more proof (a proof set when it had one already).

    The result is a new object; ``doc`` itself is not changed.

    ``cryptosuite`` is ``eddsa-jcs-2022``, ``eddsa-rdfc-2022`` or ``Ed25519Signature2020``.
    ``previous_proof`` names the existing proof(s) this one chains to. ``created`` is written
    only when given (no clock is read here).
    """
    suite = _BY_NAME.get(cryptosuite)
    if suite is None or cryptosuite not in ISSUABLE:
        raise UnsupportedCryptosuite(f"moi does not issue {cryptosuite!r} proofs")
    if key.type is not KeyType.ED25519:
        raise ProofError(f"{cryptosuite} needs an Ed25519 key, not {key.type}")
    if not is_url(verification_method):
        raise ProofError("verification_method must be a URL (a DID URL, usually)")
    if not isinstance(doc, Mapping):
        raise MalformedCredential("the document to sign must be a JSON object")
    loader = contexts or DEFAULT_LOADER
    # A new top-level object; nested values are shared with ``doc`` (never modified here),
    # which saves a deep copy per credential issued.
    secured = dict(doc)
    existing = _proof_list(secured)
    _check_contexts(secured, loader)

    proof: dict[str, Any] = {"type": suite.proof_type}
    if proof_id is not None:
        proof["id"] = _require_url(proof_id, "proof id")
    if suite.cryptosuite is not None:
        proof["cryptosuite"] = suite.cryptosuite
    if created is not None:
        proof["created"] = format_datetime(created)
    if expires is not None:
        proof["expires"] = format_datetime(expires)
    proof["verificationMethod"] = verification_method
    proof["proofPurpose"] = proof_purpose
    if challenge is not None:
        proof["challenge"] = challenge
    if domain is not None:
        proof["domain"] = domain
    if nonce is not None:
        proof["nonce"] = nonce
    if previous_proof is not None:
        proof["previousProof"] = previous_proof

    unsecured = {k: v for k, v in secured.items() if k != "proof"}
    matching = _matching_proofs(proof, existing)
    if matching:
        unsecured["proof"] = matching
    config = dict(proof)
    if "@context" in unsecured:
        config["@context"] = unsecured["@context"]
    data = await _hash(suite, config, unsecured, loader)
    signature = key.sign(data)
    if suite.name == EDDSA_JCS_2022 and "@context" in config:
        # eddsa-jcs-2022 keeps the context in the proof (so a verifier can tell which of the
        # document's contexts were signed); the RDF suites leave it out.
        proof["@context"] = config["@context"]
    proof["proofValue"] = "z" + b58encode(signature)
    if not existing:
        secured["proof"] = proof
    else:
        secured["proof"] = [*existing, proof]
    return secured


# -- verifying -------------------------------------------------------------------------------


async def verify_proof(
    doc: Mapping[str, Any] | str | bytes,
    *,
    resolve_key: ResolveKey,
    expected_purpose: str = "assertionMethod",
    challenge: str | None = None,
    domain: str | None = None,
    now: datetime | None = None,
    contexts: ContextLoader | None = None,
) -> ProofResult:
    """Verify every proof on ``doc``; never raises for a bad document or proof.

    A proof verifies when its suite is known, its configuration is well formed, its purpose
    is ``expected_purpose``, it carries ``challenge`` / ``domain`` when asked for, it has not
    expired at ``now`` (default: the current time), ``resolve_key`` gives an Ed25519 key for
    its verification method, and the signature checks over the canonicalised document.
    """
    try:
        secured = _as_object(doc)
        proofs = _proof_list(secured)
        if not proofs:
            raise ProofError("the document has no proof")
        _check_contexts(secured, contexts or DEFAULT_LOADER)
    except CredentialError as err:
        return ProofResult(False, (), err)
    when = now if now is not None else datetime.now(UTC)
    checks = []
    for index in range(len(proofs)):
        checks.append(
            await _verify_one(
                secured,
                proofs,
                index,
                resolve_key=resolve_key,
                purpose=expected_purpose,
                challenge=challenge,
                domain=domain,
                now=when,
                loader=contexts or DEFAULT_LOADER,
            )
        )
    failed = next((c for c in checks if not c.verified), None)
    return ProofResult(failed is None, tuple(checks), failed.error if failed else None)


async def _verify_one(
    secured: dict[str, Any],
    proofs: list[dict[str, Any]],
    index: int,
    *,
    resolve_key: ResolveKey,
    purpose: str,
    challenge: str | None,
    domain: str | None,
    now: datetime,
    loader: ContextLoader,
) -> ProofCheck:
    proof = proofs[index]
    info: dict[str, Any] = {
        "index": index,
        "proof_id": _str_or_none(proof.get("id")),
        "type": _str_or_none(proof.get("type")),
        "cryptosuite": _str_or_none(proof.get("cryptosuite")),
        "verification_method": _str_or_none(proof.get("verificationMethod")),
        "proof_purpose": _str_or_none(proof.get("proofPurpose")),
        "created": None,
    }
    try:
        suite = _suite_of(proof)
        if "created" in proof:
            info["created"] = parse_datetime(proof["created"], "proof created")
        _check_options(proof, purpose, challenge, domain, now)
        vm = info["verification_method"]
        if not is_url(vm):
            raise ProofError("the proof's verificationMethod must be a URL")
        signature, signing_prefix = _signature(suite, proof)

        unsecured = {k: v for k, v in secured.items() if k != "proof"}
        matching = _matching_proofs(proof, proofs)
        if matching:
            unsecured["proof"] = matching
        options = {k: v for k, v in proof.items() if k != suite.value_key}
        if suite.name == EDDSA_JCS_2022 and "@context" in options:
            unsecured["@context"] = _signed_context(secured.get("@context"), options["@context"])
        if not (suite.proof_type != DATA_INTEGRITY_PROOF and "@context" in options):
            # The legacy suites let a proof bring its own context (didkit puts the
            # ed25519-2020 context there when the document lacks it); Data Integrity
            # proofs always take the document's.
            options.pop("@context", None)
            if "@context" in unsecured:
                options["@context"] = unsecured["@context"]

        public = await _resolve(resolve_key, vm)
        data = await _hash(suite, options, unsecured, loader)
        if not public.verify(signature, signing_prefix + data):
            raise ProofError("the signature does not match the document and key")
    except CredentialError as err:
        return ProofCheck(**info, verified=False, error=err)
    return ProofCheck(**info, verified=True)


def _suite_of(proof: dict[str, Any]) -> _Suite:
    ptype = proof.get("type")
    if not isinstance(ptype, str):
        raise MalformedCredential("a proof must have a type string")
    if ptype == DATA_INTEGRITY_PROOF:
        cs = proof.get("cryptosuite")
        if not isinstance(cs, str):
            raise MalformedCredential("a DataIntegrityProof must name its cryptosuite")
        suite = _SUITES.get((ptype, cs))
        if suite is None:
            raise UnsupportedCryptosuite(f"cryptosuite {cs[:60]!r} is not supported")
        return suite
    suite = _SUITES.get((ptype, None))
    if suite is None:
        raise UnsupportedCryptosuite(f"proof type {ptype[:60]!r} is not supported")
    return suite


def _check_options(
    proof: dict[str, Any], purpose: str, challenge: str | None, domain: str | None, now: datetime
) -> None:
    if proof.get("proofPurpose") != purpose:
        raise ProofError(
            f"proof purpose is {_str_or_none(proof.get('proofPurpose'))!r}, expected {purpose!r}"
        )
    if "expires" in proof and parse_datetime(proof["expires"], "proof expires") < now:
        raise ProofError("the proof has expired")
    if challenge is not None and proof.get("challenge") != challenge:
        raise ProofError("the proof's challenge does not match the one expected")
    if domain is not None:
        got = proof.get("domain")
        domains = got if isinstance(got, list) else [got]
        if domain not in domains:
            raise ProofError("the proof's domain does not match the one expected")


def _signature(suite: _Suite, proof: dict[str, Any]) -> tuple[bytes, bytes]:
    """The 64-byte signature, and what precedes the hash in the signed data (2018's JWS)."""
    if suite.value_key == "jws":
        jws = proof.get("jws")
        if not isinstance(jws, str) or jws.count(".") != 2:
            raise MalformedCredential("an Ed25519Signature2018 proof needs a detached jws")
        head, payload, sig = jws.split(".")
        if payload:
            raise MalformedCredential("the proof's jws must have a detached payload")
        try:
            header = loads_object(b64url_decode(head, what="jws header"), max_bytes=1024)
            raw = b64url_decode(sig, what="jws signature")
        except InputError as err:
            raise MalformedCredential(f"the proof's jws is malformed: {err}") from err
        if header.get("alg") != "EdDSA" or header.get("b64") is not False:
            raise UnsupportedCryptosuite("Ed25519Signature2018 jws must be EdDSA with b64 false")
        if "b64" not in (header.get("crit") or []):
            raise MalformedCredential("the proof's jws must list b64 as critical")
        if len(raw) != 64:
            raise MalformedCredential("the proof's signature is not 64 bytes")
        return raw, head.encode("ascii") + b"."
    value = proof.get("proofValue")
    if not isinstance(value, str) or not value.startswith("z") or len(value) > 200:
        raise MalformedCredential("proofValue must be a base58btc multibase string ('z...')")
    try:
        raw = b58decode(value[1:])
    except ValueError as err:
        raise MalformedCredential("proofValue is not valid base58btc") from err
    if len(raw) != 64:
        raise MalformedCredential("the proof's signature is not 64 bytes")
    return raw, b""


def _signed_context(doc_context: Any, proof_context: Any) -> Any:
    # eddsa-jcs-2022: the document may have gained contexts after signing (appended); the
    # signed ones are those in the proof, which must be the document's leading entries.
    doc_list = doc_context if isinstance(doc_context, list) else [doc_context]
    proof_list = proof_context if isinstance(proof_context, list) else [proof_context]
    if doc_list[: len(proof_list)] != proof_list:
        raise ProofError("the document's @context does not start with the proof's @context")
    return proof_context


async def _resolve(resolve_key: ResolveKey, vm: str) -> PublicKey:
    try:
        public = await resolve_key(vm)
    except CredentialError:
        raise
    except MoiError as err:
        raise ProofError(f"verification method {vm[:100]} could not be resolved: {err}") from err
    if not isinstance(public, PublicKey) or public.type is not KeyType.ED25519:
        raise ProofError(f"verification method {vm[:100]} is not an Ed25519 key")
    return public


async def _hash(
    suite: _Suite, config: dict[str, Any], document: dict[str, Any], loader: ContextLoader
) -> bytes:
    if suite.rdf:
        # RDF canonicalisation costs milliseconds; keep it off the event loop.
        return await asyncio.to_thread(hash_pair, config, document, loader)
    return hashlib.sha256(jcs(config)).digest() + hashlib.sha256(jcs(document)).digest()


# -- shared helpers --------------------------------------------------------------------------


def _as_object(doc: Mapping[str, Any] | str | bytes) -> dict[str, Any]:
    if isinstance(doc, (str, bytes, bytearray)):
        try:
            return loads_object(doc, what="secured document")
        except InputError as err:
            raise MalformedCredential(str(err)) from err
    if not isinstance(doc, Mapping):
        raise MalformedCredential("a secured document must be a JSON object")
    return dict(doc)


def _proof_list(doc: dict[str, Any]) -> list[dict[str, Any]]:
    value = doc.get("proof")
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    if len(items) > MAX_PROOFS:
        raise MalformedCredential(f"a document may carry at most {MAX_PROOFS} proofs")
    for item in items:
        if not isinstance(item, dict):
            raise MalformedCredential("every proof must be a JSON object")
    return list(items)


def _matching_proofs(proof: dict[str, Any], proofs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The proofs named by ``proof``'s ``previousProof`` (VC Data Integrity 1.0 §4.2, §4.5)."""
    wanted = proof.get("previousProof")
    if wanted is None:
        return []
    ids = wanted if isinstance(wanted, list) else [wanted]
    out = []
    for ident in ids:
        if not isinstance(ident, str):
            raise MalformedCredential("previousProof must be a proof id or a list of them")
        found = [p for p in proofs if p.get("id") == ident and p is not proof]
        if not found:
            raise ProofError(f"previousProof {ident[:100]} is not among the document's proofs")
        out.append(found[0])
    return out


def _check_contexts(doc: dict[str, Any], loader: ContextLoader) -> None:
    """Every context URL must be one the loader serves (for JCS too: they give the meaning)."""
    ctx = doc.get("@context")
    if ctx is None:
        return
    for item in ctx if isinstance(ctx, list) else [ctx]:
        if isinstance(item, str):
            if not loader.knows(item):
                raise ContextError(f"context {item[:100]!r} is not bundled or pinned")
        elif not isinstance(item, dict):
            raise ContextError("@context entries must be URLs or objects")


def _require_url(value: str, what: str) -> str:
    if not is_url(value):
        raise ProofError(f"{what} must be a URL")
    return value


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
