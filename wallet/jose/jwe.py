"""DIDComm v2 encrypted envelopes: JWE in the General JSON serialization, one ephemeral key
shared by every recipient.

- anoncrypt: ``ECDH-ES+A256KW`` with ``XC20P``, ``A256GCM`` or ``A256CBC-HS512``;
- authcrypt: ``ECDH-1PU+A256KW`` with ``A256CBC-HS512`` only (the draft's key-wrap mode
  needs the content tag for the KDF, and CBC-HMAC commits to its key where GCM and
  Poly1305 do not, so one recipient cannot forge a message to the others).

Reading also accepts the ``+A128KW`` variants, which the ECDH-1PU draft's examples use, and
an ``epk`` per recipient (in each recipient's header) instead of one shared: RFC 7516 allows
it, and didcomm-messaging's anoncrypt writes it so.
The functions are pure: keys come in as arguments, nothing is fetched or stored.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence, Set
from functools import lru_cache
from hashlib import sha256
from types import MappingProxyType
from typing import Any, NamedTuple

from nacl.bindings import crypto_scalarmult_base

from ..encoding import DEFAULT_MAX_BYTES
from ..errors import (
    DecryptionError,
    EnvelopeError,
    KeyFormatError,
    MalformedEnvelope,
    NoRecipientKey,
    UnsupportedAlgorithm,
)
from ..keys import KeyType, PrivateKey, PublicKey
from ._util import (
    b64d,
    b64d_repeated,
    b64e,
    b64e_bytes,
    decode_header,
    dumps_header,
    short,
)
from .content import CONTENT_ALGS, ContentAlg, unwrap_key, wrap_key
from .ecdh import AGREEMENT_TYPES, AgreementCache, Ephemeral, agree, fixed_info, x25519

__all__ = [
    "ANONCRYPT_ALG",
    "AUTHCRYPT_ALG",
    "DIDCOMM_ENCRYPTED_TYP",
    "InvalidEphemeralKey",
    "JWERecipient",
    "ParsedJWE",
    "RecipientError",
    "SenderKeyError",
    "decrypt",
    "encrypt",
    "kids_digest",
    "parse",
]

DIDCOMM_ENCRYPTED_TYP = "application/didcomm-encrypted+json"
ANONCRYPT_ALG = "ECDH-ES+A256KW"
AUTHCRYPT_ALG = "ECDH-1PU+A256KW"

#: Key-wrap key size in bytes, by ``alg``.
_KW_BYTES = {
    "ECDH-ES+A256KW": 32,
    "ECDH-ES+A128KW": 16,
    "ECDH-1PU+A256KW": 32,
    "ECDH-1PU+A128KW": 16,
}
_AUTHCRYPT_ENC = "A256CBC-HS512"
# Headers that change how a JWE must be read (compression, critical extensions); moi
# implements neither, so it refuses them rather than misread the message.
_REFUSED_HEADERS = ("zip", "crit")

MAX_RECIPIENTS = 100
MAX_KID_CHARS = 8192


class InvalidEphemeralKey(MalformedEnvelope):
    """The envelope's ``epk`` is not a usable point (off the curve, low order, wrong curve)."""


class RecipientError(EnvelopeError, ValueError):
    """The recipients given to :func:`encrypt` are empty, too many, or repeat a kid."""


class SenderKeyError(EnvelopeError):
    """The sender key given does not fit the envelope: missing for authcrypt, given for
    anoncrypt (which has no sender), or on another curve."""


def _static_agree(cache: AgreementCache | None, ours: PrivateKey, theirs: PublicKey) -> bytes:
    return agree(ours, theirs) if cache is None else cache.agree(ours, theirs)


def kids_digest(kids: Sequence[str]) -> bytes:
    """DIDComm's ``apv`` input: SHA-256 of the recipients' kids, sorted, joined with '.'."""
    return hashlib.sha256(".".join(sorted(kids)).encode("utf-8")).digest()


@lru_cache(maxsize=256)
def _kids_digest_of(kids: tuple[str, ...]) -> bytes:
    return kids_digest(kids)


