"""Pack and unpack DIDComm messages: v2 (JOSE) and v1 (Aries RFC 0019), one entry point each.

This module is the glue between the pure envelope code (``wallet.jose``, ``wallet.didcomm.v1``)
and the two things that need I/O or secrets: DID resolution and the holder's keys. It decides
which keys to use (the DIDComm v2.1 rules: encrypt to every key-agreement key of the chosen
curve, sign with an authentication key), and it checks what the envelope layers cannot: that
the sender who authenticated is the ``from`` of the plaintext, and that the plaintext was meant
for the recipient who decrypted it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, NamedTuple

from ..encoding import DEFAULT_MAX_BYTES, dumps_utf8, loads_object
from ..errors import (
    InputError,
    KeyNotFound,
    MalformedEnvelope,
    MalformedMessage,
    NoRecipientKey,
    ResolutionError,
    SignatureError,
    TooLargeError,
    UnsupportedAlgorithm,
)
from ..jose import AgreementCache, jwe, jws
from ..keys import PrivateKey, PublicKey
from . import v1
from .message import check_plaintext
from .selection import (
    NOT_CACHED,
    KeyLookup,
    KeySelections,
    MixedRecipients,
    Resolver,
    anon_recipients,
    authcrypt_keys,
    first_ed25519,
    first_ed25519_now,
    method_now,
    secret_now,
    signing_key,
)

__all__ = [
    "ENCRYPTED_TYP",
    "ENCS",
    "NOT_CACHED",
    "OFFLOAD_BYTES",
    "SIGNED_TYP",
    "KeyLookup",
    "KeySelections",
    "MessageTooLarge",
    "MixedRecipients",
    "Mode",
    "RecipientMismatch",
    "Resolver",
    "SenderMismatch",
    "UnpackMetadata",
    "Unpacked",
    "did_of",
    "pack",
    "pack_v1",
    "unpack",
]

SIGNED_TYP = "application/didcomm-signed+json"
ENCRYPTED_TYP = "application/didcomm-encrypted+json"
ENCS = ("XC20P", "A256GCM", "A256CBC-HS512")
_MAX_LAYERS = 4  # anoncrypt(authcrypt(signed(plaintext))) is the deepest the spec builds

#: Payloads and envelopes up to this many bytes are packed and unpacked on the event loop;
#: above it their bulk work (base64, content cipher, signature, the payload's JSON) runs in a
#: worker thread, while key choice and resolution stay on the loop. Measured on one slow core
#: (authcrypt): a 1 KiB message costs ~120 us a side and each further byte ~8 ns, so 64 KiB
#: holds the loop ~0.6 ms a side and 1 MiB (the default limit) ~12 ms; a hop to a thread
#: costs ~0.1 ms (an unpack makes three). Below the threshold the hops would cost more than
#: the loop is held; above it a large message no longer stalls every other connection.
OFFLOAD_BYTES = 64 * 1024


class Mode(StrEnum):
    PLAIN = "plain"
    SIGNED = "signed"
    ANONCRYPT = "anoncrypt"
    AUTHCRYPT = "authcrypt"


class MessageTooLarge(MalformedEnvelope, TooLargeError):
    """The packed message is over the size limit (checked before it is parsed)."""


class RecipientMismatch(MalformedMessage):
    """The plaintext's ``to`` does not name the recipient who decrypted it (a replay)."""


class SenderMismatch(SignatureError):
    """The key that authenticated or signed the message is not the ``from`` of its plaintext."""


