"""Fetching status list credentials over HTTP for a verifier, with limits and a cache.

The checks themselves are pure (:mod:`wallet.credentials.status_list`); this module only
retrieves, bounds and caches. A list is verified (by the caller's callback) and parsed once
per cache lifetime, so checking many credentials against one list costs one fetch and one
signature check. The lifetime is the shortest of the configured ``max_age``, the list's
``ttl``, the response's ``Cache-Control: max-age`` and the time left before its
``validUntil``: a verifier sees a revocation at most ``max_age`` seconds late.

The URL is the credential's choice, so the fetch may connect only to public addresses
(:mod:`wallet.outbound_guard`): an IP literal is judged before the request and at every
redirect, a host name's addresses when connecting.
"""

from __future__ import annotations

import asyncio
import re
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp

from wallet.credentials.status_list import (
    DEFAULT_MAX_DECODED_BYTES,
    MIN_ENTRIES,
    ListCredentialVerifier,
    ParsedStatusList,
    StatusListEntry,
    StatusResult,
    StatusRetrievalError,
    evaluate_status,
    require_aware,
    status_entries,
    verify_and_parse,
)
from wallet.encoding import loads_object
from wallet.errors import InputError, TooLargeError
from wallet.outbound_guard import LOOPBACK, AddressGuard, HostNotPublic

#: Default ceiling of a response body; a 131,072-entry list is a few hundred bytes to 22 KiB.
DEFAULT_MAX_RESPONSE_BYTES = 2 * 1024 * 1024

_ACCEPT = (
    "application/vc, application/vc+jwt, application/vc+ld+json, application/ld+json;q=0.9, "
    "application/json;q=0.8, application/jwt;q=0.8, */*;q=0.1"
)
_COMPACT_TOKEN = re.compile(rb"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_.~-]*$")
_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-)?max-age\s*=\s*\"?(\d{1,10})\"?\s*(?:,|$)", re.IGNORECASE)
_NO_STORE = re.compile(r"(?:^|,)\s*(?:no-store|no-cache)\s*(?:,|$)", re.IGNORECASE)
_MAX_REDIRECTS = 3


class StatusUnreachable(StatusRetrievalError):
    """The status list's host could not be reached, or did not answer in time."""


class StatusHostNotPublic(StatusUnreachable, HostNotPublic):
    """The status list's host is not, or does not resolve to, a public address (and is not
    allowed by ``allow_private``)."""

    def __init__(self, host: str) -> None:
        super().__init__(f"status list host {host} is not a public address")
        self.host = host


class StatusHTTPError(StatusRetrievalError):
    """The server answered with an HTTP status other than 200."""

    def __init__(self, status: int, url: str) -> None:
        super().__init__(f"status list {url} answered HTTP {status}")
        self.status = status
        self.url = url


class StatusResponseTooLarge(StatusRetrievalError, TooLargeError):
    """The response body exceeded the configured size limit."""


class MalformedStatusResponse(StatusRetrievalError, InputError):
    """The body is neither a JSON credential nor a compact JWT."""


@dataclass(slots=True)
class _Cached:
    parsed: ParsedStatusList
    expires: float


