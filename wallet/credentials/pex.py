"""DIF Presentation Exchange 2.0: definitions, evaluation against held credentials, submissions.

Pure. A holder parses the verifier's ``presentation_definition`` with
:meth:`PresentationDefinition.parse`, preselects candidates from its store by tags
(:func:`wallet.credentials.pex_query.query_for`), runs :func:`evaluate` on them, shows the
person :attr:`DescriptorMatch.disclose` (exactly which claims leave the wallet), and builds the
``presentation_submission`` with :func:`build_submission`. A verifier checks what it received
with :func:`wallet.credentials.pex_verify.check_submission`.

Out of scope (refused or ignored, never silently half-done): JSONPath filter expressions,
``$ref`` in filters, derived predicates (``predicate: required`` makes a candidate unfit),
the relational constraints ``is_holder`` / ``same_subject`` / ``subject_is_issuer`` (kept in
:attr:`InputDescriptor.constraints` for the caller) and JSON-LD framing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wallet.credentials.errors import PresentationError
from wallet.credentials.pex_definition import (
    Field,
    InputDescriptor,
    MalformedDefinition,
    PresentationDefinition,
    SubmissionRequirement,
)
from wallet.credentials.pex_jsonpath import ClaimPath, format_path

__all__ = [
    "Candidate",
    "DescriptorMatch",
    "Evaluation",
    "Field",
    "FieldMatch",
    "InputDescriptor",
    "MalformedDefinition",
    "Matcher",
    "NoMatch",
    "PresentationDefinition",
    "SubmissionRequirement",
    "accepted_formats",
    "build_submission",
    "evaluate",
    "match_descriptor",
    "presented_credentials",
]

MAX_REASONS = 16
#: Formats whose credentials can be presented with only some claims.
SELECTIVE_FORMATS = frozenset({"vc+sd-jwt", "dc+sd-jwt", "mso_mdoc"})
#: Registry names that denote the same credential format (older and newer spellings).
FORMAT_ALIASES: tuple[frozenset[str], ...] = (
    frozenset({"ldp_vc", "di_vc"}),
    frozenset({"ldp_vp", "di_vp"}),
    frozenset({"jwt_vc", "jwt_vc_json"}),
    frozenset({"jwt_vp", "jwt_vp_json"}),
    frozenset({"vc+sd-jwt", "dc+sd-jwt"}),
)
#: Presentation formats and the credential formats they carry. A definition that names only
#: the presentation format (ACA-Py's say ``{"ldp_vp": {"proof_type": [...]}}``) asks for
#: credentials of the carried format inside such a presentation.
CARRIED: dict[str, frozenset[str]] = {
    "ldp_vp": frozenset({"ldp_vc", "di_vc"}),
    "di_vp": frozenset({"ldp_vc", "di_vc"}),
    "jwt_vp": frozenset({"jwt_vc", "jwt_vc_json"}),
    "jwt_vp_json": frozenset({"jwt_vc", "jwt_vc_json"}),
}


class NoMatch(PresentationError):
    """The held credentials cannot satisfy the definition; ``reasons`` says why, per descriptor."""

    def __init__(self, message: str, reasons: Mapping[str, Mapping[str, str]]) -> None:
        super().__init__(message)
        self.reasons = reasons


# -- evaluation -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    """A held credential as PEX sees it: decoded claims tagged with their format.

    For SD-JWT, ``claims`` is the payload with every disclosure applied; ``alg`` is the JOSE
    algorithm, ``proof_type`` / ``cryptosuite`` describe a Data Integrity proof.
    """

    id: str
    format: str
    claims: Mapping[str, Any]
    alg: str | None = None
    proof_type: str | None = None
    cryptosuite: str | None = None
    selective_disclosure: bool | None = None

    @property
    def can_limit_disclosure(self) -> bool:
        if self.selective_disclosure is not None:
            return self.selective_disclosure
        return self.format in SELECTIVE_FORMATS


@dataclass(frozen=True, slots=True)
class FieldMatch:
    field: Field
    path: ClaimPath
    value: Any

    @property
    def jsonpath(self) -> str:
        return format_path(self.path)


@dataclass(frozen=True, slots=True)
class DescriptorMatch:
    """One candidate that satisfies one input descriptor."""

    descriptor_id: str
    candidate: Candidate
    format: str
    fields: tuple[FieldMatch, ...]
    limit_disclosure: str | None

    @property
    def disclose(self) -> tuple[ClaimPath, ...] | None:
        """Claim paths to disclose when disclosure is limited; ``None`` means the whole credential.

        Optional fields that matched are included: the verifier asked for them; a wallet may
        offer the person to leave them out (:attr:`optional_paths`).
        """
        if self.limit_disclosure is None or not self.candidate.can_limit_disclosure:
            return None
        return tuple(dict.fromkeys(m.path for m in self.fields))

    @property
    def optional_paths(self) -> tuple[ClaimPath, ...]:
        return tuple(m.path for m in self.fields if m.field.optional)


@dataclass(frozen=True)
class Evaluation:
    definition: PresentationDefinition
    matches: Mapping[str, tuple[DescriptorMatch, ...]]
    reasons: Mapping[str, Mapping[str, str]]

    @property
    def satisfied(self) -> bool:
        return _plan(self.definition, self.matches) is not None

    def select(self, choices: Mapping[str, str] | None = None) -> tuple[DescriptorMatch, ...]:
        """A submission satisfying the definition: one match per chosen descriptor.

        ``choices`` maps a descriptor id to the candidate id the person picked; otherwise the
        first match is taken. Raises :class:`NoMatch` when nothing satisfies the definition.
        """
        plan = _plan(self.definition, self.matches)
        if plan is None:
            raise NoMatch(
                f"held credentials do not satisfy presentation definition {self.definition.id!r}",
                self.reasons,
            )
        picked = []
        for desc_id in plan:
            options = self.matches[desc_id]
            wanted = (choices or {}).get(desc_id)
            chosen = next((m for m in options if m.candidate.id == wanted), None)
            if wanted is not None and chosen is None:
                raise PresentationError(f"candidate {wanted!r} does not match {desc_id!r}")
            picked.append(chosen or options[0])
        return tuple(picked)


def evaluate(definition: PresentationDefinition, candidates: Iterable[Candidate]) -> Evaluation:
    """Match every candidate against every input descriptor."""
    matcher = Matcher(definition)
    matcher.add(candidates)
    return matcher.result()


class Matcher:
    """An :class:`Evaluation` built up as candidates arrive (a page of held credentials at a
    time), in the order given.

    With ``first``, a descriptor that has a match takes no more: :meth:`Evaluation.select`
    without choices submits each descriptor's first match, and the submission requirements
    ask only which descriptors have one, so those first matches give the same selection as
    matching everything -- and :attr:`complete` says when reading more cannot change it.
    """

    def __init__(self, definition: PresentationDefinition, *, first: bool = False) -> None:
        self.definition = definition
        self.first = first
        self._found: dict[str, list[DescriptorMatch]] = {
            d.id: [] for d in definition.input_descriptors
        }
        self._why: dict[str, dict[str, str]] = {d.id: {} for d in definition.input_descriptors}

    def add(self, candidates: Iterable[Candidate]) -> None:
        pool = list(candidates)
        for descriptor in self.definition.input_descriptors:
            found, why = self._found[descriptor.id], self._why[descriptor.id]
            for candidate in pool:
                if self.first and found:
                    break
                result = match_descriptor(self.definition, descriptor, candidate)
                if isinstance(result, DescriptorMatch):
                    found.append(result)
                elif len(why) < MAX_REASONS:
                    why[candidate.id] = result

    @property
    def complete(self) -> bool:
        """Whether more candidates could change :meth:`Evaluation.select`'s answer: not
        once every descriptor has its first match (``first`` only)."""
        return self.first and all(self._found.values())

    def result(self) -> Evaluation:
        matches = {k: tuple(v) for k, v in self._found.items()}
        reasons = {k: self._why[k] for k, v in self._found.items() if not v}
        return Evaluation(self.definition, matches, reasons)


def match_descriptor(
    definition: PresentationDefinition, descriptor: InputDescriptor, candidate: Candidate
) -> DescriptorMatch | str:
    """The match, or a short reason why the candidate does not fit the descriptor."""
    declared = descriptor.format or definition.format
    fmt = candidate.format
    if declared is not None:
        fmt_or_reason = _match_format(declared, candidate)
        if fmt_or_reason.startswith("!"):
            return fmt_or_reason[1:]
        fmt = fmt_or_reason
    if descriptor.limit_disclosure == "required" and not candidate.can_limit_disclosure:
        return f"limit_disclosure is required and {candidate.format} cannot disclose selectively"
    found: list[FieldMatch] = []
    for index, fld in enumerate(descriptor.fields):
        label = fld.id or f"fields[{index}]"
        if fld.predicate == "required":
            return f"field {label}: derived predicates are not supported"
        hit = _match_field(fld, candidate.claims)
        if hit is not None:
            found.append(hit)
        elif not fld.optional:
            return f"field {label}: no value at {[p.text for p in fld.paths]} passes the filter"
    return DescriptorMatch(descriptor.id, candidate, fmt, tuple(found), descriptor.limit_disclosure)


def _match_field(fld: Field, claims: Mapping[str, Any]) -> FieldMatch | None:
    for path in fld.paths:
        for claim_path, value in path.find(claims):
            if fld.filter is None or fld.filter.matches(value):
                return FieldMatch(fld, claim_path, value)
    return None


def aliases(fmt: str) -> frozenset[str]:
    for group in FORMAT_ALIASES:
        if fmt in group:
            return group
    return frozenset({fmt})


def accepted_formats(declared: Mapping[str, Any]) -> frozenset[str]:
    """Every credential format a definition's ``format`` object lets through."""
    out: set[str] = set()
    for name in declared:
        out |= aliases(name) | CARRIED.get(name, frozenset())
    return frozenset(out)