class UnpackMetadata(NamedTuple):
    """What unpacking proved about a message (a named tuple: immutable, and cheap to build
    for every message)."""

    version: str = "v2"
    encrypted: bool = False
    authenticated: bool = False
    non_repudiation: bool = False
    anonymous_sender: bool = False
    sender_kid: str | None = None
    recipient_kid: str | None = None
    #: the signed JWS, kept when the message was signed (proof for the holder's records)
    signed_message: Mapping[str, Any] | None = None

    def __repr__(self) -> str:
        return (
            f"UnpackMetadata(version={self.version!r}, encrypted={self.encrypted}, "
            f"authenticated={self.authenticated}, non_repudiation={self.non_repudiation}, "
            f"anonymous_sender={self.anonymous_sender}, sender_kid={self.sender_kid!r}, "
            f"recipient_kid={self.recipient_kid!r})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "encrypted": self.encrypted,
            "authenticated": self.authenticated,
            "non_repudiation": self.non_repudiation,
            "anonymous_sender": self.anonymous_sender,
            "sender_kid": self.sender_kid,
            "recipient_kid": self.recipient_kid,
        }


class Unpacked(NamedTuple):
    """An unpacked message. ``message`` is the plaintext as received (v1: the Aries form)."""

    message: dict[str, Any]
    metadata: UnpackMetadata


def did_of(did_url: str) -> str:
    return did_url.partition("#")[0].partition("?")[0]


_MODE_OF = {m.value: m for m in Mode}


def _mode(mode: Mode | str) -> Mode:
    try:
        return _MODE_OF[mode]
    except (KeyError, TypeError):
        return Mode(mode)


# -- packing ----------------------------------------------------------------------------------


async def pack(
    message: Mapping[str, Any],
    *,
    to: Sequence[str],
    frm: str | None,
    mode: Mode | str,
    resolver: Resolver,
    keys: KeyLookup,
    sign: bool = False,
    enc: str = "XC20P",
) -> dict[str, Any]:
    """Pack a DIDComm v2 plaintext (already validated) for ``to`` (DIDs or DID URLs)."""
    mode = _mode(mode)
    if enc not in ENCS:
        raise UnsupportedAlgorithm(f"unknown content encryption {enc!r}; use one of {ENCS}")
    payload = dumps_utf8(message if type(message) is dict else dict(message))
    if mode is Mode.PLAIN:
        return dict(message)
    if mode is Mode.SIGNED or sign:
        if frm is None:
            raise MalformedMessage("a signed message needs a sender ('from')")
        signer_kid, signer = await signing_key(frm, resolver, keys)
        signers = [(signer_kid, signer)]
        if len(payload) <= OFFLOAD_BYTES:
            signed = jws.sign_general(payload, signers, typ=SIGNED_TYP)
        else:
            signed = await asyncio.to_thread(jws.sign_general, payload, signers, typ=SIGNED_TYP)
        if mode is Mode.SIGNED:
            return signed
        payload = dumps_utf8(signed)
    if not to:
        raise MalformedMessage("an encrypted message needs at least one recipient")
    if mode is Mode.AUTHCRYPT:
        if frm is None:
            raise MalformedMessage("authcrypt needs a sender ('from')")
        sender, recipients = await authcrypt_keys(frm, to, resolver, keys)
        options: dict[str, Any] = {
            "enc": "A256CBC-HS512",
            "sender": sender,
            "typ": ENCRYPTED_TYP,
            "agreement_cache": _agreement_cache(keys),
        }
    else:
        recipients = await anon_recipients(to, resolver, keys)
        options = {"enc": enc, "typ": ENCRYPTED_TYP}
    if len(payload) <= OFFLOAD_BYTES:
        return jwe.encrypt(payload, recipients, **options)
    return await asyncio.to_thread(jwe.encrypt, payload, recipients, **options)


def _agreement_cache(keys: KeyLookup) -> AgreementCache | None:
    cache = getattr(keys, "agreement_cache", None)
    return cache if isinstance(cache, AgreementCache) else None


