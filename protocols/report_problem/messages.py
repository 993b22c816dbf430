"""Problem reports in both families, built from a problem code and a human explanation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PIURI_V1 = "https://didcomm.org/report-problem/1.0"
PIURI_V2 = "https://didcomm.org/report-problem/2.0"
TYPE_V1 = f"{PIURI_V1}/problem-report"
TYPE_V2 = f"{PIURI_V2}/problem-report"


@dataclass(frozen=True, slots=True)
class Problem:
    code: str
    comment: str

    def body(self, *, v1: bool) -> dict[str, Any]:
        if v1:
            return {"description": {"code": self.code, "en": self.comment}}
        return {"code": self.code, "comment": self.comment}

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Problem:
        """Read either form leniently: a problem report must never cause another one."""
        description = body.get("description")
        if isinstance(description, Mapping):
            code = description.get("code")
            comment = description.get("en") or body.get("explain-ltxt")
        else:
            code = body.get("code")
            comment = body.get("comment")
        code = code if isinstance(code, str) else "unknown"
        comment = comment if isinstance(comment, str) else ""
        return cls(code[:200], comment[:2000])
