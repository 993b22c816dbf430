"""The JSON-LD contexts moi will process: bundled, pinned by hash, never fetched.

A Data Integrity proof over RDF is only as trustworthy as the contexts used to turn the JSON
into RDF: a context fetched at verification time can be swapped by whoever serves it, and the
fetch itself tells that server who is verifying what. So the loader here serves a fixed set of
context documents shipped with moi (``contexts/``, listed with their SHA-256 in
``contexts/manifest.json``) plus any the caller pins explicitly, and refuses every other URL
with :class:`ContextError` before any I/O could happen.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import ContextError

_DIR = Path(__file__).resolve().parent / "contexts"
_MANIFEST = _DIR / "manifest.json"

#: The VC Data Model's base contexts; a credential's ``@context`` must start with one.
CREDENTIALS_V1 = "https://www.w3.org/2018/credentials/v1"
CREDENTIALS_V2 = "https://www.w3.org/ns/credentials/v2"
DATA_INTEGRITY_V2 = "https://w3id.org/security/data-integrity/v2"
ED25519_2020_V1 = "https://w3id.org/security/suites/ed25519-2020/v1"

#: Upper bound on one pinned context document (the largest W3C one is ~10 kB).
MAX_CONTEXT_BYTES = 256 * 1024


def _read_manifest() -> dict[str, tuple[str, str]]:
    raw = json.loads(_MANIFEST.read_text(encoding="utf-8"))
    return {url: (e["file"], e["sha256"]) for url, e in raw["contexts"].items()}


_BUNDLED: dict[str, tuple[str, str]] = _read_manifest()
_bundle_cache: dict[str, dict[str, Any]] = {}
_bundle_lock = threading.Lock()


def bundled_urls() -> frozenset[str]:
    """The context URLs moi ships and serves without being told."""
    return frozenset(_BUNDLED)


def _load_bundled(url: str) -> dict[str, Any]:
    with _bundle_lock:
        doc = _bundle_cache.get(url)
        if doc is not None:
            return doc
        fname, digest = _BUNDLED[url]
        data = (_DIR / fname).read_bytes()
        # A context file altered on disk changes what every signature means: refuse it.
        if hashlib.sha256(data).hexdigest() != digest:
            raise ContextError(f"bundled context for {url} does not match its pinned hash")
        doc = json.loads(data)
        if not isinstance(doc, dict) or "@context" not in doc:
            raise ContextError(f"bundled context for {url} has no @context")
        _bundle_cache[url] = doc
        return doc


class ContextLoader:
    """A JSON-LD document loader over the bundled contexts and optional extra pinned ones.

    ``extra`` maps more context URLs to their parsed documents (for an operator's own
    vocabulary); they are deep-copied, so later changes by the caller have no effect. A URL
    in both wins from ``extra`` only if ``override=True``: by default the bundle cannot be
    shadowed.
    """

    def __init__(
        self, extra: Mapping[str, Mapping[str, Any]] | None = None, *, override: bool = False
    ) -> None:
        self._extra: dict[str, dict[str, Any]] = {}
        for url, doc in (extra or {}).items():
            if not isinstance(url, str) or not isinstance(doc, Mapping) or "@context" not in doc:
                raise ContextError(f"extra context {url!r} must be an object with @context")
            if url in _BUNDLED and not override:
                raise ContextError(f"extra context {url} would shadow a bundled context")
            size = len(json.dumps(doc))
            if size > MAX_CONTEXT_BYTES:
                raise ContextError(f"extra context {url} is {size} bytes, over the limit")
            self._extra[url] = copy.deepcopy(dict(doc))

    def urls(self) -> frozenset[str]:
        """Every URL this loader serves."""
        return frozenset(_BUNDLED) | frozenset(self._extra)

    def knows(self, url: str) -> bool:
        return url in self._extra or url in _BUNDLED

    def document(self, url: str) -> dict[str, Any]:
        """The context document for ``url``, or :class:`ContextError` if it is not pinned."""
        if not isinstance(url, str):
            raise ContextError("a context reference must be a URL string")
        doc = self._extra.get(url)
        if doc is not None:
            return doc
        if url in _BUNDLED:
            return _load_bundled(url)
        raise ContextError(f"context {_short(url)} is not bundled or pinned; it is not fetched")

    def __call__(self, url: str, options: Any = None) -> dict[str, Any]:
        """The pyld document-loader interface (a RemoteDocument dict)."""
        return {
            "contentType": "application/ld+json",
            "contextUrl": None,
            "documentUrl": url,
            "document": self.document(url),
            # pyld caches a resolved remote context across calls only when it is tagged
            # static; pinned documents never change, so they are.
            "tag": "static",
        }


#: The loader used when a caller gives none: bundled contexts only.
DEFAULT_LOADER = ContextLoader()


def _short(url: str) -> str:
    return repr(url) if len(url) <= 100 else repr(url[:97] + "...")
