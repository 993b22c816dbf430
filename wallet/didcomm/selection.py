"""Which keys a DIDComm message is packed with, and the holder's and resolver's cache-hit paths.

The DIDComm v2.1 rules: encrypt to every key-agreement key of one curve the recipients share
(X25519 first), authcrypt from the sender's key on that curve, sign with an authentication key;
DIDComm v1 (Aries) uses each party's first Ed25519 verification key. A holder may keep the
choices (:class:`KeySelections`), so that a running agent chooses once per peer.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol

from ..errors import KeyNotFound, UnsupportedAlgorithm
from ..keys import KeyType, PrivateKey, PublicKey

__all__ = [
    "NOT_CACHED",
    "KeyLookup",
    "KeySelections",
    "MixedRecipients",
    "Resolver",
    "anon_recipients",
    "authcrypt_keys",
    "doc_now",
    "first_ed25519",
    "first_ed25519_now",
    "method_now",
    "secret_now",
    "signing_key",
]


class _NotCached:
    def __repr__(self) -> str:
        return "NOT_CACHED"


#: What a holder's ``cached_secret`` returns for a kid its cache does not know either way.
NOT_CACHED: Any = _NotCached()


class KeyLookup(Protocol):
    """What packing needs from the holder's wallet: its own private keys, by key id.

    A holder may also carry ``agreement_cache``, a :class:`~wallet.jose.AgreementCache` it
    clears when it locks its keys: authcrypt then reuses the static-static ECDH (``Zs``)
    between two keys that talk often, instead of computing it for every message. It may carry
    ``key_selections`` (:class:`KeySelections`), so that keys are chosen once per peer. And it
    may offer ``cached_secret(kid)``, the synchronous hit path of ``secret_for`` (the key, None
    when known not to be held, or :data:`NOT_CACHED`), which saves a coroutine per lookup.
    """

    async def secret_for(self, kid: str) -> PrivateKey | None:
        """The private key for a DID URL (v2) or a base58 verkey (v1), if this wallet holds it."""
        ...


class Resolver(Protocol):
    """DID resolution. A resolver may also offer the synchronous cache-hit paths ``cached(did)``
    and ``cached_method(did_url)`` (None on a miss), as :class:`~wallet.did.ResolverRegistry`
    does; packing then awaits only on a miss."""

    async def resolve(self, did: str) -> Any: ...

    async def resolve_method(self, did_url: str) -> Any: ...


class MixedRecipients(UnsupportedAlgorithm):
    """The recipients share no key-agreement curve that the sender can use."""


# The synchronous cache-hit paths: None (NOT_CACHED for secrets) sends the caller to the
# coroutine, which a running agent needs only the first time it meets a peer or a key.


def doc_now(did: str, resolver: Resolver) -> Any:
    cached = getattr(resolver, "cached", None)
    return cached(did) if cached is not None else None


def method_now(did_url: str, resolver: Resolver) -> Any:
    cached = getattr(resolver, "cached_method", None)
    return cached(did_url) if cached is not None else None


def secret_now(kid: str, keys: KeyLookup) -> Any:
    cached = getattr(keys, "cached_secret", None)
    return cached(kid) if cached is not None else NOT_CACHED


class KeySelections:
    """The keys packing chose for a sender and its recipients, kept by the holder (as its
    ``key_selections``) with the DID documents they were read from, and used again while the
    resolver's cache still holds those very documents; when one expires or is replaced (a
    did:web update), the keys are chosen afresh. Kids and public keys only: the sender's
    secret is looked up by kid every time. Bounded, least recently used out first.
    """

    __slots__ = ("_entries", "maxsize")

    def __init__(self, maxsize: int = 256) -> None:
        if maxsize < 1:
            raise ValueError("KeySelections needs room for at least one entry")
        self.maxsize = maxsize
        self._entries: OrderedDict[tuple[str, ...], tuple[tuple[Any, ...], Any]] = OrderedDict()

    def get(self, key: tuple[str, ...], resolver: Resolver) -> Any:
        """The choice stored under ``key`` (a purpose, then the DIDs it was read from), or
        None if there is none or its documents are no longer the resolver's."""
        try:
            entry = self._entries.get(key)
        except TypeError:  # a "DID" that is no string: never stored, and left to fail later
            return None
        if entry is None:
            return None
        docs, choice = entry
        for did, doc in zip(key[1:], docs, strict=True):
            if doc_now(did, resolver) is not doc:
                del self._entries[key]
                return None
        self._entries.move_to_end(key)
        return choice

    def put(self, key: tuple[str, ...], resolver: Resolver, choice: Any) -> None:
        """Remember ``choice`` if every DID of ``key`` is a plain DID the resolver has cached."""
        docs = []
        for did in key[1:]:
            doc = doc_now(did, resolver) if type(did) is str and "#" not in did else None
            if doc is None:
                return
            docs.append(doc)
        self._entries[key] = (tuple(docs), choice)
        self._entries.move_to_end(key)
        if len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def _selections(keys: KeyLookup) -> KeySelections | None:
    found = getattr(keys, "key_selections", None)
    return found if isinstance(found, KeySelections) else None


