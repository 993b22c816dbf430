"""Status lists over HTTP: the W3C test-suite fixtures served from loopback, limits, the cache.

The fixtures point at status lists hosted by the W3C CCG; the tests serve the bundled status
credentials from a local aiohttp server and rewrite the URLs. Four of the hosted lists are not
bundled (date-expired, encoded-list-invalid, vc-type-missing, vc-type-wrong); they are made
here from the bundled ``single-purpose-ok`` list with the one change their names describe.
"""

from __future__ import annotations

import asyncio
import copy
import gzip
import json
import socket
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from wallet.credentials.status_fetch import (
    MalformedStatusResponse,
    StatusHTTPError,
    StatusListFetcher,
    StatusResponseTooLarge,
    StatusUnreachable,
)
from wallet.credentials.status_list import (
    CredentialRevoked,
    CredentialSuspended,
    MalformedStatusList,
    StatusListExpired,
    StatusListLengthError,
    StatusListSignatureError,
    StatusListTypeError,
    StatusPurposeMismatch,
    StatusRetrievalError,
    status_entries,
)
from wallet.credentials.status_list_issuer import StatusList

FIXTURES = Path(__file__).parent / "vectors" / "bitstring-status-list" / "test-suite-fixtures"
HOSTED = "https://w3c-ccg.github.io/vc-api/fixtures/credentials/status/"
NOW = datetime(2026, 1, 1, tzinfo=UTC)

# Hosted name -> bundled file (the bundled copies were renamed in the test-suite repo).
BUNDLED = {
    "purpose-single-ok": "single-purpose-ok",
    "purpose-multi-ok": "multi-purpose-ok",
    "encoded-list-short-fail": "short-encoded-list-fail",
    "single-purpose-fail": "single-purpose-fail",
    "multi-purpose-fail": "multi-purpose-fail",
}


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / "status-credentials" / f"{name}.jsonld").read_text())


def derived_lists() -> dict[str, dict[str, Any]]:
    base = load("single-purpose-ok")
    expired = copy.deepcopy(base)
    expired["validUntil"] = "1984-01-01T00:00:00Z"
    invalid = copy.deepcopy(base)
    invalid["credentialSubject"]["encodedList"] = "0" * 40
    missing = copy.deepcopy(base)
    missing["type"] = ["VerifiableCredential"]
    wrong = copy.deepcopy(base)
    wrong["type"] = ["VerifiableCredential", "StatusList2021Credential"]
    wrong["credentialSubject"]["type"] = "StatusList2021"
    return {
        "date-expired-fail": expired,
        "encoded-list-invalid-fail": invalid,
        "vc-type-missing-fail": missing,
        "vc-type-wrong-fail": wrong,
    }


class Server:
    """A loopback server whose routes the test sets as plain Python values."""

    def __init__(self) -> None:
        self.docs: dict[str, Any] = {}
        self.headers: dict[str, dict[str, str]] = {}
        self.hits: dict[str, int] = {}
        self.base = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.hits[name] = self.hits.get(name, 0) + 1
        doc = self.docs.get(name)
        if doc is None:
            return web.Response(status=404)
        if callable(doc):
            return await doc(request)
        body = doc if isinstance(doc, (bytes, str)) else json.dumps(doc)
        return web.Response(
            body=body.encode() if isinstance(body, str) else body,
            content_type="application/vc",
            headers=self.headers.get(name, {}),
        )


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server()
    app = web.Application()
    app.router.add_get("/status/{name}", srv.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    srv.base = f"http://127.0.0.1:{port}/status/"
    yield srv
    await runner.cleanup()


async def accept(_: Any) -> None:
    return None


def fetcher(**kw: Any) -> StatusListFetcher:
    kw.setdefault("allow_http", True)
    return StatusListFetcher(kw.pop("verify", accept), **kw)


def fixture_credential(name: str, base: str) -> dict[str, Any]:
    vc = json.loads((FIXTURES / f"{name}.jsonld").read_text())
    url = vc["credentialStatus"]["statusListCredential"]
    assert url.startswith(HOSTED)
    vc["credentialStatus"]["statusListCredential"] = base + url[len(HOSTED) :]
    return vc


# -- the W3C test-suite fixtures ------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "outcome"),
    [
        ("sl-purpose-single-ok", "valid"),
        ("sl-purpose-multi-ok", "valid"),
        ("should-be-revoked", CredentialRevoked),
        ("should-be-suspended", CredentialSuspended),
        ("sl-date-expired-fail", StatusListExpired),
        ("sl-encoded-list-invalid-fail", MalformedStatusList),
        ("sl-encoded-list-short-fail", StatusListLengthError),
        ("sl-vc-type-missing-fail", StatusListTypeError),
        ("sl-vc-type-wrong-fail", StatusListTypeError),
    ],
)
async def test_test_suite_fixtures(server: Server, fixture: str, outcome: Any) -> None:
    for hosted, bundled in BUNDLED.items():
        server.docs[f"{hosted}.jsonld"] = load(bundled)
    for hosted, doc in derived_lists().items():
        server.docs[f"{hosted}.jsonld"] = doc
    credential = fixture_credential(fixture, server.base)
    async with fetcher() as f:
        if outcome == "valid":
            [result] = await f.check_credential(credential, NOW)
            assert result.valid and result.status == 0
            result.raise_for_status()
        elif issubclass(outcome, (CredentialRevoked, CredentialSuspended)):
            [result] = await f.check_credential(credential, NOW)
            assert not result.valid and result.index == 201
            with pytest.raises(outcome):
                result.raise_for_status()
        else:
            with pytest.raises(outcome):
                await f.check_credential(credential, NOW)


