"""Discover Features 2.0 — in the Aries family (RFC 0557: ``queries`` / ``disclosures``) and
in DIDComm v2 (``queries`` / ``disclose``). One machine answers both."""

from agent.plugin import Family, ProtocolPlugin

from .handlers import handle_disclose, handle_queries
from .messages import PIURI, Disclose, Queries

PLUGIN_V1 = ProtocolPlugin(
    piuri=PIURI,
    family=Family.V1,
    roles=("requester", "responder"),
    handlers={"queries": handle_queries, "disclosures": handle_disclose},
    messages=(Queries, Disclose),
    title="Discover Features 2.0 (Aries RFC 0557)",
)
PLUGIN_V2 = ProtocolPlugin(
    piuri=PIURI,
    family=Family.V2,
    roles=("requester", "responder"),
    handlers={"queries": handle_queries, "disclose": handle_disclose},
    messages=(Queries, Disclose),
    title="Discover Features 2.0 (DIDComm v2)",
)
