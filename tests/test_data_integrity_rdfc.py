"""RDFC-1.0 canonicalisation and the pinned-context JSON-LD loader behind eddsa-rdfc-2022."""

from __future__ import annotations

import json
import random
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wallet.credentials import contexts as contexts_mod
from wallet.credentials import data_integrity, ld, rdf_canon
from wallet.credentials.contexts import ContextLoader, bundled_urls
from wallet.credentials.data_integrity import add_proof, verify_proof
from wallet.credentials.errors import ContextError, MalformedCredential
from wallet.keys import PrivateKey, PublicKey

V = Path(__file__).parent / "vectors" / "vc-di-eddsa"
EX = "<http://example.org/vocab#p>"


def test_literal_escaping_follows_rdfc10() -> None:
    # RDFC-1.0 Appendix A: ECHAR for BS HT LF FF CR " \, upper-case \u00XX for the other
    # controls and DEL, everything else as itself.
    assert rdf_canon.literal('a\b\t\n\f\r"\\z') == '"a\\b\\t\\n\\f\\r\\"\\\\z"'
    assert (
        rdf_canon.literal("\x00\x07\x0b\x0e\x1f\x7f")
        == '"\\u0000\\u0007\\u000B\\u000E\\u001F\\u007F"'
    )
    assert rdf_canon.literal("é ∞ 🌃 \u2028") == '"é ∞ 🌃 \u2028"'
    assert rdf_canon.literal("x", "http://www.w3.org/2001/XMLSchema#string") == '"x"'
    assert rdf_canon.literal("1", "http://www.w3.org/2001/XMLSchema#integer") == (
        '"1"^^<http://www.w3.org/2001/XMLSchema#integer>'
    )
    assert rdf_canon.literal("chat", None, "fr") == '"chat"@fr'
    for bad in ["", "http://x/ y", "http://x/<y>", 'http://x/"']:
        with pytest.raises(MalformedCredential):
            rdf_canon.iri(bad)


def test_unique_and_shared_first_degree_hashes() -> None:
    # Two blank nodes told apart by their own statements, and two look-alikes joined in a
    # cycle that only the N-degree hash can order.
    quads = [
        ("<http://example.org/#p>", "<http://example.org/#q>", "_:e0", ""),
        ("<http://example.org/#p>", "<http://example.org/#r>", "_:e1", ""),
        ("_:e0", "<http://example.org/#s>", "<http://example.org/#u>", ""),
        ("_:e1", "<http://example.org/#t>", "<http://example.org/#u>", ""),
    ]
    out = rdf_canon.canonicalize(quads)
    assert out.count("_:c14n0") == 2 and out.count("_:c14n1") == 2
    cycle = [("_:a", EX, "_:b", ""), ("_:b", EX, "_:a", ""), ("_:a", EX, '"x"', "")]
    assert rdf_canon.canonicalize(cycle) == (
        f'_:c14n0 {EX} "x" .\n_:c14n0 {EX} _:c14n1 .\n_:c14n1 {EX} _:c14n0 .\n'
    )


def test_duplicates_and_graph_names() -> None:
    quads = [("_:x", EX, '"1"', "_:g"), ("_:x", EX, '"1"', "_:g"), ("_:g", EX, "_:x", "")]
    out = rdf_canon.canonicalize(quads)
    assert len(out.splitlines()) == 2
    assert all(line.endswith(" .") for line in out.splitlines())


def _graph(draw: st.DrawFn) -> list[rdf_canon.Quad]:
    n = draw(st.integers(1, 7))
    nodes = [f"_:n{i}" for i in range(n)]
    objects = [*nodes, '"a"', '"b"', "<http://example.org/o>"]
    preds = [EX, "<http://example.org/vocab#q>"]
    quads = draw(
        st.lists(
            st.tuples(st.sampled_from(nodes), st.sampled_from(preds), st.sampled_from(objects)),
            min_size=1,
            max_size=14,
        )
    )
    return [(s, p, o, "") for s, p, o in quads]


@settings(max_examples=150, deadline=None)
@given(st.composite(_graph)(), st.randoms(use_true_random=False))
def test_canonical_form_ignores_labels_and_order(
    quads: list[rdf_canon.Quad], rnd: random.Random
) -> None:
    labels = sorted({t for q in quads for t in q if t.startswith("_:")})
    renamed = dict(
        zip(labels, rnd.sample([f"_:z{i}" for i in range(len(labels))], len(labels)), strict=True)
    )
    shuffled = [tuple(renamed.get(t, t) for t in q) for q in quads]
    rnd.shuffle(shuffled)
    try:
        expected = rdf_canon.canonicalize(quads)
    except rdf_canon.TooComplex:
        return
    assert rdf_canon.canonicalize(shuffled) == expected  # type: ignore[arg-type]


