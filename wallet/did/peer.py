"""The did:peer resolver: numalgo 2, 3 and 4, all computed locally.

Numalgo 0 and 1 are refused: 0 is did:key under another name and 1 needs a stored genesis
document that no current peer sends. A did:peer:3 or a short did:peer:4 resolves once its
long form has been resolved here (the long form is remembered in a :class:`LongFormCache`).
"""

from __future__ import annotations

from typing import Any

from ..errors import DIDNotFound, InvalidDID
from .errors import UnsupportedPeerNumalgo
from .peer2 import is_peer3, peer2_to_peer3, resolve_peer2, resolve_peer3
from .peer4 import (
    InMemoryLongFormCache,
    LongFormCache,
    is_peer4_short,
    long_to_short,
    resolve_peer4,
    resolve_peer4_short,
)

__all__ = ["PeerResolver"]


class PeerResolver:
    """Resolves did:peer:2/3/4; documents never change, so they are cached for good."""

    methods = frozenset({"peer"})
    immutable = True

    def __init__(self, long_forms: LongFormCache | None = None) -> None:
        self.long_forms: LongFormCache = (
            long_forms if long_forms is not None else InMemoryLongFormCache()
        )

    async def resolve(self, did: str) -> dict[str, Any]:
        if not isinstance(did, str) or not did.startswith("did:peer:") or len(did) < 11:
            raise InvalidDID("not a did:peer")
        numalgo = did[9]
        if numalgo == "2":
            doc = resolve_peer2(did)
            await self.long_forms.put(peer2_to_peer3(did), did)
            return doc
        if numalgo == "4":
            if is_peer4_short(did):
                long = await self._long_form(did)
                return resolve_peer4_short(did, long)
            doc = resolve_peer4(did)
            await self.long_forms.put(long_to_short(did), did)
            return doc
        if numalgo == "3":
            if not is_peer3(did):
                raise InvalidDID("not a valid did:peer:3")
            return resolve_peer3(did, await self._long_form(did))
        if numalgo in "01":
            raise UnsupportedPeerNumalgo(
                f"did:peer numalgo {numalgo} is not supported; moi resolves numalgo 2, 3 and 4"
            )
        if numalgo.isdigit():
            raise UnsupportedPeerNumalgo(f"did:peer numalgo {numalgo} is unknown")
        raise InvalidDID("a did:peer has a numalgo digit after 'did:peer:'")

    async def _long_form(self, short: str) -> str:
        long = await self.long_forms.get(short)
        if long is None:
            raise DIDNotFound(
                f"{short[:24]}... is a short form; its long form has not been seen here"
            )
        return long
