"""The RDF transformation used by ``eddsa-rdfc-2022`` and the legacy Ed25519 suites.

Both the proof configuration and the document are turned into RDF with the document's
contexts and canonicalised with RDFC-1.0; the data signed is the SHA-256 of the first
followed by the SHA-256 of the second. This is CPU work of a few milliseconds, so callers in
the event loop run :func:`hash_pair` in a worker thread.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .contexts import ContextLoader
from .ld import canonical_nquads


def canonical_pair(
    proof_config: dict[str, Any], document: dict[str, Any], loader: ContextLoader
) -> tuple[str, str]:
    """Canonical N-Quads of the proof configuration and of the document."""
    return canonical_nquads(proof_config, loader), canonical_nquads(document, loader)


def hash_pair(
    proof_config: dict[str, Any], document: dict[str, Any], loader: ContextLoader
) -> bytes:
    """SHA-256(canonical proof config) || SHA-256(canonical document): 64 bytes."""
    config_nq, doc_nq = canonical_pair(proof_config, document, loader)
    return (
        hashlib.sha256(config_nq.encode("utf-8")).digest()
        + hashlib.sha256(doc_nq.encode("utf-8")).digest()
    )
