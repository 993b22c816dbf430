"""Credentials over DIDComm: offers and their answers, the credentials held, and the standing
policy (proof requests are in :mod:`.routes_proofs`).

Every action returns the exchange record; ``?wait=S`` works as :mod:`.exchanges` says.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from protocols.issue_credential import actions as issuing
from protocols.issue_credential import policy as policies
from protocols.issue_credential.formats import OfferFormat
from wallet.errors import InputError

from .exchanges import (
    DID,
    EXCHANGE,
    ID,
    REASON,
    STRINGS,
    TEXT,
    WAIT,
    Reading,
    Record,
    object_body,
    register_reading,
    waiting,
)
from .openapi import Api, Param
from .schemas import CONNECTION_REF

FORMAT = {"type": "string", "enum": [f.value for f in OfferFormat]}
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


def _credential_routes(api: Api) -> None:
    @api.route(
        "POST",
        "/credentials/offers",
        summary="Offer a credential to a connection (issue-credential); ?wait=S for the ack",
        tag="credentials",
        params=(Param("wait", WAIT),),
        body=object_body(
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

        return (await waiting(agent, act, issuing.wait_for, wait)).to_json()

    @api.route(
        "POST",
        "/credentials/proposals",
        summary="Ask a connection for a credential (propose-credential)",
        tag="credentials",
        body=object_body(
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

    register_reading(
        api,
        issuing.EXCHANGES,
        Reading(
            tag="credentials",
            path="/credentials/exchanges",
            list_summary="Credential exchanges, oldest first",
            one_summary="One credential exchange; ?wait=S until it ends",
            roles=("issuer", "holder"),
            pending_path="/credentials/offers",
            pending_summary="Offers waiting for your decision, with what each credential would say",
            pending=("holder", "offer-received"),
        ),
    )

    @api.route(
        "POST",
        "/credentials/exchanges/{id}/accept",
        summary="Accept an offer: the credential is requested, verified and kept; ?wait=S",
        tag="credentials",
        params=(ID, Param("wait", WAIT)),
        body=object_body(holder_did=DID),
        response=EXCHANGE,
        errors=(400, 401, 404, 504),
    )
    async def accept(agent: Any, request: web.Request, id: str, body: Any, wait: float = 0) -> Any:
        async def act() -> Record:
            return await issuing.accept_offer(agent, id, holder_did=(body or {}).get("holder_did"))

        return (await waiting(agent, act, issuing.wait_for, wait)).to_json()

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
        body=object_body(
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
        body=object_body(
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
