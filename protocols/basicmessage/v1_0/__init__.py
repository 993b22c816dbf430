"""Basic Message 1.0, DIDComm v1 family."""

from agent.plugin import Family, ProtocolPlugin

from ..handlers import handlers
from .messages import PIURI, Message

PLUGIN = ProtocolPlugin(
    piuri=PIURI,
    family=Family.V1,
    roles=("sender", "receiver"),
    handlers=handlers(Message),
    messages=(Message,),
    title="Basic Message 1.0",
)
