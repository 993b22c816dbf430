"""Routing DIDs to the resolver of their method, with a bounded cache of parsed documents.

Resolution sits on the message hot path (every packed or unpacked message names DIDs and
key ids), so parsed :class:`DIDDocument` objects are cached in an LRU. Documents of methods
whose resolver says ``immutable = True`` (did:key, did:peer: the DID *is* the document) stay
until evicted; others (did:web) expire after ``ttl`` seconds. Concurrent resolutions of the
same mutable DID share one fetch.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from ..errors import KeyNotFound, MoiError, ResolutionError, UnsupportedDIDMethod
from .document import DIDDocument, VerificationMethod
from .errors import ResolverConflict
from .key import KeyResolver
from .peer import PeerResolver
from .peer4 import LongFormCache
from .url import parse_did, parse_did_url
from .web import WebResolver

__all__ = ["DIDResolver", "ResolverRegistry", "default_registry"]

DEFAULT_CACHE_SIZE = 4096
DEFAULT_TTL = 300.0
_METHOD_RE = re.compile(r"[a-z0-9]{1,64}")


@runtime_checkable
class DIDResolver(Protocol):
    """What a resolver plugin provides. ``resolve`` returns the raw document; it may set
    ``immutable = True`` when its documents never change (they are then cached for good)."""

    methods: frozenset[str]

    async def resolve(self, did: str) -> Mapping[str, Any]: ...


class ResolverRegistry:
    """Resolvers by DID method, and the document cache in front of them."""

    def __init__(
        self,
        *,
        cache_size: int = DEFAULT_CACHE_SIZE,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if cache_size < 0 or ttl < 0:
            raise ValueError("cache_size and ttl must not be negative")
        self.cache_size = cache_size
        self.ttl = ttl
        self._clock = clock
        self._resolvers: dict[str, DIDResolver] = {}
        self._cache: OrderedDict[str, tuple[DIDDocument, float]] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[DIDDocument]] = {}

    # -- resolvers ----------------------------------------------------------------------------

    def register(self, resolver: DIDResolver, *, replace: bool = False) -> None:
        """Route the resolver's methods to it; a method already served is refused unless
        ``replace`` (then its cached documents are dropped)."""
        methods = getattr(resolver, "methods", None)
        if not isinstance(methods, frozenset) or not methods:
            raise TypeError("a resolver's methods must be a non-empty frozenset of names")
        if not callable(getattr(resolver, "resolve", None)):
            raise TypeError("a resolver needs an async resolve(did) method")
        for method in methods:
            if not isinstance(method, str) or not _METHOD_RE.fullmatch(method):
                raise ValueError(f"{method!r} is not a DID method name")
        if not replace:
            taken = sorted(m for m in methods if m in self._resolvers)
            if taken:
                raise ResolverConflict(f"did:{taken[0]} already has a resolver; pass replace=True")
        for method in methods:
            self._resolvers[method] = resolver
        for method in methods:
            self._drop_method(method)

    @property
    def methods(self) -> frozenset[str]:
        return frozenset(self._resolvers)

    def resolver_for(self, method: str) -> DIDResolver:
        try:
            return self._resolvers[method]
        except KeyError:
            raise UnsupportedDIDMethod(f"no resolver for did:{method[:64]}") from None

    async def close(self) -> None:
        """Close resolvers that hold connections (did:web's own HTTP session)."""
        for resolver in {id(r): r for r in self._resolvers.values()}.values():
            close = getattr(resolver, "close", None)
            if close is not None:
                await close()

    # -- resolution ---------------------------------------------------------------------------

    async def resolve(self, did: str) -> DIDDocument:
        """The parsed document of a DID (a DID URL resolves its DID's document)."""
        doc = self._cached(did)
        if doc is not None:
            return doc
        if isinstance(did, str) and ("#" in did or "?" in did or "/" in did):
            did = parse_did_url(did).did
            doc = self._cached(did)
            if doc is not None:
                return doc
        method, _ = parse_did(did)
        resolver = self.resolver_for(method)
        if getattr(resolver, "immutable", False):
            # Local, CPU-only resolution: no need to share a task between callers.
            return await self._resolve_uncached(did, method, resolver)
        pending = self._inflight.get(did)
        if pending is None:
            pending = asyncio.ensure_future(self._resolve_uncached(did, method, resolver))
            self._inflight[did] = pending
            pending.add_done_callback(lambda task, key=did: self._settled(key, task))
        return await asyncio.shield(pending)

    async def resolve_method(self, did_url: str) -> VerificationMethod:
        """The verification method a DID URL (``did#fragment``) names."""
        if isinstance(did_url, str):
            did, sep, _ = did_url.partition("#")
            doc = self._cached(did) if sep and "?" not in did else None
            if doc is not None:
                return doc.method(did_url)
        url = parse_did_url(did_url)
        if not url.fragment:
            raise KeyNotFound(f"{str(url)[:80]!r} names no verification method (no fragment)")
        doc = await self.resolve(url.did)
        return doc.method(f"{url.did}#{url.fragment}")

    def cached(self, did: str) -> DIDDocument | None:
        """The document of ``did`` if the cache holds it (and it has not expired), else None.

        The synchronous hit path of :meth:`resolve` for a plain DID, so that per-message code
        (packing, unpacking) needs no coroutine for a peer it already knows; on None, call
        :meth:`resolve`.
        """
        return self._cached(did)

    def cached_method(self, did_url: str) -> VerificationMethod | None:
        """:meth:`resolve_method` when the DID's document is cached, else None.

        Raises as :meth:`resolve_method` does (:class:`KeyNotFound`) when the cached document
        has no such method.
        """
        if not isinstance(did_url, str):
            return None
        did, sep, _ = did_url.partition("#")
        doc = self._cached(did) if sep and "?" not in did else None
        return None if doc is None else doc.method(did_url)

    def forget(self, did: str) -> None:
        """Drop a DID's cached document (after a did:web rotation, say)."""
        self._cache.pop(did, None)

    def _cached(self, did: Any) -> DIDDocument | None:
        entry = self._cache.get(did) if isinstance(did, str) else None
        if entry is None:
            return None
        doc, expires = entry
        if expires <= self._clock():
            del self._cache[did]
            return None
        self._cache.move_to_end(did)
        return doc

    async def _resolve_uncached(self, did: str, method: str, resolver: DIDResolver) -> DIDDocument:
        try:
            raw = await resolver.resolve(did)
        except MoiError:
            raise
        except Exception as err:
            # A plugin's own exception becomes moi's at this edge; its text may be anything,
            # so only its class is shown.
            raise ResolutionError(
                f"the did:{method} resolver failed: {type(err).__name__}"
            ) from err
        doc = DIDDocument.parse(raw, did=did)
        if self.cache_size:
            immutable = getattr(resolver, "immutable", False)
            expires = math.inf if immutable else self._clock() + self.ttl
            self._cache[did] = (doc, expires)
            self._cache.move_to_end(did)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return doc

    def _settled(self, did: str, task: asyncio.Future[DIDDocument]) -> None:
        self._inflight.pop(did, None)
        if not task.cancelled():
            task.exception()  # retrieved here, so an error no caller awaited is not logged

    def _drop_method(self, method: str) -> None:
        prefix = f"did:{method}:"
        for did in [d for d in self._cache if d.startswith(prefix)]:
            del self._cache[did]


def default_registry(
    *,
    long_forms: LongFormCache | None = None,
    web: WebResolver | None = None,
    cache_size: int = DEFAULT_CACHE_SIZE,
    ttl: float = DEFAULT_TTL,
) -> ResolverRegistry:
    """A registry with did:key, did:peer (2, 3, 4) and did:web.

    ``long_forms`` keeps the long forms of short peer DIDs (give a persistent one so they
    resolve after a restart); ``web`` a configured did:web resolver; ``ttl`` how long a
    did:web document is trusted before it is fetched again.
    """
    registry = ResolverRegistry(cache_size=cache_size, ttl=ttl)
    registry.register(KeyResolver())
    registry.register(PeerResolver(long_forms))
    registry.register(web or WebResolver())
    return registry
