"""DIDs: creating did:key, did:peer:2 and did:peer:4, resolving them and did:web, and the
parsed document model the rest of moi reads keys and services from.

    registry = default_registry()
    doc = await registry.resolve("did:peer:2.Vz6Mk...")
    for method in doc.key_agreement_keys(): ...
    method = await registry.resolve_method("did:key:z6Mk...#z6Mk...")
"""

from .document import RELATIONSHIPS, DIDDocument
from .errors import (
    DIDTooLong,
    DIDWebNotFound,
    DocumentIdMismatch,
    InvalidDIDDocument,
    InvalidDIDKey,
    PeerDIDHashMismatch,
    ResolverConflict,
    UnsupportedKeyCodec,
    UnsupportedPeerNumalgo,
    WebDocumentTooLarge,
    WebHostUnreachable,
    WebHTTPError,
    WebInvalidDocument,
    WebResolutionError,
    WebTimeout,
    WebTLSError,
)
from .key import KeyResolver, create_did_key, did_key, did_key_public_key, resolve_did_key
from .method import VerificationMethod
from .peer import PeerResolver
from .peer2 import Purpose, create_peer2, peer2_to_peer3, resolve_peer2, resolve_peer3
from .peer4 import (
    InMemoryLongFormCache,
    LongFormCache,
    create_peer4,
    long_to_short,
    resolve_peer4,
    resolve_peer4_short,
)
from .resolver import DIDResolver, ResolverRegistry, default_registry
from .service import Service
from .url import MAX_DID_LENGTH, DIDUrl, parse_did, parse_did_url
from .web import WebResolver, did_web_url

__all__ = [
    "MAX_DID_LENGTH",
    "RELATIONSHIPS",
    "DIDDocument",
    "DIDResolver",
    "DIDTooLong",
    "DIDUrl",
    "DIDWebNotFound",
    "DocumentIdMismatch",
    "InMemoryLongFormCache",
    "InvalidDIDDocument",
    "InvalidDIDKey",
    "KeyResolver",
    "LongFormCache",
    "PeerDIDHashMismatch",
    "PeerResolver",
    "Purpose",
    "ResolverConflict",
    "ResolverRegistry",
    "Service",
    "UnsupportedKeyCodec",
    "UnsupportedPeerNumalgo",
    "VerificationMethod",
    "WebDocumentTooLarge",
    "WebHTTPError",
    "WebHostUnreachable",
    "WebInvalidDocument",
    "WebResolutionError",
    "WebResolver",
    "WebTLSError",
    "WebTimeout",
    "create_did_key",
    "create_peer2",
    "create_peer4",
    "default_registry",
    "did_key",
    "did_key_public_key",
    "did_web_url",
    "long_to_short",
    "parse_did",
    "parse_did_url",
    "peer2_to_peer3",
    "resolve_did_key",
    "resolve_peer2",
    "resolve_peer3",
    "resolve_peer4",
    "resolve_peer4_short",
]
