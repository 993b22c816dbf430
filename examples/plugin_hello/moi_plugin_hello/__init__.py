"""Hello 1.0 — an example moi protocol plugin, in both DIDComm families.

The entry point (``moi.protocols``, see pyproject.toml) names :data:`PLUGINS`: one
:class:`~agent.plugin.ProtocolPlugin` per family, sharing the handlers. The admin routes
belong to one of them only, since they serve both.
"""

from agent.plugin import Family, ProtocolPlugin

from .handlers import HANDLERS
from .messages import PIURI, Hello, HelloBack
from .routes import routes

__all__ = ["PIURI", "PLUGINS", "Hello", "HelloBack"]

PLUGINS = [
    ProtocolPlugin(
        piuri=PIURI,
        family=family,
        roles=("greeter", "responder"),
        handlers=HANDLERS,
        messages=(Hello, HelloBack),
        routes=routes if family is Family.V2 else None,
        title="Hello 1.0 (example plugin)",
    )
    for family in (Family.V1, Family.V2)
]
