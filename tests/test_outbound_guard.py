"""Status lists and did:web documents are fetched only from public addresses (an SSRF guard).

No network: servers listen on 127.0.0.1, and host names resolve through a fake resolver put
in place of aiohttp's default one, answering the addresses each test chooses.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from wallet import outbound_guard
from wallet.credentials.status_fetch import (
    StatusHostNotPublic,
    StatusListFetcher,
    StatusUnreachable,
)
from wallet.credentials.status_list import StatusRetrievalError
from wallet.credentials.status_list_issuer import StatusList
from wallet.did.errors import WebHostUnreachable, WebResolutionError
from wallet.did.web import WebHostNotPublic, WebResolver
from wallet.outbound_guard import (
    LOOPBACK,
    AddressGuard,
    GuardedResolver,
    HostNotPublic,
    is_public_address,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)

NOT_PUBLIC = [
    "10.0.0.5",
    "172.16.1.1",
    "192.168.1.1",
    "127.0.0.1",
    "127.8.9.10",
    "0.0.0.0",
    "169.254.169.254",  # cloud metadata service
    "100.64.0.1",  # shared address space (carrier-grade NAT)
    "192.0.2.1",  # documentation
    "198.18.0.1",  # benchmarking
    "224.0.0.1",  # multicast (counted as global by ipaddress)
    "239.255.255.250",
    "255.255.255.255",
    "240.0.0.1",
    "::1",
    "::",
    "fe80::1",
    "fe80::1%1",
    "fd00::1",  # unique local (ULA)
    "fc00::5",
    "fec0::1",  # site-local (deprecated, still not ours to reach)
    "ff02::1",  # multicast
    "ff0e::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.5",
    "::ffff:169.254.169.254",
    "64:ff9b::a00:5",  # NAT64 of 10.0.0.5
    "2002:a00:5::1",  # 6to4 of 10.0.0.5
    "::10.0.0.5",  # IPv4-compatible (deprecated)
]
PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_not_public(address: str) -> None:
    assert not AddressGuard().allows_address(address)
    if "%" not in address:
        assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public(address: str) -> None:
    assert AddressGuard().allows_address(address)
    assert is_public_address(ipaddress.ip_address(address))


def test_allowances() -> None:
    guard = AddressGuard(["10.1.0.0/16", "127.0.0.1", "Status.Corp.Example.", "[fd00::1]"])
    assert guard.allows_address("10.1.2.3") and not guard.allows_address("10.2.0.1")
    assert guard.allows_address("127.0.0.1") and not guard.allows_address("127.0.0.2")
    assert guard.allows_address("::ffff:10.1.2.3")  # the mapped form reaches the same host
    assert guard.allows_address("fd00::1") and not guard.allows_address("fd00::2")
    assert guard.allows_name("status.corp.example") and guard.allows_name("STATUS.corp.example.")
    assert not guard.allows_name("corp.example")
    loopback = AddressGuard(LOOPBACK)
    assert loopback.allows_address("127.3.4.5") and loopback.allows_address("::1")
    assert not loopback.allows_address("169.254.169.254")
    assert not guard.allows_address("not an address")
    for bad in ("not a host!", "10.0.0.0/33", "127.1", ""):
        with pytest.raises(ValueError):
            AddressGuard([bad])
    with pytest.raises(TypeError):
        AddressGuard("10.0.0.0/8")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.5/list",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]:8443/list",
        "https://[fd12:3456::1]/list",
        "https://[fe80::1%25eth0]/list",
        "https://[::ffff:127.0.0.1]/list",
        "https://[::ffff:a00:5]/list",
        "https://127.0.0.1/list",
        "https://127.1/list",  # read as 127.0.0.1 by the C library
        "https://2130706433/list",
        "https://0.0.0.0/list",
    ],
)
def test_ip_literal_urls_refused(url: str) -> None:
    with pytest.raises(HostNotPublic) as info:
        AddressGuard().check_url(url)
    assert "is not a public address" in str(info.value)


def test_host_names_pass_the_url_check() -> None:
    # Their addresses are judged when connecting, by the resolver.
    AddressGuard().check_url("https://status.example/list")
    AddressGuard().check_url("https://93.184.216.34/list")
    AddressGuard(["10.0.0.0/8"]).check_url("https://10.0.0.5/list")


# -- a fake resolver ----------------------------------------------------------------------


class FakeResolver(AbstractResolver):
    """Answers the addresses a test gives each name; records the names asked."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        if host not in self.answers:
            raise OSError(f"{host}: no such name")
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": 0,
            }
            for address in self.answers[host]
        ]

    async def close(self) -> None:
        return None


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeResolver]:
    """Every guarded connector made during the test resolves through this fake."""
    fake = FakeResolver({})
    monkeypatch.setattr(outbound_guard, "ThreadedResolver", lambda: fake)
    yield fake


