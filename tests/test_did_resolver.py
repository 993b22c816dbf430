"""The resolver registry: routing, plugins, caching, DID URLs, and arbitrary input."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wallet.did import (
    DIDDocument,
    InvalidDIDDocument,
    Purpose,
    ResolverConflict,
    ResolverRegistry,
    UnsupportedPeerNumalgo,
    WebHostUnreachable,
    WebResolver,
    create_did_key,
    create_peer2,
    create_peer4,
    default_registry,
)
from wallet.errors import (
    DIDNotFound,
    InvalidDID,
    KeyNotFound,
    MoiError,
    ResolutionError,
    UnsupportedDIDMethod,
)
from wallet.keys import KeyType, PrivateKey

PEER4 = json.loads((Path(__file__).parent / "vectors/did-peer/peer4-spec-example.json").read_text())
ED = PrivateKey.generate(KeyType.ED25519).public
X = PrivateKey.generate(KeyType.X25519).public
DID_KEY = create_did_key(ED)
PEER2 = create_peer2(
    [(Purpose.AUTHENTICATION, ED), (Purpose.KEY_AGREEMENT, X)],
    [{"type": "DIDCommMessaging", "serviceEndpoint": {"uri": "https://a.example"}}],
)


class ExampleResolver:
    """A plugin for did:example, counting its calls."""

    methods = frozenset({"example"})

    def __init__(self, documents: Mapping[str, Any] | None = None) -> None:
        self.documents = dict(documents or {})
        self.calls = 0

    async def resolve(self, did: str) -> Mapping[str, Any]:
        self.calls += 1
        if did not in self.documents:
            raise DIDNotFound(f"{did} is not known")
        value = self.documents[did]
        if isinstance(value, Exception):
            raise value
        return value


def _example(did: str) -> dict:
    return {
        "id": did,
        "verificationMethod": [{"id": "#k", "type": "Multikey", "publicKeyMultibase": ED.multikey}],
        "authentication": ["#k"],
    }


class FailingSession:
    """An aiohttp session stand-in that never reaches the network."""

    def get(self, *args: object, **kwargs: object) -> None:
        raise aiohttp.ServerDisconnectedError()


def _offline_registry() -> ResolverRegistry:
    return default_registry(web=WebResolver(FailingSession()))  # type: ignore[arg-type]


async def test_default_registry_methods_and_resolution() -> None:
    registry = _offline_registry()
    assert registry.methods == frozenset({"key", "peer", "web"})
    doc = await registry.resolve(DID_KEY)
    assert isinstance(doc, DIDDocument) and doc.id == DID_KEY
    assert (await registry.resolve(PEER2)).didcomm_services()[0].uri == "https://a.example"
    with pytest.raises(WebHostUnreachable):
        await registry.resolve("did:web:example.com")


async def test_plugin_registration_and_conflicts() -> None:
    registry = ResolverRegistry()
    plugin = ExampleResolver({"did:example:1": _example("did:example:1")})
    registry.register(plugin)
    with pytest.raises(ResolverConflict):
        registry.register(ExampleResolver())
    doc = await registry.resolve("did:example:1")
    assert doc.method("#k").public_key == ED
    # mutable by default: cached until the TTL, then resolved again
    await registry.resolve("did:example:1")
    assert plugin.calls == 1
    replacement = ExampleResolver({"did:example:1": _example("did:example:1")})
    registry.register(replacement, replace=True)
    await registry.resolve("did:example:1")
    assert replacement.calls == 1, "replacing a resolver drops its cached documents"
    with pytest.raises(TypeError):
        registry.register(object())  # type: ignore[arg-type]
    bad_name = ExampleResolver()
    bad_name.methods = frozenset({"Ex ample"})
    with pytest.raises(ValueError):
        registry.register(bad_name)


async def test_plugin_failures_become_moi_errors() -> None:
    registry = ResolverRegistry()
    registry.register(
        ExampleResolver(
            {
                "did:example:boom": KeyError("secret detail"),
                "did:example:list": [1, 2],
                "did:example:other": _example("did:example:someone-else"),
            }
        )
    )
    with pytest.raises(ResolutionError) as info:
        await registry.resolve("did:example:boom")
    assert "secret detail" not in str(info.value) and "KeyError" in str(info.value)
    with pytest.raises(InvalidDIDDocument):
        await registry.resolve("did:example:list")
    with pytest.raises(InvalidDIDDocument):
        await registry.resolve("did:example:other")
    with pytest.raises(DIDNotFound):
        await registry.resolve("did:example:missing")


async def test_unknown_methods_and_refused_numalgos() -> None:
    registry = _offline_registry()
    with pytest.raises(UnsupportedDIDMethod, match="did:sov"):
        await registry.resolve("did:sov:WgWxqztrNooG92RXvxSTWv")
    with pytest.raises(UnsupportedPeerNumalgo):
        await registry.resolve("did:peer:0z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH")
    with pytest.raises(InvalidDID):
        await registry.resolve("not a did")


async def test_did_urls() -> None:
    registry = _offline_registry()
    key_id = f"{DID_KEY}#{ED.multikey}"
    assert (await registry.resolve(key_id)).id == DID_KEY
    assert (await registry.resolve_method(key_id)).public_key == ED
    registry.forget(DID_KEY)
    assert (await registry.resolve_method(key_id)).public_key == ED  # the uncached path
    assert (await registry.resolve_method(f"{DID_KEY}?versionId=1#{ED.multikey}")).public_key == ED
    assert (await registry.resolve_method(f"{PEER2}#key-2")).public_key == X
    for bad in (DID_KEY, f"{DID_KEY}#", f"{DID_KEY}#nope", f"{PEER2}#key-9"):
        with pytest.raises(KeyNotFound):
            await registry.resolve_method(bad)
    with pytest.raises(InvalidDID):
        await registry.resolve_method("did:key:z6Mk#frag#twice")


async def test_peer4_short_form_through_the_registry() -> None:
    registry = _offline_registry()
    with pytest.raises(DIDNotFound):
        await registry.resolve(PEER4["short_form_did"])
    long_doc = await registry.resolve(PEER4["long_form_did"])
    short_doc = await registry.resolve(PEER4["short_form_did"])
    assert short_doc.id == PEER4["short_form_did"]
    # a key id in either form finds the key in either document
    short_kid = PEER4["short_form_did"] + "#6MkrCD1c"
    assert long_doc.method(short_kid).public_key == short_doc.method(short_kid).public_key
    assert (await registry.resolve_method(short_kid)).public_key.type is KeyType.ED25519


async def test_immutable_documents_stay_and_cache_is_bounded() -> None:
    now = [0.0]
    registry = ResolverRegistry(cache_size=2, ttl=1, clock=lambda: now[0])
    for resolver in default_registry().methods - {"web"}:
        registry.register(default_registry().resolver_for(resolver))
    first = await registry.resolve(DID_KEY)
    now[0] = 1e9
    assert await registry.resolve(DID_KEY) is first  # did:key never expires
    long, _ = create_peer4({"service": []})
    await registry.resolve(PEER2)
    await registry.resolve(long)  # evicts the least recently used (DID_KEY)
    assert await registry.resolve(DID_KEY) is not first


# -- arbitrary input ----------------------------------------------------------------------------

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
DIDISH = st.one_of(
    st.text(max_size=200),
    st.builds(lambda s: "did:" + s, st.text(max_size=100)),
    st.builds(lambda s: "did:key:z" + s, st.text(alphabet=B58, max_size=120)),
    st.builds(lambda s: "did:key:" + s, st.text(max_size=60)),
    st.builds(
        lambda parts: "did:peer:2" + "".join(parts),
        st.lists(
            st.one_of(
                st.builds(
                    lambda p, k: f".{p}z{k}", st.sampled_from("AEVIDSX"), st.text(B58, max_size=60)
                ),
                st.builds(lambda b: ".S" + b, st.text(alphabet=B64, max_size=120)),
                st.just(".Vz6Mkj3PUd1WjvaDhNZhhhXQdz5UnZXmS7ehtx8bsPpD47kKc"),
            ),
            max_size=4,
        ),
    ),
    st.builds(lambda s: "did:peer:" + s, st.text(max_size=80)),
    st.builds(
        lambda h, d: f"did:peer:4zQm{h}:z{d}", st.text(B58, max_size=50), st.text(B58, max_size=80)
    ),
    st.builds(lambda s: "did:web:" + s, st.text(max_size=60)),
    st.builds(lambda s, f: f"{s}#{f}", st.sampled_from([DID_KEY, PEER2]), st.text(max_size=30)),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=DIDISH)
def test_arbitrary_strings_raise_only_moi_errors(value: str) -> None:
    async def attempt() -> None:
        registry = _offline_registry()
        for call in (registry.resolve, registry.resolve_method):
            try:
                await call(value)
            except MoiError:
                pass

    asyncio.run(attempt())


@settings(max_examples=150, deadline=None)
@given(
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
        ),
        max_leaves=20,
    ),
    key=st.sampled_from(
        [
            "verificationMethod",
            "authentication",
            "keyAgreement",
            "service",
            "id",
            "alsoKnownAs",
            "@context",
        ]
    ),
)
def test_arbitrary_documents_raise_only_moi_errors(value: object, key: str) -> None:
    raw = {"id": "did:example:1", key: value}
    try:
        DIDDocument.parse(raw)
    except MoiError:
        pass