def _recipients_digest(recipients: Sequence[JWERecipient]) -> bytes:
    """:func:`kids_digest` of a parsed JWE's recipients; the same few sets of kids arrive
    again and again, so a bounded number of short ones are remembered (kids are public)."""
    kids = tuple([r.kid for r in recipients])
    if len(kids) > 8 or sum(map(len, kids)) > _TEMPLATE_KIDS_CHARS:
        return kids_digest(kids)
    return _kids_digest_of(kids)


# -- encrypt ----------------------------------------------------------------------------------

_ONE = b"\x00\x00\x00\x01"  # the Concat KDF's first (and, for a 256-bit KEK, only) counter
_X25519_EPK = b'{"kty":"OKP","crv":"X25519","x":"'
# Headers above this many characters of kids are built afresh rather than remembered.
_TEMPLATE_KIDS_CHARS = 4096


@lru_cache(maxsize=256)
def _template(
    typ: str | None, skid: str | None, enc: str, kids: tuple[str, ...], x25519: bool
) -> tuple[bytes, bytes, bytes]:
    """What the parties alone fix in an envelope: the protected header's JSON up to the
    ephemeral key's value (``{...,"epk":``, and for X25519 the JWK up to its ``x``), split
    into a base64url-encoded head and a raw tail, and the KDF's FixedInfo up to the tag.

    All are public and the same for every message from one sender to one set of keys, which
    is what an agent sends again and again, so they are built once. The head is the longest
    part that is whole 3-byte groups, whose base64 is therefore the start of the whole
    header's: with a long ``skid`` and its ``apu`` (a did:peer:2 with services runs to 800
    bytes), only the last few bytes and the epk are encoded per message.
    """
    header: dict[str, Any] = {"typ": typ} if typ is not None else {}
    if skid is None:
        alg, apu = ANONCRYPT_ALG, b""
    else:
        alg, apu = AUTHCRYPT_ALG, skid.encode("utf-8")
        header["skid"] = skid
        header["apu"] = b64e(apu)
    apv = kids_digest(kids)
    header.update(alg=alg, enc=enc, apv=b64e(apv))
    prefix = dumps_header(header)[:-1] + (b',"epk":' + _X25519_EPK if x25519 else b',"epk":')
    cut = len(prefix) - len(prefix) % 3
    return b64e_bytes(prefix[:cut]), prefix[cut:], fixed_info(alg, apu, apv, 256)


