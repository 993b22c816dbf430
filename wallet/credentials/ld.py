"""JSON-LD to RDF for Data Integrity: pyld expansion in "safe mode", then RDFC-1.0.

pyld does the JSON-LD 1.1 expansion and RDF conversion; moi adds what signing needs on top:

- contexts come only from a :class:`ContextLoader` (bundled, pinned); pyld's process-wide
  context cache is bypassed with a per-loader, per-thread one, so a context another part of
  the process resolved elsewhere can never leak into a signature;
- *safe mode*: JSON-LD silently drops what it cannot map to an IRI (an undefined term, a
  relative ``id`` or ``type``). A dropped claim would not be signed, yet a reader of the JSON
  would believe it was; so anything that would be dropped is an error instead;
- canonicalisation with moi's own RDFC-1.0 (:mod:`.rdf_canon`), which escapes literals as
  the Recommendation says and bounds the work on crafted graphs.
"""

from __future__ import annotations

import re
import threading
import weakref
from typing import Any

from cachetools import LRUCache
from pyld.context_resolver import ContextResolver
from pyld.jsonld import JsonLdError, JsonLdProcessor

from . import rdf_canon
from .contexts import DEFAULT_LOADER, ContextLoader
from .errors import ContextError, CredentialError, MalformedCredential

#: Most quads one document may produce (a large credential has a few hundred).
MAX_QUADS = 20_000

_ABSOLUTE_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_local = threading.local()


def _resolver(loader: ContextLoader) -> ContextResolver:
    # pyld's shared cache is keyed by URL alone; a cache per loader (and per thread, as
    # LRUCache is not thread-safe) keeps each loader's pinned documents its own.
    caches: weakref.WeakKeyDictionary[ContextLoader, LRUCache] | None = getattr(
        _local, "caches", None
    )
    if caches is None:
        caches = weakref.WeakKeyDictionary()
        _local.caches = caches
    cache = caches.get(loader)
    if cache is None:
        cache = LRUCache(maxsize=64)
        caches[loader] = cache
    return ContextResolver(cache, loader)


class _SafeProcessor(JsonLdProcessor):
    """Checks the expanded form that ``to_rdf`` makes, so the document is expanded once."""

    def expand(self, input_: Any, options: Any) -> Any:
        expanded = super().expand(input_, options)
        _check_expanded(expanded)
        return expanded


def _on_dropped(term: Any) -> None:
    raise ContextError(f"property {str(term)[:80]!r} is not defined by the document's @context")


def to_quads(doc: dict[str, Any], loader: ContextLoader | None = None) -> list[rdf_canon.Quad]:
    """The RDF dataset of a JSON-LD document as canonical-form quads (safe mode)."""
    loader = loader or DEFAULT_LOADER
    if "@context" not in doc:
        raise ContextError("the document has no @context")
    options: dict[str, Any] = {
        "documentLoader": loader,
        "contextResolver": _resolver(loader),
        # None, not "": pyld resolves against a made-up http://example.org/base/ when the
        # base is "", which would turn a relative id into a signed claim about that site.
        "base": None,
        "processingMode": "json-ld-1.1",
    }
    proc = _SafeProcessor(on_property_dropped=_on_dropped)
    try:
        dataset = proc.to_rdf(doc, options)
    except CredentialError:
        raise
    except JsonLdError as err:
        raise _translate(err) from err
    except RecursionError as err:
        raise MalformedCredential("the document is nested too deeply") from err
    except (TypeError, ValueError, KeyError, AttributeError) as err:
        # pyld has a few paths where malformed input surfaces as a Python error.
        raise MalformedCredential(f"not valid JSON-LD ({type(err).__name__})") from err
    return _quads(dataset)


def canonical_nquads(doc: dict[str, Any], loader: ContextLoader | None = None) -> str:
    """RDFC-1.0 canonical N-Quads of a JSON-LD document."""
    return rdf_canon.canonicalize(to_quads(doc, loader))


def _translate(err: JsonLdError) -> CredentialError:
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, CredentialError):
            return cause
        cause = cause.__cause__ or cause.__context__
    # The innermost JSON-LD error names the real problem (the outer ones say "could not
    # expand"); its code is a JSON-LD 1.1 error code such as "protected term redefinition".
    inner = err
    while isinstance(inner.__cause__, JsonLdError):
        inner = inner.__cause__
    code = inner.code or inner.type or "invalid JSON-LD"
    text = f"{inner.args[0] if inner.args else 'JSON-LD error'} ({code})"
    if "context" in code or "term" in code or "remote" in code or "IRI mapping" in code:
        return ContextError(f"@context is not usable: {text}")
    return MalformedCredential(f"not valid JSON-LD: {text}")


def _check_expanded(node: Any) -> None:
    """Refuse what toRdf would silently drop: relative @id / @type values."""
    if isinstance(node, list):
        for item in node:
            _check_expanded(item)
        return
    if not isinstance(node, dict):
        return
    if "@value" in node:
        vtype = node.get("@type")
        if isinstance(vtype, str) and vtype != "@json" and not _is_iri(vtype):
            raise ContextError(f"value type {vtype[:80]!r} is not an absolute IRI")
        return
    ident = node.get("@id")
    if isinstance(ident, str) and not (ident.startswith("_:") or _is_iri(ident)):
        raise MalformedCredential(f"id {ident[:80]!r} is not an absolute IRI")
    types = node.get("@type", [])
    for t in types if isinstance(types, list) else [types]:
        if isinstance(t, str) and not (t.startswith("_:") or _is_iri(t)):
            raise ContextError(f"type {t[:80]!r} is not defined by the document's @context")
    for key, value in node.items():
        if key in ("@id", "@type", "@index", "@language", "@direction"):
            continue
        _check_expanded(value)


def _is_iri(value: str) -> bool:
    return bool(_ABSOLUTE_IRI.match(value))


def _term(t: dict[str, Any]) -> str:
    kind = t["type"]
    if kind == "IRI":
        return rdf_canon.iri(t["value"])
    if kind == "blank node":
        return rdf_canon.blank(t["value"])
    return rdf_canon.literal(t["value"], t.get("datatype"), t.get("language"))


def _quads(dataset: dict[str, list[dict[str, Any]]]) -> list[rdf_canon.Quad]:
    out: list[rdf_canon.Quad] = []
    for graph, triples in dataset.items():
        if graph == "@default":
            g = ""
        elif graph.startswith("_:"):
            g = rdf_canon.blank(graph)
        else:
            g = rdf_canon.iri(graph)
        for tr in triples:
            out.append((_term(tr["subject"]), _term(tr["predicate"]), _term(tr["object"]), g))
        if len(out) > MAX_QUADS:
            raise MalformedCredential(f"the document has over {MAX_QUADS} RDF statements")
    return out
