"""Coordinate Mediation 1.0 (Aries RFC 0211, v1 family) and 3.0 (DIDComm v2)."""

from agent.plugin import Family, ProtocolPlugin

from .handlers import handlers
from .messages import PIURI

PLUGIN_V1 = ProtocolPlugin(
    piuri=PIURI[Family.V1],
    family=Family.V1,
    roles=("mediator", "recipient"),
    handlers=handlers(Family.V1),
    title="Coordinate Mediation 1.0",
)
PLUGIN_V2 = ProtocolPlugin(
    piuri=PIURI[Family.V2],
    family=Family.V2,
    roles=("mediator", "recipient"),
    handlers=handlers(Family.V2),
    title="Coordinate Mediation 3.0",
)