def encrypt(
    plaintext: bytes,
    recipients: Sequence[tuple[str, PublicKey]],
    *,
    enc: str,
    sender: tuple[str, PrivateKey] | None = None,
    typ: str | None = DIDCOMM_ENCRYPTED_TYP,
    agreement_cache: AgreementCache | None = None,
) -> dict[str, Any]:
    """Encrypt ``plaintext`` to every ``(kid, key)`` recipient; return the JWE as a dict.

    With ``sender`` (its kid and static key) the envelope is authcrypt (ECDH-1PU+A256KW,
    ``enc`` must be A256CBC-HS512); without, anoncrypt (ECDH-ES+A256KW). Every recipient
    and the sender must be on one curve: X25519, P-256, P-384 or P-521.

    ``agreement_cache``, owned by whoever holds the sender's key, saves the sender-recipient
    ECDH on later messages between the same keys (see :class:`AgreementCache`).
    """
    content = CONTENT_ALGS.get(enc)
    if content is None:
        raise UnsupportedAlgorithm(f"unsupported JWE enc {short(enc)}")
    if not recipients:
        raise RecipientError("a JWE needs at least one recipient")
    if len(recipients) > MAX_RECIPIENTS:
        raise RecipientError(f"a JWE may have at most {MAX_RECIPIENTS} recipients")
    kids = tuple([kid for kid, _ in recipients])
    if len(kids) > 1 and len(set(kids)) != len(kids):
        raise RecipientError("recipient kids must be unique")
    kty = recipients[0][1].type
    if kty not in AGREEMENT_TYPES:
        raise UnsupportedAlgorithm(f"no JWE key agreement on {kty}")
    for _, key in recipients:
        if key.type is not kty:
            raise KeyFormatError("all recipients of one JWE must be on one curve")

    skid = sender_key = None
    if sender is not None:
        if enc != _AUTHCRYPT_ENC:
            raise UnsupportedAlgorithm(f"authcrypt needs enc {_AUTHCRYPT_ENC}, not {enc}")
        skid, sender_key = sender
        if sender_key.type is not kty:
            raise SenderKeyError(f"the sender key is {sender_key.type}, the recipients {kty}")
    x25519_epk = kty is KeyType.X25519
    if sum(map(len, kids)) <= _TEMPLATE_KIDS_CHARS:
        head, tail, info = _template(typ, skid, enc, kids, x25519_epk)
    else:
        head, tail, info = _template.__wrapped__(typ, skid, enc, kids, x25519_epk)

    ephemeral = None
    if x25519_epk:
        # The common case, on raw bytes: a fresh scalar and its public point (the template
        # ends with the JWK's opening, up to the value of its "x").
        e_secret = os.urandom(32)
        epk = b64e_bytes(crypto_scalarmult_base(e_secret)) + b'"}'
    else:
        ephemeral = Ephemeral(kty)
        epk = dumps_header(ephemeral.jwk())
    protected = head + b64e_bytes(b"".join((tail, epk, b"}")))

    cek, iv = os.urandom(content.key_size), os.urandom(content.iv_size)
    ciphertext, tag = content.encrypt(cek, iv, plaintext, protected)

    # One FixedInfo serves every recipient: alg, apu, apv and the tag are shared.
    if sender_key is not None:
        info = b"".join((info, len(tag).to_bytes(4, "big"), tag))
    entries = []
    for kid, key in recipients:
        z = x25519(e_secret, key.raw) if ephemeral is None else ephemeral.agree(key)
        if sender_key is not None:
            z += _static_agree(agreement_cache, sender_key, key)
        kek = sha256(b"".join((_ONE, z, info))).digest()
        entries.append({"header": {"kid": kid}, "encrypted_key": b64e(wrap_key(kek, cek))})
    return {
        "protected": protected.decode("ascii"),
        "recipients": entries,
        "iv": b64e(iv),
        "ciphertext": b64e(ciphertext),
        "tag": b64e(tag),
    }


# -- parse ------------------------------------------------------------------------------------


class JWERecipient(NamedTuple):
    """One recipient of a parsed JWE (a named tuple: immutable, and cheap to build for
    every message)."""

    kid: str
    encrypted_key: bytes
    #: This recipient's own ephemeral key, when the envelope has no shared one.
    epk: PublicKey | None = None

    def __repr__(self) -> str:
        return f"JWERecipient(kid={self.kid!r}, epk={self.epk!r})"


_NO_HEADERS: Mapping[str, Any] = MappingProxyType({})


class ParsedJWE(NamedTuple):
    """A structurally valid JWE, decoded but not decrypted (a named tuple: immutable, and
    cheap to build for every message)."""

    alg: str
    enc: str
    protected: dict[str, Any]
    #: The ephemeral key all recipients share; None when each recipient has its own.
    epk: PublicKey | None
    skid: str | None
    apu: bytes | None
    apv: bytes | None
    recipients: tuple[JWERecipient, ...]
    iv: bytes
    ciphertext: bytes
    tag: bytes
    aad: bytes
    unprotected: Mapping[str, Any] = _NO_HEADERS

    def __repr__(self) -> str:
        return (
            f"ParsedJWE(alg={self.alg!r}, enc={self.enc!r}, epk={self.epk!r}, "
            f"skid={self.skid!r}, recipients={self.recipients!r})"
        )

    @property
    def recipient_kids(self) -> list[str]:
        return [r.kid for r in self.recipients]

    @property
    def is_authcrypt(self) -> bool:
        return self.alg.startswith("ECDH-1PU")

    @property
    def sender_kid(self) -> str | None:
        """``skid``, or for senders that only set ``apu``, the kid it encodes."""
        if self.skid is not None or self.apu is None or not self.alg.startswith("ECDH-1PU"):
            return self.skid
        try:
            return self.apu.decode("utf-8")
        except UnicodeDecodeError:
            return None


