"""W3C Bitstring Status List 1.0: the bitstring codec, entries, the issuer's list, the check.

Pure: no network, no clock. The verifier's side is :func:`check_status` (or
:func:`evaluate_status` once the list credential's proof has been checked); fetching the list
over HTTP lives in :mod:`wallet.credentials.status_fetch`. The issuer's side is
:class:`wallet.credentials.status_list_issuer.StatusList`.

Errors carry the spec's error code (``code``) so an HTTP layer can emit RFC 9457 problem
details with ``type = STATUS_ERROR_BASE + code``.
"""

from __future__ import annotations

import base64
import gzip
import re
import zlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

from wallet.credentials.errors import StatusError
from wallet.encoding import b64url_decode, loads_object
from wallet.errors import InputError, TooLargeError

#: The spec's minimum number of entries in a list (16 KiB of 1-bit entries).
MIN_ENTRIES = 131_072
#: Decompression ceiling: a list larger than this is refused before it is inflated further.
DEFAULT_MAX_DECODED_BYTES = 16 * 1024 * 1024
#: Base of the spec's error type URLs (RFC 9457 ``type``).
STATUS_ERROR_BASE = "https://www.w3.org/ns/credentials/status-list#"

REVOCATION = "revocation"
SUSPENSION = "suspension"
MESSAGE = "message"
REFRESH = "refresh"

ENTRY_TYPE = "BitstringStatusListEntry"
LIST_CREDENTIAL_TYPE = "BitstringStatusListCredential"
LIST_TYPE = "BitstringStatusList"
VC_V2_CONTEXT = "https://www.w3.org/ns/credentials/v2"

MAX_STATUS_SIZE = 16  # 2**16 messages is already far past any real use
_MAX_INDEX_DIGITS = 12  # 10**12 entries would be a 125 GB list
_DIGITS = re.compile(r"^[0-9]+$")
_HEX_STATUS = re.compile(r"^0x[0-9a-fA-F]{1,8}$")
_DATETIME = re.compile(
    r"^-?[0-9]{4,}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"
)


# -- errors ---------------------------------------------------------------------------------


class MalformedStatusEntry(StatusError, InputError):
    """A ``BitstringStatusListEntry`` breaks the data model (spec: MALFORMED_VALUE_ERROR)."""

    code: ClassVar[str] = "MALFORMED_VALUE_ERROR"


class MalformedStatusList(StatusError, InputError):
    """The status list credential or its ``encodedList`` is malformed (MALFORMED_VALUE_ERROR)."""

    code: ClassVar[str] = "MALFORMED_VALUE_ERROR"


class StatusListTooLarge(MalformedStatusList, TooLargeError):
    """The encoded or decompressed list exceeds the configured ceiling (a decompression bomb)."""


class StatusRetrievalError(StatusError):
    """The status list could not be retrieved (spec: STATUS_RETRIEVAL_ERROR)."""

    code: ClassVar[str] = "STATUS_RETRIEVAL_ERROR"


class StatusVerificationError(StatusError):
    """The status entry could not be validated against its list (STATUS_VERIFICATION_ERROR)."""

    code: ClassVar[str] = "STATUS_VERIFICATION_ERROR"


class StatusListSignatureError(StatusVerificationError):
    """The status list credential's proof did not verify."""


class StatusListTypeError(StatusVerificationError):
    """The credential is not a ``BitstringStatusListCredential`` of a ``BitstringStatusList``."""


class StatusPurposeMismatch(StatusVerificationError):
    """The entry's ``statusPurpose`` is not one of the list's purposes."""


class StatusListMismatch(StatusVerificationError):
    """The list credential's ``id`` is not the URL the entry points to."""


class StatusListExpired(StatusVerificationError):
    """The status list credential's ``validUntil`` has passed."""


class StatusListNotYetValid(StatusVerificationError):
    """The status list credential's ``validFrom`` is in the future."""


class StatusListLengthError(StatusError):
    """The list has fewer entries than the minimum needed for herd privacy."""

    code: ClassVar[str] = "STATUS_LIST_LENGTH_ERROR"


class StatusRangeError(StatusError):
    """The entry's index lies outside the list (spec: RANGE_ERROR)."""

    code: ClassVar[str] = "RANGE_ERROR"


class CredentialRevoked(StatusError):
    """The credential's revocation bit is set."""

    code: ClassVar[str] = "CREDENTIAL_REVOKED"


