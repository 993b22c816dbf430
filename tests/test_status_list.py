"""Bitstring Status List: the spec's examples, the codec, entries, the issuer's list, the check."""

from __future__ import annotations

import base64
import gzip
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wallet.credentials.errors import StatusError
from wallet.credentials.status_list import (
    MIN_ENTRIES,
    CredentialRevoked,
    CredentialSuspended,
    MalformedStatusEntry,
    MalformedStatusList,
    StatusListEntry,
    StatusListExpired,
    StatusListLengthError,
    StatusListMismatch,
    StatusListNotYetValid,
    StatusListSignatureError,
    StatusListTooLarge,
    StatusListTypeError,
    StatusMessage,
    StatusPurposeMismatch,
    StatusRangeError,
    check_status,
    decode_bitstring,
    encode_bitstring,
    get_status,
    parse_status_list_credential,
    set_status,
    status_entries,
)
from wallet.credentials.status_list_issuer import StatusList, StatusListFull
from wallet.errors import InputError, TooLargeError

VECTORS = Path(__file__).parent / "vectors" / "bitstring-status-list"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
URL = "https://issuer.example/status/7"


async def accept(_: Any) -> None:
    return None


def spec_examples() -> list[tuple[str, str]]:
    data = json.loads((VECTORS / "spec-examples.json").read_text())
    return [(e["title"], e["text"]) for e in data["examples"]]


def lenient_json(text: str) -> Any:
    """Two spec examples carry ``//`` comment lines (explanations, not data)."""
    return json.loads("\n".join(ln for ln in text.splitlines() if not ln.strip().startswith("//")))


# -- the spec's examples --------------------------------------------------------------------


def test_spec_examples_status_lists_decode_to_131072_clear_bits() -> None:
    lists = []
    for _title, text in spec_examples():
        if "BitstringStatusListCredential" in text and "encodedList" in text:
            lists.append(parse_status_list_credential(json.loads(text)))
    assert len(lists) == 2
    for parsed in lists:
        assert parsed.purposes == ("revocation",)
        assert len(parsed.bits) * 8 == MIN_ENTRIES
        assert not any(parsed.bits)
        assert parsed.id == "https://example.com/credentials/status/3"
        assert parsed.valid_from == datetime(2021, 4, 5, 14, 27, 40, tzinfo=UTC)


def test_spec_examples_entries_validate() -> None:
    seen: list[StatusListEntry] = []
    skipped = []
    for title, text in spec_examples():
        if "..." in text:
            skipped.append(title)  # an elided statusMessage list: not data
            continue
        doc = lenient_json(text)
        if "BitstringStatusListCredential" in doc["type"]:
            continue
        seen.extend(status_entries(doc))
    assert skipped == ["Example StatusListCredential using more complex entries"]
    assert [(e.purpose, e.index) for e in seen] == [
        ("revocation", 94567),
        ("suspension", 23452),
        ("revocation", 94567),
        ("revocation", 94567),
        ("suspension", 12345),
        ("revocation", 94567),
        ("suspension", 12345),
    ]
    assert all(e.size == 1 and e.list_credential.startswith("https://example.com/") for e in seen)


async def test_spec_example_entry_checks_against_spec_example_list() -> None:
    texts = dict(spec_examples())
    credential = json.loads(texts["A Revocable Verifiable Credential"])
    status_list = json.loads(texts["Example BitstringStatusListCredential"])
    [entry] = status_entries(credential)
    result = await check_status(entry, status_list, NOW, verify_list_credential=accept)
    assert result.valid and result.status == 0 and result.message == "unset"


# -- the codec ------------------------------------------------------------------------------