class StatusListFetcher:
    """Retrieves, verifies, caches and checks status lists for a verifier.

    ``verify_list_credential`` checks a list credential's proof (see
    :data:`wallet.credentials.status_list.ListCredentialVerifier`). Plain ``http`` URLs are
    refused unless ``allow_http`` is set (development and tests on loopback, so it also allows
    loopback addresses).

    Only public addresses are connected to, unless ``allow_private`` names the host or a
    network holding the address (see :class:`~wallet.outbound_guard.AddressGuard`). Without a
    ``session`` the fetcher makes a guarded one for each fetch (so it holds no connection to
    close between fetches); a given ``session`` is the caller's, and its connector should come
    from :meth:`AddressGuard.connector` -- otherwise only IP literals in URLs are judged.
    """

    def __init__(
        self,
        verify_list_credential: ListCredentialVerifier,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 10.0,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES,
        max_age: float = 300.0,
        cache_size: int = 256,
        minimum_entries: int = MIN_ENTRIES,
        allow_http: bool = False,
        allow_private: Iterable[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if timeout <= 0 or max_response_bytes <= 0 or max_age < 0 or cache_size < 0:
            raise ValueError("timeout and limits must be positive")
        self._verify = verify_list_credential
        self._session = session
        self._own_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_response = max_response_bytes
        self._max_decoded = max_decoded_bytes
        self._max_age = max_age
        self._cache_size = cache_size
        self._minimum_entries = minimum_entries
        self._schemes = ("https", "http") if allow_http else ("https",)
        self.guard = AddressGuard([*allow_private, *(LOOPBACK if allow_http else ())])
        self._clock = clock
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[ParsedStatusList]] = {}
        #: How many times the network was asked (for tests and metrics).
        self.fetches = 0

    async def __aenter__(self) -> StatusListFetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Nothing to release: a session of the fetcher's own lives for one fetch, a given
        one is the caller's. Kept so that the fetcher is an async context manager."""

    def invalidate(self, url: str | None = None) -> None:
        """Forget one cached list, or all of them."""
        if url is None:
            self._cache.clear()
        else:
            self._cache.pop(url, None)

    # -- checks ---------------------------------------------------------------------------

    async def check(
        self, entry: StatusListEntry | Mapping[str, Any], now: datetime
    ) -> StatusResult:
        """Check one ``BitstringStatusListEntry``, fetching its list if not cached."""
        if not isinstance(entry, StatusListEntry):
            entry = StatusListEntry.from_json(entry)
        parsed = await self.get(entry.list_credential, now)
        return evaluate_status(entry, parsed, now, minimum_entries=self._minimum_entries)

    async def check_credential(
        self, credential: Mapping[str, Any], now: datetime
    ) -> list[StatusResult]:
        """Check every Bitstring Status List entry of a credential (none gives ``[]``)."""
        entries = status_entries(credential)
        return list(await asyncio.gather(*(self.check(e, now) for e in entries)))

    async def get(self, url: str, now: datetime) -> ParsedStatusList:
        """The verified, parsed list at ``url``: from the cache while fresh, else fetched."""
        require_aware(now)
        cached = self._cache.get(url)
        if cached is not None:
            if self._clock() < cached.expires:
                self._cache.move_to_end(url)
                return cached.parsed
            del self._cache[url]
        pending = self._inflight.get(url)
        if pending is not None:
            # Concurrent checks of one list share a single fetch and proof check.
            return await asyncio.shield(pending)
        future: asyncio.Future[ParsedStatusList] = asyncio.get_running_loop().create_future()
        self._inflight[url] = future
        try:
            parsed = await self._load(url, now)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as err:
            future.set_exception(err)
            future.exception()  # mark retrieved: waiters re-raise it, nobody else must
            raise
        else:
            future.set_result(parsed)
            return parsed
        finally:
            del self._inflight[url]

    async def _load(self, url: str, now: datetime) -> ParsedStatusList:
        raw, header_max_age = await self.fetch(url)
        parsed = await verify_and_parse(raw, self._verify, max_bytes=self._max_decoded)
        lifetime = self._max_age
        if header_max_age is not None:
            lifetime = min(lifetime, header_max_age)
        if parsed.ttl_ms is not None:
            lifetime = min(lifetime, parsed.ttl_ms / 1000)
        if parsed.valid_until is not None:
            lifetime = min(lifetime, max(0.0, (parsed.valid_until - now).total_seconds()))
        if lifetime > 0 and self._cache_size:
            self._cache[url] = _Cached(parsed, self._clock() + lifetime)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return parsed

    # -- retrieval ------------------------------------------------------------------------

    async def fetch(self, url: str) -> tuple[dict[str, Any] | str, float | None]:
        """GET the list credential: its body (JSON object or compact JWT) and any max-age.

        No verification or caching happens here.
        """
        self._check_url(url)
        if self._session is not None:
            return await self._follow(self._session, url)
        # A session of our own per fetch: lists are fetched once per cache lifetime, so
        # keep-alive buys little, and a fetcher that holds no session needs no closing (the
        # agent keeps one for its whole life). It inflates Content-Encoding itself, within the
        # size limit, and its connector refuses addresses that are not public.
        async with aiohttp.ClientSession(
            auto_decompress=False, connector=self.guard.connector()
        ) as session:
            return await self._follow(session, url)

    async def _follow(
        self, session: aiohttp.ClientSession, url: str
    ) -> tuple[dict[str, Any] | str, float | None]:
        current = url
        for _ in range(_MAX_REDIRECTS + 1):
            self.fetches += 1
            try:
                async with session.get(
                    current,
                    allow_redirects=False,
                    timeout=self._timeout,
                    headers={"Accept": _ACCEPT, "Accept-Encoding": "gzip, identity"},
                ) as resp:
                    if resp.status in (301, 302, 303, 307, 308):
                        location = resp.headers.get("Location")
                        if not location:
                            raise StatusHTTPError(resp.status, current)
                        current = urljoin(current, location)
                        self._check_url(current)
                        continue
                    if resp.status != 200:
                        raise StatusHTTPError(resp.status, current)
                    body = await self._read_body(resp, current)
                    return _parse_body(body, current), _cache_max_age(resp.headers)
            except HostNotPublic as err:
                if isinstance(err, StatusRetrievalError):
                    raise
                # From the connector's resolver: the name resolved to no allowed address.
                raise StatusHostNotPublic(err.host) from err
            except TimeoutError as err:
                raise StatusUnreachable(f"status list {current} did not answer in time") from err
            except aiohttp.InvalidURL as err:
                raise StatusRetrievalError(f"status list URL {current} is not valid") from err
            except aiohttp.ClientError as err:
                raise StatusUnreachable(f"status list {current} is unreachable: {err}") from err
        raise StatusRetrievalError(f"status list {url} redirects more than {_MAX_REDIRECTS} times")

    def _check_url(self, url: str) -> None:
        if not isinstance(url, str):
            raise StatusRetrievalError("status list URL must be a string")
        parts = urlsplit(url)
        if parts.scheme not in self._schemes or not parts.hostname:
            allowed = " or ".join(self._schemes)
            raise StatusRetrievalError(f"status list URL {url!r} is not an {allowed} URL")
        try:
            self.guard.check_url(url)
        except HostNotPublic as err:
            raise StatusHostNotPublic(err.host) from err
        except ValueError as err:  # yarl: not a URL it can parse
            raise StatusRetrievalError(f"status list URL {url[:200]!r} is not valid") from err

    async def _read_body(self, resp: aiohttp.ClientResponse, url: str) -> bytes:
        limit = self._max_response
        declared = resp.content_length
        if declared is not None and declared > limit:
            raise StatusResponseTooLarge(f"status list {url} is {declared} bytes, over {limit}")
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise StatusResponseTooLarge(f"status list {url} is over {limit} bytes")
            chunks.append(chunk)
        body = b"".join(chunks)
        encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding in ("", "identity") or not self._own_session:
            return body
        if encoding not in ("gzip", "x-gzip", "deflate"):
            raise MalformedStatusResponse(f"status list {url} uses Content-Encoding {encoding!r}")
        return _inflate(body, encoding, limit, url)


def _inflate(body: bytes, encoding: str, limit: int, url: str) -> bytes:
    wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits=wbits)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as err:
        raise MalformedStatusResponse(f"status list {url} has a corrupt {encoding} body") from err
    if len(out) > limit:
        raise StatusResponseTooLarge(f"status list {url} inflates past {limit} bytes")
    if not inflater.eof:
        raise MalformedStatusResponse(f"status list {url} has a truncated {encoding} body")
    return out


def _parse_body(body: bytes, url: str) -> dict[str, Any] | str:
    text = body.strip()
    if text.startswith(b"{"):
        try:
            return loads_object(text, max_bytes=len(text), what="status list credential")
        except InputError as err:
            raise MalformedStatusResponse(f"status list {url}: {err}") from err
    if _COMPACT_TOKEN.match(text):
        return text.decode("ascii")
    raise MalformedStatusResponse(f"status list {url} is neither a JSON credential nor a JWT")


def _cache_max_age(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Cache-Control")
    if not value:
        return None
    if _NO_STORE.search(value):
        return 0.0
    match = _MAX_AGE.search(value)
    return float(match.group(1)) if match else None
