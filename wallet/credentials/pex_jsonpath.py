"""The JSONPath subset that Presentation Exchange uses, parsed once and evaluated safely.

Supported: ``$``, ``.name``, ``['name']`` / ``["name"]``, ``[0]`` / ``[-1]``, ``[*]`` / ``.*``,
unions ``[0,1]`` / ``['a','b']``, slices ``[start:end:step]`` and the descendant operator
``..``. Filter (``?()``) and script (``()``) expressions are refused: they are code, and
nothing here evaluates code. Every parse and evaluation is bounded.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from wallet.errors import InputError

#: A concrete location in a JSON document: object keys and array indexes from the root.
ClaimPath = tuple[str | int, ...]

MAX_PATH_CHARS = 1024
MAX_SEGMENTS = 64
MAX_SELECTORS = 32
#: Nodes an evaluation may visit before it is abandoned (``$..*`` on a large document).
MAX_VISITS = 100_000

# Dot-notation member names: word characters, a few punctuation marks JSON-LD keys use, and
# any non-ASCII character.
_NAME = re.compile(r"(?:[\w\-$@:]|[^\x00-\x7F])+")


class JsonPathError(InputError):
    """A JSONPath expression is malformed, unsupported, or too costly."""


@dataclass(frozen=True, slots=True)
class _Wildcard:
    pass


@dataclass(frozen=True, slots=True)
class _Slice:
    start: int | None
    end: int | None
    step: int | None


_Selector = str | int | _Wildcard | _Slice
WILDCARD = _Wildcard()


@dataclass(frozen=True, slots=True)
class _Segment:
    descendant: bool
    selectors: tuple[_Selector, ...]


@dataclass(frozen=True, slots=True)
class JsonPath:
    """A parsed expression; :meth:`find` returns ``(path, value)`` pairs in document order."""

    text: str
    segments: tuple[_Segment, ...]

    @classmethod
    def parse(cls, text: str) -> JsonPath:
        if not isinstance(text, str):
            raise JsonPathError("JSONPath must be a string")
        return _parse_cached(text)

    @property
    def is_singular(self) -> bool:
        """True when the expression can select at most one node (names and indexes only)."""
        return all(
            not s.descendant and len(s.selectors) == 1 and isinstance(s.selectors[0], (str, int))
            for s in self.segments
        )

    @property
    def names(self) -> tuple[str | int, ...] | None:
        """The plain name/index steps of a singular path, else ``None``."""
        if not self.is_singular:
            return None
        return tuple(s.selectors[0] for s in self.segments)  # type: ignore[misc]

    def find(self, document: Any) -> list[tuple[ClaimPath, Any]]:
        nodes: list[tuple[ClaimPath, Any]] = [((), document)]
        budget = [MAX_VISITS]
        for segment in self.segments:
            out: list[tuple[ClaimPath, Any]] = []
            for path, value in nodes:
                targets = _descend(path, value, budget) if segment.descendant else [(path, value)]
                for tpath, tvalue in targets:
                    for selector in segment.selectors:
                        out.extend(_select(tpath, tvalue, selector))
                        _spend(budget, 1)
            nodes = out
            if not nodes:
                break
        return nodes

    def first(self, document: Any) -> tuple[ClaimPath, Any] | None:
        found = self.find(document)
        return found[0] if found else None


@functools.lru_cache(maxsize=2048)
def _parse_cached(text: str) -> JsonPath:
    # Definitions repeat the same few paths; parsed paths are immutable, so share them.
    return JsonPath(text, tuple(_Parser(text).parse()))


def format_path(path: ClaimPath) -> str:
    """The normalized JSONPath of a concrete location: ``$['a'][0]['b']``."""
    parts = ["$"]
    for step in path:
        if isinstance(step, int):
            parts.append(f"[{step}]")
        else:
            escaped = step.replace("\\", "\\\\").replace("'", "\\'")
            parts.append(f"['{escaped}']")
    return "".join(parts)


def _spend(budget: list[int], n: int) -> None:
    budget[0] -= n
    if budget[0] < 0:
        raise JsonPathError(f"JSONPath evaluation visits more than {MAX_VISITS} nodes")


def _descend(path: ClaimPath, value: Any, budget: list[int]) -> Iterator[tuple[ClaimPath, Any]]:
    # Pre-order, document order, without recursion (documents may be deep).
    stack: list[tuple[ClaimPath, Any]] = [(path, value)]
    while stack:
        node_path, node = stack.pop()
        _spend(budget, 1)
        yield node_path, node
        if isinstance(node, dict):
            stack.extend(((*node_path, k), v) for k, v in reversed(list(node.items())))
        elif isinstance(node, list):
            stack.extend(((*node_path, i), v) for i, v in reversed(list(enumerate(node))))


def _select(path: ClaimPath, value: Any, selector: _Selector) -> list[tuple[ClaimPath, Any]]:
    if isinstance(selector, str):
        if isinstance(value, dict) and selector in value:
            return [((*path, selector), value[selector])]
        return []
    if isinstance(selector, _Wildcard):
        if isinstance(value, dict):
            return [((*path, k), v) for k, v in value.items()]
        if isinstance(value, list):
            return [((*path, i), v) for i, v in enumerate(value)]
        return []
    if not isinstance(value, list):
        return []
    if isinstance(selector, int):
        index = selector + len(value) if selector < 0 else selector
        return [((*path, index), value[index])] if 0 <= index < len(value) else []
    if selector.step == 0:
        return []
    indexes = range(len(value))[slice(selector.start, selector.end, selector.step)]
    return [((*path, i), value[i]) for i in indexes]


class _Parser:
    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise JsonPathError("JSONPath must be a string")
        if len(text) > MAX_PATH_CHARS:
            raise JsonPathError(f"JSONPath is longer than {MAX_PATH_CHARS} characters")
        self.text = text
        self.pos = 0

    def fail(self, why: str) -> JsonPathError:
        return JsonPathError(f"JSONPath {self.text!r}: {why} at position {self.pos}")

    def parse(self) -> list[_Segment]:
        if not self.text.startswith("$"):
            raise self.fail("must start with '$'")
        self.pos = 1
        segments: list[_Segment] = []
        while self.pos < len(self.text):
            if len(segments) >= MAX_SEGMENTS:
                raise self.fail(f"more than {MAX_SEGMENTS} segments")
            segments.append(self.segment())
        return segments

    def segment(self) -> _Segment:
        text = self.text
        if text.startswith("..", self.pos):
            self.pos += 2
            if self.peek() == "[":
                return _Segment(True, self.bracket())
            return _Segment(True, (self.member(),))
        if self.peek() == ".":
            self.pos += 1
            return _Segment(False, (self.member(),))
        if self.peek() == "[":
            return _Segment(False, self.bracket())
        raise self.fail("expected '.', '..' or '['")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def member(self) -> _Selector:
        if self.peek() == "*":
            self.pos += 1
            return WILDCARD
        match = _NAME.match(self.text, self.pos)
        if match is None:
            raise self.fail("expected a member name")
        name = match.group()
        self.pos = match.end()
        if name[0].isdigit():
            raise self.fail("a member name cannot start with a digit (use [n])")
        return name

    def bracket(self) -> tuple[_Selector, ...]:
        self.pos += 1  # '['
        selectors: list[_Selector] = []
        while True:
            self.skip_space()
            if len(selectors) >= MAX_SELECTORS:
                raise self.fail(f"more than {MAX_SELECTORS} selectors")
            selectors.append(self.selector())
            self.skip_space()
            char = self.peek()
            self.pos += 1
            if char == "]":
                return tuple(selectors)
            if char != ",":
                self.pos -= 1
                raise self.fail("expected ',' or ']'")

    def skip_space(self) -> None:
        while self.peek() in (" ", "\t", "\n", "\r") and self.peek():
            self.pos += 1

    def selector(self) -> _Selector:
        char = self.peek()
        if char in ("'", '"'):
            return self.quoted(char)
        if char == "*":
            self.pos += 1
            return WILDCARD
        if char in ("?", "("):
            raise self.fail("filter and script expressions are not supported")
        first = self.integer()
        if self.peek() != ":":
            if first is None:
                raise self.fail("expected a name, an index, '*' or a slice")
            return first
        self.pos += 1
        self.skip_space()
        end = self.integer()
        self.skip_space()
        step = None
        if self.peek() == ":":
            self.pos += 1
            self.skip_space()
            step = self.integer()
        return _Slice(first, end, step)

    def integer(self) -> int | None:
        start = self.pos
        if self.peek() == "-":
            self.pos += 1
        while self.peek().isascii() and self.peek().isdigit():
            self.pos += 1
        digits = self.text[start : self.pos]
        if digits in ("", "-"):
            self.pos = start
            return None
        if len(digits) > 10 or (len(digits.lstrip("-")) > 1 and digits.lstrip("-")[0] == "0"):
            raise self.fail("index is too long or has a leading zero")
        return int(digits)

    def quoted(self, quote: str) -> str:
        # Reuse JSON's escapes: re-quote the literal with '"' and let json decode it.
        self.pos += 1
        chars: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise self.fail("unterminated string")
            char = self.text[self.pos]
            self.pos += 1
            if char == quote:
                break
            if char == "\\":
                if self.pos >= len(self.text):
                    raise self.fail("unterminated escape")
                nxt = self.text[self.pos]
                self.pos += 1
                if nxt == "'":
                    chars.append("'")
                elif nxt == "u":
                    chars.append("\\u" + self.text[self.pos : self.pos + 4])
                    self.pos += 4
                elif nxt in '"\\/bfnrt':
                    chars.append("\\" + nxt)
                else:
                    raise self.fail(f"unknown escape '\\{nxt}'")
            elif char == '"':
                chars.append('\\"')
            elif ord(char) < 0x20:
                raise self.fail("control character in a string")
            else:
                chars.append(char)
        try:
            return json.loads('"' + "".join(chars) + '"')
        except ValueError as err:
            raise self.fail("bad escape in a string") from err