_ABSENT: Any = object()


def parse(jwe: Mapping[str, Any], *, max_bytes: int = DEFAULT_MAX_BYTES) -> ParsedJWE:
    """Check a JWE's structure and headers and decode its parts.

    Raises :class:`MalformedEnvelope` (or :class:`InvalidEphemeralKey`) for anything
    malformed and :class:`UnsupportedAlgorithm` for an ``alg``/``enc`` moi does not read.
    """
    if type(jwe) is not dict and not isinstance(jwe, Mapping):
        raise MalformedEnvelope("a JWE must be a JSON object")
    protected_b64 = jwe.get("protected")
    protected = decode_header(protected_b64, "JWE protected header")
    unprotected = jwe.get("unprotected", _ABSENT)
    if unprotected is _ABSENT:
        unprotected = {}
    elif not isinstance(unprotected, dict):
        raise MalformedEnvelope("the JWE 'unprotected' header must be an object")

    get = protected.get
    alg, enc = get("alg"), get("enc")
    if not isinstance(alg, str) or not isinstance(enc, str):
        raise MalformedEnvelope("the JWE protected header needs string 'alg' and 'enc'")
    if alg not in _KW_BYTES:
        raise UnsupportedAlgorithm(f"unsupported JWE alg {short(alg)}")
    content = CONTENT_ALGS.get(enc)
    if content is None:
        raise UnsupportedAlgorithm(f"unsupported JWE enc {short(enc)}")
    if enc != _AUTHCRYPT_ENC and alg.startswith("ECDH-1PU"):
        raise UnsupportedAlgorithm(f"ECDH-1PU needs enc {_AUTHCRYPT_ENC}, not {enc}")
    if (
        "zip" in protected
        or "crit" in protected
        or (unprotected and ("zip" in unprotected or "crit" in unprotected))
    ):
        name = next(n for n in _REFUSED_HEADERS if n in protected or n in unprotected)
        raise UnsupportedAlgorithm(f"the JWE header {name!r} is not supported")

    shared_epk = get("epk") if "epk" in protected else unprotected.get("epk")
    epk = None if shared_epk is None else _parse_epk(shared_epk)
    skid = get("skid")
    if skid is not None:
        _check_kid(skid, "the JWE 'skid'")
    apu = _b64d_apu(protected["apu"]) if "apu" in protected else None
    apv = b64d(protected["apv"], "JWE apv") if "apv" in protected else None

    if unprotected:
        recipients = _parse_recipients(
            jwe, protected.keys() | unprotected.keys(), content, alg, need_epk=epk is None
        )
        if protected.keys() & unprotected.keys():
            raise MalformedEnvelope("JWE protected and unprotected headers must not share names")
    else:
        recipients = _parse_recipients(jwe, protected.keys(), content, alg, need_epk=epk is None)

    iv = b64d(jwe.get("iv"), "JWE iv")
    if len(iv) != content.iv_size:
        raise MalformedEnvelope(f"{enc} needs a {content.iv_size}-byte iv, got {len(iv)}")
    tag = b64d(jwe.get("tag"), "JWE tag")
    if len(tag) != content.tag_size:
        raise MalformedEnvelope(f"{enc} needs a {content.tag_size}-byte tag, got {len(tag)}")
    ciphertext_b64 = jwe.get("ciphertext")
    if isinstance(ciphertext_b64, str) and len(ciphertext_b64) > max_bytes:
        raise MalformedEnvelope(f"the JWE ciphertext is over the limit of {max_bytes} bytes")
    ciphertext = b64d(ciphertext_b64, "JWE ciphertext")

    aad = protected_b64.encode("ascii")
    if "aad" in jwe:
        # RFC 7516 §5.1: the JSON "aad" member is authenticated after the header.
        b64d(jwe["aad"], "JWE aad")
        aad += b"." + jwe["aad"].encode("ascii")
    return ParsedJWE(
        alg, enc, protected, epk, skid, apu, apv, recipients, iv, ciphertext, tag, aad, unprotected
    )