class CredentialSuspended(StatusError):
    """The credential's suspension bit is set."""

    code: ClassVar[str] = "CREDENTIAL_SUSPENDED"


# -- the bitstring --------------------------------------------------------------------------


def encode_bitstring(bits: bytes) -> str:
    """GZIP then multibase base64url (``u`` prefix, no padding), as ``encodedList`` holds it."""
    # mtime=0 keeps the output a function of the bits alone, so republishing is idempotent.
    # Level 6, not 9: on a sparse 16 KiB list (a few thousand bits set) level 9's long match
    # chains cost ~30 ms per encode against ~2 ms, for output only ~4% smaller.
    packed = gzip.compress(bytes(bits), compresslevel=6, mtime=0)
    return "u" + base64.urlsafe_b64encode(packed).rstrip(b"=").decode("ascii")


def decode_bitstring(
    encoded: str,
    *,
    max_bytes: int = DEFAULT_MAX_DECODED_BYTES,
    max_encoded_chars: int | None = None,
) -> bytes:
    """Decode ``encodedList``, refusing anything that would inflate past ``max_bytes``.

    Accepts the multibase form (``u`` + base64url) and the older bare base64url form that
    the W3C test-suite fixtures still use; a bare value always begins with ``H4sI`` (the
    GZIP magic), so the two cannot be confused.
    """
    if not isinstance(encoded, str) or not encoded:
        raise MalformedStatusList("encodedList must be a non-empty string")
    if max_encoded_chars is None:
        # Incompressible data grows by a few bytes under GZIP, then by 4/3 under base64.
        max_encoded_chars = (max_bytes + 1024) * 4 // 3 + 8
    if len(encoded) > max_encoded_chars:
        raise StatusListTooLarge(
            f"encodedList is {len(encoded)} characters, over the limit of {max_encoded_chars}"
        )
    if encoded.startswith("u"):
        body = encoded[1:]
    elif encoded.startswith("H4sI"):
        body = encoded
    else:
        raise MalformedStatusList("encodedList is not multibase base64url ('u' prefix)")
    try:
        compressed = b64url_decode(body, what="encodedList")
    except InputError as err:
        raise MalformedStatusList(str(err)) from err
    return _gunzip_bounded(compressed, max_bytes)


def _gunzip_bounded(data: bytes, max_bytes: int) -> bytes:
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, max_bytes + 1)
    except zlib.error as err:
        raise MalformedStatusList("encodedList is not valid GZIP data") from err
    if len(out) > max_bytes:
        raise StatusListTooLarge(f"encodedList inflates past the limit of {max_bytes} bytes")
    if not inflater.eof:
        raise MalformedStatusList("encodedList's GZIP data is truncated")
    if inflater.unused_data:
        # A second member could hold anything; the spec's list is exactly one member.
        raise MalformedStatusList("encodedList has data after its GZIP member")
    return out


def get_status(bits: bytes, index: int, size: int = 1) -> int:
    """The ``size``-bit value at entry ``index``; bit 0 is the left-most bit of byte 0."""
    start = index * size
    if index < 0 or start + size > len(bits) * 8:
        raise StatusRangeError(f"status index {index} is outside a list of {len(bits) * 8} bits")
    value = 0
    for pos in range(start, start + size):
        value = (value << 1) | ((bits[pos >> 3] >> (7 - (pos & 7))) & 1)
    return value


def set_status(bits: bytearray, index: int, size: int, value: int) -> None:
    """Write the ``size``-bit ``value`` at entry ``index`` (big-endian within the entry)."""
    start = index * size
    if index < 0 or start + size > len(bits) * 8:
        raise StatusRangeError(f"status index {index} is outside a list of {len(bits) * 8} bits")
    if not 0 <= value < (1 << size):
        raise StatusError(f"status value {value} does not fit in {size} bits")
    for offset in range(size):
        pos = start + offset
        mask = 1 << (7 - (pos & 7))
        if (value >> (size - 1 - offset)) & 1:
            bits[pos >> 3] |= mask
        else:
            bits[pos >> 3] &= ~mask & 0xFF


# -- the entry in a credential --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusMessage:
    """One ``statusMessage`` item: a status value and the issuer's debugging message."""

    status: int
    message: str


