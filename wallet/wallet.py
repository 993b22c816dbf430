"""The holder's wallet: keys and DIDs in the encrypted record store, and the DIDComm pack /
unpack API on top of them.

A short example::

    from wallet import Wallet

    alice = await Wallet.create("sqlite:///tmp/alice.db", passphrase="correct horse")
    bob = await Wallet.create("sqlite:///tmp/bob.db", passphrase="battery staple")
    a = await alice.create_did("peer2", endpoints=["https://alice.example/didcomm"])
    b = await bob.create_did("peer2")
    packed = await alice.pack({"type": "https://didcomm.org/basicmessage/2.0/message",
                               "body": {"content": "hi"}}, to=[b], frm=a)
    received = await bob.unpack(packed)          # .message, .metadata

Private keys leave this module only as ciphertext in the store; callers name keys by id (a
DID URL, or a base58 verkey in DIDComm v1) and the wallet signs and decrypts for them.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from .did import (
    DIDDocument,
    InMemoryLongFormCache,
    LongFormCache,
    Purpose,
    ResolverRegistry,
    create_did_key,
    create_peer2,
    create_peer4,
    default_registry,
    long_to_short,
)
from .did.service import DIDCOMM_V1, DIDCOMM_V2
from .didcomm.message import BASIC_MESSAGE_V2, Message, plaintext_json, to_aries
from .didcomm.packing import (
    NOT_CACHED,
    KeySelections,
    Mode,
    Unpacked,
    did_of,
    pack,
    pack_v1,
    unpack,
)
from .encoding import b64url_decode, b64url_encode, dumps_compact
from .errors import DuplicateRecord, InputError, KeyNotFound, MalformedMessage, RecordNotFound
from .jose import AgreementCache
from .keys import KeyType, PrivateKey, PublicKey
from .storage import Store, create_store, open_store

DID_METHODS = ("key", "peer2", "peer4")
#: What moi's DIDComm services accept: v2, and v1 with RFC 0019 envelopes.
DEFAULT_ACCEPT = ("didcomm/v2", "didcomm/aip2;env=rfc19")

_KEY = "key"  # secret keys, id = public Multikey
_KID = "kid"  # key id (DID URL or base58 verkey) -> Multikey of the secret
_DID = "did"  # own DIDs
_PEER4 = "peer4-long"  # did:peer:4 long forms seen, id = short form

_MAX_ENDPOINTS = 10
_MAX_LABEL = 200


@dataclass(frozen=True, slots=True)
class DIDInfo:
    """An own DID and its metadata."""

    did: str
    method: str
    label: str | None = None
    created: int = 0
    short_form: str | None = None
    endpoints: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"did": self.did, "method": self.method, "created": self.created}
        if self.label is not None:
            out["label"] = self.label
        if self.short_form is not None:
            out["short_form"] = self.short_form
        if self.endpoints:
            out["endpoints"] = list(self.endpoints)
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        return out


#: Set while a message is unpacked: what the resolver learns then stays in memory, because
#: unpacking must change nothing stored (a forged or tampered message least of all).
_UNPACKING: ContextVar[bool] = ContextVar("moi_wallet_unpacking", default=False)


class _StoreLongForms(LongFormCache):
    """Long forms of short peer DIDs (did:peer:4 short, did:peer:3) persisted in the wallet,
    so short forms resolve after a restart; those seen while unpacking are held in memory."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._seen = InMemoryLongFormCache()

    async def get(self, short_form: str) -> str | None:
        long_form = await self._seen.get(short_form)
        if long_form is not None:
            return long_form
        try:
            record = await self._store.get(_PEER4, short_form)
        except RecordNotFound:
            return None
        return record.value.decode("utf-8")

    async def put(self, short_form: str, long_form: str) -> None:
        await self._seen.put(short_form, long_form)
        if _UNPACKING.get():
            return
        try:
            await self._store.add(_PEER4, short_form, long_form.encode("utf-8"))
        except DuplicateRecord:
            pass  # seen before: the long form of a short form never changes


