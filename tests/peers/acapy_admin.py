"""The admin API of ACA-Py 1.7, as the tests use it: thin typed calls, bounded waits.

Routes and bodies are those of the running 1.7.0 agent's ``/api/docs/swagger.json``
(summarised in docs/acapy-notes.md). ACA-Py's webhooks and its messages can arrive out of order,
so the ``wait_*`` helpers poll the admin API for the state they need, with a deadline, rather
than trusting one webhook.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypedDict

import aiohttp

POLL_INTERVAL = 0.05
DIDEXCHANGE_1_1 = "https://didcomm.org/didexchange/1.1"
#: accepted as "connected": ACA-Py says ``active``, DID exchange's own name is ``completed``
CONNECTED = ("active", "completed")

Json = dict[str, Any]


class ConnRecord(TypedDict, total=False):
    connection_id: str
    state: str
    rfc23_state: str
    my_did: str
    their_did: str
    their_label: str
    their_role: str
    connection_protocol: str
    invitation_msg_id: str
    invitation_key: str


class InvitationRecord(TypedDict, total=False):
    invitation: Json
    invitation_url: str
    invi_msg_id: str
    oob_id: str
    state: str


class AcaPyError(RuntimeError):
    """The ACA-Py process did not start, died, or did not reach a state in time."""


class AdminError(AcaPyError):
    """An admin API call answered with an error status."""

    def __init__(self, method: str, path: str, status: int, text: str) -> None:
        super().__init__(f"{method} {path} -> HTTP {status}: {text[:2000]}")
        self.status = status
        self.text = text


async def poll(
    probe: Callable[[], Any], *, timeout: float, what: str, interval: float = POLL_INTERVAL
) -> Any:
    """Await ``probe()`` until it returns something truthy; AcaPyError at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AcaPyError(f"timed out after {timeout:.1f}s waiting for {what}")
        await asyncio.sleep(interval)


