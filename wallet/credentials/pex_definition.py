"""Presentation Exchange 2.0 definitions: the data model and its strict, bounded parser."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wallet.credentials.errors import PresentationError
from wallet.credentials.pex_filter import Filter, FilterError
from wallet.credentials.pex_jsonpath import JsonPath, JsonPathError
from wallet.errors import InputError

MAX_DESCRIPTORS = 64
MAX_FIELDS = 64
MAX_PATHS = 16
MAX_REQUIREMENT_DEPTH = 8

LIMIT_DISCLOSURE = ("required", "preferred")


class MalformedDefinition(PresentationError, InputError):
    """The presentation definition breaks PEX 2.0; ``where`` locates the fault."""

    def __init__(self, where: str, why: str) -> None:
        super().__init__(f"presentation_definition{where}: {why}")
        self.where = where


# -- the model -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    paths: tuple[JsonPath, ...]
    id: str | None = None
    name: str | None = None
    purpose: str | None = None
    filter: Filter | None = None
    optional: bool = False
    predicate: str | None = None
    intent_to_retain: bool = False


@dataclass(frozen=True, slots=True)
class InputDescriptor:
    id: str
    fields: tuple[Field, ...]
    limit_disclosure: str | None = None
    group: tuple[str, ...] = ()
    format: Mapping[str, Any] | None = None
    name: str | None = None
    purpose: str | None = None
    constraints: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SubmissionRequirement:
    rule: str
    from_group: str | None = None
    from_nested: tuple[SubmissionRequirement, ...] = ()
    count: int | None = None
    min: int | None = None
    max: int | None = None
    name: str | None = None
    purpose: str | None = None


@dataclass(frozen=True, slots=True)
class PresentationDefinition:
    id: str
    input_descriptors: tuple[InputDescriptor, ...]
    submission_requirements: tuple[SubmissionRequirement, ...] = ()
    format: Mapping[str, Any] | None = None
    name: str | None = None
    purpose: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, obj: Any) -> PresentationDefinition:
        """Validate a definition (bare, or wrapped as ``{"presentation_definition": ...}``)."""
        if isinstance(obj, Mapping) and set(obj) == {"presentation_definition"}:
            obj = obj["presentation_definition"]
        return _parse_definition(obj)

    def descriptor(self, descriptor_id: str) -> InputDescriptor:
        for d in self.input_descriptors:
            if d.id == descriptor_id:
                return d
        raise PresentationError(f"no input descriptor {descriptor_id!r} in the definition")


def _opt_str(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise MalformedDefinition(f"{where}.{key}", "must be a string")
    return value


def _req_str(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedDefinition(f"{where}.{key}", "must be a non-empty string")
    return value


def _parse_definition(obj: Any) -> PresentationDefinition:
    if not isinstance(obj, Mapping):
        raise MalformedDefinition("", "must be a JSON object")
    def_id = _req_str(obj, "id", "")
    raw_descriptors = obj.get("input_descriptors")
    if not isinstance(raw_descriptors, list):
        raise MalformedDefinition(".input_descriptors", "must be an array")
    if len(raw_descriptors) > MAX_DESCRIPTORS:
        raise MalformedDefinition(".input_descriptors", f"has more than {MAX_DESCRIPTORS} items")
    field_ids: set[str] = set()
    descriptors = []
    for i, raw in enumerate(raw_descriptors):
        descriptors.append(_parse_descriptor(raw, f".input_descriptors[{i}]", field_ids))
    ids = [d.id for d in descriptors]
    if len(set(ids)) != len(ids):
        raise MalformedDefinition(".input_descriptors", "descriptor ids must be unique")
    requirements: tuple[SubmissionRequirement, ...] = ()
    if "submission_requirements" in obj:
        raw_reqs = obj["submission_requirements"]
        if not isinstance(raw_reqs, list) or not raw_reqs:
            raise MalformedDefinition(".submission_requirements", "must be a non-empty array")
        groups = {g for d in descriptors for g in d.group}
        requirements = tuple(
            _parse_requirement(r, f".submission_requirements[{i}]", groups, 0)
            for i, r in enumerate(raw_reqs)
        )
        for d in descriptors:
            if not d.group:
                # PEX 2.0: with submission requirements, every descriptor is grouped.
                raise MalformedDefinition(f".input_descriptors[{ids.index(d.id)}].group", "missing")
    return PresentationDefinition(
        id=def_id,
        input_descriptors=tuple(descriptors),
        submission_requirements=requirements,
        format=_parse_format(obj.get("format"), ".format"),
        name=_opt_str(obj, "name", ""),
        purpose=_opt_str(obj, "purpose", ""),
        raw=obj,
    )


def _parse_format(raw: Any, where: str) -> Mapping[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or not raw:
        raise MalformedDefinition(where, "must be an object naming one or more claim formats")
    for name, spec in raw.items():
        if not isinstance(spec, Mapping):
            raise MalformedDefinition(f"{where}.{name}", "must be an object")
        for key, values in spec.items():
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise MalformedDefinition(f"{where}.{name}.{key}", "must be an array of strings")
    return raw


def _parse_descriptor(raw: Any, where: str, field_ids: set[str]) -> InputDescriptor:
    if not isinstance(raw, Mapping):
        raise MalformedDefinition(where, "must be an object")
    desc_id = _req_str(raw, "id", where)
    group = raw.get("group", [])
    if isinstance(group, str):  # v1 definitions and some agents send a bare string
        group = [group]
    if not isinstance(group, list) or not all(isinstance(g, str) and g for g in group):
        raise MalformedDefinition(f"{where}.group", "must be an array of strings")
    constraints = raw.get("constraints")
    if not isinstance(constraints, Mapping):
        raise MalformedDefinition(f"{where}.constraints", "is required and must be an object")
    limit = constraints.get("limit_disclosure")
    if limit is not None and limit not in LIMIT_DISCLOSURE:
        raise MalformedDefinition(
            f"{where}.constraints.limit_disclosure", "must be 'required' or 'preferred'"
        )
    raw_fields = constraints.get("fields", [])
    if not isinstance(raw_fields, list) or len(raw_fields) > MAX_FIELDS:
        raise MalformedDefinition(
            f"{where}.constraints.fields", f"must be an array of at most {MAX_FIELDS}"
        )
    fields = tuple(
        _parse_field(f, f"{where}.constraints.fields[{i}]", field_ids)
        for i, f in enumerate(raw_fields)
    )
    return InputDescriptor(
        id=desc_id,
        fields=fields,
        limit_disclosure=limit,
        group=tuple(group),
        format=_parse_format(raw.get("format"), f"{where}.format"),
        name=_opt_str(raw, "name", where),
        purpose=_opt_str(raw, "purpose", where),
        constraints=constraints,
    )


def _parse_field(raw: Any, where: str, field_ids: set[str]) -> Field:
    if not isinstance(raw, Mapping):
        raise MalformedDefinition(where, "must be an object")
    paths = raw.get("path")
    if not isinstance(paths, list) or not paths or len(paths) > MAX_PATHS:
        raise MalformedDefinition(f"{where}.path", f"must be an array of 1 to {MAX_PATHS} paths")
    compiled = []
    for i, text in enumerate(paths):
        try:
            compiled.append(JsonPath.parse(text))
        except JsonPathError as err:
            raise MalformedDefinition(f"{where}.path[{i}]", str(err)) from err
    field_id = _opt_str(raw, "id", where)
    if field_id is not None:
        if field_id in field_ids:
            raise MalformedDefinition(f"{where}.id", f"field id {field_id!r} is not unique")
        field_ids.add(field_id)
    flt = None
    if "filter" in raw:
        try:
            flt = Filter(raw["filter"])
        except FilterError as err:
            raise MalformedDefinition(f"{where}.filter", str(err)) from err
    optional = raw.get("optional", False)
    if not isinstance(optional, bool):
        raise MalformedDefinition(f"{where}.optional", "must be a boolean")
    retain = raw.get("intent_to_retain", False)
    if not isinstance(retain, bool):
        raise MalformedDefinition(f"{where}.intent_to_retain", "must be a boolean")
    predicate = raw.get("predicate")
    if predicate is not None:
        if predicate not in ("required", "preferred"):
            raise MalformedDefinition(f"{where}.predicate", "must be 'required' or 'preferred'")
        if flt is None:
            raise MalformedDefinition(f"{where}.predicate", "needs a filter")
    return Field(
        paths=tuple(compiled),
        id=field_id,
        name=_opt_str(raw, "name", where),
        purpose=_opt_str(raw, "purpose", where),
        filter=flt,
        optional=optional,
        predicate=predicate,
        intent_to_retain=retain,
    )


def _parse_requirement(raw: Any, where: str, groups: set[str], depth: int) -> SubmissionRequirement:
    if depth > MAX_REQUIREMENT_DEPTH:
        raise MalformedDefinition(where, f"nested deeper than {MAX_REQUIREMENT_DEPTH}")
    if not isinstance(raw, Mapping):
        raise MalformedDefinition(where, "must be an object")
    rule = raw.get("rule")
    if rule not in ("all", "pick"):
        raise MalformedDefinition(f"{where}.rule", "must be 'all' or 'pick'")
    has_from, has_nested = "from" in raw, "from_nested" in raw
    if has_from == has_nested:
        raise MalformedDefinition(where, "needs exactly one of 'from' and 'from_nested'")
    counts: dict[str, int | None] = {}
    for key, low in (("count", 1), ("min", 0), ("max", 0)):
        value = raw.get(key)
        if value is not None and (type(value) is not int or value < low):
            raise MalformedDefinition(f"{where}.{key}", f"must be an integer of at least {low}")
        counts[key] = value
    if counts["min"] is not None and counts["max"] is not None and counts["max"] < counts["min"]:
        raise MalformedDefinition(f"{where}.max", "must not be less than min")
    from_group = None
    nested: tuple[SubmissionRequirement, ...] = ()
    if has_from:
        from_group = raw["from"]
        if not isinstance(from_group, str) or from_group not in groups:
            raise MalformedDefinition(f"{where}.from", "must name a group of some descriptor")
    else:
        items = raw["from_nested"]
        if not isinstance(items, list) or not items:
            raise MalformedDefinition(f"{where}.from_nested", "must be a non-empty array")
        nested = tuple(
            _parse_requirement(r, f"{where}.from_nested[{i}]", groups, depth + 1)
            for i, r in enumerate(items)
        )
    return SubmissionRequirement(
        rule=rule,
        from_group=from_group,
        from_nested=nested,
        count=counts["count"],
        min=counts["min"],
        max=counts["max"],
        name=_opt_str(raw, "name", where),
        purpose=_opt_str(raw, "purpose", where),
    )