@pytest.mark.parametrize("bundled", ["single-purpose-fail", "multi-purpose-fail"])
async def test_lists_with_foreign_purposes_fail(server: Server, bundled: str) -> None:
    server.docs["list"] = load(bundled)
    entry = {
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "1",
        "statusListCredential": server.base + "list",
    }
    async with fetcher() as f:
        with pytest.raises(StatusPurposeMismatch):
            await f.check(entry, NOW)


# -- retrieval errors -----------------------------------------------------------------------


def entry_for(url: str, index: int = 1, purpose: str = "revocation") -> dict[str, Any]:
    return {
        "type": "BitstringStatusListEntry",
        "statusPurpose": purpose,
        "statusListIndex": str(index),
        "statusListCredential": url,
    }


async def test_http_error_status(server: Server) -> None:
    async with fetcher() as f:
        with pytest.raises(StatusHTTPError) as info:
            await f.check(entry_for(server.base + "absent"), NOW)
    assert info.value.status == 404 and isinstance(info.value, StatusRetrievalError)


async def test_unreachable_host() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connection refused
        async with fetcher() as f:
            with pytest.raises(StatusUnreachable):
                await f.fetch(f"http://127.0.0.1:{port}/status/x")


async def test_timeout(server: Server) -> None:
    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.Response(text="{}")

    server.docs["slow"] = slow
    async with fetcher(timeout=0.2) as f:
        with pytest.raises(StatusUnreachable, match="in time"):
            await f.fetch(server.base + "slow")


