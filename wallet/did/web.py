"""did:web resolution over HTTPS (W3C CCG did:web method).

``did:web:example.com`` is fetched from ``https://example.com/.well-known/did.json`` and
``did:web:example.com:user:alice`` from ``https://example.com/user/alice/did.json``; a port
is written ``%3A``. The fetch is bounded in time and size (the size while reading, not only
from ``Content-Length``), redirects are not followed (a did:web names its own location), any
content type is read as JSON, and the document's ``id`` must be the DID. Every failure is a
:class:`~wallet.did.errors.WebResolutionError` naming the host.

The host is the DID's choice, so the fetch may connect only to public addresses
(:mod:`wallet.outbound_guard`): an IP-literal host is refused before the request, a host
name's addresses when connecting (:class:`WebHostNotPublic`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import ssl as ssl_module
from collections.abc import Iterable
from typing import Any

import aiohttp

from ..encoding import loads_object
from ..errors import InputError, InvalidDID
from ..outbound_guard import AddressGuard, HostNotPublic
from .errors import (
    DIDWebNotFound,
    DocumentIdMismatch,
    WebDocumentTooLarge,
    WebHostUnreachable,
    WebHTTPError,
    WebInvalidDocument,
    WebResolutionError,
    WebTimeout,
    WebTLSError,
)
from .url import parse_did

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_TIMEOUT", "WebHostNotPublic", "WebResolver", "did_web_url"]

DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_BYTES = 256 * 1024
_ACCEPT = "application/did+json, application/did+ld+json, application/json;q=0.9, */*;q=0.1"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_PORT_RE = re.compile(r"[0-9]{1,5}")


class WebHostNotPublic(WebHostUnreachable, HostNotPublic):
    """The did:web host is not, or does not resolve to, a public address (and is not allowed
    by ``allow_private`` or ``allow_http_for``)."""

    def __init__(self, host: str) -> None:
        # "cannot connect" as for any unreachable host: moi refused to connect there.
        super().__init__(host, "cannot connect: not a public address")


def _host_part(host: str) -> str:
    """``host`` without a ``:port`` (an IPv6 address without brackets has several colons)."""
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def did_web_url(did: str, *, plain_http: bool = False) -> tuple[str, str]:
    """The URL of a did:web's document and the ``host[:port]`` it names."""
    method, msid = parse_did(did)
    if method != "web":
        raise InvalidDID(f"not a did:web: did:{method}")
    authority, *segments = msid.split(":")
    host, has_port, port = authority.replace("%3a", "%3A").partition("%3A")
    if not _HOST_RE.fullmatch(host) or len(host) > 253:
        raise InvalidDID(f"did:web host {host[:60]!r} is not a domain name")
    if has_port and (not _PORT_RE.fullmatch(port) or not 0 < int(port) < 65536):
        raise InvalidDID(f"did:web port {port[:10]!r} is not a port number")
    for segment in segments:
        if segment in ("", ".", "..") or "%2f" in segment.lower():
            raise InvalidDID(f"did:web path segment {segment[:30]!r} is not allowed")
    netloc = host.lower() + (f":{port}" if has_port else "")
    path = "/".join(segments) + "/did.json" if segments else ".well-known/did.json"
    return f"{'http' if plain_http else 'https'}://{netloc}/{path}", netloc