def _held(kid: str, keys: KeyLookup) -> PrivateKey | None:
    """The secret of a remembered kid if the holder's cache has it (else None: choose again)."""
    secret = secret_now(kid, keys)
    return secret if isinstance(secret, PrivateKey) else None


async def signing_key(frm: str, resolver: Resolver, keys: KeyLookup) -> tuple[str, PrivateKey]:
    selections = _selections(keys)
    if selections is None:
        return await _choose_signing_key(frm, resolver, keys)
    kid = selections.get(("sign", frm), resolver)
    secret = None if kid is None else _held(kid, keys)
    if secret is not None:
        return kid, secret
    found = await _choose_signing_key(frm, resolver, keys)
    selections.put(("sign", frm), resolver, found[0])
    return found


async def _choose_signing_key(
    frm: str, resolver: Resolver, keys: KeyLookup
) -> tuple[str, PrivateKey]:
    if "#" in frm:
        secret = secret_now(frm, keys)
        if secret is NOT_CACHED:
            secret = await keys.secret_for(frm)
        if secret is None:
            raise KeyNotFound(f"this wallet holds no private key for {frm}")
        return frm, secret
    doc = doc_now(frm, resolver) or await resolver.resolve(frm)
    for method in doc.authentication_keys():
        if method.public_key.type.can_sign:
            secret = secret_now(method.id, keys)
            if secret is NOT_CACHED:
                secret = await keys.secret_for(method.id)
            if secret is not None:
                return method.id, secret
    raise KeyNotFound(f"this wallet holds no authentication key of {frm}")


def _agreement_keys_in(did: str, doc: Any) -> list[tuple[str, PublicKey]]:
    found = [
        (m.id, m.public_key)
        for m in doc.key_agreement_keys()
        if m.public_key.type is not KeyType.ED25519  # KeyType.can_agree
    ]
    if not found:
        raise KeyNotFound(f"{did} has no key agreement key")
    return found


def _agreement_keys_now(did_or_url: str, resolver: Resolver) -> list[tuple[str, PublicKey]] | None:
    """:func:`_agreement_keys` from the resolver's cache, or None on a miss."""
    if "#" in did_or_url:
        method = method_now(did_or_url, resolver)
        return None if method is None else [(did_or_url, method.public_key)]
    doc = doc_now(did_or_url, resolver)
    return None if doc is None else _agreement_keys_in(did_or_url, doc)


async def _agreement_keys(did_or_url: str, resolver: Resolver) -> list[tuple[str, PublicKey]]:
    found = _agreement_keys_now(did_or_url, resolver)
    if found is not None:
        return found
    if "#" in did_or_url:
        method = await resolver.resolve_method(did_or_url)
        # The kid goes into the envelope as the caller wrote it: a peer names its keys its
        # own way (peerdid 0.5.2's did:peer:2 ``#6LS…``, a did:peer:4 short form), and it
        # looks its secret up by that name, not by the one moi's resolver gives the method.
        return [(did_or_url, method.public_key)]
    return _agreement_keys_in(did_or_url, await resolver.resolve(did_or_url))


async def _recipient_keys(
    to: Sequence[str], resolver: Resolver
) -> list[list[tuple[str, PublicKey]]]:
    per = []
    for r in to:
        found = _agreement_keys_now(r, resolver)
        per.append(found if found is not None else await _agreement_keys(r, resolver))
    return per


_CURVE_PREFERENCE = (KeyType.X25519, KeyType.P256, KeyType.P384, KeyType.P521)