def _match_format(declared: Mapping[str, Any], candidate: Candidate) -> str:
    """The format name to submit the candidate under, or ``'!reason'``."""
    names = [n for n in declared if n in aliases(candidate.format)]
    if names:
        name = candidate.format if candidate.format in names else names[0]
    else:
        # Named only through the presentation that carries it: the claim at the path is
        # still of the candidate's own format; the presentation's limits apply to it too.
        names = [n for n in declared if candidate.format in CARRIED.get(n, ())]
        if not names:
            return f"!format {candidate.format} is not among {sorted(declared)}"
        name = candidate.format
    spec = declared[name] if name in declared else declared[names[0]]
    for key, have in (
        ("alg", candidate.alg),
        ("sd-jwt_alg_values", candidate.alg),
        ("proof_type", candidate.proof_type),
        ("cryptosuite", candidate.cryptosuite),
    ):
        allowed = spec.get(key)
        if allowed and have is not None and have not in allowed:
            return f"!{key} {have} is not among {allowed}"
    return name


# -- submission requirements ----------------------------------------------------------------


def _plan(
    definition: PresentationDefinition, matches: Mapping[str, Sequence[DescriptorMatch]]
) -> list[str] | None:
    """Descriptor ids to submit, in definition order, or ``None`` if unsatisfiable."""
    order = [d.id for d in definition.input_descriptors]
    if not definition.submission_requirements:
        return order if all(matches.get(i) for i in order) else None
    chosen: set[str] = set()
    for req in definition.submission_requirements:
        part = _satisfy(req, definition, matches)
        if part is None:
            return None
        chosen.update(part)
    return [i for i in order if i in chosen]


