"""The issuer's Bitstring Status Lists, kept in the wallet: allocate, revoke, suspend, publish.

Each issuer DID has an open revocation list and an open suspension list (one purpose per
list, so an un-suspend can never clear a revocation). A credential issued with status gets
a random index in both and the two ``BitstringStatusListEntry`` objects. The store keeps
two kinds of record and nothing else -- never a credential's claims:

- ``credential-status-list``: a list's state (bits and which indexes are taken), its issuer
  DID, the assertion key that signs it and the time of its last change;
- ``credential-issued-status``: for a credential id, which index it got in which list.

A list is published at ``{public endpoint}/status/{list_id}`` by the running agent, which
calls :func:`status_list_document` for every request: the list credential is signed anew
(eddsa-jcs-2022, microseconds) from the current state, so a revocation is visible to the
next fetch.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from wallet.did import ResolverRegistry
from wallet.encoding import dumps_compact
from wallet.errors import InputError, RecordNotFound
from wallet.keys import PrivateKey
from wallet.storage import Record, Store

from .data_integrity import EDDSA_JCS_2022, add_proof
from .did_keys import NoSigningKey
from .errors import StatusError
from .model import format_datetime, parse_datetime
from .status_list import REVOCATION, SUSPENSION, StatusListEntry
from .status_list_issuer import StatusList, StatusListFull

LIST_CATEGORY = "credential-status-list"
ISSUED_CATEGORY = "credential-issued-status"
#: Media type of a VC Data Model 2.0 credential secured with an embedded proof.
STATUS_LIST_MEDIA_TYPE = "application/vc"
PURPOSES = (REVOCATION, SUSPENSION)
_MAX_BASE_URL = 1024


class NotRevocable(StatusError):
    """The credential was issued without a status entry (or by another wallet)."""


class StatusListNotFound(StatusError, RecordNotFound):
    """No status list with this id is kept here."""


class SigningWallet(Protocol):
    store: Store
    resolver: ResolverRegistry

    async def secret_for(self, kid: str) -> PrivateKey | None: ...

    async def get_did(self, did: str) -> Any: ...


@dataclass(frozen=True, slots=True)
class StatusAssignment:
    """One index a credential got in one of its issuer's lists."""

    list_id: str
    purpose: str
    index: int
    url: str

    def entry(self) -> dict[str, Any]:
        """The ``BitstringStatusListEntry`` for the credential."""
        return StatusListEntry(
            purpose=self.purpose,
            index=self.index,
            list_credential=self.url,
            id=f"{self.url}#{self.index}",
        ).to_json()

    def to_json(self) -> dict[str, Any]:
        return {"list_id": self.list_id, "purpose": self.purpose, "index": self.index}


def status_list_url(base_url: str, list_id: str) -> str:
    """``{base}/status/{list_id}``, the route the running agent serves."""
    if not isinstance(base_url, str) or len(base_url) > _MAX_BASE_URL:
        raise InputError("the status URL base must be a URL of at most 1024 characters")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(f"the status URL base {base_url[:80]!r} is not an http(s) URL")
    if parts.query or parts.fragment:
        raise InputError("the status URL base must not have a query or fragment")
    return base_url.rstrip("/") + "/status/" + list_id