def _pick_curve(per_recipient: list[list[tuple[str, PublicKey]]], allowed: set[KeyType]) -> KeyType:
    # DIDComm v2.1: all recipient keys of one message share a curve; prefer X25519.
    common = set(allowed)
    for keys in per_recipient:
        common &= {k.type for _, k in keys}
    for preferred in _CURVE_PREFERENCE:
        if preferred in common:
            return preferred
    raise MixedRecipients("the recipients have no key agreement curve in common")


async def anon_recipients(
    to: Sequence[str], resolver: Resolver, keys: KeyLookup
) -> list[tuple[str, PublicKey]]:
    selections = _selections(keys)
    if selections is None:
        return await _choose_anon_recipients(to, resolver)
    key = ("anoncrypt", *to)
    found: list[tuple[str, PublicKey]] | None = selections.get(key, resolver)
    if found is None:
        found = await _choose_anon_recipients(to, resolver)
        selections.put(key, resolver, found)
    return found


async def _choose_anon_recipients(
    to: Sequence[str], resolver: Resolver
) -> list[tuple[str, PublicKey]]:
    per = await _recipient_keys(to, resolver)
    curve = _pick_curve(per, {k.type for keys in per for _, k in keys})
    return _dedupe([(kid, key) for keys in per for kid, key in keys if key.type is curve])


async def authcrypt_keys(
    frm: str, to: Sequence[str], resolver: Resolver, keys: KeyLookup
) -> tuple[tuple[str, PrivateKey], list[tuple[str, PublicKey]]]:
    selections = _selections(keys)
    if selections is None:
        return await _choose_authcrypt_keys(frm, to, resolver, keys)
    key = ("authcrypt", frm, *to)
    found = selections.get(key, resolver)
    if found is not None:
        kid, recipients = found
        secret = _held(kid, keys)
        if secret is not None:
            return (kid, secret), recipients
    sender, recipients = await _choose_authcrypt_keys(frm, to, resolver, keys)
    selections.put(key, resolver, (sender[0], recipients))
    return sender, recipients


async def _choose_authcrypt_keys(
    frm: str, to: Sequence[str], resolver: Resolver, keys: KeyLookup
) -> tuple[tuple[str, PrivateKey], list[tuple[str, PublicKey]]]:
    per = await _recipient_keys(to, resolver)
    own = _agreement_keys_now(frm, resolver)
    if own is None:
        own = await _agreement_keys(frm, resolver)
    held: dict[KeyType, tuple[str, PrivateKey]] = {}
    for kid, public in own:
        if public.type not in held:
            secret = secret_now(kid, keys)
            if secret is NOT_CACHED:
                secret = await keys.secret_for(kid)
            if secret is not None:
                held[public.type] = (kid, secret)
    if not held:
        raise KeyNotFound(f"this wallet holds no key agreement key of {frm}")
    curve = _pick_curve(per, set(held))
    recipients = _dedupe([(kid, key) for keys in per for kid, key in keys if key.type is curve])
    return held[curve], recipients


def _dedupe(keys: list[tuple[str, PublicKey]]) -> list[tuple[str, PublicKey]]:
    # Recipients go out in kid order, the order the apv digest sorts them in:
    # didcomm-messaging 0.1.1 hashes the kids in the order listed when it checks apv, and
    # so refuses any other order. (Kids are unique once in a dict, so the keys are never
    # compared.)
    return sorted(dict(keys).items())


def _first_ed25519_in(did_or_key: str, found: Any) -> PublicKey:
    """The v1 key of a resolved DID URL (``found`` its method) or DID (its document)."""
    if "#" in did_or_key:
        if found.public_key.type is KeyType.ED25519:
            return found.public_key
        raise KeyNotFound(f"{did_or_key} is not an Ed25519 key")
    for method in found.verification_methods:
        if method.public_key.type is KeyType.ED25519:
            return method.public_key
    raise KeyNotFound(f"{did_or_key} has no Ed25519 verification key for DIDComm v1")


def first_ed25519_now(did_or_key: str, resolver: Resolver) -> PublicKey | None:
    """:func:`first_ed25519` from the resolver's cache, or None on a miss."""
    if "#" in did_or_key:
        found = method_now(did_or_key, resolver)
    else:
        found = doc_now(did_or_key, resolver)
    return None if found is None else _first_ed25519_in(did_or_key, found)


async def first_ed25519(did_or_key: str, resolver: Resolver) -> PublicKey:
    if "#" in did_or_key:
        return _first_ed25519_in(did_or_key, await resolver.resolve_method(did_or_key))
    return _first_ed25519_in(did_or_key, await resolver.resolve(did_or_key))
