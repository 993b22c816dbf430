"""RDF Dataset Canonicalization (W3C RDFC-1.0, 2024) with SHA-256.

Written from the Recommendation. Quads are tuples of four strings, each already in canonical
N-Quads term form: an IRI as ``<iri>``, a literal as ``"escaped"``, ``"…"@lang`` or
``"…"^^<datatype>``, a blank node as ``_:label``, and ``""`` for the default graph. With terms
pre-serialised, the many hashes the algorithm takes are string joins.

The N-degree step is exponential on crafted inputs ("poison graphs"); the Recommendation
requires a defence, so every call of it is counted against a budget proportional to the number
of blank nodes, and the recursion depth is bounded. Exceeding either raises
:class:`TooComplex`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from itertools import permutations

from .errors import MalformedCredential

Quad = tuple[str, str, str, str]

XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
RDF_LANGSTRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"

#: Calls of Hash N-Degree Quads allowed per blank node whose first-degree hash is shared.
DEFAULT_WORK_FACTOR = 100
#: Deepest Hash N-Degree Quads recursion accepted (a chain of look-alike blank nodes).
MAX_DEPTH = 64
#: Permutations tried for one set of related blank nodes sharing a hash (8! = 40320).
MAX_PERMUTED = 8


class TooComplex(MalformedCredential):
    """The dataset needs more canonicalisation work than moi allows for one document."""


# -- canonical N-Quads terms -----------------------------------------------------------------

# RDFC-1.0 Appendix A: these must be ECHAR; U+0000-U+001F (other than the ECHAR ones), U+007F
# and the code points outside XML 1.1 Char must be \\u escapes with upper-case HEX.
_ECHAR = {
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
    '"': '\\"',
    "\\": "\\\\",
}
_ESCAPE_TABLE: dict[int, str] = {ord(k): v for k, v in _ECHAR.items()}
for _cp in [*range(0x00, 0x20), 0x7F, 0xFFFE, 0xFFFF]:
    _ESCAPE_TABLE.setdefault(_cp, f"\\u{_cp:04X}")
_NEEDS_ESCAPE = frozenset(chr(c) for c in _ESCAPE_TABLE)
# Characters an IRIREF cannot carry unescaped; canonical form forbids UCHAR there, so an IRI
# holding one cannot be written canonically at all.
_BAD_IRI = frozenset('<>"{}|^`\\' + "".join(chr(c) for c in range(0x21)))


def escape_literal(value: str) -> str:
    """The body of a STRING_LITERAL_QUOTE in canonical form."""
    if not _NEEDS_ESCAPE.isdisjoint(value) or _has_surrogate(value):
        value = value.translate(_ESCAPE_TABLE)
        if _has_surrogate(value):
            value = "".join(
                f"\\u{ord(ch):04X}" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in value
            )
    return value


def _has_surrogate(value: str) -> bool:
    return any(0xD800 <= ord(ch) <= 0xDFFF for ch in value)


def iri(value: str) -> str:
    """An IRI term; refuses characters that cannot appear in an N-Quads IRIREF."""
    if not value or not _BAD_IRI.isdisjoint(value):
        raise MalformedCredential(f"IRI {value[:80]!r} cannot be written in N-Quads")
    return f"<{value}>"


def literal(value: str, datatype: str | None = None, language: str | None = None) -> str:
    """A literal term in canonical form (``xsd:string`` is left implicit)."""
    body = f'"{escape_literal(value)}"'
    if language:
        return f"{body}@{language}"
    if datatype and datatype != XSD_STRING:
        return f"{body}^^{iri(datatype)}"
    return body


def blank(label: str) -> str:
    return label if label.startswith("_:") else f"_:{label}"


def serialize(quads: Iterable[Quad]) -> str:
    """Canonical N-Quads of already-relabelled quads, one per line, sorted by code point."""
    return "".join(sorted(_line(q) for q in quads))


def _line(q: Quad) -> str:
    s, p, o, g = q
    return f"{s} {p} {o} {g} .\n" if g else f"{s} {p} {o} .\n"


# -- the algorithm ---------------------------------------------------------------------------


class _Issuer:
    """Issue Identifier algorithm state: a prefix, a counter, and issuance order."""

    __slots__ = ("issued", "prefix")

    def __init__(self, prefix: str, issued: dict[str, str] | None = None) -> None:
        self.prefix = prefix
        # dicts keep insertion order, which is the issuance order the algorithm relies on.
        self.issued: dict[str, str] = issued if issued is not None else {}

    def issue(self, existing: str) -> str:
        got = self.issued.get(existing)
        if got is None:
            got = f"{self.prefix}{len(self.issued)}"
            self.issued[existing] = got
        return got

    def copy(self) -> _Issuer:
        return _Issuer(self.prefix, dict(self.issued))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class _State:
    def __init__(self, quads: Sequence[Quad], budget: int) -> None:
        self.quads = quads
        self.mentions: dict[str, list[Quad]] = {}
        for q in quads:
            for i in (0, 2, 3):
                term = q[i]
                if term.startswith("_:"):
                    lst = self.mentions.setdefault(term, [])
                    if not lst or lst[-1] is not q:
                        lst.append(q)
        self.canonical = _Issuer("c14n")
        self.first_degree: dict[str, str] = {}
        self.budget = budget

    def hash_first_degree(self, node: str) -> str:
        cached = self.first_degree.get(node)
        if cached is not None:
            return cached
        lines = []
        for q in self.mentions[node]:
            parts = [
                (("_:a" if t == node else "_:z") if t.startswith("_:") else t) if t else t
                for t in q
            ]
            lines.append(_line((parts[0], parts[1], parts[2], parts[3])))
        lines.sort()
        digest = _sha256("".join(lines))
        self.first_degree[node] = digest
        return digest

    def hash_related(self, related: str, quad: Quad, issuer: _Issuer, position: str) -> str:
        text = position if position == "g" else f"{position}{quad[1]}"
        ident = self.canonical.issued.get(related) or issuer.issued.get(related)
        if ident is not None:
            text += "_:" + ident
        else:
            text += self.hash_first_degree(related)
        return _sha256(text)

    def hash_n_degree(self, node: str, issuer: _Issuer, depth: int) -> tuple[str, _Issuer]:
        self.budget -= 1
        if self.budget < 0 or depth > MAX_DEPTH:
            raise TooComplex("the document's blank nodes are too intricate to canonicalise")
        related_by_hash: dict[str, list[str]] = {}
        for q in self.mentions[node]:
            for i, position in ((0, "s"), (2, "o"), (3, "g")):
                term = q[i]
                if term.startswith("_:") and term != node:
                    h = self.hash_related(term, q, issuer, position)
                    related_by_hash.setdefault(h, []).append(term)
        data = []
        for related_hash in sorted(related_by_hash):
            data.append(related_hash)
            chosen_path = ""
            chosen_issuer: _Issuer | None = None
            nodes = related_by_hash[related_hash]
            if len(nodes) > MAX_PERMUTED:
                raise TooComplex("too many interchangeable blank nodes to canonicalise")
            for perm in _unique_permutations(nodes):
                issuer_copy = issuer.copy()
                path = ""
                recursion: list[str] = []
                skip = False
                for rel in perm:
                    canon = self.canonical.issued.get(rel)
                    if canon is not None:
                        path += "_:" + canon
                    else:
                        if rel not in issuer_copy.issued:
                            recursion.append(rel)
                        path += "_:" + issuer_copy.issue(rel)
                    if chosen_path and len(path) >= len(chosen_path) and path > chosen_path:
                        skip = True
                        break
                if skip:
                    continue
                for rel in recursion:
                    digest, issuer_copy = self.hash_n_degree(rel, issuer_copy, depth + 1)
                    path += "_:" + issuer_copy.issue(rel) + "<" + digest + ">"
                    if chosen_path and len(path) >= len(chosen_path) and path > chosen_path:
                        skip = True
                        break
                if skip:
                    continue
                if not chosen_path or path < chosen_path:
                    chosen_path = path
                    chosen_issuer = issuer_copy
            data.append(chosen_path)
            if chosen_issuer is not None:
                issuer = chosen_issuer
        return _sha256("".join(data)), issuer


def _unique_permutations(items: list[str]) -> Iterator[tuple[str, ...]]:
    # The same blank node can be related twice under one hash (two quads); permuting the
    # duplicates gives identical paths, so each distinct ordering is tried once.
    seen: set[tuple[str, ...]] = set()
    for p in permutations(items):
        if p not in seen:
            seen.add(p)
            yield p


def canonicalize(quads: Sequence[Quad], *, work_factor: int = DEFAULT_WORK_FACTOR) -> str:
    """RDFC-1.0 canonical N-Quads of ``quads`` (blank nodes relabelled ``_:c14nN``)."""
    return serialize(relabel(quads, work_factor=work_factor))


def relabel(quads: Sequence[Quad], *, work_factor: int = DEFAULT_WORK_FACTOR) -> list[Quad]:
    """The quads with canonical blank node labels, duplicates removed (a dataset is a set)."""
    unique = list(dict.fromkeys(quads))
    state = _State(unique, budget=0)
    by_hash: dict[str, list[str]] = {}
    for node in state.mentions:
        by_hash.setdefault(state.hash_first_degree(node), []).append(node)
    shared = []
    for h in sorted(by_hash):
        nodes = by_hash[h]
        if len(nodes) == 1:
            state.canonical.issue(nodes[0])
        else:
            shared.append(nodes)
    state.budget = work_factor * sum(len(n) for n in shared)
    for nodes in shared:
        results = []
        for node in nodes:
            if node in state.canonical.issued:
                continue
            temp = _Issuer("b")
            temp.issue(node)
            results.append(state.hash_n_degree(node, temp, 0))
        results.sort(key=lambda r: r[0])
        for _, issuer in results:
            for existing in issuer.issued:
                state.canonical.issue(existing)
    labels = state.canonical.issued

    def term(t: str) -> str:
        return "_:" + labels[t] if t.startswith("_:") else t

    return [(term(s), p, term(o), term(g) if g else g) for s, p, o, g in unique]
