"""The issuer's side of Bitstring Status List 1.0: a list that allocates, flips and publishes.

Pure state: the caller persists :meth:`StatusList.to_state` in its record store, signs what
:meth:`StatusList.to_credential` returns and serves it at the list's URL.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from wallet.credentials.errors import StatusError
from wallet.credentials.status_list import (
    LIST_CREDENTIAL_TYPE,
    LIST_TYPE,
    MAX_STATUS_SIZE,
    MESSAGE,
    MIN_ENTRIES,
    REVOCATION,
    SUSPENSION,
    VC_V2_CONTEXT,
    StatusListEntry,
    StatusMessage,
    StatusRangeError,
    decode_bitstring,
    encode_bitstring,
    get_status,
    is_url,
    parse_messages,
    require_aware,
    set_status,
)
from wallet.errors import InputError


class StatusListFull(StatusError):
    """The issuer's list has no free index left; start a new list."""


class StatusList:
    """An issuer's status list: allocates random indexes, flips statuses, publishes.

    One purpose per list (keep a revocation list and a suspension list side by side): a
    single bit meaning both "revoked" and "suspended" could not be un-suspended safely.
    """

    _SAMPLE_TRIES = 64

    def __init__(
        self,
        url: str,
        purpose: str = REVOCATION,
        *,
        length: int = MIN_ENTRIES,
        status_size: int = 1,
        messages: Sequence[StatusMessage] = (),
        minimum_entries: int = MIN_ENTRIES,
    ) -> None:
        if not is_url(url):
            raise InputError("status list URL must be an absolute URL")
        if not isinstance(purpose, str) or not purpose:
            raise InputError("status purpose must be a non-empty string")
        if not 1 <= status_size <= MAX_STATUS_SIZE:
            raise InputError(f"statusSize must be from 1 to {MAX_STATUS_SIZE}")
        if length < minimum_entries or (length * status_size) % 8:
            raise InputError(f"a list needs at least {minimum_entries} entries filling whole bytes")
        if (status_size > 1 or purpose == MESSAGE) and len(messages) != 1 << status_size:
            raise InputError(f"a {status_size}-bit list needs {1 << status_size} status messages")
        self.url = url
        self.purpose = purpose
        self.length = length
        self.status_size = status_size
        self.messages = tuple(messages)
        self._bits = bytearray(length * status_size // 8)
        self._allocated = bytearray((length + 7) // 8)
        self._count = 0

    # allocation

    @property
    def allocated(self) -> int:
        return self._count

    def allocate(self) -> int:
        """Reserve a free index chosen uniformly at random, so indexes reveal no order."""
        free = self.length - self._count
        if free <= 0:
            raise StatusListFull(f"status list {self.url} is full")
        index = -1
        for _ in range(self._SAMPLE_TRIES):
            candidate = secrets.randbelow(self.length)
            if not self._is_allocated(candidate):
                index = candidate
                break
        if index < 0:
            # Nearly full: pick the k-th free index, still uniform among the free ones.
            index = self._nth_free(secrets.randbelow(free))
        self._allocated[index >> 3] |= 1 << (7 - (index & 7))
        self._count += 1
        return index

    def _is_allocated(self, index: int) -> bool:
        return bool((self._allocated[index >> 3] >> (7 - (index & 7))) & 1)

    def _nth_free(self, n: int) -> int:
        for byte_pos, byte in enumerate(self._allocated):
            free_here = 8 - byte.bit_count()
            if n >= free_here:
                n -= free_here
                continue
            for bit in range(8):
                index = byte_pos * 8 + bit
                if index < self.length and not (byte >> (7 - bit)) & 1:
                    if n == 0:
                        return index
                    n -= 1
        raise StatusListFull(f"status list {self.url} is full")

    def entry(self, index: int, *, entry_id: str | None = None) -> StatusListEntry:
        """The ``credentialStatus`` entry for an allocated index."""
        self._check_allocated(index)
        return StatusListEntry(
            purpose=self.purpose,
            index=index,
            list_credential=self.url,
            size=self.status_size,
            messages=self.messages,
            id=entry_id,
        )

    # status changes

    def get(self, index: int) -> int:
        return get_status(self._bits, index, self.status_size)

    def set(self, index: int, value: int) -> None:
        """Set an allocated entry's status; a revocation cannot be undone."""
        self._check_allocated(index)
        if self.purpose == REVOCATION and value == 0 and self.get(index):
            raise StatusError("revocation is not reversible")
        set_status(self._bits, index, self.status_size, value)

    def revoke(self, index: int) -> None:
        self._require_purpose(REVOCATION)
        self.set(index, 1)

    def suspend(self, index: int) -> None:
        self._require_purpose(SUSPENSION)
        self.set(index, 1)

    def unsuspend(self, index: int) -> None:
        self._require_purpose(SUSPENSION)
        self.set(index, 0)

    def _require_purpose(self, purpose: str) -> None:
        if self.purpose != purpose:
            raise StatusError(f"status list {self.url} is for {self.purpose!r}, not {purpose!r}")

    def _check_allocated(self, index: int) -> None:
        if type(index) is not int or not 0 <= index < self.length:
            raise StatusRangeError(f"status index {index} is outside the list")
        if not self._is_allocated(index):
            raise StatusError(f"status index {index} was never allocated")

    # publishing and persistence

    def to_credential(
        self,
        *,
        issuer: str | Mapping[str, Any],
        valid_from: datetime,
        valid_until: datetime | None = None,
        ttl_ms: int | None = None,
    ) -> dict[str, Any]:
        """The unsigned ``BitstringStatusListCredential``; sign it, then publish at ``url``."""
        require_aware(valid_from)
        subject: dict[str, Any] = {
            "id": self.url + "#list",
            "type": LIST_TYPE,
            "statusPurpose": self.purpose,
            "encodedList": encode_bitstring(self._bits),
        }
        if ttl_ms is not None:
            if type(ttl_ms) is not int or ttl_ms < 0:
                raise InputError("ttl must be a non-negative number of milliseconds")
            subject["ttl"] = ttl_ms
        out: dict[str, Any] = {
            "@context": [VC_V2_CONTEXT],
            "id": self.url,
            "type": ["VerifiableCredential", LIST_CREDENTIAL_TYPE],
            "issuer": issuer,
            "validFrom": _xsd_datetime(valid_from),
        }
        if valid_until is not None:
            require_aware(valid_until)
            if valid_until <= valid_from:
                raise InputError("validUntil must be after validFrom")
            out["validUntil"] = _xsd_datetime(valid_until)
        out["credentialSubject"] = subject
        return out

    def to_state(self) -> dict[str, Any]:
        """A JSON-able snapshot for the issuer's record store."""
        return {
            "url": self.url,
            "purpose": self.purpose,
            "length": self.length,
            "status_size": self.status_size,
            "messages": [{"status": hex(m.status), "message": m.message} for m in self.messages],
            "bits": encode_bitstring(self._bits),
            "allocated": encode_bitstring(self._allocated),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> StatusList:
        """Restore a list saved by :meth:`to_state`."""
        try:
            size = state["status_size"]
            raw_messages = state["messages"]
            messages = parse_messages(raw_messages, size) if raw_messages else ()
            out = cls(
                state["url"],
                state["purpose"],
                length=state["length"],
                status_size=size,
                messages=messages,
                minimum_entries=0,
            )
            bits = decode_bitstring(state["bits"], max_bytes=len(out._bits))
            allocated = decode_bitstring(state["allocated"], max_bytes=len(out._allocated))
        except (KeyError, TypeError) as err:
            raise InputError(f"status list state is missing or mistyped: {err}") from err
        if len(bits) != len(out._bits) or len(allocated) != len(out._allocated):
            raise InputError("status list state does not match its length")
        out._bits[:] = bits
        out._allocated[:] = allocated
        out._count = sum(b.bit_count() for b in allocated)
        return out


def _xsd_datetime(value: datetime) -> str:
    text = value.isoformat(timespec="seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text