async def allocate(
    tx: Store, *, issuer: str, verification_method: str, base_url: str, now: datetime
) -> list[StatusAssignment]:
    """An index in the issuer's open revocation list and one in its suspension list.

    Call inside a transaction: the lists are read for update and written back.
    """
    out = []
    for purpose in PURPOSES:
        # A new public endpoint starts new lists: the old ones stay where verifiers look.
        query = {"issuer": issuer, "purpose": purpose, "open": "1", "base": base_url}
        found = await tx.find(LIST_CATEGORY, query, limit=1, for_update=True)
        record = found[0] if found else None
        index = None
        if record is not None:
            data, status_list = _take(record)
            try:
                index = status_list.allocate()
            except StatusListFull:
                data["open"] = False
                await tx.update(LIST_CATEGORY, record.id, _dump(data), _tags(data))
            else:
                data["state"] = status_list.to_state()
                value = _dump(data)
                await tx.update(LIST_CATEGORY, record.id, value, expected_version=record.version)
                _keep(record.id, value, status_list)
                out.append(StatusAssignment(record.id, purpose, index, status_list.url))
        if index is None:
            list_id = secrets.token_urlsafe(18)
            status_list = StatusList(status_list_url(base_url, list_id), purpose)
            index = status_list.allocate()
            data = {
                "issuer": issuer,
                "verification_method": verification_method,
                "purpose": purpose,
                "base": base_url,
                "open": True,
                "updated": format_datetime(now),
                "state": status_list.to_state(),
            }
            value = _dump(data)
            await tx.add(LIST_CATEGORY, list_id, value, _tags(data))
            _keep(list_id, value, status_list)
            out.append(StatusAssignment(list_id, purpose, index, status_list.url))
    return out


async def record_issued(
    tx: Store, credential_id: str, issuer: str, assignments: list[StatusAssignment]
) -> None:
    """Remember which indexes a credential got (its claims are not kept)."""
    value = {"issuer": issuer, "entries": [a.to_json() for a in assignments]}
    await tx.add(ISSUED_CATEGORY, credential_id, _dump(value), {"issuer": issuer})


async def change_status(
    wallet: SigningWallet, credential_id: str, action: str, *, now: datetime | None = None
) -> dict[str, Any]:
    """``revoke``, ``suspend`` or ``unsuspend`` a credential this wallet issued with status.

    Returns the credential's status after the change: ``{"id", "revoked", "suspended"}``.
    """
    purpose = {"revoke": REVOCATION, "suspend": SUSPENSION, "unsuspend": SUSPENSION}.get(action)
    if purpose is None:
        raise InputError(f"unknown status action {action[:20]!r}")
    when = now or datetime.now(UTC)
    async with wallet.store.transaction() as tx:
        entries = await _issued_entries(tx, credential_id)
        target = next((e for e in entries if e["purpose"] == purpose), None)
        if target is None:
            raise NotRevocable(f"credential {credential_id[:100]} has no {purpose} entry")
        record = await _list_record(tx, target["list_id"], for_update=True)
        data, status_list = _take(record)
        getattr(status_list, action)(target["index"])
        data["state"] = status_list.to_state()
        data["updated"] = format_datetime(when)
        value = _dump(data)
        await tx.update(LIST_CATEGORY, record.id, value, expected_version=record.version)
        _keep(record.id, value, status_list)
    return await credential_status(wallet, credential_id)


async def credential_status(wallet: SigningWallet, credential_id: str) -> dict[str, Any]:
    """Whether an issued credential is revoked / suspended, from the issuer's own lists."""
    out: dict[str, Any] = {"id": credential_id}
    for entry in await _issued_entries(wallet.store, credential_id):
        record = await _list_record(wallet.store, entry["list_id"])
        status_list = _peek(record)
        flag = "revoked" if entry["purpose"] == REVOCATION else "suspended"
        out[flag] = bool(status_list.get(entry["index"]))
    return out