class WebResolver:
    """Fetches did:web documents with aiohttp.

    ``session``: a session to use (the caller closes it); otherwise one is made on first use
    and closed by :meth:`close`. ``ssl``: a TLS context (tests pass one trusting their own
    certificate). ``allow_http_for``: loopback hosts fetched over plain HTTP, for tests and
    local development; any other host is refused there. Only public addresses are connected
    to, unless ``allow_private`` names the host or a network holding the address, or the host
    is one of ``allow_http_for`` (see :class:`~wallet.outbound_guard.AddressGuard`). A given
    ``session``'s connector should come from :meth:`AddressGuard.connector` -- otherwise only
    IP-literal hosts are judged.
    """

    methods = frozenset({"web"})
    immutable = False

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_bytes: int = DEFAULT_MAX_BYTES,
        ssl: ssl_module.SSLContext | None = None,
        allow_http_for: Iterable[str] = (),
        allow_private: Iterable[str] = (),
    ) -> None:
        if timeout <= 0 or max_bytes <= 0:
            raise ValueError("timeout and max_bytes must be positive")
        hosts = frozenset(h.lower() for h in allow_http_for)
        for host in hosts:
            if not _is_loopback(_host_part(host)):
                raise ValueError(f"plain HTTP is allowed only for loopback hosts, not {host!r}")
        # Naming a loopback host for plain HTTP is the explicit wish to fetch from it.
        self.guard = AddressGuard([*allow_private, *(_host_part(h).strip("[]") for h in hosts)])
        self._session = session
        self._own_session: aiohttp.ClientSession | None = None
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._ssl: ssl_module.SSLContext | bool = ssl if ssl is not None else True
        self._http_hosts = hosts

    async def __aenter__(self) -> WebResolver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session is not None:
            await self._own_session.close()
            self._own_session = None

    def _session_for_use(self) -> aiohttp.ClientSession:
        if self._session is not None:
            return self._session
        if self._own_session is None or self._own_session.closed:
            self._own_session = aiohttp.ClientSession(connector=self.guard.connector())
        return self._own_session

    def url_for(self, did: str) -> tuple[str, str]:
        """The URL to fetch and the host it names (plain HTTP for allowed loopback hosts)."""
        _, netloc = did_web_url(did)
        hostname = netloc.rsplit(":", 1)[0]
        plain = netloc in self._http_hosts or hostname in self._http_hosts
        return did_web_url(did, plain_http=plain)

    async def resolve(self, did: str) -> dict[str, Any]:
        url, host = self.url_for(did)
        body = await self._fetch(url, host)
        try:
            doc = loads_object(body, max_bytes=self.max_bytes, what="the DID document")
        except InputError as err:
            raise WebInvalidDocument(host, str(err)) from err
        if doc.get("id") != did:
            raise DocumentIdMismatch(host, "the document's id is not the DID asked for")
        return doc

    async def _fetch(self, url: str, host: str) -> bytes:
        try:
            # aiohttp connects to an IP literal without asking the resolver: judge it here.
            self.guard.check_url(url)
        except HostNotPublic as err:
            raise WebHostNotPublic(host) from err
        session = self._session_for_use()
        try:
            async with asyncio.timeout(self.timeout):
                async with session.get(
                    url,
                    ssl=self._ssl,
                    allow_redirects=False,
                    headers={"Accept": _ACCEPT},
                ) as resp:
                    if resp.status in (404, 410):
                        raise DIDWebNotFound(host, resp.status)
                    if resp.status != 200:
                        raise WebHTTPError(host, resp.status)
                    if resp.content_length is not None and resp.content_length > self.max_bytes:
                        raise WebDocumentTooLarge(host, self._too_large(resp.content_length))
                    body = bytearray()
                    async for chunk in resp.content.iter_chunked(64 * 1024):
                        body += chunk
                        if len(body) > self.max_bytes:
                            raise WebDocumentTooLarge(host, self._too_large(len(body), "over"))
                    return bytes(body)
        except WebResolutionError:
            raise
        except HostNotPublic as err:
            # From the connector's resolver: the name resolved to no allowed address.
            raise WebHostNotPublic(host) from err
        except TimeoutError as err:
            raise WebTimeout(host, f"no document within {self.timeout:g} s") from err
        except (aiohttp.ClientSSLError, ssl_module.SSLError) as err:
            raise WebTLSError(host, f"TLS failed: {type(err).__name__}") from err
        except (aiohttp.ClientConnectionError, OSError) as err:
            raise WebHostUnreachable(host, f"cannot connect: {type(err).__name__}") from err
        except aiohttp.ClientError as err:
            raise WebResolutionError(host, f"the request failed: {type(err).__name__}") from err

    def _too_large(self, size: int, how: str = "") -> str:
        shown = f"{how} {size}".strip()
        return f"the document is {shown} bytes, over the limit of {self.max_bytes}"
