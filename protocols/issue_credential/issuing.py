"""The wallet work at both ends of an issuance: signing what was requested, keeping what came.

The rules (who may ask for what) are in :mod:`.formats` and :mod:`.machine`; this module
only signs and stores. JSON-LD credentials are signed exactly as requested, with the status
entries the request asked for added in the same transaction that takes their indexes; the
JWT formats go through the wallet's issuer, which mints their ids and times.
"""

from __future__ import annotations

import contextlib
import weakref
from datetime import UTC, datetime
from typing import Any

from protocols.exchange.attachments import Attached
from wallet.credentials.data_integrity import add_proof
from wallet.credentials.did_keys import ASSERTION, own_signing_key, require_own_did
from wallet.credentials.formats import CredentialFormat, user_claims
from wallet.credentials.holder import Holder, StoredCredential
from wallet.credentials.issuer import issue_credential
from wallet.credentials.issuer_status import allocate, record_issued
from wallet.credentials.model import parse_datetime
from wallet.encoding import dumps_compact
from wallet.errors import DuplicateRecord, InputError, RecordNotFound

from .formats import (
    CREDENTIAL_FOR,
    ED25519_SIGNATURE_2020,
    MEDIA_TYPES,
    Detail,
    OfferFormat,
)

ISSUER_CATEGORY = "credential-issuer"
ISSUER_RECORD = "default"


#: Each wallet's issuer DID once read or made. The record is written once and never changed
#: (a concurrent maker reads the first one back), so an offer need not read it again.
_ISSUERS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


async def default_issuer(wallet: Any) -> str:
    """The agent's issuer DID: a did:key made on first use and kept, so that everyone this
    agent issues to sees one issuer (pairwise DIDs would make every credential a stranger's)."""
    known = _ISSUERS.get(wallet)
    if known is not None:
        return known
    did = await _stored_issuer(wallet)
    with contextlib.suppress(TypeError):  # a wallet that is not weak-referenceable: no cache
        _ISSUERS[wallet] = did
    return did


async def _stored_issuer(wallet: Any) -> str:
    store = wallet.store
    try:
        return str((await store.get(ISSUER_CATEGORY, ISSUER_RECORD)).json()["did"])
    except RecordNotFound:
        pass
    did = await wallet.create_did("key", label="credential issuer")
    try:
        await store.add(ISSUER_CATEGORY, ISSUER_RECORD, dumps_compact({"did": did}).encode())
    except DuplicateRecord:
        # Made concurrently by another request: use that one (ours stays an unused DID).
        return str((await store.get(ISSUER_CATEGORY, ISSUER_RECORD)).json()["did"])
    return did


async def issue(
    wallet: Any, request: Detail, *, status_base_url: str | None, now: datetime
) -> tuple[Attached, str]:
    """Sign the requested credential; returns its attachment and its id."""
    issuer = request.issuer
    if issuer is None:
        raise InputError("the request names no issuer")
    await require_own_did(wallet, issuer)
    if request.status and not status_base_url:
        raise InputError("a credential with status needs this agent's public endpoint")
    fmt = CREDENTIAL_FOR[request.attached.format]
    if request.format in (OfferFormat.VC_JWT, OfferFormat.SD_JWT):
        issued = await issue_credential(
            wallet,
            **_wallet_arguments(request),
            status=request.status,
            status_base_url=status_base_url if request.status else None,
            now=now,
        )
        return Attached(fmt, issued.serialize(), media_type=MEDIA_TYPES[fmt]), issued.id
    signed = await _sign_ld(wallet, request, status_base_url=status_base_url, now=now)
    return Attached(fmt, signed, media_type=MEDIA_TYPES[fmt]), str(signed.get("id") or "")


def _wallet_arguments(request: Detail) -> dict[str, Any]:
    credential = request.credential
    if request.format is OfferFormat.SD_JWT:
        exp = credential.get("exp")
        return {
            "issuer": request.issuer,
            "subject": request.subject,
            "format": CredentialFormat.SD_JWT,
            "claims": user_claims(credential),
            "types": [credential["vct"]],
            "disclose": list(request.disclosable),
            "valid_until": datetime.fromtimestamp(exp, UTC) if isinstance(exp, int) else None,
        }
    subject = credential["credentialSubject"]
    types = credential.get("type")
    valid_until = credential.get("validUntil")
    return {
        "issuer": request.issuer,
        "subject": request.subject,
        "format": CredentialFormat.VC_JWT,
        "claims": {k: v for k, v in subject.items() if k != "id"},
        "types": [t for t in (types if isinstance(types, list) else [types]) if t],
        "valid_until": parse_datetime(valid_until, "validUntil") if valid_until else None,
    }


async def _sign_ld(
    wallet: Any, request: Detail, *, status_base_url: str | None, now: datetime
) -> dict[str, Any]:
    issuer = request.issuer or ""
    vm, key = await own_signing_key(wallet, wallet.resolver, issuer, ASSERTION)
    options = request.options
    suite = (
        ED25519_SIGNATURE_2020
        if request.format is OfferFormat.ED25519_2020
        else str(options.get("cryptosuite", "eddsa-jcs-2022"))
    )
    created = now.astimezone(UTC).replace(microsecond=0)
    if options.get("created"):
        created = parse_datetime(options["created"], "options.created")

    async def sign(doc: dict[str, Any]) -> dict[str, Any]:
        return await add_proof(
            doc,
            cryptosuite=suite,
            key=key,
            verification_method=vm,
            proof_purpose=ASSERTION,
            created=created,
            challenge=options.get("challenge"),
            domain=options.get("domain"),
        )

    doc = dict(request.credential)
    if not request.status or not status_base_url:
        return await sign(doc)
    credential_id = doc.get("id")
    if not isinstance(credential_id, str):
        raise InputError("a credential with status needs an id")
    async with wallet.store.transaction() as tx:
        # Indexes are taken and recorded only if signing succeeds (one transaction).
        assignments = await allocate(
            tx, issuer=issuer, verification_method=vm, base_url=status_base_url, now=now
        )
        await record_issued(tx, credential_id, issuer, assignments)
        doc["credentialStatus"] = [a.entry() for a in assignments]
        return await sign(doc)


async def keep(wallet: Any, credential: dict[str, Any] | str) -> StoredCredential:
    """Verify the credential (signature, issuer, validity) and keep it in the holder wallet."""
    return await Holder(wallet).store(credential)
