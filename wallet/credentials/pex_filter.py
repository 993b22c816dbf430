"""The JSON Schema subset that Presentation Exchange filters use, compiled once, run bounded.

Assertions: ``type``, ``const``, ``enum``, ``pattern``, ``minimum`` / ``maximum``,
``exclusiveMinimum`` / ``exclusiveMaximum``, ``minLength`` / ``maxLength``, ``format``
(``date``, ``date-time``) with ``formatMinimum`` / ``formatMaximum`` (and their exclusive
forms), ``contains``, ``items``, ``minItems`` / ``maxItems``, ``properties``, ``required``,
``not``, ``allOf`` / ``anyOf`` / ``oneOf``, and boolean schemas. Unknown keywords are
ignored, as the PEX spec asks of holders, except ``$ref``, which would need documents
fetched from elsewhere and is refused rather than silently passed.

``pattern`` runs on RE2 (linear time) when ``google-re2`` is installed; otherwise on Python's
``re`` after refusing patterns whose nested repetition could backtrack exponentially.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from wallet.errors import InputError

try:  # pragma: no cover - depends on the environment
    import re2 as _re2
except ImportError:  # pragma: no cover
    _re2 = None

MAX_DEPTH = 16
MAX_NODES = 1000
MAX_ENUM = 256
MAX_PATTERN_CHARS = 512
#: Longest string a Python-``re`` fallback pattern is run on.
MAX_FALLBACK_SUBJECT = 4096

_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "default", "examples", "$defs"}
)
_TYPES = frozenset({"string", "number", "integer", "boolean", "null", "array", "object"})
_FULL_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_DATE_TIME = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
# A group quantified without bound whose body itself repeats or alternates: (a+)+, (a|b)*.
_NESTED_REPEAT = re.compile(r"\((?:[^()\\]|\\.)*(?:[+*}]|\|)(?:[^()\\]|\\.)*\)\s*(?:[+*]|\{\d+,\})")

Check = Callable[[Any], bool]


class FilterError(InputError):
    """A filter is not a JSON Schema this subset accepts."""


class Filter:
    """A compiled filter; :meth:`matches` tells whether a JSON value passes it."""

    __slots__ = ("_check", "schema")

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self._check = _Compiler().compile(schema, 0)

    def matches(self, value: Any) -> bool:
        return self._check(value)


# -- helpers shared with callers ------------------------------------------------------------


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "unknown"


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but True != 1 and key order does not matter."""
    ta, tb = json_type(a), json_type(b)
    if ta in ("integer", "number") and tb in ("integer", "number"):
        return a == b
    if ta != tb:
        return False
    if ta == "array":
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if ta == "object":
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _has_type(value: Any, name: str) -> bool:
    actual = json_type(value)
    if name == "number":
        return actual in ("integer", "number")
    if name == "integer":
        return actual == "integer" or (actual == "number" and float(value).is_integer())
    return actual == name


def _parse_format(fmt: str, text: Any) -> date | datetime | None:
    if not isinstance(text, str):
        return None
    try:
        if fmt == "date" and _FULL_DATE.match(text):
            return date.fromisoformat(text)
        if fmt == "date-time" and _DATE_TIME.match(text):
            return datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        return None
    return None


# -- the compiler ---------------------------------------------------------------------------