@dataclass(frozen=True, slots=True)
class StatusListEntry:
    """A validated ``BitstringStatusListEntry``."""

    purpose: str
    index: int
    list_credential: str
    size: int = 1
    messages: tuple[StatusMessage, ...] = ()
    id: str | None = None
    reference: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, obj: Any) -> StatusListEntry:
        """Validate an entry taken from a credential's ``credentialStatus``."""
        if not isinstance(obj, Mapping):
            raise MalformedStatusEntry("credentialStatus entry must be an object")
        if obj.get("type") != ENTRY_TYPE:
            raise MalformedStatusEntry(f"credentialStatus type must be {ENTRY_TYPE!r}")
        purpose = obj.get("statusPurpose")
        if not isinstance(purpose, str) or not purpose:
            raise MalformedStatusEntry("statusPurpose must be a non-empty string")
        index = _parse_index(obj.get("statusListIndex"))
        url = obj.get("statusListCredential")
        if not is_url(url):
            raise MalformedStatusEntry("statusListCredential must be an absolute URL")
        entry_id = obj.get("id")
        if entry_id is not None:
            if not is_url(entry_id):
                raise MalformedStatusEntry("credentialStatus id must be a URL")
            if entry_id == url:
                raise MalformedStatusEntry("credentialStatus id must not be the status list's URL")
        size = obj.get("statusSize", 1)
        if type(size) is not int or not 1 <= size <= MAX_STATUS_SIZE:
            raise MalformedStatusEntry(f"statusSize must be an integer from 1 to {MAX_STATUS_SIZE}")
        messages = parse_messages(obj.get("statusMessage"), size)
        return cls(purpose, index, url, size, messages, entry_id, _parse_reference(obj))

    def to_json(self) -> dict[str, Any]:
        """The entry as it goes into a credential's ``credentialStatus``."""
        out: dict[str, Any] = {}
        if self.id is not None:
            out["id"] = self.id
        out.update(
            type=ENTRY_TYPE,
            statusPurpose=self.purpose,
            statusListIndex=str(self.index),
            statusListCredential=self.list_credential,
        )
        if self.size != 1:
            out["statusSize"] = self.size
        if self.messages:
            out["statusMessage"] = [
                {"status": hex(m.status), "message": m.message} for m in self.messages
            ]
        if self.reference:
            out["statusReference"] = (
                self.reference[0] if len(self.reference) == 1 else list(self.reference)
            )
        return out

    def message_for(self, status: int) -> str | None:
        """The issuer's message for a status value, or the spec's defaults for 1-bit entries."""
        for item in self.messages:
            if item.status == status:
                return item.message
        if not self.messages and self.size == 1:
            return "set" if status else "unset"
        return None


def status_entries(credential: Mapping[str, Any]) -> list[StatusListEntry]:
    """The credential's Bitstring Status List entries (other status types are left out)."""
    raw = credential.get("credentialStatus")
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    if len(items) > 32:
        raise MalformedStatusEntry("credentialStatus has more than 32 entries")
    out = []
    for item in items:
        if not isinstance(item, Mapping):
            raise MalformedStatusEntry("credentialStatus entries must be objects")
        if item.get("type") == ENTRY_TYPE:
            out.append(StatusListEntry.from_json(item))
    return out


def _parse_index(value: Any) -> int:
    # The spec says a base-10 string; arbitrary size, so bound it before int().
    if not isinstance(value, str) or not _DIGITS.match(value):
        raise MalformedStatusEntry("statusListIndex must be a base-10 integer in a string")
    if len(value) > _MAX_INDEX_DIGITS:
        raise MalformedStatusEntry("statusListIndex is implausibly large")
    return int(value)


def parse_messages(raw: Any, size: int) -> tuple[StatusMessage, ...]:
    if raw is None:
        if size > 1:
            raise MalformedStatusEntry("statusMessage is required when statusSize is over 1")
        return ()
    if not isinstance(raw, list) or len(raw) != 1 << size:
        raise MalformedStatusEntry(f"statusMessage must be an array of {1 << size} items")
    seen: set[int] = set()
    out = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise MalformedStatusEntry("statusMessage items must be objects")
        status, message = item.get("status"), item.get("message")
        if not isinstance(status, str) or not _HEX_STATUS.match(status):
            raise MalformedStatusEntry("statusMessage status must be a hex string like '0x1'")
        if not isinstance(message, str):
            raise MalformedStatusEntry("statusMessage message must be a string")
        value = int(status, 16)
        if value >= 1 << size or value in seen:
            raise MalformedStatusEntry(f"statusMessage status {status} is out of range or repeated")
        seen.add(value)
        out.append(StatusMessage(value, message))
    return tuple(out)