def test_encode_is_multibase_and_deterministic() -> None:
    bits = bytearray(MIN_ENTRIES // 8)
    set_status(bits, 201, 1, 1)
    encoded = encode_bitstring(bits)
    assert encoded.startswith("uH4sI")
    assert encoded == encode_bitstring(bits)
    assert decode_bitstring(encoded) == bits


def test_decode_accepts_bare_legacy_form() -> None:
    bits = bytes([0x80]) + bytes(100)
    legacy = encode_bitstring(bits)[1:]
    assert legacy.startswith("H4sI")
    assert decode_bitstring(legacy) == bits


def test_bit_order_is_left_most_first() -> None:
    bits = bytearray(2)
    set_status(bits, 0, 1, 1)
    set_status(bits, 9, 1, 1)
    assert bits == bytes([0b1000_0000, 0b0100_0000])
    set_status(bits, 3, 2, 0b10)  # bits 6 and 7 of byte 0
    assert bits[0] == 0b1000_0010 and get_status(bits, 3, 2) == 2


@given(
    st.integers(min_value=1, max_value=8),
    st.data(),
)
def test_set_get_round_trip(size: int, data: st.DataObject) -> None:
    bits = bytearray(64)
    entries = len(bits) * 8 // size
    writes = data.draw(
        st.dictionaries(st.integers(0, entries - 1), st.integers(0, (1 << size) - 1), max_size=20)
    )
    for index, value in writes.items():
        set_status(bits, index, size, value)
    for index, value in writes.items():
        assert get_status(bits, index, size) == value
    assert decode_bitstring(encode_bitstring(bits)) == bits


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "zH4sI",  # base58btc multibase: not the spec's encoding
        "0000000000000000000000000000000000000000",  # the test suite's "invalid" list
        "u" + base64.urlsafe_b64encode(b"not gzip at all").decode().rstrip("="),
        "u***",
        "u" + base64.urlsafe_b64encode(gzip.compress(bytes(64))[:-6]).decode().rstrip("="),
        "u" + base64.urlsafe_b64encode(gzip.compress(bytes(8)) * 2).decode().rstrip("="),
    ],
    ids=["empty", "base58", "zeros", "not-gzip", "bad-b64", "truncated", "two-members"],
)
def test_decode_rejects_malformed(encoded: str) -> None:
    with pytest.raises(MalformedStatusList):
        decode_bitstring(encoded)


def test_decompression_bomb_refused() -> None:
    bomb = encode_bitstring(bytes(17 * 1024 * 1024))
    assert len(bomb) < 40_000  # tiny on the wire ...
    with pytest.raises(StatusListTooLarge) as info:
        decode_bitstring(bomb)  # ... but over the 16 MiB ceiling once inflated
    assert isinstance(info.value, TooLargeError)
    with pytest.raises(StatusListTooLarge):
        decode_bitstring(encode_bitstring(bytes(4096)), max_bytes=4095)


def test_oversized_encoded_input_refused_before_decoding() -> None:
    with pytest.raises(StatusListTooLarge):
        decode_bitstring("u" + "A" * 30_000_000)
    with pytest.raises(StatusListTooLarge):
        decode_bitstring("uH4sI" + "A" * 100, max_encoded_chars=50)


# -- entries --------------------------------------------------------------------------------


def entry_json(**over: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": URL + "#5",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "5",
        "statusListCredential": URL,
    }
    out.update(over)
    return {k: v for k, v in out.items() if v is not None}


FOUR = [
    {"status": "0x0", "message": "pending"},
    {"status": "0x1", "message": "accepted"},
    {"status": "0x2", "message": "rejected"},
    {"status": "0x3", "message": "undefined"},
]


@pytest.mark.parametrize(
    ("over", "what"),
    [
        ({"type": "StatusList2021Entry"}, "type"),
        ({"statusPurpose": ""}, "statusPurpose"),
        ({"statusPurpose": None}, "statusPurpose"),
        ({"statusListIndex": 5}, "statusListIndex"),
        ({"statusListIndex": "-1"}, "statusListIndex"),
        ({"statusListIndex": "1e3"}, "statusListIndex"),
        ({"statusListIndex": "9" * 40}, "statusListIndex"),
        ({"statusListCredential": "not a url"}, "statusListCredential"),
        ({"statusListCredential": None}, "statusListCredential"),
        ({"id": URL}, "id"),
        ({"statusSize": 0}, "statusSize"),
        ({"statusSize": True}, "statusSize"),
        ({"statusSize": 2}, "statusMessage"),
        ({"statusSize": 2, "statusMessage": FOUR[:3]}, "statusMessage"),
        ({"statusSize": 2, "statusMessage": [*FOUR[:3], {"status": "3", "message": "x"}]}, "hex"),
        ({"statusSize": 2, "statusMessage": [*FOUR[:3], FOUR[0]]}, "repeated"),
        ({"statusReference": ["x y"]}, "statusReference"),
    ],
)
def test_malformed_entries_rejected(over: dict[str, Any], what: str) -> None:
    with pytest.raises(MalformedStatusEntry, match=what) as info:
        StatusListEntry.from_json(entry_json(**over))
    assert isinstance(info.value, InputError)