class _Compiler:
    def __init__(self) -> None:
        self.nodes = 0

    def compile(self, schema: Any, depth: int) -> Check:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise FilterError(f"filter has more than {MAX_NODES} schemas")
        if depth > MAX_DEPTH:
            raise FilterError(f"filter is nested deeper than {MAX_DEPTH}")
        if schema is True:
            return lambda _v: True
        if schema is False:
            return lambda _v: False
        if not isinstance(schema, dict):
            raise FilterError("a filter schema must be an object or a boolean")
        if "$ref" in schema:
            raise FilterError("$ref is not supported in filters")
        checks: list[Check] = []
        for key, arg in schema.items():
            method = (
                getattr(self, "k_" + key.replace("$", "_"), None) if key.isidentifier() else None
            )
            if method is None or key in _ANNOTATIONS:
                continue  # unknown keywords are ignored (PEX 2.0, "IDO Filter" note)
            check = method(arg, schema, depth)
            if check is not None:
                checks.append(check)
        if len(checks) == 1:
            return checks[0]
        return lambda v: all(c(v) for c in checks)

    # generic

    def k_type(self, arg: Any, _s: dict[str, Any], _d: int) -> Check:
        names = [arg] if isinstance(arg, str) else arg
        if not isinstance(names, list) or not names or not all(n in _TYPES for n in names):
            raise FilterError(f"type must be one of {sorted(_TYPES)} or a list of them")
        return lambda v: any(_has_type(v, n) for n in names)

    def k_const(self, arg: Any, _s: dict[str, Any], _d: int) -> Check:
        return lambda v: json_equal(v, arg)

    def k_enum(self, arg: Any, _s: dict[str, Any], _d: int) -> Check:
        if not isinstance(arg, list) or not arg or len(arg) > MAX_ENUM:
            raise FilterError(f"enum must be a non-empty array of at most {MAX_ENUM} values")
        return lambda v: any(json_equal(v, x) for x in arg)

    def k_not(self, arg: Any, _s: dict[str, Any], depth: int) -> Check:
        inner = self.compile(arg, depth + 1)
        return lambda v: not inner(v)

    def _list(self, name: str, arg: Any, depth: int) -> list[Check]:
        if not isinstance(arg, list) or not arg:
            raise FilterError(f"{name} must be a non-empty array of schemas")
        return [self.compile(s, depth + 1) for s in arg]

    def k_allOf(self, arg: Any, _s: dict[str, Any], depth: int) -> Check:
        subs = self._list("allOf", arg, depth)
        return lambda v: all(c(v) for c in subs)

    def k_anyOf(self, arg: Any, _s: dict[str, Any], depth: int) -> Check:
        subs = self._list("anyOf", arg, depth)
        return lambda v: any(c(v) for c in subs)

    def k_oneOf(self, arg: Any, _s: dict[str, Any], depth: int) -> Check:
        subs = self._list("oneOf", arg, depth)
        return lambda v: sum(1 for c in subs if c(v)) == 1

    # numbers

    def _number(self, name: str, arg: Any) -> float:
        if not _is_number(arg) or (isinstance(arg, float) and not math.isfinite(arg)):
            raise FilterError(f"{name} must be a number")
        return arg

    def k_minimum(self, arg: Any, _s: dict[str, Any], _d: int) -> Check:
        n = self._number("minimum", arg)
        return lambda v: not _is_number(v) or v >= n

    def k_maximum(self, arg: Any, _s: dict[str, Any], _d: int) -> Check:
        n = self._number("maximum", arg)
        return lambda v: not _is_number(v) or v <= n

    def k_exclusiveMinimum(self, arg: Any, _s: dict[str, Any], _d: int) -> Check:
        n = self._number("exclusiveMinimum", arg)
        return lambda v: not _is_number(v) or v > n

    def k_exclusiveMaximum(self, arg: Any, _s: dict[str, Any], _d: int) -> Check:
        n = self._number("exclusiveMaximum", arg)
        return lambda v: not _is_number(v) or v < n

    # strings

    def _count(self, name: str, arg: Any) -> int:
        if type(arg) is not int or arg < 0:
            raise FilterError(f"{name} must be a non-negative integer")
        return arg

    def k_minLength(self, arg: Any, _s: dict[str, Any], _d: int) -> Check:
        n = self._count("minLength", arg)
        return lambda v: not isinstance(v, str) or len(v) >= n

    def k_maxLength(self, arg: Any, _s: dict[str, Any], _d: int) -> Check:
        n = self._count("maxLength", arg)
        return lambda v: not isinstance(v, str) or len(v) <= n

    def k_pattern(self, arg: Any, _s: dict[str, Any], _d: int) -> Check:
        search = compile_pattern(arg)
        return lambda v: not isinstance(v, str) or search(v)

    def k_format(self, arg: Any, schema: dict[str, Any], _d: int) -> Check | None:
        if not isinstance(arg, str):
            raise FilterError("format must be a string")
        if arg not in ("date", "date-time"):
            return None  # other formats annotate only
        bounds = []
        for key, op in (
            ("formatMinimum", lambda a, b: a >= b),
            ("formatMaximum", lambda a, b: a <= b),
            ("formatExclusiveMinimum", lambda a, b: a > b),
            ("formatExclusiveMaximum", lambda a, b: a < b),
        ):
            if key in schema:
                bound = _parse_format(arg, schema[key])
                if bound is None:
                    raise FilterError(f"{key} must be a valid {arg}")
                bounds.append((op, bound))

        def check(v: Any) -> bool:
            if not isinstance(v, str):
                return True
            parsed = _parse_format(arg, v)
            if parsed is None:
                return False
            try:
                return all(op(parsed, bound) for op, bound in bounds)
            except TypeError:  # naive vs aware: cannot be ordered, so not within bounds
                return False

        return check

    # arrays

    def k_items(self, arg: Any, _s: dict[str, Any], depth: int) -> Check:
        if isinstance(arg, list):
            subs = [self.compile(s, depth + 1) for s in arg]
            return lambda v: (
                not isinstance(v, list) or all(c(x) for c, x in zip(subs, v, strict=False))
            )
        sub = self.compile(arg, depth + 1)
        return lambda v: not isinstance(v, list) or all(sub(x) for x in v)

    def k_contains(self, arg: Any, _s: dict[str, Any], depth: int) -> Check:
        sub = self.compile(arg, depth + 1)
        return lambda v: not isinstance(v, list) or any(sub(x) for x in v)

    def k_minItems(self, arg: Any, _s: dict[str, Any], _d: int) -> Check:
        n = self._count("minItems", arg)
        return lambda v: not isinstance(v, list) or len(v) >= n

    def k_maxItems(self, arg: Any, _s: dict[str, Any], _d: int) -> Check:
        n = self._count("maxItems", arg)
        return lambda v: not isinstance(v, list) or len(v) <= n

    # objects

    def k_properties(self, arg: Any, _s: dict[str, Any], depth: int) -> Check:
        if not isinstance(arg, dict):
            raise FilterError("properties must be an object of schemas")
        subs = {k: self.compile(s, depth + 1) for k, s in arg.items()}
        return lambda v: not isinstance(v, dict) or all(c(v[k]) for k, c in subs.items() if k in v)

    def k_required(self, arg: Any, _s: dict[str, Any], _d: int) -> Check:
        if not isinstance(arg, list) or not all(isinstance(k, str) for k in arg):
            raise FilterError("required must be an array of strings")
        return lambda v: not isinstance(v, dict) or all(k in v for k in arg)


def compile_pattern(pattern: Any) -> Callable[[str], bool]:
    """Compile an ECMA-262-style ``pattern`` into a bounded search function."""
    if not isinstance(pattern, str):
        raise FilterError("pattern must be a string")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise FilterError(f"pattern is longer than {MAX_PATTERN_CHARS} characters")
    if _re2 is not None:
        options = _re2.Options()
        options.log_errors = False  # the error is reported to the caller, not to stderr
        options.max_mem = 1 << 20  # bounds the automaton a hostile pattern can build
        try:
            compiled = _re2.compile(pattern, options=options)
        except Exception as err:  # re2 raises its own error type
            raise FilterError(f"pattern is not a supported regular expression: {err}") from err
        return lambda s: compiled.search(s) is not None
    if _NESTED_REPEAT.search(pattern):
        raise FilterError("pattern nests unbounded repetition (catastrophic backtracking)")
    try:
        fallback = re.compile(pattern, re.ASCII)
    except re.error as err:
        raise FilterError(f"pattern is not a valid regular expression: {err}") from err
    return lambda s: len(s) <= MAX_FALLBACK_SUBJECT and fallback.search(s) is not None