def test_poison_graph_is_refused_quickly() -> None:
    # A clique of look-alike blank nodes: every ordering has to be tried.
    nodes = [f"_:k{i}" for i in range(10)]
    clique = [(a, EX, b, "") for a in nodes for b in nodes if a != b]
    with pytest.raises(rdf_canon.TooComplex) as info:
        rdf_canon.canonicalize(clique)
    assert isinstance(info.value, MalformedCredential)
    # a long ring of look-alikes stays within the budget
    ring = [(f"_:r{i}", EX, f"_:r{(i + 1) % 12}", "") for i in range(12)]
    assert len(rdf_canon.canonicalize(ring).splitlines()) == 12


async def test_poison_credential_is_rejected_by_verify() -> None:
    nodes = [{"id": f"_:k{i}"} for i in range(10)]
    for node in nodes:
        node["https://example.org/knows"] = [{"id": o["id"]} for o in nodes if o is not node]
    doc = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential"],
        "issuer": "did:example:i",
        "credentialSubject": {"https://example.org/group": nodes},
    }
    key = PrivateKey.generate()
    with pytest.raises(rdf_canon.TooComplex):
        await add_proof(
            doc, cryptosuite="eddsa-rdfc-2022", key=key, verification_method="did:x:1#k"
        )


# -- the loader ------------------------------------------------------------------------------


def test_bundle_has_the_contexts_credentials_need() -> None:
    for url in [
        "https://www.w3.org/ns/credentials/v2",
        "https://www.w3.org/2018/credentials/v1",
        "https://w3id.org/security/data-integrity/v2",
        "https://w3id.org/security/multikey/v1",
        "https://w3id.org/security/suites/ed25519-2020/v1",
        "https://www.w3.org/ns/credentials/status/v1",
        "https://www.w3.org/ns/credentials/examples/v2",
        "https://www.w3.org/ns/did/v1",
    ]:
        assert url in bundled_urls()
        assert "@context" in ContextLoader().document(url)


def test_unknown_url_is_refused_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the loader tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    doc = json.loads((V / "unsigned.json").read_text())
    doc["@context"].append("https://contexts.example/v1")
    with pytest.raises(ContextError, match=r"contexts\.example"):
        ld.canonical_nquads(doc)
    with pytest.raises(ContextError):
        ContextLoader().document("https://contexts.example/v1")


def test_tampered_bundle_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "https://w3id.org/security/multikey/v1"
    fname, _ = contexts_mod._BUNDLED[url]
    monkeypatch.setitem(contexts_mod._BUNDLED, url, (fname, "0" * 64))
    monkeypatch.setattr(contexts_mod, "_bundle_cache", {})
    with pytest.raises(ContextError, match="pinned hash"):
        ContextLoader().document(url)


def test_extra_contexts_are_pinned_and_kept_apart() -> None:
    with pytest.raises(ContextError, match="shadow"):
        ContextLoader({"https://www.w3.org/ns/credentials/v2": {"@context": {}}})
    with pytest.raises(ContextError):
        ContextLoader({"https://example.org/c": {"no": "context"}})
    url = "https://example.org/ctx"
    doc = {
        "@context": ["https://www.w3.org/ns/credentials/v2", url],
        "type": ["VerifiableCredential"],
        "credentialSubject": {"id": "did:example:s", "level": "gold"},
    }
    a = ContextLoader({url: {"@context": {"level": "https://a.example/level"}}})
    b = ContextLoader({url: {"@context": {"level": "https://b.example/level"}}})
    # same URL, different pinned documents: each loader's contexts stay its own
    assert "a.example" in ld.canonical_nquads(doc, a)
    assert "b.example" in ld.canonical_nquads(doc, b)
    assert "a.example" in ld.canonical_nquads(doc, a)


async def test_rdfc_runs_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[int] = []
    real = data_integrity.hash_pair

    def spy(*args: Any) -> bytes:
        threads.append(threading.get_ident())
        return real(*args)

    monkeypatch.setattr(data_integrity, "hash_pair", spy)
    key = PrivateKey.generate()
    vm = f"did:key:{key.public.multikey}#{key.public.multikey}"
    doc = json.loads((V / "unsigned.json").read_text())
    signed = await add_proof(doc, cryptosuite="eddsa-rdfc-2022", key=key, verification_method=vm)

    async def resolve(_: str) -> PublicKey:
        return key.public

    assert (await verify_proof(signed, resolve_key=resolve)).verified
    assert len(threads) == 2
    assert threading.get_ident() not in threads