async def test_body_limit_declared_and_streamed(server: Server) -> None:
    server.docs["big"] = b"{" + b" " * 5000 + b"}"

    async def streamed(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()  # chunked: no Content-Length to trust
        await resp.prepare(request)
        for _ in range(100):
            await resp.write(b" " * 1000)
        return resp

    server.docs["streamed"] = streamed
    async with fetcher(max_response_bytes=4096) as f:
        with pytest.raises(StatusResponseTooLarge):
            await f.fetch(server.base + "big")
        with pytest.raises(StatusResponseTooLarge):
            await f.fetch(server.base + "streamed")


async def test_content_encoding_bomb_refused(server: Server) -> None:
    server.docs["bomb"] = gzip.compress(b" " * 10_000_000)
    server.headers["bomb"] = {"Content-Encoding": "gzip"}
    async with fetcher(max_response_bytes=64 * 1024) as f:
        with pytest.raises(StatusResponseTooLarge, match="inflates"):
            await f.fetch(server.base + "bomb")


async def test_gzip_content_encoding_accepted(server: Server) -> None:
    server.docs["gz"] = gzip.compress(json.dumps(load("single-purpose-ok")).encode())
    server.headers["gz"] = {"Content-Encoding": "gzip"}
    async with fetcher() as f:
        assert (await f.check(entry_for(server.base + "gz"), NOW)).valid


@pytest.mark.parametrize("body", [b"<html>hello</html>", b"{not json", b'{"a":1,"a":2}', b"[1]"])
async def test_malformed_bodies(server: Server, body: bytes) -> None:
    server.docs["bad"] = body
    async with fetcher() as f:
        with pytest.raises(MalformedStatusResponse):
            await f.fetch(server.base + "bad")


async def test_plain_http_refused_unless_allowed(server: Server) -> None:
    async with StatusListFetcher(accept) as f:
        with pytest.raises(StatusRetrievalError, match="https"):
            await f.fetch(server.base + "x")
        with pytest.raises(StatusRetrievalError):
            await f.fetch("file:///etc/passwd")


async def test_redirects_followed_and_bounded(server: Server) -> None:
    server.docs["list"] = load("single-purpose-ok")

    def redirect_to(target: str) -> Callable[[web.Request], Any]:
        async def handler(_: web.Request) -> web.Response:
            raise web.HTTPFound(target)

        return handler

    server.docs["hop"] = redirect_to("list")
    server.docs["loop"] = redirect_to("loop")
    server.docs["away"] = redirect_to("ftp://example.org/list")
    async with fetcher() as f:
        raw, _ = await f.fetch(server.base + "hop")
        assert isinstance(raw, dict) and "credentialSubject" in raw
        with pytest.raises(StatusRetrievalError, match="redirects"):
            await f.fetch(server.base + "loop")
        with pytest.raises(StatusRetrievalError, match="not an"):
            await f.fetch(server.base + "away")


async def test_jwt_body_handed_raw_to_the_callback(server: Server) -> None:
    server.docs["jwt"] = "eyJhbGciOiJFZERTQSJ9.eyJ4IjoxfQ.c2ln\n"
    seen: list[Any] = []

    async def verify(raw: Any) -> Any:
        seen.append(raw)
        return load("single-purpose-ok")  # what a VC-JOSE verifier would hand back

    async with fetcher(verify=verify) as f:
        assert (await f.check(entry_for(server.base + "jwt"), NOW)).valid
    assert seen == ["eyJhbGciOiJFZERTQSJ9.eyJ4IjoxfQ.c2ln"]


async def test_failed_proof_not_cached(server: Server) -> None:
    server.docs["list"] = load("single-purpose-ok")
    calls = 0

    async def flaky(_: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ValueError("signature mismatch")

    async with fetcher(verify=flaky) as f:
        with pytest.raises(StatusListSignatureError):
            await f.check(entry_for(server.base + "list"), NOW)
        assert (await f.check(entry_for(server.base + "list"), NOW)).valid
    assert server.hits["list"] == 2


# -- the cache: revocation becomes visible within its lifetime ------------------------------


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def test_revocation_visible_after_cache_lifetime(server: Server) -> None:
    issuer = StatusList(server.base + "rev")
    index = issuer.allocate()
    entry = issuer.entry(index)

    def publish() -> None:
        server.docs["rev"] = issuer.to_credential(issuer="did:example:issuer", valid_from=NOW)

    publish()
    clock = Clock()
    async with fetcher(max_age=60, clock=clock) as f:
        assert (await f.check(entry, NOW)).valid
        issuer.revoke(index)
        publish()
        clock.t += 30
        assert (await f.check(entry, NOW)).valid  # still cached: at most max_age late
        assert server.hits["rev"] == 1
        clock.t += 31
        with pytest.raises(CredentialRevoked):
            (await f.check(entry, NOW)).raise_for_status()
        assert server.hits["rev"] == 2


async def test_suspend_and_unsuspend_seen_with_ttl(server: Server) -> None:
    issuer = StatusList(server.base + "sus", "suspension")
    index = issuer.allocate()
    entry = issuer.entry(index)

    def publish() -> None:
        vc = issuer.to_credential(issuer="did:example:issuer", valid_from=NOW, ttl_ms=5000)
        server.docs["sus"] = vc

    clock = Clock()
    async with fetcher(max_age=3600, clock=clock) as f:
        issuer.suspend(index)
        publish()
        assert (await f.check(entry, NOW)).suspended
        issuer.unsuspend(index)
        publish()
        clock.t += 6  # past the list's ttl, far before max_age
        result = await f.check(entry, NOW)
        assert result.valid and not result.suspended


async def test_cache_control_and_valid_until_shorten_lifetime(server: Server) -> None:
    server.docs["nostore"] = load("single-purpose-ok")
    server.headers["nostore"] = {"Cache-Control": "no-store"}
    server.docs["short"] = load("single-purpose-ok")
    server.headers["short"] = {"Cache-Control": "public, max-age=10"}
    ending = load("single-purpose-ok")
    ending["validUntil"] = "2026-01-01T00:00:05Z"
    server.docs["ending"] = ending
    clock = Clock()
    async with fetcher(max_age=600, clock=clock) as f:
        for _ in range(2):
            await f.check(entry_for(server.base + "nostore"), NOW)
            await f.check(entry_for(server.base + "short"), NOW)
            await f.check(entry_for(server.base + "ending"), NOW)
        clock.t += 8
        await f.check(entry_for(server.base + "short"), NOW)
        await f.check(entry_for(server.base + "ending"), NOW)
    assert server.hits == {"nostore": 2, "short": 1, "ending": 2}


async def test_concurrent_checks_share_one_fetch(server: Server) -> None:
    async def slowish(_: web.Request) -> web.Response:
        await asyncio.sleep(0.05)
        return web.json_response(load("single-purpose-ok"))

    server.docs["list"] = slowish
    verified = 0

    async def count(_: Any) -> None:
        nonlocal verified
        verified += 1

    async with fetcher(verify=count) as f:
        results = await asyncio.gather(
            *(f.check(entry_for(server.base + "list", i), NOW) for i in range(20))
        )
    assert [r.status for r in results] == [0] * 20
    assert server.hits["list"] == 1 and verified == 1 and f.fetches == 1


async def test_credential_without_status_has_nothing_to_check() -> None:
    async with fetcher() as f:
        assert await f.check_credential({"type": ["VerifiableCredential"]}, NOW) == []
    assert status_entries({"credentialStatus": []}) == []
