"""Format-tagged attachments: they moved to :mod:`protocols.exchange.attachments`, which both
credential protocols share; the names stay importable from here."""

from protocols.exchange.attachments import (
    JSON,
    MAX_ATTACHMENT_BYTES,
    MAX_ATTACHMENTS,
    Attached,
    from_v1,
    from_v2,
    pick,
    to_v1,
    to_v2,
)

__all__ = [
    "JSON",
    "MAX_ATTACHMENTS",
    "MAX_ATTACHMENT_BYTES",
    "Attached",
    "from_v1",
    "from_v2",
    "pick",
    "to_v1",
    "to_v2",
]
