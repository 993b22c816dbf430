"""Fetches made on a peer's word may connect only to public addresses (an SSRF guard).

A credential names the URL of its status list and a did:web names its host: both are chosen
by whoever sent them. An organisation's agent fetching them must not become a way into its own
network (``https://10.0.0.5/``, the cloud metadata service at ``169.254.169.254``, a name that
resolves to ``127.0.0.1``). :class:`AddressGuard` judges addresses twice:

* an IP literal in a URL, before any request (:meth:`AddressGuard.check_url`) -- aiohttp
  connects to those without asking a resolver, so a resolver alone would never see them;
* every address a host name resolves to, at connect time, by :class:`GuardedResolver` in the
  connector of the fetcher's session (:meth:`AddressGuard.connector`). The addresses judged are
  the ones connected to, so a name that resolves to a public address once and to a private one
  the next time (DNS rebinding) gains nothing.

Operators with internal servers, and tests on loopback, name the hosts or networks that are
allowed although not public. A refusal is a :class:`HostNotPublic` naming only the host: the
message may reach the peer (in a verification report), and which internal address a name
resolves to is none of its business.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from .errors import MoiError

__all__ = [
    "LOOPBACK",
    "AddressGuard",
    "GuardedResolver",
    "HostNotPublic",
    "is_public_address",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The loopback networks, for an allowance in development and tests.
LOOPBACK: tuple[str, ...] = ("127.0.0.0/8", "::1/128")

# NAT64's well-known prefix is globally routable, yet a NAT64 gateway turns 64:ff9b::a00:5
# into 10.0.0.5: the embedded IPv4 address is the one that counts.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
# All digits and dots but not a canonical dotted quad ("127.1", "2130706433"): the C library
# reads these as 127.0.0.1, and aiohttp before 3.14 connects to them without a resolver.
_NUMERIC_HOST = re.compile(r"[0-9.]+")


class HostNotPublic(MoiError):
    """A fetch was refused: its host is not, or does not resolve to, a public address.

    ``host`` names the host of the URL, never the addresses it resolved to. Each fetcher
    raises its own subclass, also a member of its own error family.
    """

    host: str = ""


def _refusal(host: str) -> HostNotPublic:
    err = HostNotPublic(f"{host} is not a public address")
    err.host = host
    return err


def is_public_address(address: IPAddress) -> bool:
    """Whether ``address`` is globally routable: not private, loopback, link-local, shared
    (100.64/10), documentation, reserved, multicast or unspecified -- nor an IPv6 address that
    embeds such an IPv4 address (IPv4-mapped, 6to4, NAT64)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public_address(address.ipv4_mapped)
        if address.sixtofour is not None and not is_public_address(address.sixtofour):
            return False
        if address in _NAT64:
            return is_public_address(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.is_site_local:
            return False
    # is_global alone lets multicast through (224.0.0.0/4 and ff00::/8 count as global).
    return address.is_global and not (
        address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address.is_link_local
        or address.is_loopback
        or address.is_private
    )


def _parse_address(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


class AddressGuard:
    """Which addresses a fetch may connect to: public ones, and those ``allow`` names.

    ``allow`` holds IP networks (``10.1.0.0/16``), single addresses (``127.0.0.1``) or host
    names (``status.corp.example``: whatever it resolves to is allowed). Anything else is a
    ``ValueError``, so a typo does not silently allow nothing.
    """

    def __init__(self, allow: Iterable[str] = ()) -> None:
        if isinstance(allow, str):
            raise TypeError("allow is a collection of hosts or networks, not one string")
        networks: list[IPNetwork] = []
        names: set[str] = set()
        for entry in allow:
            text = str(entry).strip().lower()
            try:
                networks.append(ipaddress.ip_network(text.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            name = text.rstrip(".")
            if not _HOST_NAME.fullmatch(name) or len(name) > 253 or _NUMERIC_HOST.fullmatch(name):
                raise ValueError(f"{str(entry)[:80]!r} is neither a host name nor an IP network")
            names.add(name)
        self.networks: tuple[IPNetwork, ...] = tuple(networks)
        self.names: frozenset[str] = frozenset(names)

    def __repr__(self) -> str:
        allowed = [str(n) for n in self.networks] + sorted(self.names)
        return f"AddressGuard(allow={allowed!r})"

    def allows_name(self, host: str) -> bool:
        """Whether ``host`` is a host name allowed whatever it resolves to."""
        return host.lower().rstrip(".") in self.names

    def allows_address(self, address: str | IPAddress) -> bool:
        """Whether the guard lets a connection to ``address`` through."""
        if isinstance(address, str):
            parsed = _parse_address(address)
            if parsed is None:
                return False
            address = parsed
        if is_public_address(address):
            return True
        # An IPv4-mapped address reaches the IPv4 one: an allowance of either covers it.
        candidates: list[IPAddress] = [address]
        if isinstance(address, ipaddress.IPv6Address):
            if address.scope_id:
                candidates.append(ipaddress.IPv6Address(str(address).split("%", 1)[0]))
            if address.ipv4_mapped is not None:
                candidates.append(address.ipv4_mapped)
        return any(
            a in net for a in candidates for net in self.networks if a.version == net.version
        )

    def check_host(self, host: str) -> None:
        """Refuse an IP-literal ``host`` (as written in a URL) that is not allowed.

        A host name passes here; its addresses are judged when connecting.
        """
        if self.allows_name(host):
            return
        address = _parse_address(host)
        if address is not None:
            if not self.allows_address(address):
                raise _refusal(host)
        elif _NUMERIC_HOST.fullmatch(host.rstrip(".")):
            raise _refusal(host)

    def check_url(self, url: str | URL) -> None:
        """Refuse a URL whose host is an IP literal not allowed (see :meth:`check_host`).

        The host is read with yarl, the parser aiohttp itself uses, so that the host checked
        is the host aiohttp connects to.
        """
        host = (url if isinstance(url, URL) else URL(url)).raw_host
        if not host:
            raise _refusal("(none)")
        self.check_host(host)

    def connector(self, **kwargs: Any) -> aiohttp.TCPConnector:
        """A connector whose every resolved address passes this guard (make it in the loop)."""
        return aiohttp.TCPConnector(resolver=GuardedResolver(self), **kwargs)


class GuardedResolver(AbstractResolver):
    """Wraps a resolver (the system's, through aiohttp's ``ThreadedResolver``, unless given)
    and drops the addresses the guard refuses; when none is left, raises
    :class:`HostNotPublic` for the host.

    A mixed answer keeps only the allowed addresses: a public name that also lists a private
    address (by mistake or by design) stays usable without the private one being tried.
    """

    def __init__(self, guard: AddressGuard, inner: AbstractResolver | None = None) -> None:
        self._guard = guard
        # getaddrinfo in an executor: asynchronous, and with nothing to release. aiohttp closes
        # only a resolver it made itself, so aiohttp's default with aiodns installed (whose
        # channel wants closing) would leak one per connector.
        self._inner = inner if inner is not None else ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if self._guard.allows_name(host):
            return results
        kept = [r for r in results if self._guard.allows_address(r["host"])]
        if not kept:
            raise _refusal(host)
        return kept

    async def close(self) -> None:
        await self._inner.close()