def _b64d_apu(value: Any) -> bytes:
    # apu names the sender, the same in every message it sends: remembered when short.
    if type(value) is str and len(value) <= _APU_REMEMBERED_CHARS:
        return b64d_repeated(value, "JWE apu")
    return b64d(value, "JWE apu")


_APU_REMEMBERED_CHARS = 1024


def _parse_epk(value: Any) -> PublicKey:
    if not isinstance(value, dict):
        raise MalformedEnvelope("the JWE 'epk' must be a JWK object")
    if "d" in value:
        raise InvalidEphemeralKey("the JWE 'epk' must not carry a private key")
    if value.get("crv") == "X25519" and value.get("kty") == "OKP":
        # The common DIDComm case, without the generic JWK decoder's detours.
        x = b64d(value.get("x"), "the JWE 'epk' x")
        if len(x) != 32:
            raise InvalidEphemeralKey("the JWE 'epk' is not a 32-byte X25519 key")
        return PublicKey.x25519(x)
    try:
        epk = PublicKey.from_jwk(value)
    except KeyFormatError as err:
        raise InvalidEphemeralKey(f"the JWE 'epk' is not a usable key: {err}") from None
    if epk.type not in AGREEMENT_TYPES:
        raise UnsupportedAlgorithm(f"no JWE key agreement on {epk.type}")
    return epk


def _parse_recipients(
    jwe: Mapping[str, Any],
    shared_names: Set[str],
    content: ContentAlg,
    alg: str,
    *,
    need_epk: bool,
) -> tuple[JWERecipient, ...]:
    if "recipients" in jwe:
        if "encrypted_key" in jwe or "header" in jwe:
            raise MalformedEnvelope("a JWE cannot be both general and flattened")
        entries = jwe["recipients"]
        if not isinstance(entries, list) or not entries:
            raise MalformedEnvelope("JWE 'recipients' must be a non-empty list")
        if len(entries) > MAX_RECIPIENTS:
            raise MalformedEnvelope(f"a JWE may have at most {MAX_RECIPIENTS} recipients")
    elif "encrypted_key" in jwe:
        entries = [{k: jwe[k] for k in ("header", "encrypted_key") if k in jwe}]
    else:
        raise MalformedEnvelope("the JWE has neither 'recipients' nor 'encrypted_key'")

    wrapped_size = content.key_size + 8
    out: list[JWERecipient] = []
    seen: set[str] = set()
    for entry in entries:
        if not isinstance(entry, dict):
            raise MalformedEnvelope("each JWE recipient must be an object")
        header = entry.get("header")
        if not isinstance(header, dict):
            raise MalformedEnvelope("each JWE recipient needs a 'header' object")
        if not shared_names.isdisjoint(header):
            raise MalformedEnvelope("a JWE recipient header repeats a shared header name")
        kid = header.get("kid")
        _check_kid(kid, "a JWE recipient 'kid'")
        if kid in seen:
            raise MalformedEnvelope("JWE recipient kids must be unique")
        seen.add(kid)
        encrypted_key = b64d(entry.get("encrypted_key"), "JWE encrypted_key")
        if len(encrypted_key) != wrapped_size:
            raise MalformedEnvelope(
                f"{alg} wraps a {content.key_size}-byte key into {wrapped_size} bytes, "
                f"got {len(encrypted_key)}"
            )
        own_epk = header.get("epk")
        if own_epk is None:
            if need_epk:
                raise MalformedEnvelope("the JWE has no 'epk', shared or for each recipient")
            out.append(JWERecipient(kid, encrypted_key))
        else:
            out.append(JWERecipient(kid, encrypted_key, _parse_epk(own_epk)))
    return tuple(out)


def _check_kid(kid: Any, what: str) -> None:
    if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_CHARS:
        raise MalformedEnvelope(f"{what} must be a string of 1 to {MAX_KID_CHARS} characters")
    if not kid.isascii():
        try:
            # JSON escapes can smuggle lone surrogates, which cannot be hashed into apv.
            kid.encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedEnvelope(f"{what} is not valid Unicode") from None


