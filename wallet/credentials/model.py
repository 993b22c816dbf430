"""W3C Verifiable Credentials Data Model 2.0 (and reading 1.1): validated views over the JSON.

A :class:`Credential` or :class:`Presentation` keeps the JSON it was read from (``raw``; the
proofs sign that, not the view) and exposes the properties the data model requires, each
checked: the base ``@context`` first, the ``type``s, an ``issuer`` that is a URL or an object
with one, the subjects, the validity period as timezone-aware datetimes, the status entries.
Anything wrong raises :class:`MalformedCredential` naming the property.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

from wallet.encoding import DEFAULT_MAX_BYTES, loads_object
from wallet.errors import InputError, TooLargeError

from .contexts import CREDENTIALS_V1, CREDENTIALS_V2
from .errors import ExpiredCredential, MalformedCredential, NotYetValid, PresentationError

#: Bounds on lists inside one credential, beyond anything a real one carries.
MAX_SUBJECTS = 1000
MAX_ENTRIES = 100
MAX_PROOFS = 32
MAX_URL = 4096

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s]+$")
_DATETIME = re.compile(
    r"^(-?\d{4,})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
)


class CredentialTooLarge(MalformedCredential, TooLargeError):
    """The credential or presentation text is over the size limit."""


class Version(StrEnum):
    """Which data model the base context declares."""

    V1_1 = "1.1"
    V2_0 = "2.0"


class ValidityState(StrEnum):
    VALID = "valid"
    NOT_YET_VALID = "not-yet-valid"
    EXPIRED = "expired"


# -- leaf checks -----------------------------------------------------------------------------


def is_url(value: Any) -> bool:
    """An absolute URL/URI/DID as the data model means it: a scheme, no whitespace."""
    return isinstance(value, str) and len(value) <= MAX_URL and bool(_URL.match(value))


def _url(value: Any, what: str) -> str:
    if not is_url(value):
        raise MalformedCredential(f"{what} must be a URL, not {_show(value)}")
    return value


def parse_datetime(value: Any, what: str = "date-time") -> datetime:
    """An XML Schema ``dateTimeStamp`` (timezone required) as an aware datetime."""
    if not isinstance(value, str) or len(value) > 64:
        raise MalformedCredential(f"{what} must be a date-time string")
    m = _DATETIME.match(value)
    if m is None:
        raise MalformedCredential(
            f"{what} {value!r} is not an XML Schema date-time with a timezone"
        )
    year, month, day, hour, minute, second, frac, tz = m.groups()
    try:
        if tz == "Z":
            tzinfo = UTC
        else:
            sign = 1 if tz[0] == "+" else -1
            hours, minutes = int(tz[1:3]), int(tz[4:6])
            if hours > 14 or minutes > 59:
                raise ValueError("timezone offset out of range")
            tzinfo = timezone(sign * timedelta(hours=hours, minutes=minutes))
        micro = int((frac[1:] + "000000")[:6]) if frac else 0
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo
        )
    except ValueError as err:
        raise MalformedCredential(f"{what} {value!r} is not a valid date-time: {err}") from err


def format_datetime(value: datetime) -> str:
    """The UTC ``...Z`` form moi writes (seconds, or microseconds when present)."""
    if value.tzinfo is None:
        raise InputError("a datetime written into a credential must be timezone-aware")
    utc = value.astimezone(UTC)
    if utc.microsecond:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0") + "Z"
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def _types(value: Any, what: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items or len(items) > MAX_ENTRIES:
        raise MalformedCredential(f"{what} must be a string or a short non-empty list")
    for t in items:
        if not isinstance(t, str) or not t or len(t) > MAX_URL:
            raise MalformedCredential(f"{what} entries must be non-empty strings")
    return tuple(items)


def _objects(value: Any, what: str, limit: int = MAX_ENTRIES) -> tuple[dict[str, Any], ...]:
    items = value if isinstance(value, list) else [value]
    if len(items) > limit:
        raise MalformedCredential(f"{what} has more than {limit} entries")
    for item in items:
        if not isinstance(item, dict):
            raise MalformedCredential(f"{what} must be an object or a list of objects")
    return tuple(items)


def _contexts(doc: dict[str, Any]) -> tuple[Version, tuple[str | dict[str, Any], ...]]:
    ctx = doc.get("@context")
    if ctx is None:
        raise MalformedCredential("@context is missing")
    items = ctx if isinstance(ctx, list) else [ctx]
    if not items or len(items) > MAX_ENTRIES:
        raise MalformedCredential("@context must be a short non-empty list")
    if items[0] == CREDENTIALS_V2:
        version = Version.V2_0
    elif items[0] == CREDENTIALS_V1:
        version = Version.V1_1
    else:
        raise MalformedCredential(
            f"@context must start with {CREDENTIALS_V2} (or {CREDENTIALS_V1}), "
            f"not {_show(items[0])}"
        )
    for item in items[1:]:
        if isinstance(item, str):
            _url(item, "@context entry")
        elif not isinstance(item, dict):
            raise MalformedCredential("@context entries must be URLs or objects")
    return version, tuple(items)


def _typed_entries(doc: dict[str, Any], key: str) -> tuple[dict[str, Any], ...]:
    if key not in doc:
        return ()
    entries = _objects(doc[key], key)
    for entry in entries:
        if "type" not in entry:
            raise MalformedCredential(f"every {key} entry must have a type")
        _types(entry["type"], f"{key} type")
        if "id" in entry:
            _url(entry["id"], f"{key} id")
    return entries


# -- credentials -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusEntry:
    """One ``credentialStatus`` entry (read by the status-list checks)."""

    id: str | None
    types: tuple[str, ...]
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Credential:
    """A validated view of a verifiable credential's JSON (``raw``)."""

    raw: dict[str, Any]
    version: Version
    contexts: tuple[str | dict[str, Any], ...]
    id: str | None
    types: tuple[str, ...]
    issuer: str
    subjects: tuple[dict[str, Any], ...]
    valid_from: datetime | None
    valid_until: datetime | None
    status: tuple[StatusEntry, ...]
    proofs: tuple[dict[str, Any], ...]

    @property
    def subject_ids(self) -> tuple[str, ...]:
        return tuple(s["id"] for s in self.subjects if "id" in s)

    @property
    def unsecured(self) -> dict[str, Any]:
        """The JSON without its ``proof``."""
        return {k: v for k, v in self.raw.items() if k != "proof"}