async def pack_v1(
    message: Mapping[str, Any],
    *,
    to: Sequence[str],
    frm: str | None,
    resolver: Resolver,
    keys: KeyLookup,
) -> dict[str, Any]:
    """Pack an Aries (v1) message in an RFC 0019 envelope, authcrypt when ``frm`` is given.

    Each party's key is its DID's first Ed25519 verification key, as Aries agents expect.
    """
    if not to:
        raise MalformedMessage("an encrypted message needs at least one recipient")
    recipients = []
    for r in to:
        public = first_ed25519_now(r, resolver)
        recipients.append(public if public is not None else await first_ed25519(r, resolver))
    sender = None
    if frm is not None:
        public = first_ed25519_now(frm, resolver) or await first_ed25519(frm, resolver)
        verkey = v1.verkey_of(public)
        sender = secret_now(verkey, keys)
        if sender is NOT_CACHED:
            sender = await keys.secret_for(verkey)
        if sender is None:
            raise KeyNotFound(f"this wallet holds no Ed25519 key of {frm}")
    payload = dumps_utf8(message if type(message) is dict else dict(message))
    cache = _agreement_cache(keys)
    if len(payload) <= OFFLOAD_BYTES:
        return v1.pack_envelope(payload, recipients, sender, agreement_cache=cache)
    return await asyncio.to_thread(
        v1.pack_envelope, payload, recipients, sender, agreement_cache=cache
    )


# -- unpacking --------------------------------------------------------------------------------