class Wallet:
    """Keys, DIDs and DIDComm packing over one record store."""

    def __init__(self, store: Store, resolver: ResolverRegistry | None = None) -> None:
        self.store = store
        # A registry made here is closed here (did:web keeps an HTTP session); a caller's
        # registry may be shared, so its owner closes it.
        self._owns_resolver = resolver is None
        self.resolver = resolver or default_registry(long_forms=_StoreLongForms(store))
        # Decrypting a secret from the store costs a read; a bounded cache keeps the hot path
        # (unpacking to the same few keys) in memory. It holds nothing the process lacks.
        self._secrets: OrderedDict[str, PrivateKey | None] = OrderedDict()
        self._kid_dids: OrderedDict[str, str | None] = OrderedDict()
        # ECDH-1PU's static-static secrets, for peers we talk to often (two X25519 operations
        # fewer per authcrypt round trip); secret like the keys, so dropped with them.
        self.agreement_cache = AgreementCache()
        # Which keys pack chose for each sender and recipients (public: kids and keys).
        self.key_selections = KeySelections()

    # -- lifecycle --------------------------------------------------------------------------

    @classmethod
    async def create(
        cls,
        url: str,
        *,
        passphrase: str | None = None,
        raw_key: bytes | None = None,
        kdf: str = "argon2id-interactive",
    ) -> Wallet:
        return cls(await create_store(url, passphrase=passphrase, raw_key=raw_key, kdf=kdf))

    @classmethod
    async def open(
        cls, url: str, *, passphrase: str | None = None, raw_key: bytes | None = None
    ) -> Wallet:
        return cls(await open_store(url, passphrase=passphrase, raw_key=raw_key))

    async def close(self) -> None:
        self._secrets.clear()
        self.agreement_cache.clear()
        self.key_selections.clear()
        try:
            if self._owns_resolver:
                await self.resolver.close()
        finally:
            await self.store.close()

    async def __aenter__(self) -> Wallet:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- keys -------------------------------------------------------------------------------

    async def create_key(self, kty: KeyType = KeyType.ED25519) -> PublicKey:
        """Generate a key pair, store its secret encrypted, and return the public key."""
        secret = PrivateKey.generate(kty)
        await self._store_secret(secret, [])
        return secret.public

    async def _store_secret(
        self, secret: PrivateKey, kids: Sequence[str], did: str | None = None
    ) -> None:
        public = secret.public
        value = dumps_compact({"type": secret.type.value, "secret": b64url_encode(secret.secret)})
        tags = {"type": secret.type.value}
        refs = list(kids)
        if secret.type is KeyType.ED25519:
            refs.append(public.base58)  # DIDComm v1 names keys by their base58 verkey
        ref = dumps_compact({"key": public.multikey, "did": did}).encode("utf-8")
        async with self.store.transaction() as tx:
            await tx.add(_KEY, public.multikey, value.encode("utf-8"), tags)
            for kid in refs:
                await tx.add(_KID, _kid_id(kid), ref)
        for kid in refs:
            # A key id asked for before its key existed was remembered as "not held".
            self._secrets.pop(kid, None)
            self._kid_dids.pop(kid, None)

    async def secret_for(self, kid: str) -> PrivateKey | None:
        """The private key named by ``kid`` (a DID URL or a base58 verkey), if held here."""
        secret = self.cached_secret(kid)
        if secret is not NOT_CACHED:
            return secret
        try:
            ref = (await self.store.get(_KID, _kid_id(kid))).json()
            record = await self.store.get(_KEY, ref["key"])
        except RecordNotFound:
            secret = None
        else:
            data = record.json()
            secret = PrivateKey.from_secret(
                KeyType(data["type"]), b64url_decode(data["secret"], what="stored key")
            )
        self._secrets[kid] = secret
        if len(self._secrets) > 1024:
            self._secrets.popitem(last=False)
        return secret

    def cached_secret(self, kid: str) -> Any:
        """:meth:`secret_for` from the in-memory cache alone: the key, None when the store
        is known not to hold it, or :data:`~wallet.didcomm.packing.NOT_CACHED`."""
        secret = self._secrets.get(kid, NOT_CACHED)
        if secret is not NOT_CACHED:
            self._secrets.move_to_end(kid)
        return secret

    async def did_for_kid(self, kid: str) -> str | None:
        """Which own DID a key id (DID URL or v1 verkey) belongs to, if any."""
        if kid in self._kid_dids:
            return self._kid_dids[kid]
        try:
            ref = (await self.store.get(_KID, _kid_id(kid))).json()
        except RecordNotFound:
            return None
        did = ref.get("did")
        # A key id never moves to another DID: safe to keep (bounded).
        self._kid_dids[kid] = did
        if len(self._kid_dids) > 4096:
            self._kid_dids.popitem(last=False)
        return did

    async def sign(self, kid: str, data: bytes) -> bytes:
        secret = await self.secret_for(kid)
        if secret is None:
            raise KeyNotFound(f"this wallet holds no private key {kid}")
        return secret.sign(data)

    # -- DIDs -------------------------------------------------------------------------------

    async def create_did(
        self,
        method: str,
        *,
        endpoints: Sequence[str] = (),
        routing_keys: Sequence[str] = (),
        accept: Sequence[str] = DEFAULT_ACCEPT,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        service_type: str = DIDCOMM_V2,
    ) -> str:
        """Create a DID of ``method`` (key, peer2, peer4) with fresh keys; return the DID.

        did:peer DIDs get an Ed25519 authentication key and a separate X25519 key agreement
        key, and one DIDCommMessaging service per endpoint. did:key has no services.
        ``service_type="did-communication"`` writes the DIDComm v1 form (Aries RFC 0067)
        instead, for a DID that only v1 (Aries) peers use: they look for that form alone.
        """
        if method not in DID_METHODS:
            raise InputError(f"unknown DID method {method[:40]!r}; use one of {DID_METHODS}")
        if len(endpoints) > _MAX_ENDPOINTS:
            raise InputError(f"at most {_MAX_ENDPOINTS} endpoints")
        for uri in endpoints:
            _check_endpoint(uri)
        if label is not None and len(label) > _MAX_LABEL:
            raise InputError(f"a label is at most {_MAX_LABEL} characters")
        if method == "key" and (endpoints or routing_keys):
            raise InputError("a did:key cannot carry service endpoints; use peer2 or peer4")
        if service_type not in (DIDCOMM_V2, DIDCOMM_V1):
            raise InputError(f"service_type is {DIDCOMM_V2!r} or {DIDCOMM_V1!r}")
        services = [
            {
                "type": DIDCOMM_V2,
                "serviceEndpoint": {
                    "uri": uri,
                    "accept": list(accept),
                    "routingKeys": list(routing_keys),
                },
            }
            for uri in endpoints
        ]
        if service_type == DIDCOMM_V1:
            # The v1 envelope is addressed to the Ed25519 key (#key-1 of a did:peer:4, #key-2
            # of a did:peer:2, as their keys are numbered below).
            recipient = "#key-2" if method == "peer2" else "#key-1"
            services = [
                {
                    "type": DIDCOMM_V1,
                    "priority": i,
                    "recipientKeys": [recipient],
                    "routingKeys": list(routing_keys),
                    "serviceEndpoint": uri,
                }
                for i, uri in enumerate(endpoints)
            ]
        signing = PrivateKey.generate(KeyType.ED25519)
        short_form = None
        if method == "key":
            did = create_did_key(signing.public)
            doc = await self.resolver.resolve(did)
            secrets = [(signing, [m.id for m in doc.authentication_keys()])]
            agreement = signing.to_x25519()
            secrets.append((agreement, [m.id for m in doc.key_agreement_keys()]))
        elif method == "peer2":
            agreement = PrivateKey.generate(KeyType.X25519)
            did = create_peer2(
                [
                    (Purpose.KEY_AGREEMENT, agreement.public),
                    (Purpose.AUTHENTICATION, signing.public),
                ],
                services,
            )
            secrets = [(agreement, [f"{did}#key-1"]), (signing, [f"{did}#key-2"])]
        else:
            agreement = PrivateKey.generate(KeyType.X25519)
            did, short_form = create_peer4(_peer4_input(signing, agreement, services))
            secrets = []
            for secret, frag in ((signing, "#key-1"), (agreement, "#key-2")):
                secrets.append((secret, [did + frag, short_form + frag]))
            await self.resolver.resolve(did)  # remembers the long form for the short one
        info = DIDInfo(
            did=did,
            method=method,
            label=label,
            created=int(time.time()),
            short_form=short_form,
            endpoints=tuple(endpoints),
            metadata=dict(metadata or {}),
        )
        for secret, kids in secrets:
            await self._store_secret(secret, kids, did)
        tags = {"method": method, "~created": f"{info.created:012d}"}
        if short_form:
            tags["short_form"] = short_form
        value = dumps_compact(info.to_json()).encode("utf-8")
        await self.store.add(_DID, short_form or _kid_id(did), value, tags)
        return did

    async def list_dids(self, method: str | None = None) -> list[DIDInfo]:
        query = {"method": method} if method else None
        records = await self.store.find(_DID, query)
        return [_did_info(r.json()) for r in records]

    async def get_did(self, did: str) -> DIDInfo:
        try:
            key = long_to_short(did) if did.startswith("did:peer:4") and did.count(":") > 2 else did
            return _did_info((await self.store.get(_DID, _kid_id(key))).json())
        except RecordNotFound:
            records = await self.store.find(_DID, {"short_form": did}, limit=1)
            if not records:
                raise
            return _did_info(records[0].json())

    async def resolve(self, did: str) -> DIDDocument:
        return await self.resolver.resolve(did)

    # -- messages ---------------------------------------------------------------------------

    async def pack(
        self,
        message: Mapping[str, Any] | Message,
        *,
        to: Sequence[str],
        frm: str | None = None,
        mode: Mode | str = Mode.AUTHCRYPT,
        sign: bool = False,
        enc: str = "XC20P",
        v1: bool = False,
    ) -> dict[str, Any]:
        """Pack a message; ``v1`` packs an Aries message in an RFC 0019 envelope."""
        if v1:
            v1_mode = Mode(mode)
            if v1_mode not in (Mode.ANONCRYPT, Mode.AUTHCRYPT) or sign:
                raise InputError("DIDComm v1 envelopes are anoncrypt or authcrypt, unsigned")
            if v1_mode is Mode.AUTHCRYPT and frm is None:
                raise MalformedMessage("authcrypt needs a sender ('from')")
            sender = frm if v1_mode is Mode.AUTHCRYPT else None
            aries = to_aries(message) if isinstance(message, Message) else dict(message)
            return await pack_v1(aries, to=to, frm=sender, resolver=self.resolver, keys=self)
        if isinstance(message, Message):
            plaintext = message.to_json()
        else:
            # The documented few-line use passes only type and body: the headers the
            # recipient checks (id, and from/to against the keys used) come from the call.
            obj = dict(message)
            if "id" not in obj:
                obj["id"] = str(uuid.uuid4())
            if frm is not None and "from" not in obj:
                obj["from"] = did_of(frm)
            if to and "to" not in obj:
                obj["to"] = [did_of(t) for t in to]
            plaintext = plaintext_json(obj)
        return await pack(
            plaintext,
            to=to,
            frm=frm,
            mode=mode,
            sign=sign,
            enc=enc,
            resolver=self.resolver,
            keys=self,
        )

    async def unpack(self, data: bytes | str | Mapping[str, Any]) -> Unpacked:
        """Unpack and check a message; raises only moi errors and changes nothing stored."""
        token = _UNPACKING.set(True)
        try:
            return await unpack(data, resolver=self.resolver, keys=self)
        finally:
            _UNPACKING.reset(token)