def _satisfy(
    req: SubmissionRequirement,
    definition: PresentationDefinition,
    matches: Mapping[str, Sequence[DescriptorMatch]],
) -> set[str] | None:
    if req.from_group is not None:
        members = [d.id for d in definition.input_descriptors if req.from_group in d.group]
        ready = [m for m in members if matches.get(m)]
        if req.rule == "all":
            return set(members) if len(ready) == len(members) else None
        n = _how_many(req, len(ready))
        return None if n is None else set(ready[:n])
    parts = [_satisfy(r, definition, matches) for r in req.from_nested]
    ok = [p for p in parts if p is not None]
    if req.rule == "all":
        return set().union(*ok) if len(ok) == len(parts) else None
    n = _how_many(req, len(ok))
    return None if n is None else set().union(*ok[:n])


def _how_many(req: SubmissionRequirement, available: int) -> int | None:
    """How many to submit under a ``pick`` rule: as few as allowed, to disclose least."""
    if req.count is not None:
        return req.count if available >= req.count else None
    low = req.min or 0
    high = req.max if req.max is not None else available
    n = max(low, min(1, available, high))
    return n if low <= n <= min(high, available) else None


# -- the submission -------------------------------------------------------------------------


def build_submission(
    definition: PresentationDefinition,
    selection: Sequence[DescriptorMatch],
    *,
    submission_id: str | None = None,
    root: str = "$.verifiableCredential",
    nested_under: str | None = None,
) -> dict[str, Any]:
    """The ``presentation_submission`` for credentials placed in order at ``root[i]``.

    Credentials are numbered by first appearance, so one credential answering two
    descriptors is presented once. With ``nested_under`` (e.g. ``"jwt_vp"``), each entry's
    outer path points at the presentation (``$``) and ``path_nested`` at the credential
    inside it, as a VP-JWT needs.
    """
    positions: dict[str, int] = {}
    descriptor_map = []
    for match in selection:
        index = positions.setdefault(match.candidate.id, len(positions))
        inner = {"id": match.descriptor_id, "format": match.format, "path": f"{root}[{index}]"}
        if nested_under is None:
            descriptor_map.append(inner)
        else:
            descriptor_map.append(
                {
                    "id": match.descriptor_id,
                    "format": nested_under,
                    "path": "$",
                    "path_nested": inner,
                }
            )
    return {
        "id": submission_id or str(uuid.uuid4()),
        "definition_id": definition.id,
        "descriptor_map": descriptor_map,
    }


def presented_credentials(selection: Sequence[DescriptorMatch]) -> list[Candidate]:
    """The selection's distinct credentials, in the order :func:`build_submission` numbers."""
    seen: dict[str, Candidate] = {}
    for match in selection:
        seen.setdefault(match.candidate.id, match.candidate)
    return list(seen.values())