async def unpack(
    data: bytes | str | Mapping[str, Any],
    *,
    resolver: Resolver,
    keys: KeyLookup,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Unpacked:
    """Unpack any DIDComm message moi understands, checking every layer.

    Raises only :class:`~wallet.errors.MoiError` subclasses; nothing is stored or changed.
    """
    if not isinstance(data, (bytes, str)) and isinstance(data, Mapping):
        obj: dict[str, Any] = dict(data)
    else:
        try:
            # Anything but bytes or text goes to loads_object inline, which names the error.
            if not isinstance(data, (bytes, str)) or not OFFLOAD_BYTES < len(data) <= max_bytes:
                obj = loads_object(data, max_bytes=max_bytes, what="packed message")
            else:
                obj = await asyncio.to_thread(
                    loads_object, data, max_bytes=max_bytes, what="packed message"
                )
        except TooLargeError as err:
            raise MessageTooLarge(str(err)) from err
        except InputError as err:
            raise MalformedEnvelope(str(err)) from err
    state = _UnpackState()
    for depth in range(_MAX_LAYERS + 1):
        kind = _kind(obj)
        if kind == "plaintext":
            return _finish(obj, state)
        if depth == _MAX_LAYERS:
            break
        if type(kind) is v1.DecodedHeader:  # an RFC 0019 envelope, its header decoded
            if depth:
                raise MalformedEnvelope("a DIDComm v1 envelope cannot be nested in a v2 one")
            return await _unpack_v1(obj, kind, keys, max_bytes)
        if kind == "jwe":
            obj = await _decrypt_layer(obj, state, resolver, keys, max_bytes, outermost=depth == 0)
        elif kind == "jws":
            obj = await _verify_layer(obj, state, resolver, max_bytes)
    raise MalformedEnvelope(f"more than {_MAX_LAYERS} nested envelope layers")


class _UnpackState:
    """What the layers unpacked so far have shown; the class attributes are the start."""

    encrypted = False
    authenticated = False
    non_repudiation = False
    anonymous_sender = False
    sender_kid: str | None = None
    signer_kid: str | None = None
    recipient_kid: str | None = None
    #: the DIDs of the keys that decrypted, set by the first encrypted layer
    recipient_dids: set[str] | None = None
    signed_message: Mapping[str, Any] | None = None


def _kind(obj: Mapping[str, Any]) -> str | v1.DecodedHeader:
    """The kind of message: "plaintext", "jws", "jwe", or an RFC 0019 envelope's header."""
    if "ciphertext" in obj:
        if "protected" not in obj:
            raise MalformedEnvelope("an encrypted message needs a 'protected' header")
        if "recipients" in obj or "encrypted_key" in obj:
            # A JWE's recipients are outside its header; an RFC 0019 envelope has none there
            # (v1.parse refuses any), so its header need not be decoded to tell.
            return "jwe"
        header = v1.protected_header(obj)
        return "jwe" if header is None else header
    if "signatures" in obj or "payload" in obj:
        return "jws"
    if "@type" in obj or "@id" in obj:
        raise MalformedEnvelope("an Aries (v1) plaintext must arrive in an RFC 0019 envelope")
    if "id" in obj or "type" in obj or "body" in obj:
        return "plaintext"
    raise MalformedEnvelope("not a DIDComm message: neither plaintext, JWS nor JWE")


# didcomm-messaging 0.1.1 writes "application/didcomm+encrypted" on authcrypt.
_ENCRYPTED_TYPS = frozenset(
    (ENCRYPTED_TYP, "application/didcomm-encrypted", "application/didcomm+encrypted")
)


async def _decrypt_layer(
    obj: Mapping[str, Any],
    state: _UnpackState,
    resolver: Resolver,
    keys: KeyLookup,
    max_bytes: int,
    *,
    outermost: bool,
) -> dict[str, Any]:
    if state.non_repudiation:
        # A signed layer must be the innermost wrapper of the plaintext.
        raise MalformedEnvelope("an encrypted layer inside a signed one is not DIDComm")
    bulky = _bulky(obj.get("ciphertext"))
    parsed = await asyncio.to_thread(jwe.parse, obj) if bulky else jwe.parse(obj)
    typ = parsed.protected.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ not in _ENCRYPTED_TYPS):
        raise MalformedEnvelope(f"unexpected JWE typ {str(typ)[:60]!r}")
    for entry in parsed.recipients:
        kid = entry.kid
        secret = secret_now(kid, keys)
        if secret is NOT_CACHED:
            secret = await keys.secret_for(kid)
        if secret is not None:
            break
    else:
        raise NoRecipientKey("none of the message's recipients is a key of this wallet")
    sender_key = None
    skid = parsed.sender_kid
    if skid is None and parsed.is_authcrypt:
        raise MalformedEnvelope("an authcrypt message names no sender key ('skid' or 'apu')")
    if skid is not None:
        try:
            method = method_now(skid, resolver) or await resolver.resolve_method(skid)
        except ResolutionError as err:
            raise ResolutionError(f"cannot resolve the sender key: {err}") from err
        sender_key = method.public_key
    cache = _agreement_cache(keys)
    if bulky:
        opened = await asyncio.to_thread(
            _open_jwe, parsed, kid, secret, sender_key, cache, max_bytes
        )
    else:
        opened = _open_jwe(parsed, kid, secret, sender_key, cache, max_bytes)
    if state.recipient_kid is None:
        state.recipient_kid = kid
    if state.recipient_dids is None:
        state.recipient_dids = {did_of(kid)}
    else:
        state.recipient_dids.add(did_of(kid))
    state.encrypted = True
    if skid is not None:
        state.authenticated = True
        state.sender_kid = skid
    elif outermost:
        state.anonymous_sender = True
    return opened


def _bulky(value: Any) -> bool:
    """Whether an envelope's bulk (its ciphertext or payload) is worth a worker thread."""
    return type(value) is str and len(value) > OFFLOAD_BYTES


def _open_jwe(
    parsed: jwe.ParsedJWE,
    kid: str,
    secret: PrivateKey,
    sender_key: PublicKey | None,
    cache: AgreementCache | None,
    max_bytes: int,
) -> dict[str, Any]:
    plaintext = jwe.decrypt(parsed, kid, secret, sender_key, agreement_cache=cache)
    try:
        return loads_object(plaintext, max_bytes=max_bytes, what="decrypted payload")
    except InputError as err:
        raise MalformedEnvelope(str(err)) from err