async def test_mixed_answer_keeps_only_allowed_addresses() -> None:
    fake = FakeResolver({"mixed.example": ["10.0.0.5", "93.184.216.34", "::1", "2001:db8::1"]})
    kept = await GuardedResolver(AddressGuard(), fake).resolve("mixed.example", 443)
    assert [r["host"] for r in kept] == ["93.184.216.34"]
    with_loopback = await GuardedResolver(AddressGuard(LOOPBACK), fake).resolve("mixed.example")
    assert [r["host"] for r in with_loopback] == ["93.184.216.34", "::1"]
    fake.answers["inside.example"] = ["10.0.0.5", "fd00::1"]
    with pytest.raises(HostNotPublic) as info:
        await GuardedResolver(AddressGuard(), fake).resolve("inside.example")
    assert str(info.value) == "inside.example is not a public address"
    # a name allowed by name keeps whatever it resolves to
    named = await GuardedResolver(AddressGuard(["inside.example"]), fake).resolve("inside.example")
    assert len(named) == 2


# -- status lists ---------------------------------------------------------------------------


async def _accept(_: Any) -> None:
    return None


def _list_credential() -> dict[str, Any]:
    status_list = StatusList("https://status.example/list")
    return status_list.to_credential(issuer="did:example:issuer", valid_from=NOW)


class Server:
    """A loopback server: /list serves a status list, /to?url=... redirects there."""

    def __init__(self) -> None:
        self.hits = 0
        self.port = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.hits += 1
        if request.path == "/to":
            raise web.HTTPFound(request.query["url"])
        return web.Response(text=json.dumps(_list_credential()), content_type="application/vc")


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server()
    app = web.Application()
    app.router.add_get("/{tail:.*}", srv.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    srv.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield srv
    await runner.cleanup()


class NoNetwork:
    """A stand-in session: any request through it fails the test."""

    closed = False

    def get(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a request was made: {args}")


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.5/list",
        "https://169.254.169.254/latest/meta-data/",
        "https://127.0.0.1/list",
        "https://[::1]/list",
        "https://[fd00::1]/list",
        "https://[fe80::1]/list",
        "https://[::ffff:192.168.0.1]/list",
        "https://127.1/list",
    ],
)
async def test_status_ip_literals_refused_before_any_request(url: str) -> None:
    fetcher = StatusListFetcher(_accept, session=NoNetwork())  # type: ignore[arg-type]
    with pytest.raises(StatusHostNotPublic) as info:
        await fetcher.get(url, NOW)
    err = info.value
    assert isinstance(err, StatusUnreachable) and isinstance(err, StatusRetrievalError)
    assert isinstance(err, HostNotPublic) and err.code == "STATUS_RETRIEVAL_ERROR"
    assert str(err) == f"status list host {err.host} is not a public address"
    assert fetcher.fetches == 0


async def test_status_name_resolving_to_private_refused_at_connect(
    server: Server, dns: FakeResolver
) -> None:
    dns.answers["inside.example"] = ["10.0.0.5"]
    async with StatusListFetcher(_accept, allow_http=True) as fetcher:
        with pytest.raises(StatusHostNotPublic) as info:
            await fetcher.get("http://inside.example/list", NOW)
    assert dns.asked == ["inside.example"]
    # the host is named; where it resolves to is not told
    assert str(info.value) == "status list host inside.example is not a public address"

    # a given session: the URL check is the fetcher's, the connect check its connector's.
    # Strict here, though the fetcher allows http (and so loopback) -- and the server, on
    # the loopback address the name resolves to, is never reached.
    dns.answers["rebound.example"] = ["127.0.0.1"]
    async with aiohttp.ClientSession(connector=AddressGuard().connector()) as session:
        fetcher = StatusListFetcher(_accept, allow_http=True, session=session)
        with pytest.raises(StatusHostNotPublic):
            await fetcher.get(f"http://rebound.example:{server.port}/list", NOW)
    assert server.hits == 0


async def test_status_allowances_let_loopback_through(server: Server, dns: FakeResolver) -> None:
    # allow_http is for development on loopback: it allows loopback, and nothing else
    dns.answers["dev.example"] = ["10.0.0.5", "169.254.169.254", "127.0.0.1"]
    async with StatusListFetcher(_accept, allow_http=True) as fetcher:
        parsed = await fetcher.get(f"http://dev.example:{server.port}/list", NOW)
        assert parsed.purposes == ("revocation",)
        await fetcher.get(f"http://127.0.0.1:{server.port}/list", NOW)
    assert server.hits == 2
    # over a given session, allowed by network or by name
    dns.answers["status.corp.example"] = ["127.0.0.1"]
    for allow in (["127.0.0.0/8"], ["status.corp.example"]):
        async with aiohttp.ClientSession(connector=AddressGuard(allow).connector()) as session:
            fetcher = StatusListFetcher(_accept, allow_http=True, session=session)
            await fetcher.get(f"http://status.corp.example:{server.port}/list", NOW)
    assert server.hits == 4
    # allow_private alone: an internal status server over https passes the URL check
    internal = StatusListFetcher(_accept, allow_private=["10.0.0.0/8"])
    internal.guard.check_url("https://10.1.2.3/list")
    with pytest.raises(HostNotPublic):
        internal.guard.check_url("https://192.168.0.1/list")


