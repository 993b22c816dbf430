"""Which DID key signs a credential or presentation, and whether a key may speak for a DID.

Issuers sign with an *assertion* method of their DID and holders with an *authentication*
method of theirs (VC Data Integrity's proof purposes; the same split for JOSE ``kid``s). A
verifier checks the reverse: the key a proof names belongs to the DID it speaks for (or an
equivalent one: did:peer:2/3, did:peer:4 long/short) and is listed under that relationship.
"""

from __future__ import annotations

import weakref
from typing import Any, Protocol

from wallet.did import DIDDocument, ResolverRegistry, VerificationMethod
from wallet.errors import InputError, KeyNotFound, MoiError, RecordNotFound
from wallet.keys import KeyType, PrivateKey, PublicKey

from .errors import CredentialError, HolderBindingError

ASSERTION = "assertionMethod"
AUTHENTICATION = "authentication"


class IssuerError(CredentialError):
    """The issuer could not be established: its DID does not resolve, or the signing key is
    not one of its assertion methods."""


class NoSigningKey(CredentialError):
    """This wallet holds no private key for the DID and purpose asked for."""


class OwnDIDRequired(InputError):
    """The issuer (or holder) DID is not one of this wallet's DIDs."""


#: DIDs known to be a wallet's own. A wallet never forgets a DID it made, so a positive
#: answer can be kept for the wallet's lifetime and issuing skips a store read.
_OWN: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


async def require_own_did(wallet: Any, did: str) -> None:
    """Refuse a DID that is not one of the wallet's own (no key could sign for it)."""
    if not isinstance(did, str) or not did:
        raise OwnDIDRequired("a DID is required")
    known = _OWN.get(wallet)
    if known is not None and did in known:
        return
    try:
        await wallet.get_did(did)
    except RecordNotFound:
        raise OwnDIDRequired(f"{did[:80]} is not one of this wallet's DIDs") from None
    try:
        _OWN.setdefault(wallet, set()).add(did)
    except TypeError:
        pass  # not weak-referenceable: no cache


class SecretSource(Protocol):
    """What a wallet offers here: a private key by key id (None when not held)."""

    async def secret_for(self, kid: str) -> PrivateKey | None: ...


def _refs(doc: DIDDocument, relationship: str) -> tuple[str, ...]:
    return doc.assertion_method if relationship == ASSERTION else doc.authentication


async def own_signing_key(
    wallet: SecretSource,
    resolver: ResolverRegistry,
    did: str,
    relationship: str,
    *,
    public: PublicKey | None = None,
    key_types: frozenset[KeyType] = frozenset({KeyType.ED25519}),
) -> tuple[str, PrivateKey]:
    """The id and private key of the first method of ``did`` under ``relationship`` that this
    wallet holds (and, with ``public``, whose public key is that one)."""
    doc = await resolver.resolve(did)
    for ref in _refs(doc, relationship):
        try:
            vm = doc.method(ref)
        except KeyNotFound:
            continue
        if vm.public_key.type not in key_types:
            continue
        if public is not None and vm.public_key != public:
            continue
        secret = await wallet.secret_for(vm.id)
        if secret is None:
            # A did:peer:4 key is stored under both forms; the proof names the long one.
            for alias in sorted(doc.equivalent_ids - {doc.id}):
                secret = await wallet.secret_for(alias + "#" + vm.id.partition("#")[2])
                if secret is not None:
                    break
        if secret is not None and secret.public == vm.public_key:
            return vm.id, secret
    what = "assertion" if relationship == ASSERTION else "authentication"
    if public is not None:
        raise NoSigningKey(f"this wallet holds no {what} key of {did[:80]} matching the one asked")
    raise NoSigningKey(f"this wallet holds no {what} key of {did[:80]}")


async def authorised_method(
    resolver: ResolverRegistry, kid: str, controller: str, relationship: str
) -> VerificationMethod:
    """The method ``kid`` names, checked to be ``controller``'s under ``relationship``.

    Raises :class:`IssuerError` (assertions) or :class:`HolderBindingError` (authentication).
    """
    error = IssuerError if relationship == ASSERTION else HolderBindingError
    if not isinstance(kid, str) or not kid:
        raise error("the proof names no verification method")
    if not isinstance(controller, str) or not controller.startswith("did:"):
        raise error(f"{str(controller)[:80]!r} is not a DID, so its keys cannot be checked")
    try:
        doc = await resolver.resolve(controller)
    except MoiError as err:
        raise error(f"{controller[:80]} does not resolve: {err}") from err
    try:
        vm = doc.method(kid)
    except KeyNotFound as err:
        raise error(f"key {kid[:100]} is not a key of {controller[:80]}: {err}") from err
    if vm.id not in _refs(doc, relationship):
        raise error(f"key {kid[:100]} is not listed under {relationship} of {controller[:80]}")
    return vm


async def method_key(resolver: ResolverRegistry, kid: str) -> PublicKey:
    """The public key a DID URL names (no relationship check: see :func:`authorised_method`)."""
    vm = await resolver.resolve_method(kid)
    return vm.public_key
