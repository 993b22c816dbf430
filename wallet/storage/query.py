"""The tag query language: validation into a small typed tree, before any SQL is written.

A query is a mapping, WQL-like::

    {"name": "v"}                       equality
    {"name": {"$in": ["a", "b"]}}       one of
    {"name": {"$neq": "v"}}             has the tag, with another value
    {"name": {"$exist": True}}          has (or, with False, lacks) the tag
    {"~n": {"$gt": "5"}}                $gt $gte $lt $lte $like: plain (~) tags only
    {"$and": [q, ...]}, {"$or": [q, ...]}, {"$not": q}

Several keys in one mapping are ANDed. ``$not {"name": "v"}`` also matches records without
the tag, where ``$neq`` does not. Plain values compare as strings, code point by code point
(pad numbers to a fixed width). ``$like`` takes ``%`` (any run) and ``_`` (one character);
a backslash makes the next character literal. Hashed tags only support equality, because a
keyed hash keeps no order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from .base import PLAIN_PREFIX, QueryError, check_tag_name, check_tag_value, short

MAX_DEPTH = 12
MAX_NODES = 256
MAX_IN_VALUES = 512

#: Operators, by the kinds of tag that support them.
EQUALITY_OPS = frozenset({"$in", "$neq", "$exist"})
PLAIN_OPS = frozenset({"$gt", "$gte", "$lt", "$lte", "$like"})


@dataclass(frozen=True, slots=True)
class Tag:
    """A condition on one tag. ``op`` is ``eq``, ``neq``, ``in``, ``exist``, ``gt``, ``gte``,
    ``lt``, ``lte`` or ``like``; ``values`` has one string (``in``: one or more; ``exist``:
    none, and ``negated`` says whether the tag must be absent)."""

    name: str
    op: str
    values: tuple[str, ...] = ()
    negated: bool = False

    @property
    def plain(self) -> bool:
        return self.name.startswith(PLAIN_PREFIX)


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Node


Node = Tag | And | Or | Not


def parse_query(query: Mapping[str, Any] | None) -> Node | None:
    """Validate a query; None (match everything) for None or an empty mapping."""
    if query is None:
        return None
    counter = [0]
    node = _parse_mapping(query, 1, counter)
    if isinstance(node, And) and not node.items:
        return None
    return node


def conjuncts(node: Node | None) -> list[Node]:
    """The top-level AND terms of a query (flattened), so a backend can pick one to drive
    the lookup through an index."""
    if node is None:
        return []
    if isinstance(node, And):
        out: list[Node] = []
        for item in node.items:
            out.extend(conjuncts(item))
        return out
    return [node]


def _parse_mapping(query: object, depth: int, counter: list[int]) -> Node:
    if not isinstance(query, Mapping):
        raise QueryError(f"a query must be a mapping, not {type(query).__name__}")
    if depth > MAX_DEPTH:
        raise QueryError(f"query is nested deeper than {MAX_DEPTH} levels")
    items: list[Node] = []
    for key, value in query.items():
        _count(counter)
        if not isinstance(key, str):
            raise QueryError("query keys must be strings")
        if key == "$and" or key == "$or":
            children = tuple(
                _parse_mapping(child, depth + 1, counter) for child in _list(key, value)
            )
            items.append(And(children) if key == "$and" else Or(children))
        elif key == "$not":
            items.append(Not(_parse_mapping(value, depth + 1, counter)))
        elif key.startswith("$"):
            raise QueryError(f"unknown query operator {short(key)!r}")
        else:
            items.append(_parse_tag(key, value, counter))
    return items[0] if len(items) == 1 else And(tuple(items))


def _parse_tag(name: str, cond: object, counter: list[int]) -> Tag:
    name = _tag_name(name)
    if isinstance(cond, str):
        return Tag(name, "eq", (_value(name, cond),))
    if not isinstance(cond, Mapping):
        raise QueryError(
            f"condition on tag {short(name)!r} must be a string or an operator mapping"
        )
    if len(cond) != 1:
        raise QueryError(f"condition on tag {short(name)!r} must have exactly one operator")
    ((op, arg),) = cond.items()
    if not isinstance(op, str) or (op not in EQUALITY_OPS and op not in PLAIN_OPS):
        raise QueryError(f"unknown operator {short(str(op))!r} on tag {short(name)!r}")
    if op in PLAIN_OPS and not name.startswith(PLAIN_PREFIX):
        raise QueryError(
            f"{op} needs a plain tag (name starting with {PLAIN_PREFIX!r}); "
            f"{short(name)!r} is stored as a keyed hash, which keeps no order"
        )
    if op == "$exist":
        if not isinstance(arg, bool):
            raise QueryError(f"$exist on tag {short(name)!r} takes true or false")
        return Tag(name, "exist", (), negated=not arg)
    if op == "$in":
        values = _list("$in", arg)
        if not values:
            raise QueryError(f"$in on tag {short(name)!r} needs at least one value")
        if len(values) > MAX_IN_VALUES:
            raise QueryError(f"$in takes at most {MAX_IN_VALUES} values")
        counter[0] += len(values) // 8
        return Tag(name, "in", tuple(dict.fromkeys(_value(name, v) for v in values)))
    return Tag(name, op[1:], (_value(name, arg),))


def _list(op: str, value: object) -> Sequence[Any]:
    if not isinstance(value, (list, tuple)):
        raise QueryError(f"{op} takes a list")
    return value


def _tag_name(name: str) -> str:
    try:
        return check_tag_name(name)
    except InputError as err:
        raise QueryError(f"bad tag name in query: {err}") from None


def _value(name: str, value: object) -> str:
    try:
        return check_tag_value(name, value)
    except InputError as err:
        raise QueryError(f"bad value in query: {err}") from None


def _count(counter: list[int]) -> None:
    counter[0] += 1
    if counter[0] > MAX_NODES:
        raise QueryError(f"query has more than {MAX_NODES} conditions")