def parse_credential(
    data: dict[str, Any] | str | bytes, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> Credential:
    """Read and validate a credential from JSON text or an already-parsed object."""
    doc = _load(data, max_bytes, "credential")
    version, contexts = _contexts(doc)
    types = _types(doc.get("type"), "type") if "type" in doc else ()
    if "VerifiableCredential" not in types:
        raise MalformedCredential("type must include VerifiableCredential")
    cred_id = _url(doc["id"], "id") if "id" in doc else None

    issuer_value = doc.get("issuer")
    if isinstance(issuer_value, dict):
        if "id" not in issuer_value:
            raise MalformedCredential("issuer object must have an id")
        issuer = _url(issuer_value["id"], "issuer id")
    elif issuer_value is None:
        raise MalformedCredential("issuer is missing")
    else:
        issuer = _url(issuer_value, "issuer")

    if "credentialSubject" not in doc:
        raise MalformedCredential("credentialSubject is missing")
    subjects = _objects(doc["credentialSubject"], "credentialSubject", MAX_SUBJECTS)
    if not subjects:
        raise MalformedCredential("credentialSubject must not be an empty list")
    for subject in subjects:
        if not subject:
            raise MalformedCredential("a credentialSubject must make at least one claim")
        if "id" in subject:
            _url(subject["id"], "credentialSubject id")

    if version is Version.V2_0:
        valid_from = _optional_datetime(doc, "validFrom")
        valid_until = _optional_datetime(doc, "validUntil")
    else:
        if "issuanceDate" not in doc:
            raise MalformedCredential("issuanceDate is required by VC Data Model 1.1")
        valid_from = parse_datetime(doc["issuanceDate"], "issuanceDate")
        valid_until = _optional_datetime(doc, "expirationDate")
    if valid_from and valid_until and valid_until < valid_from:
        raise MalformedCredential("the validity period ends before it starts")

    status = tuple(
        StatusEntry(e.get("id"), _types(e["type"], "credentialStatus type"), e)
        for e in _typed_entries(doc, "credentialStatus")
    )
    for key in ("credentialSchema", "refreshService", "termsOfUse", "evidence"):
        _typed_entries(doc, key)
    proofs = _objects(doc["proof"], "proof", MAX_PROOFS) if "proof" in doc else ()
    return Credential(
        raw=doc,
        version=version,
        contexts=contexts,
        id=cred_id,
        types=types,
        issuer=issuer,
        subjects=subjects,
        valid_from=valid_from,
        valid_until=valid_until,
        status=status,
        proofs=proofs,
    )


def _optional_datetime(doc: dict[str, Any], key: str) -> datetime | None:
    return parse_datetime(doc[key], key) if key in doc else None


@dataclass(frozen=True, slots=True)
class Validity:
    """Where ``now`` falls in a credential's validity period."""

    state: ValidityState
    now: datetime
    valid_from: datetime | None
    valid_until: datetime | None

    @property
    def valid(self) -> bool:
        return self.state is ValidityState.VALID

    def raise_for_state(self) -> None:
        if self.state is ValidityState.EXPIRED:
            raise ExpiredCredential(f"the credential expired at {self.valid_until}")
        if self.state is ValidityState.NOT_YET_VALID:
            raise NotYetValid(f"the credential is valid only from {self.valid_from}")


def check_validity(cred: Credential, now: datetime) -> Validity:
    """Compare ``now`` (timezone-aware) with the credential's validity period."""
    if now.tzinfo is None:
        raise InputError("now must be a timezone-aware datetime")
    if cred.valid_from is not None and now < cred.valid_from:
        state = ValidityState.NOT_YET_VALID
    elif cred.valid_until is not None and now > cred.valid_until:
        state = ValidityState.EXPIRED
    else:
        state = ValidityState.VALID
    return Validity(state, now, cred.valid_from, cred.valid_until)


# -- presentations ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Presentation:
    """A validated view of a verifiable presentation's JSON (``raw``).

    ``credentials`` holds the embedded credentials, parsed; ``enveloped`` holds the ones in
    another securing format (an ``EnvelopedVerifiableCredential`` or a JWT string), as given.
    """

    raw: dict[str, Any]
    version: Version
    contexts: tuple[str | dict[str, Any], ...]
    id: str | None
    types: tuple[str, ...]
    holder: str | None
    credentials: tuple[Credential, ...]
    enveloped: tuple[Any, ...]
    proofs: tuple[dict[str, Any], ...]


def parse_presentation(
    data: dict[str, Any] | str | bytes, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> Presentation:
    """Read and validate a presentation and the credentials embedded in it."""
    doc = _load(data, max_bytes, "presentation")
    try:
        version, contexts = _contexts(doc)
        types = _types(doc.get("type"), "type") if "type" in doc else ()
        if "VerifiablePresentation" not in types:
            raise MalformedCredential("type must include VerifiablePresentation")
        pres_id = _url(doc["id"], "id") if "id" in doc else None
        holder_value = doc.get("holder")
        if isinstance(holder_value, dict):
            holder: str | None = _url(holder_value.get("id"), "holder id")
        elif holder_value is not None:
            holder = _url(holder_value, "holder")
        else:
            holder = None
        proofs = _objects(doc["proof"], "proof", MAX_PROOFS) if "proof" in doc else ()
    except MalformedCredential as err:
        raise PresentationError(str(err)) from err
    raw_creds = doc.get("verifiableCredential", [])
    items = raw_creds if isinstance(raw_creds, list) else [raw_creds]
    if len(items) > MAX_ENTRIES:
        raise PresentationError(f"a presentation may carry at most {MAX_ENTRIES} credentials")
    creds: list[Credential] = []
    enveloped: list[Any] = []
    for n, item in enumerate(items):
        if isinstance(item, str) or (
            isinstance(item, dict)
            and "EnvelopedVerifiableCredential" in _types(item.get("type", "?"), "type")
        ):
            enveloped.append(item)
            continue
        if not isinstance(item, dict):
            raise PresentationError(f"verifiableCredential[{n}] must be an object")
        try:
            creds.append(parse_credential(item, max_bytes=max_bytes))
        except MalformedCredential as err:
            raise MalformedCredential(f"verifiableCredential[{n}]: {err}") from err
    return Presentation(
        raw=doc,
        version=version,
        contexts=contexts,
        id=pres_id,
        types=types,
        holder=holder,
        credentials=tuple(creds),
        enveloped=tuple(enveloped),
        proofs=proofs,
    )


# -- helpers ---------------------------------------------------------------------------------


def _load(data: dict[str, Any] | str | bytes, max_bytes: int, what: str) -> dict[str, Any]:
    if isinstance(data, dict):
        return data
    if isinstance(data, (str, bytes, bytearray)):
        try:
            return loads_object(data, max_bytes=max_bytes, what=what)
        except TooLargeError as err:
            raise CredentialTooLarge(str(err)) from err
        except InputError as err:
            raise MalformedCredential(str(err)) from err
    raise MalformedCredential(f"a {what} must be a JSON object")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