async def status_list_document(
    wallet: SigningWallet,
    list_id: str,
    *,
    now: datetime | None = None,
    ttl_ms: int | None = None,
) -> tuple[bytes, str]:
    """The signed ``BitstringStatusListCredential`` for ``GET /status/{list_id}``.

    Returns the body and its media type. Raises :class:`StatusListNotFound` for an unknown
    list (a 404). ``now`` only matters when the list has never changed since creation.
    """
    record = await _list_record(wallet.store, list_id)
    doc_key = (*_key(record.id, record.value), ttl_ms)
    cached = _DOCUMENTS.get(doc_key)
    if cached is not None:
        # The document is a function of the record (the signature is deterministic).
        return cached, STATUS_LIST_MEDIA_TYPE
    data = record.json()
    status_list = _peek(record)
    if "updated" in data:
        issued_at = parse_datetime(data["updated"], "status list updated")
    else:
        issued_at = now or datetime.now(UTC)
    credential = status_list.to_credential(
        issuer=data["issuer"], valid_from=issued_at, ttl_ms=ttl_ms
    )
    # validFrom is optional; a verifier whose clock lags the issuer's by a second would
    # otherwise refuse a list just changed, and keep refusing it for its cache lifetime.
    credential.pop("validFrom", None)
    vm = data["verification_method"]
    key = await wallet.secret_for(vm)
    if key is None:
        raise NoSigningKey(f"the key that signs status list {list_id[:40]} is no longer held")
    signed = await add_proof(
        credential,
        cryptosuite=EDDSA_JCS_2022,
        key=key,
        verification_method=vm,
        created=issued_at,
    )
    body = dumps_compact(signed).encode("utf-8")
    _DOCUMENTS[doc_key] = body
    while len(_DOCUMENTS) > _CACHE_SIZE:
        _DOCUMENTS.popitem(last=False)
    return body, STATUS_LIST_MEDIA_TYPE


async def _issued_entries(store: Store, credential_id: str) -> list[Mapping[str, Any]]:
    if not isinstance(credential_id, str) or not credential_id or len(credential_id) > 1024:
        raise InputError("a credential id is a non-empty string of at most 1024 characters")
    try:
        record = await store.get(ISSUED_CATEGORY, credential_id)
    except RecordNotFound:
        raise NotRevocable(
            f"credential {credential_id[:100]} was not issued here with --status"
        ) from None
    return list(record.json()["entries"])


async def _list_record(store: Store, list_id: str, *, for_update: bool = False) -> Record:
    if not isinstance(list_id, str) or not list_id or len(list_id) > 128:
        raise StatusListNotFound("a status list id is a short non-empty string")
    try:
        return await store.get(LIST_CATEGORY, list_id, for_update=for_update)
    except RecordNotFound:
        raise StatusListNotFound(f"no status list {list_id[:40]!r} is kept here") from None


# Restoring a list from its stored state costs milliseconds (inflate, count the taken
# indexes); issuing and serving touch the same few lists over and over. Lists are cached by
# their id and the digest of the stored record, so any change -- by this process or another
# one sharing the wallet, or a rolled-back transaction -- is a miss, never a stale hit.
_CACHE: OrderedDict[tuple[str, bytes], StatusList] = OrderedDict()
_DOCUMENTS: OrderedDict[tuple[str, bytes, int | None], bytes] = OrderedDict()
_CACHE_SIZE = 32


def _key(list_id: str, value: bytes) -> tuple[str, bytes]:
    return list_id, hashlib.sha256(value).digest()


def _take(record: Record) -> tuple[dict[str, Any], StatusList]:
    """The record's data and its list, to change: removed from the cache meanwhile."""
    data = record.json()
    cached = _CACHE.pop(_key(record.id, record.value), None)
    return data, cached if cached is not None else StatusList.from_state(data["state"])


def _keep(list_id: str, value: bytes, status_list: StatusList) -> None:
    """Cache a list under the record value just written."""
    _CACHE[_key(list_id, value)] = status_list
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)


def _peek(record: Record) -> StatusList:
    """The record's list, read-only."""
    key = _key(record.id, record.value)
    cached = _CACHE.get(key)
    if cached is None:
        cached = StatusList.from_state(record.json()["state"])
        _keep(record.id, record.value, cached)
    else:
        _CACHE.move_to_end(key)
    return cached


def _tags(data: Mapping[str, Any]) -> dict[str, str]:
    return {
        "issuer": data["issuer"],
        "purpose": data["purpose"],
        "open": "1" if data["open"] else "0",
        "base": data["base"],
    }


def _dump(data: Mapping[str, Any]) -> bytes:
    return dumps_compact(dict(data)).encode("utf-8")
