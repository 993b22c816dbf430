"""Report Problem: Aries RFC 0035 (v1) and DIDComm v2 report-problem 2.0.

Receiving a problem report abandons the exchange it refers to: the runtime marks the thread
abandoned and emits an event, so a waiting admin call returns an error instead of hanging.
"""

from agent.plugin import Family, ProtocolPlugin

from .handlers import handle_problem
from .messages import PIURI_V1, PIURI_V2

PLUGIN_V1 = ProtocolPlugin(
    piuri=PIURI_V1,
    family=Family.V1,
    roles=("notified", "notifier"),
    handlers={"problem-report": handle_problem},
    title="Report Problem 1.0",
)
PLUGIN_V2 = ProtocolPlugin(
    piuri=PIURI_V2,
    family=Family.V2,
    roles=("notified", "notifier"),
    handlers={"problem-report": handle_problem},
    title="Report Problem 2.0",
)