# -- decrypt ----------------------------------------------------------------------------------


def decrypt(
    parsed: ParsedJWE,
    recipient_kid: str,
    recipient_key: PrivateKey,
    sender_key: PublicKey | None = None,
    *,
    didcomm: bool = True,
    agreement_cache: AgreementCache | None = None,
) -> bytes:
    """Decrypt ``parsed`` as the recipient ``recipient_kid`` holding ``recipient_key``.

    ``sender_key`` (the static key named by ``skid``) is required for authcrypt and refused
    for anoncrypt. With ``didcomm`` (the default), ``apv`` must be the digest of the
    recipients' kids and ``apu`` must encode ``skid``, whenever they are present; turn it
    off only for JWEs from other JOSE profiles. ``agreement_cache``, owned by whoever holds
    ``recipient_key``, saves the recipient-sender ECDH on later messages.
    """
    for entry in parsed.recipients:
        if entry.kid == recipient_kid:
            break
    else:
        raise NoRecipientKey("the JWE has no recipient with the given kid")
    epk = entry.epk or parsed.epk
    if epk is None:  # parse() guarantees one or the other; a hand-built ParsedJWE may not
        raise MalformedEnvelope("the JWE has no 'epk' for this recipient")
    kty = epk.type
    if recipient_key.type is not kty:
        raise DecryptionError(f"the recipient key is {recipient_key.type}, the epk {kty}")
    alg = parsed.alg
    authcrypt = alg.startswith("ECDH-1PU")
    if authcrypt:
        if sender_key is None:
            raise SenderKeyError("authcrypt (ECDH-1PU) needs the sender's public key")
        if sender_key.type is not kty:
            raise SenderKeyError(f"the sender key is {sender_key.type}, the epk {kty}")
    elif sender_key is not None:
        raise SenderKeyError("anoncrypt (ECDH-ES) has no sender key to check")
    apu, apv = parsed.apu, parsed.apv
    if didcomm:
        if apv is not None and apv != _recipients_digest(parsed.recipients):
            raise MalformedEnvelope("the JWE 'apv' does not match its recipients' kids")
        skid = parsed.skid
        if apu is not None and skid is not None and apu != skid.encode("utf-8"):
            raise MalformedEnvelope("the JWE 'apu' does not match its 'skid'")

    try:
        if kty is KeyType.X25519:
            z = x25519(recipient_key.secret, epk.raw)
        else:
            z = agree(recipient_key, epk)
    except KeyFormatError as err:
        raise InvalidEphemeralKey(f"the JWE 'epk' is not usable: {err}") from None
    kw = _KW_BYTES[alg]
    apu, apv = apu or b"", apv or b""
    # FixedInfo (see fixed_info), built in one join.
    parts = [_ALG_INFO[alg], len(apu).to_bytes(4, "big"), apu, len(apv).to_bytes(4, "big"), apv]
    parts.append(_KEY_BITS[kw])
    if sender_key is not None:
        try:
            z += _static_agree(agreement_cache, recipient_key, sender_key)
        except KeyFormatError as err:
            raise SenderKeyError(f"the sender key is not usable: {err}") from None
        tag = parsed.tag
        parts += (len(tag).to_bytes(4, "big"), tag)
    # Concat KDF: one SHA-256 block covers a 128- or 256-bit key-wrap key.
    kek = sha256(b"".join((_ONE, z, *parts))).digest()[:kw]
    cek = unwrap_key(kek, entry.encrypted_key)
    content = CONTENT_ALGS[parsed.enc]
    if len(cek) != content.key_size:
        raise DecryptionError("key unwrap failed")
    return content.decrypt(cek, parsed.iv, parsed.ciphertext, parsed.tag, parsed.aad)


# AlgorithmID and SuppPubInfo of the Concat KDF, by alg and by key-wrap key size.
_ALG_INFO = {alg: len(alg).to_bytes(4, "big") + alg.encode("ascii") for alg in _KW_BYTES}
_KEY_BITS = {kw: (kw * 8).to_bytes(4, "big") for kw in set(_KW_BYTES.values())}
