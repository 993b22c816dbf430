"""Present Proof: 2.0 (Aries RFC 0454) over DIDComm v1 and 3.0 over DIDComm v2.

Requests are DIF Presentation Exchange definitions with a challenge and a domain
(``dif/presentation-exchange/definitions@v1.0``); presentations answer them
(``dif/presentation-exchange/submission@v1.0``): a signed Verifiable Presentation for W3C
credentials, as ACA-Py sends, or SD-JWT (with key binding) and vc+jwt presentations beside a
``presentation_submission`` (:mod:`.presenting`). The prover shows the person a preview of
exactly what would be disclosed, and to whom, and waits for their decision unless
:mod:`protocols.issue_credential.policy` says to present automatically. The verifier verifies
on arrival and keeps the report (:mod:`.verifying`).
"""

from agent.plugin import Family, ProtocolPlugin

from .handlers import HANDLERS
from .messages import MESSAGES, PIURI

PLUGIN_V1 = ProtocolPlugin(
    piuri=PIURI[Family.V1],
    family=Family.V1,
    roles=("verifier", "prover"),
    handlers=HANDLERS,
    messages=MESSAGES,
    title="Present Proof 2.0",
)
PLUGIN_V2 = ProtocolPlugin(
    piuri=PIURI[Family.V2],
    family=Family.V2,
    roles=("verifier", "prover"),
    handlers=HANDLERS,
    messages=MESSAGES,
    title="Present Proof 3.0",
)
