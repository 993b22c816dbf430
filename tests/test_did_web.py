"""did:web against local aiohttp servers: HTTPS with a self-signed certificate made here, and
plain HTTP on loopback. Loopback is not a public address, so each resolver here allows it
(``allow_private=LOOPBACK``, or ``allow_http_for`` naming the host)."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from wallet.did import (
    DIDWebNotFound,
    DocumentIdMismatch,
    ResolverRegistry,
    WebDocumentTooLarge,
    WebHostUnreachable,
    WebHTTPError,
    WebInvalidDocument,
    WebResolutionError,
    WebResolver,
    WebTimeout,
    WebTLSError,
    did_web_url,
)
from wallet.did.web import WebHostNotPublic
from wallet.errors import DIDNotFound, InvalidDID, TooLargeError
from wallet.keys import KeyType, PrivateKey
from wallet.outbound_guard import LOOPBACK

KEY = PrivateKey.generate(KeyType.ED25519).public


def _document(did: str) -> dict:
    return {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": did,
        "verificationMethod": [
            {
                "id": "#key-1",
                "type": "Multikey",
                "controller": did,
                "publicKeyMultibase": KEY.multikey,
            }
        ],
        "authentication": ["#key-1"],
        "service": [
            {
                "id": "#dc",
                "type": "DIDCommMessaging",
                "serviceEndpoint": {"uri": "https://org.example/dc"},
            }
        ],
    }


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class Server:
    """Routes by path: each test sets what a path answers."""

    def __init__(self) -> None:
        self.handlers: dict[str, object] = {}
        self.hits = 0
        self.port = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.hits += 1
        handler = self.handlers.get(request.path)
        if handler is None:
            return web.Response(status=404)
        return await handler(request)  # type: ignore[operator]

    def serve_json(
        self, path: str, body: object, content_type: str = "application/did+json"
    ) -> None:
        async def handler(request: web.Request) -> web.Response:
            return web.Response(body=json.dumps(body).encode(), content_type=content_type)

        self.handlers[path] = handler


async def _start(server: Server, ssl_context: ssl.SSLContext | None) -> web.AppRunner:
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    server.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner


@pytest.fixture
async def https(tls_files: tuple[Path, Path]) -> AsyncIterator[Server]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_files)
    server = Server()
    runner = await _start(server, context)
    yield server
    await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[Server]:
    server = Server()
    runner = await _start(server, None)
    yield server
    await runner.cleanup()


@pytest.fixture
def client_tls(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tls_files[0]))


# -- URL rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("did", "url"),
    [
        ("did:web:w3c-ccg.github.io", "https://w3c-ccg.github.io/.well-known/did.json"),
        ("did:web:w3c-ccg.github.io:user:alice", "https://w3c-ccg.github.io/user/alice/did.json"),
        ("did:web:example.com%3A3000:user:alice", "https://example.com:3000/user/alice/did.json"),
        ("did:web:Example.COM%3a8443", "https://example.com:8443/.well-known/did.json"),
    ],
)
def test_did_web_url(did: str, url: str) -> None:
    assert did_web_url(did)[0] == url


@pytest.mark.parametrize(
    "did",
    [
        "did:web:exa_mple.com",
        "did:web:-example.com",
        "did:web:example.com:..:secret",
        "did:web:example.com::x",
        "did:web:example.com%3A99999",
        "did:web:example.com%3Ahttp",
        "did:web:example.com%2Fpath",
        "did:web:example.com:a%2Fb",
        "did:key:example.com",
        "did:web:" + "a" * 300,
    ],
)
def test_did_web_url_refuses(did: str) -> None:
    with pytest.raises(InvalidDID):
        did_web_url(did)


def test_plain_http_only_for_loopback() -> None:
    for host in ("example.com", "10.0.0.1", "192.168.1.1"):
        with pytest.raises(ValueError):
            WebResolver(allow_http_for={host})
    WebResolver(allow_http_for={"localhost", "127.0.0.1", "::1", "127.0.0.1:8080"})


# -- HTTPS --------------------------------------------------------------------------------------


async def test_https_well_known_and_path(https: Server, client_tls: ssl.SSLContext) -> None:
    did = f"did:web:localhost%3A{https.port}"
    path_did = f"{did}:user:alice"
    https.serve_json("/.well-known/did.json", _document(did))
    https.serve_json("/user/alice/did.json", _document(path_did), content_type="text/plain")
    async with WebResolver(ssl=client_tls, allow_private=LOOPBACK) as resolver:
        registry = ResolverRegistry()
        registry.register(resolver)
        doc = await registry.resolve(did)
        assert doc.method("#key-1").public_key == KEY
        assert doc.didcomm_services()[0].uri == "https://org.example/dc"
        assert (await registry.resolve(path_did)).id == path_did
        method = await registry.resolve_method(f"{did}#key-1")
        assert method.controller == did


async def test_untrusted_certificate(https: Server) -> None:
    did = f"did:web:localhost%3A{https.port}"
    https.serve_json("/.well-known/did.json", _document(did))
    async with WebResolver(allow_private=LOOPBACK) as resolver:
        with pytest.raises(WebTLSError) as info:
            await resolver.resolve(did)
    assert info.value.host == f"localhost:{https.port}"
    assert f"localhost:{https.port}" in str(info.value)


async def test_http_statuses(https: Server, client_tls: ssl.SSLContext) -> None:
    did = f"did:web:localhost%3A{https.port}"

    async def fail(request: web.Request) -> web.Response:
        return web.Response(status=503)

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://elsewhere.example/did.json")

    https.handlers["/a/did.json"] = fail
    https.handlers["/b/did.json"] = redirect
    async with WebResolver(ssl=client_tls, allow_private=LOOPBACK) as resolver:
        with pytest.raises(DIDWebNotFound) as info:
            await resolver.resolve(did)
        assert isinstance(info.value, DIDNotFound) and info.value.status == 404
        with pytest.raises(WebHTTPError) as info:
            await resolver.resolve(f"{did}:a")
        assert info.value.status == 503
        with pytest.raises(WebHTTPError) as info:
            await resolver.resolve(f"{did}:b")  # redirects are not followed
        assert info.value.status == 302


async def test_bad_documents(https: Server, client_tls: ssl.SSLContext) -> None:
    did = f"did:web:localhost%3A{https.port}"
    https.serve_json("/.well-known/did.json", _document("did:web:other.example"))
    https.serve_json("/list/did.json", [1, 2])

    async def not_json(request: web.Request) -> web.Response:
        return web.Response(text="<html>hello</html>", content_type="text/html")

    https.handlers["/html/did.json"] = not_json
    async with WebResolver(ssl=client_tls, allow_private=LOOPBACK) as resolver:
        with pytest.raises(DocumentIdMismatch):
            await resolver.resolve(did)
        for suffix in (":list", ":html"):
            with pytest.raises(WebInvalidDocument):
                await resolver.resolve(did + suffix)


async def test_size_limit_with_and_without_content_length(
    https: Server, client_tls: ssl.SSLContext
) -> None:
    did = f"did:web:localhost%3A{https.port}"
    streamed_chunks = 0

    async def declared(request: web.Request) -> web.Response:
        return web.Response(body=b" " * 5000 + b"{}")

    async def streamed(request: web.Request) -> web.StreamResponse:
        nonlocal streamed_chunks
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(200):  # 200 x 1 KiB, far past the limit: the reader must stop early
            await response.write(b" " * 1024)
            streamed_chunks += 1
            await asyncio.sleep(0.005)
        await response.write_eof()
        return response

    https.handlers["/declared/did.json"] = declared
    https.handlers["/streamed/did.json"] = streamed
    async with WebResolver(ssl=client_tls, allow_private=LOOPBACK, max_bytes=4096) as resolver:
        with pytest.raises(WebDocumentTooLarge) as info:
            await resolver.resolve(f"{did}:declared")
        assert isinstance(info.value, TooLargeError)
        with pytest.raises(WebDocumentTooLarge):
            await resolver.resolve(f"{did}:streamed")
    assert streamed_chunks < 200


async def test_timeout(https: Server, client_tls: ssl.SSLContext) -> None:
    did = f"did:web:localhost%3A{https.port}"

    release = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="{}")

    https.handlers["/.well-known/did.json"] = slow
    async with WebResolver(ssl=client_tls, allow_private=LOOPBACK, timeout=0.3) as resolver:
        with pytest.raises(WebTimeout) as info:
            await resolver.resolve(did)
    release.set()
    assert info.value.host == f"localhost:{https.port}"


async def test_unreachable_host() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with WebResolver(allow_http_for={"127.0.0.1"}) as resolver:
        with pytest.raises(WebHostUnreachable) as info:
            await resolver.resolve(f"did:web:127.0.0.1%3A{port}")
    assert isinstance(info.value, WebResolutionError)
    assert f"127.0.0.1:{port}" in str(info.value)


# -- plain HTTP on loopback, injected session, registry TTL ------------------------------------


async def test_plain_http_loopback_with_injected_session_and_ttl(http: Server) -> None:
    did = f"did:web:127.0.0.1%3A{http.port}"
    http.serve_json("/.well-known/did.json", _document(did))
    now = [1000.0]
    async with aiohttp.ClientSession() as session:
        resolver = WebResolver(session, allow_http_for={"127.0.0.1"})
        registry = ResolverRegistry(ttl=60, clock=lambda: now[0])
        registry.register(resolver)
        first = await registry.resolve(did)
        assert await registry.resolve(did) is first
        assert http.hits == 1
        now[0] += 61  # past the TTL: fetched again
        await registry.resolve(did)
        assert http.hits == 2
        # concurrent resolutions of one DID share a single fetch
        registry.forget(did)
        docs = await asyncio.gather(*(registry.resolve(did) for _ in range(5)))
        assert http.hits == 3 and all(d is docs[0] for d in docs)
        await registry.close()  # the injected session is the caller's: still open
        assert not session.closed
    # without allow_http_for, the same loopback DID is fetched over HTTPS, and refused: its
    # host is not a public address
    async with WebResolver() as strict:
        with pytest.raises(WebHostNotPublic) as refused:
            await strict.resolve(did)
    assert isinstance(refused.value, WebHostUnreachable)
    assert str(refused.value) == (
        f"did:web host 127.0.0.1:{http.port}: cannot connect: not a public address"
    )