def build_plaintext(
    *,
    to: Sequence[str],
    frm: str | None,
    body: Mapping[str, Any],
    msg_type: str = BASIC_MESSAGE_V2,
    msg_id: str | None = None,
    v1: bool = False,
) -> dict[str, Any]:
    """The plaintext the CLI and simple callers pack: v2 JWM, or an Aries message for v1."""
    if not isinstance(body, Mapping):
        raise MalformedMessage("the body must be a JSON object")
    msg_id = msg_id or str(uuid.uuid4())
    if v1:
        aries: dict[str, Any] = {"@type": msg_type, "@id": msg_id}
        for key, value in body.items():
            if key in ("@type", "@id"):
                raise MalformedMessage(f"the body must not set {key!r}")
            aries[key] = value
        return aries
    message = Message(
        type=msg_type,
        body=dict(body),
        id=msg_id,
        frm=frm,
        to=tuple(to),
        created_time=int(time.time()),
    )
    return message.to_json()


def _kid_id(kid: str) -> str:
    """The record id of a key id: a did:peer:4 long form can outgrow the store's id limit."""
    if len(kid) <= 256:
        return kid
    return "sha256:" + hashlib.sha256(kid.encode("utf-8")).hexdigest()


def _peer4_input(
    signing: PrivateKey, agreement: PrivateKey, services: list[dict[str, Any]]
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "verificationMethod": [
            {"id": "#key-1", "type": "Multikey", "publicKeyMultibase": signing.public.multikey},
            {"id": "#key-2", "type": "Multikey", "publicKeyMultibase": agreement.public.multikey},
        ],
        "authentication": ["#key-1"],
        "assertionMethod": ["#key-1"],
        "keyAgreement": ["#key-2"],
    }
    if services:
        doc["service"] = [
            {"id": "#didcomm" if i == 0 else f"#didcomm-{i}", **svc}
            for i, svc in enumerate(services)
        ]
    return doc


def _did_info(data: Mapping[str, Any]) -> DIDInfo:
    return DIDInfo(
        did=data["did"],
        method=data["method"],
        label=data.get("label"),
        created=data.get("created", 0),
        short_form=data.get("short_form"),
        endpoints=tuple(data.get("endpoints", ())),
        metadata=data.get("metadata", {}),
    )


def _check_endpoint(uri: Any) -> None:
    from urllib.parse import urlsplit

    if not isinstance(uri, str) or len(uri) > 2048:
        raise InputError("an endpoint must be a URL of at most 2048 characters")
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https", "ws", "wss", "didcomm") or not (
        parts.netloc or parts.scheme == "didcomm"
    ):
        raise InputError(f"endpoint {uri[:80]!r} is not an http(s) or ws(s) URL")