def _parse_reference(obj: Mapping[str, Any]) -> tuple[str, ...]:
    ref = obj.get("statusReference")
    if ref is None:
        return ()
    refs = ref if isinstance(ref, list) else [ref]
    if not refs or len(refs) > 16 or not all(is_url(r) for r in refs):
        raise MalformedStatusEntry("statusReference must be a URL or an array of URLs")
    return tuple(refs)


def is_url(value: Any) -> bool:
    if not isinstance(value, str) or not 0 < len(value) <= 2048:
        return False
    parts = urlsplit(value)
    return (
        bool(parts.scheme)
        and bool(parts.netloc or parts.path)
        and not any(c.isspace() for c in value)
    )


# -- the list credential (verifier side) ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedStatusList:
    """A status list credential's content, after structural validation."""

    purposes: tuple[str, ...]
    bits: bytes
    id: str | None = None
    issuer: str | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    ttl_ms: int | None = None


def parse_status_list_credential(
    credential: Mapping[str, Any], *, max_bytes: int = DEFAULT_MAX_DECODED_BYTES
) -> ParsedStatusList:
    """Check a status list credential's shape and decode its bitstring.

    The proof is not checked here: see :func:`check_status`.
    """
    if not isinstance(credential, Mapping):
        raise MalformedStatusList("status list credential must be a JSON object")
    types = _as_strings(credential.get("type"), "type")
    if LIST_CREDENTIAL_TYPE not in types:
        raise StatusListTypeError(
            f"status list credential's type does not include {LIST_CREDENTIAL_TYPE!r}"
        )
    subject = credential.get("credentialSubject")
    if isinstance(subject, list) and len(subject) == 1:
        subject = subject[0]
    if not isinstance(subject, Mapping):
        raise MalformedStatusList("status list credential must have one credentialSubject object")
    if LIST_TYPE not in _as_strings(subject.get("type"), "credentialSubject.type"):
        raise StatusListTypeError(f"credentialSubject.type must be {LIST_TYPE!r}")
    purposes = _as_strings(subject.get("statusPurpose"), "credentialSubject.statusPurpose")
    if not purposes or not all(purposes):
        raise MalformedStatusList("credentialSubject.statusPurpose must be one or more strings")
    ttl = subject.get("ttl")
    if ttl is not None and (type(ttl) is not int or ttl < 0):
        raise MalformedStatusList("credentialSubject.ttl must be a non-negative integer (ms)")
    issuer = credential.get("issuer")
    if isinstance(issuer, Mapping):
        issuer = issuer.get("id")
    list_id = credential.get("id")
    return ParsedStatusList(
        purposes=tuple(purposes),
        bits=decode_bitstring(subject.get("encodedList"), max_bytes=max_bytes),
        id=list_id if isinstance(list_id, str) else None,
        issuer=issuer if isinstance(issuer, str) else None,
        valid_from=_opt_datetime(credential, "validFrom", "issuanceDate"),
        valid_until=_opt_datetime(credential, "validUntil", "expirationDate"),
        ttl_ms=ttl,
    )


