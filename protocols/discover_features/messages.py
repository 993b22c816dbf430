"""Discover Features 2.0 messages and the pure matching of queries against features."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from agent.errors import RemoteProtocolError
from agent.plugin import AgentMessage

PIURI = "https://didcomm.org/discover-features/2.0"
MAX_QUERIES = 50
MAX_DISCLOSURES = 1000


@dataclass(frozen=True, slots=True)
class Query:
    feature_type: str
    match: str


@dataclass(frozen=True, slots=True)
class Disclosure:
    feature_type: str
    id: str
    roles: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"feature-type": self.feature_type, "id": self.id}
        if self.roles:
            out["roles"] = list(self.roles)
        return out


@dataclass(frozen=True, slots=True)
class Queries(AgentMessage):
    TYPE: ClassVar[str] = f"{PIURI}/queries"
    queries: tuple[Query, ...]

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        raw = body.get("queries")
        if not isinstance(raw, list) or not raw or len(raw) > MAX_QUERIES:
            raise RemoteProtocolError(
                f"'queries' must be a list of 1 to {MAX_QUERIES} queries", "e.p.msg.invalid"
            )
        out = []
        for item in raw:
            if not isinstance(item, Mapping):
                raise RemoteProtocolError("each query must be an object", "e.p.msg.invalid")
            ftype, match = item.get("feature-type"), item.get("match")
            if not isinstance(ftype, str) or not isinstance(match, str) or len(match) > 512:
                raise RemoteProtocolError(
                    "a query needs string 'feature-type' and 'match'", "e.p.msg.invalid"
                )
            out.append(Query(ftype, match))
        return cls(tuple(out))

    def to_body(self) -> dict[str, Any]:
        return {
            "queries": [{"feature-type": q.feature_type, "match": q.match} for q in self.queries]
        }


@dataclass(frozen=True, slots=True)
class Disclose(AgentMessage):
    TYPE: ClassVar[str] = f"{PIURI}/disclose"
    disclosures: tuple[Disclosure, ...]

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        raw = body.get("disclosures")
        if not isinstance(raw, list) or len(raw) > MAX_DISCLOSURES:
            raise RemoteProtocolError("'disclosures' must be a list", "e.p.msg.invalid")
        out = []
        for item in raw:
            if not isinstance(item, Mapping):
                raise RemoteProtocolError("each disclosure must be an object", "e.p.msg.invalid")
            ftype, fid = item.get("feature-type"), item.get("id")
            if not isinstance(ftype, str) or not isinstance(fid, str) or len(fid) > 512:
                raise RemoteProtocolError(
                    "a disclosure needs string 'feature-type' and 'id'", "e.p.msg.invalid"
                )
            roles = item.get("roles") or []
            if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
                raise RemoteProtocolError("'roles' must be a list of strings", "e.p.msg.invalid")
            out.append(Disclosure(ftype, fid, tuple(roles)))
        return cls(tuple(out))

    def to_body(self) -> dict[str, Any]:
        return {"disclosures": [d.to_json() for d in self.disclosures]}


def answer(queries: Sequence[Query], features: Sequence[Disclosure]) -> tuple[Disclosure, ...]:
    """The features matching any query; ``*`` is the only wildcard, as the RFC allows."""
    out: list[Disclosure] = []
    seen: set[tuple[str, str]] = set()
    for query in queries:
        for feature in features:
            key = (feature.feature_type, feature.id)
            if key in seen or feature.feature_type != query.feature_type:
                continue
            if fnmatch.fnmatchcase(feature.id, query.match.replace("[", "[[]")):
                seen.add(key)
                out.append(feature)
    return tuple(out)