def test_entry_round_trip_with_messages() -> None:
    raw = entry_json(statusPurpose="message", statusSize=2, statusMessage=FOUR)
    entry = StatusListEntry.from_json(raw)
    assert entry.messages[2] == StatusMessage(2, "rejected")
    assert StatusListEntry.from_json(entry.to_json()) == entry


def test_status_entries_ignores_other_status_types() -> None:
    credential = {"credentialStatus": [{"type": "SomethingElse"}, entry_json()]}
    assert [e.index for e in status_entries(credential)] == [5]
    assert status_entries({}) == []
    with pytest.raises(MalformedStatusEntry):
        status_entries({"credentialStatus": ["x"]})


# -- issuer round trips ---------------------------------------------------------------------


async def check(entry: StatusListEntry, credential: Any, now: datetime = NOW, **kw: Any) -> Any:
    return await check_status(entry, credential, now, verify_list_credential=accept, **kw)


async def test_revocation_round_trip() -> None:
    revocations = StatusList(URL)
    index = revocations.allocate()
    entry = revocations.entry(index)
    published = revocations.to_credential(issuer="did:example:issuer", valid_from=NOW)
    assert (await check(entry, published)).valid
    revocations.revoke(index)
    published = revocations.to_credential(issuer="did:example:issuer", valid_from=NOW)
    result = await check(entry, published)
    assert result.revoked and not result.valid and result.status == 1
    with pytest.raises(CredentialRevoked):
        result.raise_for_status()
    with pytest.raises(StatusError, match="not reversible"):
        revocations.set(index, 0)


async def test_suspension_round_trip() -> None:
    suspensions = StatusList(URL, "suspension")
    index = suspensions.allocate()
    entry = StatusListEntry.from_json(suspensions.entry(index).to_json())

    async def state() -> Any:
        vc = suspensions.to_credential(issuer="did:example:issuer", valid_from=NOW)
        return await check(entry, json.loads(json.dumps(vc)))

    assert (await state()).valid
    suspensions.suspend(index)
    with pytest.raises(CredentialSuspended):
        (await state()).raise_for_status()
    suspensions.unsuspend(index)
    (await state()).raise_for_status()
    with pytest.raises(StatusError, match="not 'revocation'"):
        suspensions.revoke(index)


async def test_message_list_round_trip() -> None:
    messages = [StatusMessage(int(m["status"], 16), m["message"]) for m in FOUR]
    lst = StatusList(URL, "message", status_size=2, messages=messages)
    index = lst.allocate()
    lst.set(index, 2)
    result = await check(lst.entry(index), lst.to_credential(issuer="did:ex:i", valid_from=NOW))
    assert (result.status, result.message, result.valid) == (2, "rejected", False)
    result.raise_for_status()  # messages inform, they do not invalidate by themselves


def test_allocation_is_random_unique_and_bounded() -> None:
    lst = StatusList(URL)
    picked = [lst.allocate() for _ in range(2000)]
    assert len(set(picked)) == 2000 and lst.allocated == 2000
    assert picked != sorted(picked)
    assert max(picked) > MIN_ENTRIES // 2  # not packed at the start of the list
    small = StatusList(URL, length=16, minimum_entries=0)
    assert sorted(small.allocate() for _ in range(16)) == list(range(16))
    with pytest.raises(StatusListFull):
        small.allocate()


def test_unallocated_index_refused() -> None:
    lst = StatusList(URL)
    with pytest.raises(StatusError, match="never allocated"):
        lst.revoke(3)
    with pytest.raises(StatusRangeError):
        lst.entry(MIN_ENTRIES)


def test_state_round_trip() -> None:
    lst = StatusList(URL, "suspension")
    indexes = [lst.allocate() for _ in range(10)]
    lst.suspend(indexes[3])
    again = StatusList.from_state(json.loads(json.dumps(lst.to_state())))
    assert again.allocated == 10 and again.get(indexes[3]) == 1 and again.get(indexes[4]) == 0
    assert again.allocate() not in indexes
    with pytest.raises(InputError):
        StatusList.from_state({"url": URL})


