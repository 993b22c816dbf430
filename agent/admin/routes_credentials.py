"""Credentials over DIDComm: offers and their answers, proof requests and their answers, the
credentials held, and the standing policy.

Every action returns the exchange record. ``?wait=S`` on a GET of an exchange (or on the call
that starts one) holds the answer until the exchange ends -- ``done`` or ``abandoned`` -- or
``S`` seconds pass (then 504), subscribing before acting so that no outcome is missed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from protocols.issue_credential import actions as issuing
from protocols.issue_credential import policy as policies
from protocols.issue_credential import records as credential_records
from protocols.issue_credential.formats import OfferFormat
from protocols.issue_credential.records import CredentialExchangeRecord
from protocols.present_proof import actions as proving
from protocols.present_proof import records as proof_records
from protocols.present_proof.definitions import CLAIM_FORMATS
from protocols.present_proof.records import PresentationExchangeRecord
from wallet.errors import InputError

from .openapi import Api, Param
from .schemas import CONNECTION_REF, LIMIT, OFFSET

WAIT = {"type": "number", "minimum": 0, "maximum": 300}
ID = Param("id", {"type": "string", "minLength": 1, "maxLength": 1024}, where="path")
EXCHANGE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "role": {"type": "string"},
        "state": {"type": "string"},
        "connection_id": {"type": "string"},
        "thread_id": {"type": "string"},
        "family": {"type": "string"},
        "error": {"type": ["string", "null"]},
    },
    "required": ["id", "role", "state", "connection_id", "thread_id"],
}
EXCHANGES = {"type": "array", "items": EXCHANGE}
STRINGS = {"type": "array", "items": {"type": "string", "maxLength": 512}, "maxItems": 64}
TEXT = {"type": "string", "maxLength": 4096}
DID = {"type": "string", "maxLength": 8192}
FORMAT = {"type": "string", "enum": [f.value for f in OfferFormat]}
REASON = {
    "type": "object",
    "properties": {"reason": {"type": "string", "maxLength": 500}},
    "additionalProperties": False,
}
POLICY = {
    "type": "object",
    "properties": {
        "auto_accept_offers": {"type": "boolean"},
        "auto_present": {"type": "boolean"},
        "status_max_age": {"type": "number", "minimum": 0, "maximum": policies.MAX_STATUS_AGE},
        "status_allow_http": {"type": ["boolean", "null"]},
        "issuer_did": {"type": ["string", "null"]},
    },
    "additionalProperties": False,
}
FILTERS = (
    Param("connection", CONNECTION_REF),
    Param("role", {"type": "string", "maxLength": 20}),
    Param("state", {"type": "string", "maxLength": 40}),
    Param("limit", LIMIT),
    Param("offset", OFFSET),
)

Record = CredentialExchangeRecord | PresentationExchangeRecord


def _object(*required: str, **properties: Any) -> dict[str, Any]:
    """A request body: these properties and no others."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


async def _listing(
    agent: Any, lister: Callable[..., Awaitable[list[Any]]], roles: tuple[str, str], **kw: Any
) -> list[dict[str, Any]]:
    if kw.get("role") not in (None, *roles):
        raise InputError(f"role is {roles[0]} or {roles[1]}")
    kw["connection_id"] = await _connection_id(agent, kw.pop("connection", None))
    return [r.to_json() for r in await lister(agent, **kw)]


async def _waiting(
    agent: Any,
    act: Callable[[], Awaitable[Record]],
    wait_for: Callable[..., Awaitable[Record]],
    wait: float,
) -> Record:
    """Run ``act``; with ``wait``, hold the answer until the exchange it returns ends."""
    if not wait:
        return await act()
    with agent.bus.subscribe() as queue:
        record = await act()
        with contextlib.suppress(TimeoutError):
            return await wait_for(
                agent, record.id, {"done"}, timeout=wait, queue=queue, record=record
            )
    raise TimeoutError(f"exchange {record.id} did not end within {wait} s")


async def _connection_id(agent: Any, ref: str | None) -> str | None:
    return (await agent.connections.lookup(ref)).id if ref else None


