"""The person's standing decisions about credentials, kept in the wallet.

By default nothing is automatic on the holder's side: an offer waits for the person to accept
or decline it, and so does every proof request (after moi has picked the matching credentials
and shown exactly what would be disclosed, to whom). A person or an organisation that wants
otherwise says so here (``PUT /credentials/policy``, ``moi credential policy``).

The verifier's side is set here too: how long a fetched status list is trusted (a revocation
is seen at most that late), and whether status lists may be fetched over plain http (by
default only when this agent's own endpoint is plain http, i.e. in development).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from agent.plugin import RecordReader, Save
from wallet.errors import InputError, RecordNotFound

CATEGORY = "credential-policy"
RECORD_ID = "default"
_FETCHER_KEY = "credential_status_fetcher"
MAX_STATUS_AGE = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class CredentialPolicy:
    #: Request offered credentials without asking (holder).
    auto_accept_offers: bool = False
    #: Answer proof requests that can be satisfied without asking (prover).
    auto_present: bool = False
    #: Seconds a fetched status list is trusted (verifier).
    status_max_age: float = 300.0
    #: Fetch status lists over plain http; None: only if this agent's endpoint is http.
    status_allow_http: bool | None = None
    #: The DID credentials are issued from; None: a did:key this agent makes on first use.
    issuer_did: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CredentialPolicy:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def update(self, changes: Mapping[str, Any]) -> CredentialPolicy:
        """A copy with ``changes`` applied, each checked; unknown names are refused."""
        known = {f.name: f for f in fields(self)}
        for name, value in changes.items():
            if name not in known:
                raise InputError(f"unknown policy setting {str(name)[:40]!r}")
            if name in ("auto_accept_offers", "auto_present") and not isinstance(value, bool):
                raise InputError(f"{name} must be true or false")
            if name == "status_allow_http" and value is not None and not isinstance(value, bool):
                raise InputError("status_allow_http must be true, false or null")
            if name == "status_max_age" and (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0 <= value <= MAX_STATUS_AGE
            ):
                raise InputError(f"status_max_age must be between 0 and {MAX_STATUS_AGE:.0f}")
            if (
                name == "issuer_did"
                and value is not None
                and (
                    not isinstance(value, str) or not value.startswith("did:") or len(value) > 8192
                )
            ):
                raise InputError("issuer_did must be a DID (or null)")
        return replace(self, **dict(changes))

    def save(self) -> Save:
        return Save(CATEGORY, RECORD_ID, self.to_json())


async def load(records: RecordReader) -> CredentialPolicy:
    try:
        return CredentialPolicy.from_json((await records.get(CATEGORY, RECORD_ID)).json())
    except RecordNotFound:
        return CredentialPolicy()


def fetcher(services: Mapping[str, Any], policy: CredentialPolicy) -> Any:
    """The agent's ``StatusListFetcher`` (one cache for every verification), made on first
    use and made again when the policy's limits change."""
    from wallet.credentials.verifier import status_fetcher

    agent = services.get("agent")
    wallet = services["wallet"]
    allow_http = policy.status_allow_http
    if allow_http is None:
        endpoint = str(getattr(agent, "endpoint", "") or "")
        allow_http = endpoint.startswith("http://")
    key = (policy.status_max_age, allow_http)
    cached = services.get(_FETCHER_KEY) if isinstance(services, dict) else None
    if cached is not None and cached[0] == key:
        return cached[1]
    # No session of the agent's: the fetcher's own connect only to public addresses, and to
    # those the operator allows (--allow-private-fetch).
    made = status_fetcher(
        wallet.resolver,
        allow_http=allow_http,
        max_age=float(policy.status_max_age),
        allow_private=getattr(services.get("config"), "allow_private_fetch", ()),
    )
    if isinstance(services, dict):
        services[_FETCHER_KEY] = (key, made)
    return made
