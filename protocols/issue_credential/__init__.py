"""Issue Credential: 2.0 (Aries RFC 0453) over DIDComm v1 and 3.0 over DIDComm v2.

Roles ``issuer`` and ``holder``; attachment formats in :mod:`.formats` (Aries RFC 0593's
JSON-LD detail for W3C credentials with Data Integrity or Ed25519Signature2020 proofs, and
moi's own for vc+jwt and SD-JWT VC). The holder verifies and keeps a credential before it
acknowledges it; an offer waits for the person unless :mod:`.policy` says otherwise. The
admin API and the CLI drive exchanges through :mod:`.actions`.
"""

from agent.plugin import Family, ProtocolPlugin

from .handlers import HANDLERS
from .messages import MESSAGES, PIURI

PLUGIN_V1 = ProtocolPlugin(
    piuri=PIURI[Family.V1],
    family=Family.V1,
    roles=("issuer", "holder"),
    handlers=HANDLERS,
    messages=MESSAGES,
    title="Issue Credential 2.0",
)
PLUGIN_V2 = ProtocolPlugin(
    piuri=PIURI[Family.V2],
    family=Family.V2,
    roles=("issuer", "holder"),
    handlers=HANDLERS,
    messages=MESSAGES,
    title="Issue Credential 3.0",
)
