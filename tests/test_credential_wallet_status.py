"""Revocation and suspension end to end: the issuer's lists served over HTTP by a local aiohttp
server calling ``status_list_document``, a verifier fetching them with a small cache lifetime
(on a clock the test moves), and the limits on what a status list may be."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from wallet import Wallet
from wallet.credentials.data_integrity import add_proof
from wallet.credentials.errors import ProofError
from wallet.credentials.formats import CredentialFormat
from wallet.credentials.holder import Holder
from wallet.credentials.issuer import (
    credential_status,
    issue_credential,
    revoke,
    status_list_document,
    suspend,
    unsuspend,
)
from wallet.credentials.issuer_status import NotRevocable, StatusListNotFound
from wallet.credentials.status_fetch import StatusListFetcher, StatusResponseTooLarge
from wallet.credentials.status_list import (
    CredentialRevoked,
    CredentialSuspended,
    StatusListTooLarge,
    parse_status_list_credential,
)
from wallet.credentials.verifier import status_fetcher, verify, verify_status_list
from wallet.credentials.verifier_report import VerificationReport
from wallet.credentials.verifier_status import StatusListIssuerMismatch
from wallet.errors import InputError

FORMATS = [f.value for f in CredentialFormat]
NONCE = "nonce-1"
AUDIENCE = "did:web:verifier.example"
MAX_AGE = 30.0


@dataclass
class World:
    issuer_wallet: Wallet
    holder_wallet: Wallet
    issuer: str
    holder: str
    base: str
    fetcher: StatusListFetcher
    extra: dict[str, Callable[[], web.StreamResponse]] = field(default_factory=dict)
    clock: list[float] = field(default_factory=lambda: [1000.0])

    def later(self) -> None:
        """Move the verifier's clock past its cache lifetime."""
        self.clock[0] += MAX_AGE + 1

    async def verify(self, data: Any, **kw: Any) -> VerificationReport:
        return await verify(
            data if isinstance(data, str) else json.dumps(data),
            now=datetime.now(UTC),
            resolver=self.holder_wallet.resolver,
            status_fetcher=self.fetcher,
            **kw,
        )


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    iw = await Wallet.create(f"sqlite://{tmp_path}/i.db", passphrase="i", kdf="argon2id-test")
    hw = await Wallet.create(f"sqlite://{tmp_path}/h.db", passphrase="h", kdf="argon2id-test")
    extra: dict[str, Callable[[], web.StreamResponse]] = {}

    async def serve(request: web.Request) -> web.StreamResponse:
        list_id = request.match_info["list_id"]
        if list_id in extra:
            return extra[list_id]()
        try:
            body, content_type = await status_list_document(iw, list_id)
        except StatusListNotFound:
            return web.Response(status=404)
        return web.Response(body=body, content_type=content_type)

    app = web.Application()
    app.router.add_get("/status/{list_id}", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    clock = [1000.0]
    fetcher = status_fetcher(hw.resolver, allow_http=True, max_age=MAX_AGE, clock=lambda: clock[0])
    w = World(
        iw,
        hw,
        await iw.create_did("key"),
        await hw.create_did("peer2"),
        f"http://127.0.0.1:{port}",
        fetcher,
        extra,
        clock,
    )
    yield w
    await fetcher.close()
    await runner.cleanup()
    await iw.close()
    await hw.close()


async def issue(w: World, fmt: str) -> Any:
    return await issue_credential(
        w.issuer_wallet,
        issuer=w.issuer,
        subject=w.holder,
        format=fmt,
        claims={"member": True, "level": "gold"},
        disclose=["level"] if fmt == "sd-jwt" else [],
        status=True,
        status_base_url=w.base,
    )


@pytest.mark.parametrize("fmt", FORMATS)
async def test_revocation_is_seen_within_the_cache_lifetime(world: World, fmt: str) -> None:
    issued = await issue(world, fmt)
    assert [a.purpose for a in issued.status] == ["revocation", "suspension"]
    holder = Holder(world.holder_wallet)
    stored = await holder.store(issued.serialize(), status_fetcher=world.fetcher)
    assert stored.revocable
    presentation = await holder.present(stored.id, nonce=NONCE, audience=AUDIENCE)

    report = await world.verify(presentation, nonce=NONCE, audience=AUDIENCE)
    assert report.verified and report.checks["status"] == "ok", report.to_json()
    fetched = world.fetcher.fetches
    assert fetched == 2  # the revocation list and the suspension list, once each

    assert (await revoke(world.issuer_wallet, issued.id))["revoked"] is True
    report = await world.verify(presentation, nonce=NONCE, audience=AUDIENCE)
    assert report.verified  # still within the cache lifetime: no new fetch
    assert world.fetcher.fetches == fetched

    world.later()
    report = await world.verify(presentation, nonce=NONCE, audience=AUDIENCE)
    assert not report.verified
    assert report.checks["status"].startswith("failed: ")
    assert "credential is revoked" in report.checks["status"]
    assert report.checks["signature"] == "ok" and report.checks["holder_binding"] == "ok"
    assert isinstance(report.exceptions[0], CredentialRevoked)
    assert report.to_json()["errors"][0]["error"] == "CredentialRevoked"


async def test_suspend_then_unsuspend(world: World) -> None:
    issued = await issue(world, "sd-jwt")
    report = await world.verify(issued.serialize())
    assert report.verified, report.to_json()

    await suspend(world.issuer_wallet, issued.id)
    world.later()
    report = await world.verify(issued.serialize())
    assert not report.verified and isinstance(report.exceptions[0], CredentialSuspended)

    status = await unsuspend(world.issuer_wallet, issued.id)
    assert status == {"id": issued.id, "revoked": False, "suspended": False}
    world.later()
    report = await world.verify(issued.serialize())
    assert report.verified and report.checks["status"] == "ok"


async def test_revocation_is_final(world: World) -> None:
    issued = await issue(world, "di-jcs")
    await revoke(world.issuer_wallet, issued.id)
    await revoke(world.issuer_wallet, issued.id)  # idempotent
    assert (await credential_status(world.issuer_wallet, issued.id))["revoked"] is True


async def test_credentials_without_status_cannot_be_revoked(world: World) -> None:
    issued = await issue_credential(
        world.issuer_wallet,
        issuer=world.issuer,
        subject=world.holder,
        format="vc-jwt",
        claims={"a": 1},
    )
    with pytest.raises(NotRevocable):
        await revoke(world.issuer_wallet, issued.id)
    with pytest.raises(NotRevocable):
        await suspend(world.issuer_wallet, "urn:uuid:unknown")


async def test_the_issuer_keeps_indexes_not_claims(world: World) -> None:
    issued = await issue(world, "di-rdfc")
    store = world.issuer_wallet.store
    lists = await store.find("credential-status-list")
    records = await store.find("credential-issued-status")
    assert len(lists) == 2 and len(records) == 1
    for record in [*lists, *records]:
        assert b"gold" not in record.value
    entries = records[0].json()["entries"]
    assert {(e["purpose"], e["index"]) for e in entries} == {
        (a.purpose, a.index) for a in issued.status
    }
    # A second credential gets other indexes in the same two lists.
    second = await issue(world, "di-rdfc")
    assert {a.list_id for a in second.status} == {a.list_id for a in issued.status}
    assert len(await store.find("credential-status-list")) == 2


async def test_status_list_document(world: World) -> None:
    issued = await issue(world, "vc-jwt")
    revocation = issued.status[0]
    body, content_type = await status_list_document(world.issuer_wallet, revocation.list_id)
    assert content_type == "application/vc"
    doc = json.loads(body)
    assert doc["id"] == revocation.url == f"{world.base}/status/{revocation.list_id}"
    assert doc["proof"]["cryptosuite"] == "eddsa-jcs-2022"
    await verify_status_list(doc, world.holder_wallet.resolver)
    parsed = parse_status_list_credential(doc)
    assert parsed.issuer == world.issuer and len(parsed.bits) * 8 == 131_072
    with pytest.raises(StatusListNotFound):
        await status_list_document(world.issuer_wallet, "no-such-list")
    tampered = {**doc, "issuer": "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"}
    with pytest.raises(ProofError, match="signature"):
        await verify_status_list(tampered, world.holder_wallet.resolver)


async def test_a_status_base_must_be_http(world: World) -> None:
    with pytest.raises(InputError):
        await issue_credential(
            world.issuer_wallet,
            issuer=world.issuer,
            subject=world.holder,
            format="di-jcs",
            claims={"a": 1},
            status=True,
            status_base_url="ftp://example.org",
        )


# -- hostile status lists -------------------------------------------------------------------


async def _credential_pointing_at(w: World, list_id: str, signer: str | None = None) -> str:
    """A di-jcs credential by the issuer whose status entry points at ``/status/{list_id}``."""
    url = f"{w.base}/status/{list_id}"
    doc = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": "urn:uuid:9f1c0f52-0000-4000-8000-000000000001",
        "type": ["VerifiableCredential"],
        "issuer": w.issuer,
        "credentialSubject": {"id": w.holder, "member": True},
        "credentialStatus": {
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": "7",
            "statusListCredential": url,
        },
    }
    return json.dumps(await _sign(w, doc, signer or w.issuer))