def _as_strings(value: Any, what: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and len(value) <= 64 and all(isinstance(v, str) for v in value):
        return list(value)
    if value is None:
        return []
    raise MalformedStatusList(f"{what} must be a string or an array of strings")


def _opt_datetime(obj: Mapping[str, Any], key: str, legacy: str) -> datetime | None:
    # VCDM 1.1 lists say issuanceDate / expirationDate; read them when the 2.0 names are absent.
    name = key if key in obj else legacy
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not _DATETIME.match(value):
        raise MalformedStatusList(f"{name} must be a date-time with a time zone")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as err:
        raise MalformedStatusList(f"{name} is not a valid date-time") from err


@dataclass(frozen=True, slots=True)
class StatusResult:
    """The outcome of one status check (the spec's result map, plus where it came from)."""

    purpose: str
    status: int
    valid: bool
    index: int
    list_credential: str
    message: str | None = None

    @property
    def revoked(self) -> bool:
        return self.purpose == REVOCATION and self.status != 0

    @property
    def suspended(self) -> bool:
        return self.purpose == SUSPENSION and self.status != 0

    def raise_for_status(self) -> None:
        """Raise if the credential is revoked or suspended; other purposes only inform."""
        if self.revoked:
            raise CredentialRevoked(f"credential is revoked (status list {self.list_credential})")
        if self.suspended:
            raise CredentialSuspended(
                f"credential is suspended (status list {self.list_credential})"
            )


def evaluate_status(
    entry: StatusListEntry,
    status_list: ParsedStatusList,
    now: datetime,
    *,
    minimum_entries: int = MIN_ENTRIES,
) -> StatusResult:
    """The spec's validate algorithm, after the list credential's proof has been checked."""
    require_aware(now)
    if status_list.id is not None and status_list.id != entry.list_credential:
        raise StatusListMismatch(
            "status list credential's id is not the entry's statusListCredential"
        )
    if status_list.valid_until is not None and now > status_list.valid_until:
        raise StatusListExpired(f"status list expired at {status_list.valid_until.isoformat()}")
    if status_list.valid_from is not None and now < status_list.valid_from:
        raise StatusListNotYetValid(
            f"status list is valid from {status_list.valid_from.isoformat()}"
        )
    if entry.purpose not in status_list.purposes:
        listed = list(status_list.purposes)
        raise StatusPurposeMismatch(
            f"statusPurpose {entry.purpose!r} is not among the list's {listed}"
        )
    entries = len(status_list.bits) * 8 // entry.size
    if entries < minimum_entries:
        raise StatusListLengthError(
            f"status list has {entries} entries, fewer than {minimum_entries}"
        )
    status = get_status(status_list.bits, entry.index, entry.size)
    return StatusResult(
        purpose=entry.purpose,
        status=status,
        valid=status == 0,
        index=entry.index,
        list_credential=entry.list_credential,
        message=entry.message_for(status),
    )


#: Checks the list credential's proof. It receives what was fetched (a JSON object, or a
#: compact JWT string) and raises if the proof fails; it may return the verified credential
#: (a mapping), which is then what gets checked -- required for forms moi cannot unwrap.
ListCredentialVerifier = Callable[[Any], Awaitable[Any]]


async def check_status(
    entry: StatusListEntry | Mapping[str, Any],
    status_list_credential: Mapping[str, Any] | str,
    now: datetime,
    *,
    verify_list_credential: ListCredentialVerifier,
    minimum_entries: int = MIN_ENTRIES,
    max_bytes: int = DEFAULT_MAX_DECODED_BYTES,
) -> StatusResult:
    """Check one entry against its (already retrieved) status list credential."""
    if not isinstance(entry, StatusListEntry):
        entry = StatusListEntry.from_json(entry)
    parsed = await verify_and_parse(
        status_list_credential, verify_list_credential, max_bytes=max_bytes
    )
    return evaluate_status(entry, parsed, now, minimum_entries=minimum_entries)


async def verify_and_parse(
    raw: Mapping[str, Any] | str,
    verify_list_credential: ListCredentialVerifier,
    *,
    max_bytes: int = DEFAULT_MAX_DECODED_BYTES,
) -> ParsedStatusList:
    """Run the proof callback, then parse what it vouched for."""
    try:
        verified = await verify_list_credential(raw)
    except StatusError:
        raise
    except Exception as err:
        raise StatusListSignatureError(f"status list credential did not verify: {err}") from err
    if isinstance(verified, Mapping):
        credential: Mapping[str, Any] = verified
    elif isinstance(raw, Mapping):
        credential = raw
    elif isinstance(raw, str):
        credential = _jwt_credential(raw)
    else:
        raise MalformedStatusList("status list credential must be a JSON object or a JWT")
    return parse_status_list_credential(credential, max_bytes=max_bytes)


def _jwt_credential(token: str) -> Mapping[str, Any]:
    # Only reached after the callback accepted the token's signature.
    parts = token.strip().split(".")
    if len(parts) != 3 or "~" in token:
        raise MalformedStatusList("status list credential string is not a compact JWT")
    try:
        payload = loads_object(b64url_decode(parts[1], what="JWT payload"), what="JWT payload")
    except InputError as err:
        raise MalformedStatusList(str(err)) from err
    # VC-JOSE (VCDM 2.0) puts the credential in the payload; VC-JWT 1.1 under "vc".
    inner = payload.get("vc")
    return inner if isinstance(inner, Mapping) else payload


def require_aware(now: datetime) -> None:
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime")
