"""JSON schemas shared by the admin routes (the OpenAPI document shows them)."""

from __future__ import annotations

from typing import Any

CONNECTION: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "state": {"type": "string"},
        "family": {"type": "string", "enum": ["v1", "v2"]},
        "role": {"type": "string"},
        "their_label": {"type": ["string", "null"]},
        "their_did": {"type": ["string", "null"]},
        "my_did": {"type": ["string", "null"]},
        "invitation_id": {"type": ["string", "null"]},
        "created": {"type": "number"},
        "updated": {"type": "number"},
    },
    "required": ["id", "state", "family", "their_label", "their_did", "my_did"],
}

EVENT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "topic": {"type": "string"},
        "payload": {"type": "object"},
        "time": {"type": "number"},
    },
    "required": ["id", "topic", "payload", "time"],
}

MESSAGE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "direction": {"type": "string", "enum": ["in", "out"]},
        "content": {"type": "string"},
        "time": {"type": "number"},
        "state": {"type": "string"},
    },
    "required": ["id", "direction", "content", "time", "state"],
}

LIMIT = {"type": "integer", "minimum": 1, "maximum": 1000}
OFFSET = {"type": "integer", "minimum": 0, "maximum": 10_000_000}
TIMEOUT = {"type": "number", "minimum": 0.1, "maximum": 300}
CONNECTION_REF = {"type": "string", "minLength": 1, "maxLength": 512}
