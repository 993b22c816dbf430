"""Trust Ping 2.0, DIDComm v2 family."""

from agent.plugin import Family, ProtocolPlugin

from ..handlers import handlers
from .messages import PIURI, Ping, PingResponse

PLUGIN = ProtocolPlugin(
    piuri=PIURI,
    family=Family.V2,
    roles=("sender", "receiver"),
    handlers=handlers(Ping, PingResponse),
    messages=(Ping, PingResponse),
    title="Trust Ping 2.0",
)
