"""Basic Message 2.0, DIDComm v2 family."""

from agent.plugin import Family, ProtocolPlugin

from ..handlers import handlers
from .messages import PIURI, Message

PLUGIN = ProtocolPlugin(
    piuri=PIURI,
    family=Family.V2,
    roles=("sender", "receiver"),
    handlers=handlers(Message),
    messages=(Message,),
    title="Basic Message 2.0",
)
