"""Preselecting a holder's credentials by tags, so proof time does not grow with the wallet.

:func:`index_terms` gives the tags to store beside a credential; :func:`query_for` turns a
presentation definition into a WQL-like tag query that every credential able to satisfy it
passes. The query may let through credentials that then fail :func:`~wallet.credentials.pex.
evaluate` (it is a superset), never the reverse: a term is derived from a field only when the
field's every path lands on an indexed property and its filter pins exact string values.

Query forms: ``{"name": "value"}``, ``{"name": {"$in": [...]}}``, ``{"$and": [...]}``,
``{"$or": [...]}``; ``{}`` matches everything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wallet.credentials.pex import Candidate, accepted_formats
from wallet.credentials.pex_definition import Field, InputDescriptor, PresentationDefinition
from wallet.credentials.pex_jsonpath import WILDCARD, JsonPath
from wallet.errors import InputError

Query = dict[str, Any]

TYPE_PREFIX = "type:"
ISSUER_PREFIX = "issuer:"
MAX_TAG_VALUE = 512
MAX_QUERY_DEPTH = 16

# Singular JSONPaths (as name steps) that land on an indexed property, per tag.
_INDEXED: dict[tuple[str | int, ...], str] = {
    ("type",): "type",
    ("vc", "type"): "type",
    ("issuer",): "issuer",
    ("issuer", "id"): "issuer",
    ("vc", "issuer"): "issuer",
    ("vc", "issuer", "id"): "issuer",
    ("iss",): "issuer",
    ("vct",): "vct",
}


def index_terms(candidate: Candidate) -> dict[str, str]:
    """Plain tags for a held credential: format, issuer, vct, and one tag per type and issuer.

    Types and issuers are multi-valued (a JWT can say ``iss`` and ``vc.issuer``), so each
    value gets its own ``type:<T>`` / ``issuer:<I>`` tag set to ``"1"``.
    """
    claims = candidate.claims
    inner = claims.get("vc") if isinstance(claims.get("vc"), Mapping) else None
    tags = {"format": candidate.format}
    issuers: list[Any] = [claims.get("iss")]
    for source in (claims, inner):
        if source is None:
            continue
        issuer = source.get("issuer")
        issuers.append(issuer.get("id") if isinstance(issuer, Mapping) else issuer)
        types = source.get("type")
        for t in [types] if isinstance(types, str) else types if isinstance(types, list) else []:
            if _taggable(t):
                tags[TYPE_PREFIX + t] = "1"
    for issuer in issuers:
        if _taggable(issuer):
            tags.setdefault("issuer", issuer)
            tags[ISSUER_PREFIX + issuer] = "1"
    if _taggable(claims.get("vct")):
        tags["vct"] = claims["vct"]
    return tags


def _taggable(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_TAG_VALUE


def query_for(definition: PresentationDefinition) -> Query:
    """One query whose results include every credential that could answer any descriptor."""
    parts = list(queries_for(definition).values())
    if not parts or any(p == {} for p in parts):
        return {}
    return parts[0] if len(parts) == 1 else {"$or": parts}


def queries_for(definition: PresentationDefinition) -> dict[str, Query]:
    """Per input descriptor, a query its matching credentials all pass."""
    return {d.id: _descriptor_query(definition, d) for d in definition.input_descriptors}


def _descriptor_query(definition: PresentationDefinition, descriptor: InputDescriptor) -> Query:
    terms: list[Query] = []
    declared = descriptor.format or definition.format
    if declared is not None:
        names = sorted(accepted_formats(declared))
        terms.append({"format": names[0]} if len(names) == 1 else {"format": {"$in": names}})
    for fld in descriptor.fields:
        term = None if fld.optional else _field_term(fld)
        if term is not None:
            terms.append(term)
    if not terms:
        return {}
    return terms[0] if len(terms) == 1 else {"$and": terms}


def _field_term(fld: Field) -> Query | None:
    if fld.filter is None:
        return None
    tags = set()
    per_element = False
    for path in fld.paths:
        steps, element = _steps(path)
        tag = _INDEXED.get(steps) if steps is not None else None
        if tag is None or (element and tag != "type"):
            return None
        tags.add(tag)
        per_element = per_element or element
    schema = fld.filter.schema
    values = _pinned(schema)
    if values is None and not per_element and tags == {"type"} and _only_arrays(schema):
        # {"type": "array", "contains": {"const": T}}: some element is T.
        values = _pinned(schema.get("contains"))
    if not values:
        return None
    options: list[Query] = []
    for tag in sorted(tags):
        if tag == "vct":
            vs = sorted(values)
            options.append({"vct": vs[0]} if len(vs) == 1 else {"vct": {"$in": vs}})
        else:
            prefix = TYPE_PREFIX if tag == "type" else ISSUER_PREFIX
            options.extend({prefix + v: "1"} for v in sorted(values))
    return options[0] if len(options) == 1 else {"$or": options}


def _steps(path: JsonPath) -> tuple[tuple[str | int, ...] | None, bool]:
    """Name steps of a singular path, or of ``$.a.b[*]`` without its wildcard (element=True)."""
    if path.names is not None:
        return path.names, False
    *head, last = path.segments or (None,)
    if last is None or last.descendant or last.selectors != (WILDCARD,):
        return None, False
    steps = []
    for seg in head:
        if seg.descendant or len(seg.selectors) != 1 or not isinstance(seg.selectors[0], str):
            return None, False
        steps.append(seg.selectors[0])
    return tuple(steps), True


def _only_arrays(schema: Mapping[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "array" or kind == ["array"]


def _pinned(schema: Any) -> set[str] | None:
    """The string values a filter pins its value to (``const``, ``enum``), else ``None``."""
    if not isinstance(schema, Mapping):
        return None
    if "const" in schema:
        return {schema["const"]} if isinstance(schema["const"], str) else None
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and all(isinstance(v, str) for v in enum):
        return set(enum)
    for sub in schema.get("allOf") or []:
        # Every conjunct must hold, so any one that pins is enough.
        found = _pinned(sub)
        if found:
            return found
    return None


def matches_query(tags: Mapping[str, str], query: Mapping[str, Any], _depth: int = 0) -> bool:
    """Evaluate a tag query in memory (for tests and small stores)."""
    if _depth > MAX_QUERY_DEPTH:
        raise InputError("tag query is nested too deeply")
    if not isinstance(query, Mapping):
        raise InputError("tag query must be an object")
    for key, cond in query.items():
        if key in ("$and", "$or"):
            if not isinstance(cond, list):
                raise InputError(f"{key} takes an array of queries")
            results = (matches_query(tags, q, _depth + 1) for q in cond)
            if not (all(results) if key == "$and" else any(results)):
                return False
        elif isinstance(cond, str):
            if tags.get(key) != cond:
                return False
        elif isinstance(cond, Mapping) and set(cond) == {"$in"} and isinstance(cond["$in"], list):
            if tags.get(key) not in cond["$in"]:
                return False
        else:
            raise InputError(f"tag query condition on {key!r} is not supported")
    return True
