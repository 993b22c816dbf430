"""Proofs over DIDComm: asking a connection for a presentation, and answering such a request
(the person sees the preview first). Every action returns the exchange record; ``?wait=S``
works as :mod:`.exchanges` says."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from protocols.present_proof import actions as proving
from protocols.present_proof.definitions import CLAIM_FORMATS
from wallet.errors import InputError

from .exchanges import (
    EXCHANGE,
    ID,
    REASON,
    STRINGS,
    TEXT,
    WAIT,
    Reading,
    Record,
    object_body,
    read_one,
    register_reading,
    waiting,
)
from .openapi import Api, Param
from .schemas import CONNECTION_REF


def register(api: Api) -> None:
    @api.route(
        "POST",
        "/proofs",
        summary="Ask a connection for a proof (present-proof); ?wait=S for the verification",
        tag="proofs",
        params=(Param("wait", WAIT),),
        body=object_body(
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

        return (await waiting(agent, act, proving.wait_for, wait)).to_json()

    register_reading(
        api,
        proving.EXCHANGES,
        Reading(
            tag="proofs",
            path="/proofs",
            list_summary="Presentation exchanges, oldest first",
            one_summary="One presentation exchange (the verifier's has the report); ?wait=S",
            roles=("verifier", "prover"),
            pending_path="/proofs/pending",
            pending_summary="Proof requests waiting for your decision, each with its preview",
            pending=("prover", "request-received"),
        ),
    )

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
        record = await read_one(agent, proving.EXCHANGES, id, wait)
        if record.report is None:
            raise InputError(f"exchange {id} has no verification result ({record.state})")
        return record.report

    @api.route(
        "POST",
        "/proofs/{id}/accept",
        summary="Send the previewed presentation (choices: descriptor id → credential id)",
        tag="proofs",
        params=(ID,),
        body=object_body(choices={"type": "object"}),
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