async def _sign(w: World, doc: dict[str, Any], did: str) -> dict[str, Any]:
    resolved = await w.issuer_wallet.resolve(did)
    vm = resolved.assertion_method[0]
    key = await w.issuer_wallet.secret_for(vm)
    assert key is not None
    return await add_proof(doc, cryptosuite="eddsa-jcs-2022", key=key, verification_method=vm)


async def _list_credential(w: World, list_id: str, bits: bytes, did: str) -> bytes:
    encoded = "u" + _b64(gzip.compress(bits, mtime=0))
    doc = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": f"{w.base}/status/{list_id}",
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": did,
        "credentialSubject": {
            "type": "BitstringStatusList",
            "statusPurpose": "revocation",
            "encodedList": encoded,
        },
    }
    return json.dumps(await _sign(w, doc, did)).encode()


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_a_decompression_bomb_is_refused(world: World) -> None:
    bomb = await _list_credential(world, "bomb", bytes(32 * 1024 * 1024), world.issuer)
    assert len(bomb) < 100_000
    world.extra["bomb"] = lambda: web.Response(body=bomb, content_type="application/vc")
    report = await world.verify(await _credential_pointing_at(world, "bomb"))
    assert not report.verified
    assert isinstance(report.exceptions[0], StatusListTooLarge), report.to_json()


async def test_a_huge_response_is_refused(world: World) -> None:
    huge = b"{" + b" " * (3 * 1024 * 1024) + b"}"
    world.extra["huge"] = lambda: web.Response(body=huge, content_type="application/json")
    report = await world.verify(await _credential_pointing_at(world, "huge"))
    assert isinstance(report.exceptions[0], StatusResponseTooLarge), report.to_json()


async def test_a_list_by_another_issuer_is_refused(world: World) -> None:
    other = await world.issuer_wallet.create_did("key")
    foreign = await _list_credential(world, "foreign", bytes(16384), other)
    world.extra["foreign"] = lambda: web.Response(body=foreign, content_type="application/vc")
    report = await world.verify(await _credential_pointing_at(world, "foreign"))
    assert isinstance(report.exceptions[0], StatusListIssuerMismatch), report.to_json()


async def test_a_forged_credential_fetches_nothing(world: World) -> None:
    text = await _credential_pointing_at(world, "anything")
    forged = json.loads(text)
    forged["credentialSubject"]["member"] = False
    report = await world.verify(forged)
    assert report.checks["signature"].startswith("failed: ")
    assert report.checks["status"].startswith("failed: not checked")
    assert world.fetcher.fetches == 0
