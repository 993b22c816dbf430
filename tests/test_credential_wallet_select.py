"""Holder preselection: a presentation definition reads only the credentials its tag query
selects, so answering it does not load the wallet -- shown at 10 and at 10,000 held."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from wallet import Wallet
from wallet.credentials import holder as holder_module
from wallet.credentials.holder import Holder
from wallet.credentials.holder_records import CATEGORY, StoredCredential, rewrite_query, tag_name
from wallet.credentials.issuer import issue_credential
from wallet.credentials.pex import NoMatch, build_submission
from wallet.credentials.pex_query import query_for
from wallet.credentials.verifier import verify

NONCE = "select-nonce"
AUDIENCE = "did:web:verifier.example"
NOISE_KINDS = 20
FORMAT_CYCLE = ["di-jcs", "vc-jwt", "sd-jwt", "di-rdfc"]

PID_AGE = {
    "id": "pid-age",
    "input_descriptors": [
        {
            "id": "pid",
            "format": {"dc+sd-jwt": {"sd-jwt_alg_values": ["EdDSA"]}},
            "constraints": {
                "limit_disclosure": "required",
                "fields": [
                    {"path": ["$.vct"], "filter": {"type": "string", "const": "urn:eudi:pid:1"}},
                    {"path": ["$.age_over_18"], "filter": {"type": "boolean", "const": True}},
                ],
            },
        }
    ],
}
DEGREE = {
    "id": "degree",
    "input_descriptors": [
        {
            "id": "degree",
            "constraints": {
                "fields": [
                    {
                        "path": ["$.type"],
                        "filter": {
                            "type": "array",
                            "contains": {"const": "UniversityDegreeCredential"},
                        },
                    },
                    {"path": ["$.credentialSubject.degree"]},
                ]
            },
        }
    ],
}
# A very long type name: its index tag is kept as a digest, in the record and in the query.
LONG_TYPE = "https://types.example/" + "x" * 300 + "/EmployeeCredential"
EMPLOYEE = {
    "id": "employee",
    "input_descriptors": [
        {
            "id": "job",
            "constraints": {
                "fields": [
                    {"path": ["$.type[*]"], "filter": {"type": "string", "const": LONG_TYPE}}
                ]
            },
        }
    ],
}


@dataclass
class Held:
    wallet: Wallet
    holder: Holder
    did: str
    reads: list[int]


async def _populate(tmp_path: Path, total: int) -> tuple[Wallet, Wallet, str, Holder]:
    iw = await Wallet.create(f"sqlite://{tmp_path}/i.db", passphrase="i", kdf="argon2id-test")
    hw = await Wallet.create(f"sqlite://{tmp_path}/h.db", passphrase="h", kdf="argon2id-test")
    issuer = await iw.create_did("key")
    did = await hw.create_did("peer2")
    holder = Holder(hw)

    async def issue(fmt: str, claims: dict[str, Any], types: list[str], sd: list[str]) -> str:
        issued = await issue_credential(
            iw, issuer=issuer, subject=did, format=fmt, claims=claims, types=types, disclose=sd
        )
        return issued.serialize()

    wanted = [
        await issue(
            "sd-jwt",
            {"given_name": "Erika", "age_over_18": True, "birthdate": "1963-08-12"},
            ["urn:eudi:pid:1"],
            ["given_name", "age_over_18", "birthdate"],
        ),
        await issue("di-jcs", {"degree": "BSc"}, ["UniversityDegreeCredential"], []),
        await issue("vc-jwt", {"role": "engineer"}, [LONG_TYPE], []),
    ]
    noise = [
        await issue(fmt, {"n": k}, [f"urn:noise:{k}"] if fmt == "sd-jwt" else [f"Noise{k}"], [])
        for k, fmt in zip(
            range(NOISE_KINDS),
            ["di-jcs", "vc-jwt", "sd-jwt", "di-rdfc"] * NOISE_KINDS,
            strict=False,
        )
    ]
    stored = await holder.store_many(wanted + noise[: max(0, total - len(wanted))])
    wanted_ids = {c.id for c in stored[: len(wanted)]}
    copies = total - len(wanted) - NOISE_KINDS
    if copies > 0:
        # More noise as copies of the stored noise records under other ids: the same bytes and
        # tags a real credential of that kind has, without signing 10,000 credentials here.
        templates = [r for r in await hw.store.find(CATEGORY) if r.id not in wanted_ids]
        async with hw.store.transaction() as tx:
            for n in range(copies):
                template = templates[n % len(templates)]
                await tx.add(CATEGORY, f"urn:uuid:noise-{n}", template.value, template.tags)
    return iw, hw, did, holder


#: Populated holder wallets by size, built once per test session and copied for each test.
_TEMPLATES: dict[int, tuple[Path, str]] = {}


@pytest.fixture(params=[10, 10_000], ids=["10-held", "10000-held"])
async def held(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Held]:
    total = request.param
    if total not in _TEMPLATES:
        where = tmp_path_factory.mktemp(f"held-{total}")
        iw, hw, did, _ = await _populate(where, total)
        await iw.close()
        await hw.close()
        _TEMPLATES[total] = (where / "h.db", did)
    template, did = _TEMPLATES[total]
    shutil.copyfile(template, tmp_path / "h.db")
    hw = await Wallet.open(f"sqlite://{tmp_path}/h.db", passphrase="h")
    assert await hw.store.count(CATEGORY) == total
    reads = [0]
    original = StoredCredential.from_record.__func__  # type: ignore[attr-defined]

    def counting(cls: type[StoredCredential], record: Any) -> StoredCredential:
        reads[0] += 1
        return original(cls, record)

    monkeypatch.setattr(holder_module.StoredCredential, "from_record", classmethod(counting))
    yield Held(hw, Holder(hw), did, reads)
    await hw.close()


@pytest.mark.parametrize(
    ("definition", "expected"),
    [(PID_AGE, "sd-jwt"), (DEGREE, "di-jcs"), (EMPLOYEE, "vc-jwt")],
    ids=["pid", "degree", "long-type"],
)
async def test_preselection_reads_only_candidates(
    held: Held, definition: dict[str, Any], expected: str
) -> None:
    evaluation = await held.holder.preselect(definition)
    assert held.reads[0] == 1  # one candidate decrypted, however many are held
    (match,) = evaluation.select()
    chosen = await held.holder.get(match.candidate.id)
    assert chosen.format.value == expected


async def test_select_present_verify(held: Held) -> None:
    evaluation = await held.holder.preselect(PID_AGE)
    (match,) = evaluation.select()
    assert match.disclose == (("vct",), ("age_over_18",))
    preview = await held.holder.preview(
        match.candidate.id, disclose=match.disclose, audience=AUDIENCE
    )
    assert preview.disclosed == {"age_over_18": True}
    assert set(preview.withheld) == {"given_name", "birthdate"}
    presentation = await held.holder.present(
        match.candidate.id, disclose=match.disclose, nonce=NONCE, audience=AUDIENCE
    )
    report = await verify(
        presentation,
        nonce=NONCE,
        audience=AUDIENCE,
        now=datetime.now(UTC),
        resolver=held.wallet.resolver,
        status_fetcher=None,
    )
    assert report.verified and report.claims == {"age_over_18": True}
    submission = build_submission(evaluation.definition, [match])
    assert submission["descriptor_map"][0]["format"] == "dc+sd-jwt"


async def test_no_match_says_why(held: Held) -> None:
    definition = json.loads(json.dumps(PID_AGE))
    definition["input_descriptors"][0]["constraints"]["fields"][0]["filter"]["const"] = "urn:x"
    evaluation = await held.holder.preselect(definition)
    assert held.reads[0] == 0
    with pytest.raises(NoMatch):
        evaluation.select()


def test_long_tag_names_are_digested_alike() -> None:
    query = rewrite_query(query_for(_parse(EMPLOYEE)))
    assert query == {tag_name("type:" + LONG_TYPE): "1"}
    assert tag_name("type:short") == "type:short"
    assert len(tag_name("type:" + LONG_TYPE)) <= 200


def _parse(definition: dict[str, Any]) -> Any:
    from wallet.credentials.pex import PresentationDefinition

    return PresentationDefinition.parse(definition)


# -- one match per descriptor is enough (preselect(first=True)) ------------------------------


async def _degrees(tmp_path: Path, misses: int, hits: int) -> tuple[Wallet, Holder]:
    """A holder with ``misses`` credentials the DEGREE query selects but its field refuses
    (no degree), then ``hits`` that answer it, in that order of storing."""
    iw = await Wallet.create(f"sqlite://{tmp_path}/i.db", passphrase="i", kdf="argon2id-test")
    hw = await Wallet.create(f"sqlite://{tmp_path}/h.db", passphrase="h", kdf="argon2id-test")
    issuer, did = await iw.create_did("key"), await hw.create_did("peer2")
    issued = await issue_credential(
        iw, issuer=issuer, subject=did, format="di-jcs", claims={"degree": "BSc"},
        types=["UniversityDegreeCredential"],
    )  # fmt: skip
    await iw.close()
    holder = Holder(hw)
    template = await holder.store(issued.serialize())
    record = await hw.store.get(CATEGORY, template.id)
    await hw.store.delete(CATEGORY, template.id)
    value = json.loads(record.value)
    value["credential"]["credentialSubject"].pop("degree")
    miss = json.dumps(value).encode()
    async with hw.store.transaction() as tx:
        for n in range(misses):
            await tx.add(CATEGORY, f"urn:uuid:miss-{n}", miss, record.tags)
        for n in range(hits):
            await tx.add(CATEGORY, f"urn:uuid:hit-{n}", record.value, record.tags)
    return hw, holder


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    reads = [0]
    original = StoredCredential.from_record.__func__  # type: ignore[attr-defined]

    def counting(cls: type[StoredCredential], record: Any) -> StoredCredential:
        reads[0] += 1
        return original(cls, record)

    monkeypatch.setattr(holder_module.StoredCredential, "from_record", classmethod(counting))
    return reads


async def test_first_match_stops_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wallet, holder = await _degrees(tmp_path, misses=0, hits=40)
    reads = _count_reads(monkeypatch)
    kept: dict[str, StoredCredential] = {}
    first = await holder.preselect(DEGREE, first=True, held=kept)
    first_page = holder_module.PRESELECT_PAGES[0]
    assert reads[0] == first_page  # the first few of 40 candidates
    assert set(kept) == {f"urn:uuid:hit-{n}" for n in range(first_page)}
    everything = await holder.preselect(DEGREE)
    assert len(everything.matches["degree"]) == 40
    # The same credential is picked as when every candidate is matched (the oldest).
    assert [m.candidate.id for m in first.select()] == ["urn:uuid:hit-0"]
    assert [m.candidate.id for m in everything.select()] == ["urn:uuid:hit-0"]
    await wallet.close()


async def test_first_match_reads_on_past_misses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wallet, holder = await _degrees(tmp_path, misses=20, hits=3)
    reads = _count_reads(monkeypatch)
    evaluation = await holder.preselect(DEGREE, first=True)
    assert reads[0] == 23  # pages of 4 and 16 misses, then the last 3 (a page of 64 asked)
    assert [m.candidate.id for m in evaluation.select()] == ["urn:uuid:hit-0"]
    await wallet.close()


async def test_first_match_unanswered_reads_all_once_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages are read at different moments: a credential deleted in between moves the rest
    up and one could be passed over; before saying nothing answers, all are read again."""
    wallet, holder = await _degrees(tmp_path, misses=20, hits=1)
    original = wallet.store.find
    pages = []

    async def shifted(category: str, query: Any = None, **kw: Any) -> Any:
        if kw.get("offset"):
            pages.append(kw["offset"])
        if kw.get("offset") == 20:
            kw["offset"] += 1  # as if one read already had been deleted meanwhile
        return await original(category, query, **kw)

    monkeypatch.setattr(wallet.store, "find", shifted)
    evaluation = await holder.preselect(DEGREE, first=True)
    assert pages == [4, 20]
    assert [m.candidate.id for m in evaluation.select()] == ["urn:uuid:hit-0"]
    await wallet.close()
