"""DID Exchange 1.1 (Aries RFC 0023), DIDComm v1 family: the handshake behind an OOB 1.1
invitation. moi answers with did:peer:4 and accepts did:peer:2 and did:peer:4."""

from agent.plugin import Family, ProtocolPlugin

from .handlers import handle_complete, handle_request, handle_response
from .messages import PIURI, Complete, Request, Response

PLUGIN = ProtocolPlugin(
    piuri=PIURI,
    family=Family.V1,
    roles=("requester", "responder"),
    handlers={"request": handle_request, "response": handle_response, "complete": handle_complete},
    messages=(Request, Response, Complete),
    title="DID Exchange 1.1",
)