async def test_status_redirect_to_private_refused(server: Server, dns: FakeResolver) -> None:
    dns.answers["inside.example"] = ["192.168.1.10"]
    base = f"http://127.0.0.1:{server.port}/to?url="
    async with StatusListFetcher(_accept, allow_http=True) as fetcher:
        for target, host in (
            ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
            ("https://[fd00::1]/list", "fd00::1"),
            ("http://inside.example/list", "inside.example"),
        ):
            with pytest.raises(StatusHostNotPublic) as info:
                await fetcher.get(base + target, NOW)
            assert info.value.host == host
    assert server.hits == 3  # the redirecting server only
    assert dns.asked == ["inside.example"]


# -- did:web --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "did",
    ["did:web:10.0.0.5", "did:web:169.254.169.254", "did:web:127.0.0.1%3A8443", "did:web:127.1"],
)
async def test_did_web_ip_literals_refused_before_any_request(did: str) -> None:
    resolver = WebResolver(NoNetwork())  # type: ignore[arg-type]
    with pytest.raises(WebHostNotPublic) as info:
        await resolver.resolve(did)
    err = info.value
    assert isinstance(err, WebHostUnreachable) and isinstance(err, WebResolutionError)
    assert isinstance(err, HostNotPublic)
    assert str(err) == f"did:web host {err.host}: cannot connect: not a public address"


async def test_did_web_name_resolving_to_private_refused_at_connect(dns: FakeResolver) -> None:
    dns.answers["org.example"] = ["127.0.0.1", "10.20.30.40"]
    async with WebResolver() as resolver:
        with pytest.raises(WebHostNotPublic) as info:
            await resolver.resolve("did:web:org.example")
    assert str(info.value) == "did:web host org.example: cannot connect: not a public address"
    assert "10.20" not in str(info.value) and "127.0" not in str(info.value)
    assert dns.asked == ["org.example"]


async def test_did_web_allowances(server: Server, dns: FakeResolver) -> None:
    did = f"did:web:127.0.0.1%3A{server.port}"
    # naming a loopback host for plain HTTP allows it
    async with WebResolver(allow_http_for={"127.0.0.1"}) as resolver:
        with pytest.raises(WebResolutionError) as info:
            await resolver.resolve(did)  # reached: the list served is not its document
    assert not isinstance(info.value, HostNotPublic)
    assert server.hits == 1
    # allow_private lets an internal name through to its address (here over https, which the
    # plain server cannot speak: the failure is past the guard)
    dns.answers["did.corp.example"] = ["127.0.0.1"]
    async with WebResolver(allow_private=["did.corp.example"], timeout=5) as resolver:
        with pytest.raises(WebResolutionError) as info:
            await resolver.resolve(f"did:web:did.corp.example%3A{server.port}")
    assert not isinstance(info.value, HostNotPublic)


# -- the agent's option -----------------------------------------------------------------------


def test_config_option() -> None:
    from agent.config import Config, ConfigError, add_arguments, resolve

    assert Config().allow_private_fetch == ()
    env = {"MOI_ALLOW_PRIVATE_FETCH": "10.1.0.0/16, status.corp.example"}
    assert resolve(None, env).allow_private_fetch == ("10.1.0.0/16", "status.corp.example")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--allow-private-fetch", "fd00::/8", "--allow-private-fetch", "h"])
    assert resolve(args, {}).allow_private_fetch == ("fd00::/8", "h")
    assert "HOST_OR_NET" in parser.format_help()
    with pytest.raises(ConfigError, match="allow_private_fetch"):
        Config(allow_private_fetch=("10.0.0.0/99",))


async def test_agent_passes_the_option(tmp_path: Path, dns: FakeResolver) -> None:
    from agent.config import Config
    from agent.runtime import Agent
    from protocols.issue_credential import policy
    from wallet import Wallet

    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dns.answers["did.corp.example"] = ["127.0.0.1"]
    did = f"did:web:did.corp.example%3A{port}"
    for allow in ((), ("10.0.0.0/8", "127.0.0.1")):
        home = tmp_path / str(len(allow))
        home.mkdir()
        wallet = await Wallet.create(f"sqlite://{home}/w.db", passphrase="pw", kdf="argon2id-test")
        try:
            agent = Agent(Config(allow_private_fetch=allow), wallet, home=home)
            fetcher = policy.fetcher(agent.services, policy.CredentialPolicy())
            # its own guarded sessions, not the agent's outbound one
            assert fetcher._session is None
            assert fetcher.guard.allows_address("10.1.2.3") is bool(allow)
            assert not fetcher.guard.allows_address("169.254.169.254")
            with pytest.raises(WebResolutionError) as info:
                await wallet.resolver.resolve(did)
            # refused by the guard, or let through to a closed port
            assert isinstance(info.value, HostNotPublic) is not allow
        finally:
            await wallet.close()