async def _verify_layer(
    obj: Mapping[str, Any], state: _UnpackState, resolver: Resolver, max_bytes: int
) -> dict[str, Any]:
    bulky = _bulky(obj.get("payload"))
    parsed = await asyncio.to_thread(jws.parse_general, obj) if bulky else jws.parse_general(obj)
    if len(parsed.signatures) != 1:
        raise MalformedEnvelope("a DIDComm signed message carries exactly one signature")
    sig = parsed.signatures[0]
    if not sig.kid:
        raise MalformedEnvelope("the signature has no 'kid'")
    method = method_now(sig.kid, resolver) or await resolver.resolve_method(sig.kid)
    if bulky:
        valid = await asyncio.to_thread(jws.verify_signature, sig, method.public_key)
    else:
        valid = jws.verify_signature(sig, method.public_key)
    if not valid:
        raise SignatureError("the message signature does not verify")
    state.non_repudiation = True
    # `authenticated` stays for authcrypt alone: the CLI contract defines it so (issue 2),
    # and a signature is reported separately as non-repudiation.
    state.signer_kid = sig.kid
    state.signed_message = dict(obj)
    try:
        if bulky:
            return await asyncio.to_thread(
                loads_object, parsed.payload, max_bytes=max_bytes, what="signed payload"
            )
        return loads_object(parsed.payload, max_bytes=max_bytes, what="signed payload")
    except InputError as err:
        raise MalformedEnvelope(str(err)) from err


def _finish(obj: dict[str, Any], state: _UnpackState) -> Unpacked:
    frm, to = check_plaintext(obj)
    if state.authenticated and state.sender_kid is not None:
        if frm is None or did_of(state.sender_kid) != did_of(frm):
            raise SenderMismatch("the authcrypt sender is not the message's 'from'")
    if state.signer_kid is not None:
        if frm is None or did_of(state.signer_kid) != did_of(frm):
            raise SenderMismatch("the signer is not the message's 'from'")
    dids = state.recipient_dids
    if dids and to:
        for t in to:
            if did_of(t) in dids:
                break
        else:
            raise RecipientMismatch("the message was not addressed to this recipient")
    metadata = UnpackMetadata(
        "v2",
        state.encrypted,
        state.authenticated,
        state.non_repudiation,
        state.anonymous_sender,
        state.sender_kid or state.signer_kid,
        state.recipient_kid,
        state.signed_message,
    )
    return Unpacked(obj, metadata)


async def _unpack_v1(
    obj: Mapping[str, Any], header: v1.DecodedHeader, keys: KeyLookup, max_bytes: int
) -> Unpacked:
    bulky = _bulky(obj.get("ciphertext"))
    if bulky:
        parsed = await asyncio.to_thread(v1.parse, obj, decoded=header)
    else:
        parsed = v1.parse(obj, decoded=header)
    for entry in parsed.recipients:
        verkey = entry.kid
        secret = secret_now(verkey, keys)
        if secret is NOT_CACHED:
            secret = await keys.secret_for(verkey)
        if secret is not None:
            break
    else:
        raise NoRecipientKey("none of the message's recipients is a key of this wallet")
    cache = _agreement_cache(keys)
    if bulky:
        opened, message = await asyncio.to_thread(_open_v1, parsed, secret, cache, max_bytes)
    else:
        opened, message = _open_v1(parsed, secret, cache, max_bytes)
    for name in ("@id", "@type"):
        value = message.get(name)
        if not isinstance(value, str) or not value:
            raise MalformedMessage(f"the Aries message has no '{name}'")
    sender = opened.sender_verkey
    metadata = UnpackMetadata(
        "v1", True, sender is not None, False, sender is None, sender, opened.recipient_verkey
    )
    return Unpacked(message, metadata)


def _open_v1(
    parsed: v1.ParsedV1, secret: PrivateKey, cache: AgreementCache | None, max_bytes: int
) -> tuple[v1.UnpackedV1, dict[str, Any]]:
    opened = v1.decrypt(parsed, secret, agreement_cache=cache)
    try:
        message = loads_object(opened.plaintext, max_bytes=max_bytes, what="v1 plaintext")
    except InputError as err:
        raise MalformedMessage(str(err)) from err
    return opened, message