def _date(value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{what} must be a date-time such as 2030-01-01T00:00:00Z") from None
    if when.tzinfo is None:
        raise InputError(f"{what} must carry a timezone (Z)")
    return when.astimezone(UTC)


def register(api: Api) -> None:
    _credential_routes(api)
    _held_routes(api)
    _proof_routes(api)


def _credential_routes(api: Api) -> None:
    @api.route(
        "POST",
        "/credentials/offers",
        summary="Offer a credential to a connection (issue-credential); ?wait=S for the ack",
        tag="credentials",
        params=(Param("wait", WAIT),),
        body=_object(
            "connection",
            "format",
            connection=CONNECTION_REF,
            format=FORMAT,
            claims={"type": "object"},
            credential={"type": "object"},
            types=STRINGS,
            sd=STRINGS,
            subject=DID,
            open_subject={"type": "boolean"},
            issuer=DID,
            valid_until={"type": "string", "maxLength": 64},
            status={"type": "boolean"},
            comment=TEXT,
        ),
        response=EXCHANGE,
        errors=(400, 401, 404, 504),
    )
    async def offer(agent: Any, request: web.Request, body: Any, wait: float = 0) -> Any:
        same = ("format", "claims", "credential", "types", "subject", "open_subject", "issuer")
        kw = {k: body[k] for k in (*same, "status", "comment") if k in body}

        async def act() -> Record:
            return await issuing.offer_credential(
                agent,
                body["connection"],
                disclose=body.get("sd", ()),
                valid_until=_date(body.get("valid_until"), "valid_until"),
                **kw,
            )

        return (await _waiting(agent, act, issuing.wait_for, wait)).to_json()

    @api.route(
        "POST",
        "/credentials/proposals",
        summary="Ask a connection for a credential (propose-credential)",
        tag="credentials",
        body=_object(
            "connection",
            "format",
            "claims",
            connection=CONNECTION_REF,
            format=FORMAT,
            claims={"type": "object"},
            types=STRINGS,
            sd=STRINGS,
            comment=TEXT,
        ),
        response=EXCHANGE,
        errors=(400, 401, 404),
    )
    async def propose(agent: Any, request: web.Request, body: Any) -> Any:
        record = await issuing.propose_credential(
            agent,
            body["connection"],
            format=body["format"],
            claims=body["claims"],
            types=body.get("types", ()),
            disclose=body.get("sd", ()),
            comment=body.get("comment"),
        )
        return record.to_json()

    @api.route(
        "GET",
        "/credentials/offers",
        summary="Offers waiting for your decision, with what each credential would say",
        tag="credentials",
        response=EXCHANGES,
    )
    async def pending_offers(agent: Any, request: web.Request) -> Any:
        found = await issuing.list_exchanges(agent, role="holder", state="offer-received")
        return [r.to_json() for r in found]

    @api.route(
        "GET",
        "/credentials/exchanges",
        summary="Credential exchanges, oldest first",
        tag="credentials",
        params=FILTERS,
        response=EXCHANGES,
        errors=(400, 401, 404),
    )
    async def exchanges(agent: Any, request: web.Request, **filters: Any) -> Any:
        return await _listing(agent, issuing.list_exchanges, ("issuer", "holder"), **filters)

    @api.route(
        "GET",
        "/credentials/exchanges/{id}",
        summary="One credential exchange; ?wait=S until it ends",
        tag="credentials",
        params=(ID, Param("wait", WAIT)),
        response=EXCHANGE,
        errors=(400, 401, 404, 504),
    )
    async def exchange(agent: Any, request: web.Request, id: str, wait: float = 0) -> Any:
        record = await credential_records.get(agent.store, id)
        if wait and not record.finished:
            record = await issuing.wait_for(agent, id, {"done"}, timeout=wait)
        return record.to_json()

    @api.route(
        "POST",
        "/credentials/exchanges/{id}/accept",
        summary="Accept an offer: the credential is requested, verified and kept; ?wait=S",
        tag="credentials",
        params=(ID, Param("wait", WAIT)),
        body=_object(holder_did=DID),
        response=EXCHANGE,
        errors=(400, 401, 404, 504),
    )
    async def accept(agent: Any, request: web.Request, id: str, body: Any, wait: float = 0) -> Any:
        async def act() -> Record:
            return await issuing.accept_offer(agent, id, holder_did=(body or {}).get("holder_did"))

        return (await _waiting(agent, act, issuing.wait_for, wait)).to_json()

    @api.route(
        "POST",
        "/credentials/exchanges/{id}/decline",
        summary="Decline an offer or a proposal (or stop an exchange); the peer is told",
        tag="credentials",
        params=(ID,),
        body=REASON,
        response=EXCHANGE,
        errors=(400, 401, 404),
    )
    async def decline(agent: Any, request: web.Request, id: str, body: Any) -> Any:
        return (await issuing.decline(agent, id, reason=(body or {}).get("reason"))).to_json()

    @api.route(
        "POST",
        "/credentials/exchanges/{id}/offer",
        summary="Answer a holder's proposal with an offer (its claims, or these)",
        tag="credentials",
        params=(ID,),
        body=_object(
            claims={"type": "object"},
            types=STRINGS,
            status={"type": "boolean"},
            valid_until={"type": "string", "maxLength": 64},
            comment=TEXT,
        ),
        response=EXCHANGE,
        errors=(400, 401, 404),
    )
    async def answer(agent: Any, request: web.Request, id: str, body: Any) -> Any:
        body = body or {}
        record = await issuing.answer_proposal(
            agent,
            id,
            claims=body.get("claims"),
            types=body.get("types"),
            status=body.get("status", False),
            valid_until=_date(body.get("valid_until"), "valid_until"),
            comment=body.get("comment"),
        )
        return record.to_json()

    @api.route(
        "POST",
        "/credentials/issued/status",
        summary="Revoke, suspend or unsuspend a credential this agent issued with status",
        tag="credentials",
        body=_object(
            "credential_id",
            "action",
            credential_id={"type": "string", "minLength": 1, "maxLength": 1024},
            action={"type": "string", "enum": ["revoke", "suspend", "unsuspend"]},
        ),
        response={"type": "object"},
        errors=(400, 401, 404),
    )
    async def change_status(agent: Any, request: web.Request, body: Any) -> Any:
        from wallet.credentials.issuer import revoke, suspend, unsuspend

        change = {"revoke": revoke, "suspend": suspend, "unsuspend": unsuspend}[body["action"]]
        return await change(agent.wallet, body["credential_id"])

    @api.route(
        "GET",
        "/credentials/policy",
        summary="What happens without asking: offers, proof requests; status list caching",
        tag="credentials",
        response=POLICY,
    )
    async def get_policy(agent: Any, request: web.Request) -> Any:
        return (await policies.load(agent.store)).to_json()

    @api.route(
        "PUT",
        "/credentials/policy",
        summary="Change the credential policy (the settings given)",
        tag="credentials",
        body=POLICY,
        response=POLICY,
    )
    async def put_policy(agent: Any, request: web.Request, body: Any) -> Any:
        updated = (await policies.load(agent.store)).update(body or {})
        await agent.commit([updated.save()])
        return updated.to_json()


def _held_routes(api: Api) -> None:
    @api.route(
        "GET",
        "/credentials/held",
        summary="The credentials this wallet holds (id, format, issuer, types, subject, status)",
        tag="credentials",
        params=(
            # Bounded so that the request line, percent-encoded, stays within what the admin
            # server reads (32 KiB): 12 bytes per character at worst.
            Param("type", {"type": "string", "maxLength": 512}),
            Param("issuer", {"type": "string", "maxLength": 1024}),
            Param("format", {"type": "string", "enum": ["di-jcs", "di-rdfc", "vc-jwt", "sd-jwt"]}),
        ),
        response={"type": "array", "items": {"type": "object"}},
    )
    async def held(
        agent: Any,
        request: web.Request,
        type: str | None = None,
        issuer: str | None = None,
        format: str | None = None,
    ) -> Any:
        from wallet.credentials.holder import Holder

        found = await Holder(agent.wallet).search(
            types=[type] if type else (), issuer=issuer, format=format
        )
        now = datetime.now(UTC)
        return [c.summary(now) for c in found]

    @api.route(
        "GET",
        "/credentials/held/{id}",
        summary="One held credential: its summary, claims and the credential itself",
        tag="credentials",
        params=(ID,),
        response={"type": "object"},
        errors=(400, 401, 404),
    )
    async def show(agent: Any, request: web.Request, id: str) -> Any:
        from wallet.credentials.formats import CredentialFormat, subject_claims, user_claims
        from wallet.credentials.holder import Holder

        stored = await Holder(agent.wallet).get(id)
        out = stored.summary(datetime.now(UTC))
        sd = stored.format is CredentialFormat.SD_JWT
        out["claims"] = user_claims(stored.claims) if sd else subject_claims(stored.claims)
        out["credential"] = stored.credential
        return out

    @api.route(
        "DELETE",
        "/credentials/held/{id}",
        summary="Delete a held credential",
        tag="credentials",
        params=(ID,),
        status=204,
        errors=(400, 401, 404),
    )
    async def delete(agent: Any, request: web.Request, id: str) -> None:
        from wallet.credentials.holder import Holder

        await Holder(agent.wallet).delete(id)


def _proof_routes(api: Api) -> None:
    @api.route(
        "POST",
        "/proofs",
        summary="Ask a connection for a proof (present-proof); ?wait=S for the verification",
        tag="proofs",
        params=(Param("wait", WAIT),),
        body=_object(
            "connection",
            connection=CONNECTION_REF,
            definition={"type": "object"},
            claims=STRINGS,
            types=STRINGS,
            format={"type": "string", "enum": list(CLAIM_FORMATS)},
            domain={"type": ["string", "null"], "maxLength": 1024},
            comment=TEXT,
        ),
        response=EXCHANGE,
        errors=(400, 401, 404, 504),
    )
    async def request_proof(agent: Any, request: web.Request, body: Any, wait: float = 0) -> Any:
        domain = body.get("domain", proving.OWN_DID)
        if domain is not None and domain is not proving.OWN_DID and not isinstance(domain, str):
            raise InputError("domain must be a string or null")

        async def act() -> Record:
            return await proving.request_proof(
                agent,
                body["connection"],
                definition=body.get("definition"),
                claims=body.get("claims", ()),
                format=body.get("format"),
                types=body.get("types", ()),
                domain=domain,
                comment=body.get("comment"),
            )

        return (await _waiting(agent, act, proving.wait_for, wait)).to_json()

    @api.route(
        "GET",
        "/proofs/pending",
        summary="Proof requests waiting for your decision, each with its preview",
        tag="proofs",
        response=EXCHANGES,
    )
    async def pending(agent: Any, request: web.Request) -> Any:
        found = await proving.list_exchanges(agent, role="prover", state="request-received")
        return [r.to_json() for r in found]

    @api.route(
        "GET",
        "/proofs",
        summary="Presentation exchanges, oldest first",
        tag="proofs",
        params=FILTERS,
        response=EXCHANGES,
        errors=(400, 401, 404),
    )
    async def proofs(agent: Any, request: web.Request, **filters: Any) -> Any:
        return await _listing(agent, proving.list_exchanges, ("verifier", "prover"), **filters)

    @api.route(
        "GET",
        "/proofs/{id}",
        summary="One presentation exchange (the verifier's has the report); ?wait=S",
        tag="proofs",
        params=(ID, Param("wait", WAIT)),
        response=EXCHANGE,
        errors=(400, 401, 404, 504),
    )
    async def proof(agent: Any, request: web.Request, id: str, wait: float = 0) -> Any:
        record = await proof_records.get(agent.store, id)
        if wait and not record.finished:
            record = await proving.wait_for(agent, id, {"done"}, timeout=wait)
        return record.to_json()

    @api.route(
        "GET",
        "/proofs/{id}/result",
        summary="The verification result: the report of moi credential verify, plus submission",
        tag="proofs",
        params=(ID, Param("wait", WAIT)),
        response={"type": "object"},
        errors=(400, 401, 404, 504),
    )
    async def result(agent: Any, request: web.Request, id: str, wait: float = 0) -> Any:
        record = await proof_records.get(agent.store, id)
        if wait and not record.finished:
            record = await proving.wait_for(agent, id, {"done"}, timeout=wait)
        if record.report is None:
            raise InputError(f"exchange {id} has no verification result ({record.state})")
        return record.report

    @api.route(
        "POST",
        "/proofs/{id}/accept",
        summary="Send the previewed presentation (choices: descriptor id → credential id)",
        tag="proofs",
        params=(ID,),
        body=_object(choices={"type": "object"}),
        response=EXCHANGE,
        errors=(400, 401, 404),
    )
    async def accept(agent: Any, request: web.Request, id: str, body: Any) -> Any:
        choices = (body or {}).get("choices")
        if choices is not None and not all(
            isinstance(k, str) and isinstance(v, str) for k, v in choices.items()
        ):
            raise InputError("choices maps input descriptor ids to credential ids (strings)")
        return (await proving.accept_request(agent, id, choices=choices)).to_json()

    @api.route(
        "POST",
        "/proofs/{id}/decline",
        summary="Refuse a proof request; the verifier gets a problem report",
        tag="proofs",
        params=(ID,),
        body=REASON,
        response=EXCHANGE,
        errors=(400, 401, 404),
    )
    async def decline(agent: Any, request: web.Request, id: str, body: Any) -> Any:
        return (await proving.decline(agent, id, reason=(body or {}).get("reason"))).to_json()

    @api.route(
        "POST",
        "/proofs/{id}/request",
        summary="Answer a prover's proposal with a request for what it proposed",
        tag="proofs",
        params=(ID,),
        response=EXCHANGE,
        errors=(400, 401, 404),
    )
    async def answer(agent: Any, request: web.Request, id: str) -> Any:
        return (await proving.answer_proposal(agent, id)).to_json()