def test_published_credential_shape() -> None:
    lst = StatusList(URL)
    vc = lst.to_credential(
        issuer="did:example:issuer",
        valid_from=NOW,
        valid_until=NOW + timedelta(days=1),
        ttl_ms=300_000,
    )
    assert vc["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert vc["validFrom"] == "2026-01-01T00:00:00Z" and vc["validUntil"] == "2026-01-02T00:00:00Z"
    subject = vc["credentialSubject"]
    assert subject["type"] == "BitstringStatusList" and subject["ttl"] == 300_000
    assert re.match(r"^uH4sI[A-Za-z0-9_-]+$", subject["encodedList"])
    parsed = parse_status_list_credential(vc)
    assert parsed.ttl_ms == 300_000 and len(parsed.bits) == MIN_ENTRIES // 8


# -- the verifier's checks ------------------------------------------------------------------


def published(**over: Any) -> dict[str, Any]:
    lst = StatusList(URL)
    lst.allocate()
    vc = lst.to_credential(issuer="did:example:issuer", valid_from=NOW - timedelta(days=1))
    vc.update(over)
    return vc


ENTRY = StatusListEntry("revocation", 5, URL)


async def test_expired_and_future_lists_refused() -> None:
    with pytest.raises(StatusListExpired):
        await check(ENTRY, published(validUntil="2025-12-31T23:59:59Z"))
    with pytest.raises(StatusListNotYetValid):
        await check(ENTRY, published(validFrom="2026-01-02T00:00:00Z"))
    with pytest.raises(MalformedStatusList, match="time zone"):
        await check(ENTRY, published(validUntil="2027-01-01T00:00:00"))


async def test_wrong_types_refused() -> None:
    with pytest.raises(StatusListTypeError):
        await check(ENTRY, published(type=["VerifiableCredential"]))
    vc = published()
    vc["credentialSubject"]["type"] = "StatusList2021"
    with pytest.raises(StatusListTypeError):
        await check(ENTRY, vc)


async def test_purpose_mismatch_refused() -> None:
    with pytest.raises(StatusPurposeMismatch):
        await check(StatusListEntry("suspension", 5, URL), published())


async def test_list_for_another_url_refused() -> None:
    with pytest.raises(StatusListMismatch):
        await check(StatusListEntry("revocation", 5, URL + "x"), published())


async def test_short_list_and_out_of_range_index() -> None:
    short = published()
    short["credentialSubject"]["encodedList"] = encode_bitstring(bytes(1024))
    with pytest.raises(StatusListLengthError):
        await check(ENTRY, short)
    assert (await check(ENTRY, short, minimum_entries=8192)).valid  # an ecosystem's lower bound
    # 2-bit entries halve the number of entries: 131,072 bits is too short for them.
    two_bit = StatusListEntry(
        "revocation", 5, URL, size=2, messages=tuple(StatusMessage(i, str(i)) for i in range(4))
    )
    with pytest.raises(StatusListLengthError):
        await check(two_bit, published())
    with pytest.raises(StatusRangeError):
        await check(StatusListEntry("revocation", MIN_ENTRIES, URL), published())


async def test_signature_callback_failure_is_a_status_error() -> None:
    async def reject(_: Any) -> None:
        raise ValueError("bad proof")

    with pytest.raises(StatusListSignatureError, match="bad proof"):
        await check_status(ENTRY, published(), NOW, verify_list_credential=reject)


async def test_jwt_list_is_handed_to_the_callback_and_its_payload_checked() -> None:
    def b64(obj: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    lst = StatusList(URL)
    index = lst.allocate()
    lst.revoke(index)
    vc = lst.to_credential(issuer="did:example:issuer", valid_from=NOW)
    seen: list[Any] = []

    async def verify(raw: Any) -> None:
        seen.append(raw)

    for payload in (vc, {"iss": "did:example:issuer", "vc": vc}):  # VC-JOSE, then VC-JWT 1.1
        token = f"{b64({'alg': 'EdDSA', 'typ': 'vc+jwt'})}.{b64(payload)}.c2ln"
        result = await check_status(lst.entry(index), token, NOW, verify_list_credential=verify)
        assert result.revoked and seen[-1] == token
    with pytest.raises(MalformedStatusList, match="compact JWT"):
        await check_status(ENTRY, "a.b~c~", NOW, verify_list_credential=verify)


async def test_callback_may_return_the_verified_credential() -> None:
    async def unwrap(raw: Any) -> Any:
        assert raw == "opaque-envelope"
        return published()

    assert (await check_status(ENTRY, "opaque-envelope", NOW, verify_list_credential=unwrap)).valid


async def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        await check(ENTRY, published(), datetime(2026, 1, 1))