class AdminClient:
    """Admin calls against ``self._http()``, a session whose base URL is the admin API."""

    label: str

    def _http(self) -> aiohttp.ClientSession:
        raise NotImplementedError

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        """One admin call; JSON in and out; AdminError on a status >= 400."""
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        async with self._http().request(method, path, json=body, params=query) as resp:
            text = await resp.text()
            if resp.status >= 400:
                raise AdminError(method, path, resp.status, text)
            return json.loads(text) if text else None

    async def get(self, path: str, **params: Any) -> Any:
        return await self.request("GET", path, params=params)

    async def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return await self.request("POST", path, body={} if body is None else body, params=params)

    async def swagger(self) -> Json:
        return await self.get("/api/docs/swagger.json")

    # out-of-band and connections

    async def create_invitation(
        self,
        *,
        did_method: str | None = "did:peer:4",
        handshake: Sequence[str] = (DIDEXCHANGE_1_1,),
        multi_use: bool = False,
        unique_did: bool = True,
        label: str | None = None,
        **extra: Any,
    ) -> InvitationRecord:
        """An OOB 1.1 invitation; ``did_method`` is ``did:peer:4``, ``did:peer:2`` or None.

        ACA-Py reuses one invitation DID per method unless asked for a unique one, and then
        refuses a second request to that DID once an invitation with it was used.
        """
        body: Json = {"handshake_protocols": list(handshake), **extra}
        if did_method is not None:
            body["use_did_method"] = did_method
        if label is not None:
            body["my_label"] = label
        return await self.post(
            "/out-of-band/create-invitation",
            body,
            multi_use=multi_use,
            create_unique_did=unique_did if did_method is not None else None,
        )

    async def receive_invitation(
        self, invitation: Mapping[str, Any], *, alias: str | None = None, **params: Any
    ) -> Json:
        """The OOB record; with auto-accept its ``connection_id`` is the new connection."""
        return await self.post(
            "/out-of-band/receive-invitation", dict(invitation), alias=alias, **params
        )

    async def accept_invitation(
        self, conn_id: str, *, did_method: str | None = None, **params: Any
    ) -> ConnRecord:
        """Send the DID exchange request for an invitation received with ``auto_accept=False``.

        ``did_method`` (``did:peer:2`` / ``did:peer:4``) is the invitee's own DID method;
        ACA-Py's inviter then answers with the same method.
        """
        return await self.post(
            f"/didexchange/{conn_id}/accept-invitation", None, use_did_method=did_method, **params
        )

    async def connections(self, **filters: Any) -> list[ConnRecord]:
        return (await self.get("/connections", **filters))["results"]

    async def connection(self, conn_id: str) -> ConnRecord:
        return await self.get(f"/connections/{conn_id}")

    async def wait_for_connection(
        self,
        conn_id: str | None = None,
        *,
        invitation_msg_id: str | None = None,
        states: Sequence[str] = CONNECTED,
        timeout: float = 20.0,
    ) -> ConnRecord:
        """Poll until a connection (by id, or the one made from an invitation) is in ``states``."""
        if (conn_id is None) == (invitation_msg_id is None):
            raise ValueError("give exactly one of conn_id and invitation_msg_id")

        async def probe() -> ConnRecord | None:
            if conn_id is not None:
                found = [await self.connection(conn_id)]
            else:
                found = await self.connections(invitation_msg_id=invitation_msg_id)
            for record in found:
                if record.get("state") in ("abandoned", "error"):
                    raise AcaPyError(f"connection failed on {self.label}: {record}")
                if record.get("state") in states or record.get("rfc23_state") in states:
                    return record
            return None

        return await poll(probe, timeout=timeout, what=f"{self.label}: connection in {states}")

    async def send_message(self, conn_id: str, content: str) -> None:
        await self.post(f"/connections/{conn_id}/send-message", {"content": content})

    async def send_ping(self, conn_id: str, comment: str | None = None) -> str:
        """Send a trust ping (response requested); returns its thread id."""
        body = {} if comment is None else {"comment": comment}
        return (await self.post(f"/connections/{conn_id}/send-ping", body))["thread_id"]

    async def query_features(
        self,
        conn_id: str,
        *,
        protocol: str = "*",
        goal_code: str = "*",
        timeout: float = 15.0,
    ) -> Json:
        """Send discover-features 2.0 queries; the exchange record once disclosures came.

        ACA-Py sends one query per non-empty argument (``""`` leaves that query out; its own
        default for an absent one is ``"*"``). It waits up to 5 s for the answer itself; after
        that this polls the exchange record.
        """
        record = await self.get(
            "/discover-features-2.0/queries",
            connection_id=conn_id,
            query_protocol=protocol,
            query_goal_code=goal_code,
        )
        if record.get("disclosures"):
            return record
        exchange_id = record["discovery_exchange_id"]

        async def probe() -> Json | None:
            records = (await self.get("/discover-features-2.0/records", connection_id=conn_id))[
                "results"
            ]
            for rec in records:
                if rec.get("discovery_exchange_id") == exchange_id and rec.get("disclosures"):
                    return rec
            return None

        return await poll(probe, timeout=timeout, what=f"{self.label}: disclosures")

    async def resolve(self, did: str) -> Json:
        return await self.get(f"/resolver/resolve/{did}")

    async def create_did(self, method: str = "key", key_type: str = "ed25519") -> str:
        result = await self.post(
            "/wallet/did/create", {"method": method, "options": {"key_type": key_type}}
        )
        return result["result"]["did"]

    # coordinate-mediation 1.0

    async def request_mediation(self, conn_id: str) -> Json:
        return await self.post(f"/mediation/request/{conn_id}", {})

    async def mediation_records(self, **filters: Any) -> list[Json]:
        return (await self.get("/mediation/requests", **filters))["results"]

    async def grant_mediation(self, mediation_id: str) -> Json:
        return await self.post(f"/mediation/requests/{mediation_id}/grant")

    async def set_default_mediator(self, mediation_id: str) -> Json:
        return await self.request("PUT", f"/mediation/{mediation_id}/default-mediator")

    async def wait_for_mediation(
        self, conn_id: str, state: str = "granted", timeout: float = 20.0
    ) -> Json:
        async def probe() -> Json | None:
            for rec in await self.mediation_records(conn_id=conn_id):
                if rec.get("state") == "denied" and state != "denied":
                    raise AcaPyError(f"mediation denied on {self.label}: {rec}")
                if rec.get("state") == state:
                    return rec
            return None

        return await poll(probe, timeout=timeout, what=f"{self.label}: mediation {state}")

    # issue-credential 2.0 and present-proof 2.0

    async def issue_credential(
        self, conn_id: str, cred_filter: Mapping[str, Any], **extra: Any
    ) -> Json:
        """Offer a credential in any format ACA-Py knows (``{"ld_proof": ...}``, ``{"vc_di":
        ...}``, ...); the issuer's exchange record. ``vc_di`` is AnonCreds in W3C form and needs
        a ledger, so with ``--no-ledger`` only ``ld_proof`` works."""
        body = {"connection_id": conn_id, "filter": dict(cred_filter), **extra}
        return await self.post("/issue-credential-2.0/send", body)

    async def issue_ld_credential(
        self,
        conn_id: str,
        credential: Mapping[str, Any],
        *,
        proof_type: str = "Ed25519Signature2020",
        **options: Any,
    ) -> Json:
        """Offer a JSON-LD credential (``ld_proof`` format); the issuer's exchange record."""
        detail = {"credential": dict(credential), "options": {"proofType": proof_type, **options}}
        return await self.issue_credential(conn_id, {"ld_proof": detail})

    async def cred_ex_records(self, **filters: Any) -> list[Json]:
        return [
            r["cred_ex_record"]
            for r in (await self.get("/issue-credential-2.0/records", **filters))["results"]
        ]

    async def request_proof_dif(
        self,
        conn_id: str,
        presentation_definition: Mapping[str, Any],
        *,
        challenge: str | None = None,
        domain: str | None = None,
        auto_verify: bool = True,
    ) -> Json:
        """Request a presentation by DIF presentation exchange; the verifier's exchange record."""
        options = {k: v for k, v in (("challenge", challenge), ("domain", domain)) if v}
        dif: Json = {"presentation_definition": dict(presentation_definition)}
        if options:
            dif["options"] = options
        body = {
            "connection_id": conn_id,
            "presentation_request": {"dif": dif},
            "auto_verify": auto_verify,
        }
        return await self.post("/present-proof-2.0/send-request", body)

    async def send_presentation(self, pres_ex_id: str, dif: Mapping[str, Any]) -> Json:
        return await self.post(
            f"/present-proof-2.0/records/{pres_ex_id}/send-presentation", {"dif": dict(dif)}
        )

    async def verify_presentation(self, pres_ex_id: str) -> Json:
        return await self.post(f"/present-proof-2.0/records/{pres_ex_id}/verify-presentation")

    async def pres_ex_records(self, **filters: Any) -> list[Json]:
        return (await self.get("/present-proof-2.0/records", **filters))["results"]

    async def w3c_credentials(self, **query: Any) -> list[Json]:
        return (await self.post("/credentials/w3c", query))["results"]

    def problem_report(self, thread_id: str) -> Json | None:
        """A problem report received on ``thread_id``, if the client sees webhooks."""
        return None

    async def wait_for_exchange(
        self, kind: str, thread_id: str, state: str = "done", timeout: float = 30.0
    ) -> Json:
        """Poll a credential (``kind="cred"``) or presentation (``"pres"``) exchange by thread.

        Fails at once when the exchange is abandoned or a problem report came on its thread:
        ACA-Py's verifier leaves its record as it was when the prover reports a problem.
        """
        fetch = {"cred": self.cred_ex_records, "pres": self.pres_ex_records}[kind]

        async def probe() -> Json | None:
            for rec in await fetch(thread_id=thread_id):
                if rec.get("state") == state:
                    return rec
                if rec.get("state") == "abandoned":
                    raise AcaPyError(f"{kind} exchange abandoned on {self.label}: {rec}")
            report = self.problem_report(thread_id)
            if report is not None and state != "abandoned":
                raise AcaPyError(f"{kind} exchange on {self.label}: problem report {report}")
            return None

        return await poll(probe, timeout=timeout, what=f"{self.label}: {kind} exchange {state}")


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
