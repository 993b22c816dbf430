"""The verifier's side of Presentation Exchange: does a submission answer the definition?

Proofs are not checked here (each format's verifier does that); this checks that what the
``descriptor_map`` points at exists, decodes, satisfies its input descriptor, and that the
submitted descriptors meet the submission requirements exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from wallet.credentials.errors import PresentationError
from wallet.credentials.pex import Candidate, DescriptorMatch, match_descriptor
from wallet.credentials.pex_definition import PresentationDefinition, SubmissionRequirement
from wallet.credentials.pex_jsonpath import JsonPath, JsonPathError
from wallet.errors import InputError

MAX_MAP_ENTRIES = 64
MAX_NESTING = 4

#: Turns a claim found at a path into its decoded claim set, by format (e.g. a VC-JWT string
#: into its payload). The default accepts JSON objects as they are.
Decoder = Callable[[str, Any], Mapping[str, Any]]


class MalformedSubmission(PresentationError, InputError):
    """The ``presentation_submission`` object breaks PEX 2.0."""


class SubmissionMismatch(PresentationError):
    """The submission does not satisfy the presentation definition."""


def _decode_json(fmt: str, value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    raise MalformedSubmission(
        f"claim in format {fmt!r} needs a decoder (got {type(value).__name__})"
    )


def check_submission(
    definition: PresentationDefinition,
    submission: Any,
    embed_target: Any,
    *,
    decode: Decoder = _decode_json,
) -> tuple[DescriptorMatch, ...]:
    """Every descriptor_map entry resolved and matched, or a precise error."""
    if not isinstance(submission, Mapping):
        raise MalformedSubmission("presentation_submission must be an object")
    if not isinstance(submission.get("id"), str) or not submission["id"]:
        raise MalformedSubmission("presentation_submission.id must be a non-empty string")
    if submission.get("definition_id") != definition.id:
        raise SubmissionMismatch("presentation_submission.definition_id is not the definition's id")
    entries = submission.get("descriptor_map")
    if not isinstance(entries, list) or len(entries) > MAX_MAP_ENTRIES:
        raise MalformedSubmission(f"descriptor_map must be an array of at most {MAX_MAP_ENTRIES}")
    matches = []
    for i, entry in enumerate(entries):
        where = f"descriptor_map[{i}]"
        fmt, claims = _resolve(entry, embed_target, decode, where, None, 0)
        desc_id = entry["id"]
        descriptor = next((d for d in definition.input_descriptors if d.id == desc_id), None)
        if descriptor is None:
            raise SubmissionMismatch(f"{where}.id {desc_id!r} names no input descriptor")
        result = match_descriptor(definition, descriptor, Candidate(where, fmt, claims))
        if isinstance(result, str):
            raise SubmissionMismatch(f"{where} does not satisfy {desc_id!r}: {result}")
        matches.append(result)
    submitted = {m.descriptor_id for m in matches}
    if definition.submission_requirements:
        for req in definition.submission_requirements:
            if not _met(req, definition, submitted):
                label = req.name or req.from_group or "nested requirement"
                raise SubmissionMismatch(f"submission requirement {label!r} is not met")
    else:
        missing = [d.id for d in definition.input_descriptors if d.id not in submitted]
        if missing:
            raise SubmissionMismatch(f"input descriptors {missing} are not answered")
    return tuple(matches)


def _resolve(
    entry: Any, current: Any, decode: Decoder, where: str, outer_id: str | None, depth: int
) -> tuple[str, Mapping[str, Any]]:
    if depth > MAX_NESTING:
        raise MalformedSubmission(f"{where}: path_nested deeper than {MAX_NESTING}")
    if not isinstance(entry, Mapping):
        raise MalformedSubmission(f"{where} must be an object")
    for key in ("id", "format", "path"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            raise MalformedSubmission(f"{where}.{key} must be a non-empty string")
    if outer_id is not None and entry["id"] != outer_id:
        raise MalformedSubmission(f"{where}.id must equal the enclosing entry's id")
    try:
        found = JsonPath.parse(entry["path"]).find(current)
    except JsonPathError as err:
        raise MalformedSubmission(f"{where}.path: {err}") from err
    if len(found) != 1:
        raise SubmissionMismatch(f"{where}.path selects {len(found)} values, not exactly one")
    decoded = decode(entry["format"], found[0][1])
    nested = entry.get("path_nested")
    if nested is None:
        return entry["format"], decoded
    return _resolve(nested, decoded, decode, f"{where}.path_nested", entry["id"], depth + 1)


def _met(req: SubmissionRequirement, definition: PresentationDefinition, ids: set[str]) -> bool:
    if req.from_group is not None:
        members = {d.id for d in definition.input_descriptors if req.from_group in d.group}
        total, done = len(members), len(members & ids)
    else:
        total = len(req.from_nested)
        done = sum(1 for r in req.from_nested if _met(r, definition, ids))
    if req.rule == "all":
        return done == total
    if req.count is not None and done != req.count:
        return False
    if req.min is not None and done < req.min:
        return False
    return req.max is None or done <= req.max
