"""The ``basicmessage`` record both versions share, and its tags."""

from __future__ import annotations

from typing import Any

CATEGORY = "basicmessage"
MAX_CONTENT = 64 * 1024


def record(
    *, message_id: str, connection_id: str, direction: str, content: str, time: float
) -> tuple[dict[str, Any], dict[str, str]]:
    """Value and tags of a basic message record (the store's insertion order is the
    conversation's order)."""
    value = {
        "id": message_id,
        "connection_id": connection_id,
        "direction": direction,
        "content": content,
        "time": time,
    }
    tags = {"connection_id": connection_id, "direction": direction}
    return value, tags
