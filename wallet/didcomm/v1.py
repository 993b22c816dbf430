"""The DIDComm v1 encryption envelope of Aries RFC 0019 (``pack``/``unpack`` of Aries agents).

An envelope is a JSON object ``{"protected", "iv", "ciphertext", "tag"}``. ``protected`` is the
base64url of a header naming the mode (``alg``: ``Authcrypt`` or ``Anoncrypt``) and, for each
recipient (a base58 Ed25519 verkey in ``kid``), the content key wrapped for it:

- anoncrypt: ``encrypted_key`` = sealed box (``crypto_box_seal``) of the content key;
- authcrypt: ``encrypted_key`` = ``crypto_box`` from the sender's key (Ed25519 converted to
  X25519) to the recipient's, under a 24-byte ``iv``; ``sender`` = a sealed box of the
  sender's base58 verkey, so that only recipients learn who sent the message.

The content is encrypted once with that key; the protected string is the associated data.

Authcrypt authenticates the sender to each recipient against outsiders only: every recipient of
a multi-recipient message knows the content key and could re-encrypt new content under the same
header for the others. That is a property of RFC 0019, not of this implementation.

Who raises :class:`~wallet.errors.NoRecipientKey`: :func:`parse` exposes the recipients'
verkeys; the caller looks them up in its wallet and raises ``NoRecipientKey`` when it holds
none of them (``wallet.didcomm.packing`` does). :func:`decrypt` raises it too, when handed a
key that is not among the recipients.

Everything here is pure: no I/O, no clock; randomness only for keys and nonces in :func:`pack`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, NamedTuple

import nacl.bindings as sodium
import nacl.exceptions

from ..encoding import DEFAULT_MAX_BYTES, dumps_compact, loads_object
from ..errors import (
    DecryptionError,
    InputError,
    KeyFormatError,
    MalformedEnvelope,
    NoRecipientKey,
    UnsupportedAlgorithm,
    UnsupportedKeyType,
)
from ..jose.ecdh import AgreementCache
from ..keys import KeyType, PrivateKey, PublicKey
from .v1_codec import EnvelopeTooLarge
from .v1_codec import b58encode as _b58encode
from .v1_codec import b64_any as _b64
from .v1_codec import b64e as _b64e
from .v1_codec import verkey_raw as _verkey_raw
from .v1_codec import x25519_public as _x25519_public

__all__ = [
    "ENC",
    "MAX_RECIPIENTS",
    "TYP",
    "DecodedHeader",
    "EnvelopeTooLarge",
    "ParsedV1",
    "UnpackedV1",
    "V1Alg",
    "V1Recipient",
    "decrypt",
    "looks_like_v1",
    "pack",
    "pack_envelope",
    "parse",
    "protected_header",
    "unpack",
    "verkey_of",
]

#: What every v1 agent writes in ``enc``, although none of them uses XChaCha20 (see ``pack``).
ENC = "xchacha20poly1305_ietf"
TYP = "JWM/1.0"
MAX_RECIPIENTS = 100

# A recipient entry is at most ~450 characters of JSON even with padded base64 and spaces
# (80-byte sealed key, 44-char kid, 92-byte sealed sender, 24-byte iv); 100 of them, in
# base64, stay well under this.
MAX_PROTECTED_CHARS = 96 * 1024

_KEY_BYTES = sodium.crypto_aead_chacha20poly1305_ietf_KEYBYTES  # 32
_CONTENT_NONCE_BYTES = sodium.crypto_aead_chacha20poly1305_ietf_NPUBBYTES  # 12
_TAG_BYTES = sodium.crypto_aead_chacha20poly1305_ietf_ABYTES  # 16
_BOX_NONCE_BYTES = sodium.crypto_box_NONCEBYTES  # 24
_BOX_OVERHEAD = sodium.crypto_box_ZEROBYTES - sodium.crypto_box_BOXZEROBYTES  # 16
_SEAL_OVERHEAD = sodium.crypto_box_SEALBYTES  # 48
_AUTH_KEY_BYTES = _KEY_BYTES + _BOX_OVERHEAD
_ANON_KEY_BYTES = _KEY_BYTES + _SEAL_OVERHEAD
# A base58 verkey of 32 bytes is 32 to 44 characters.
_SENDER_MIN = _SEAL_OVERHEAD + 32
_SENDER_MAX = _SEAL_OVERHEAD + 44
_TOP_LEVEL = frozenset({"protected", "iv", "ciphertext", "tag"})


class V1Alg(StrEnum):
    """The two RFC 0019 modes, spelled as every deployed agent writes and checks them."""

    AUTHCRYPT = "Authcrypt"
    ANONCRYPT = "Anoncrypt"


class V1Recipient(NamedTuple):
    """One entry of the protected ``recipients``; ``sender``/``iv`` are set for authcrypt."""

    kid: str
    encrypted_key: bytes
    sender: bytes | None = None
    iv: bytes | None = None


class ParsedV1(NamedTuple):
    """A structurally valid v1 envelope, not yet decrypted.

    ``protected`` is kept exactly as received: it is the associated data of the content.
    (Named tuples, like the other per-message results here: immutable, and cheap to build.)
    """

    alg: V1Alg
    recipients: tuple[V1Recipient, ...]
    protected: str
    iv: bytes
    ciphertext: bytes
    tag: bytes

    @property
    def recipient_verkeys(self) -> tuple[str, ...]:
        """The recipients' base58 Ed25519 verkeys, in envelope order."""
        return tuple(r.kid for r in self.recipients)

    @property
    def is_authcrypt(self) -> bool:
        return self.alg is V1Alg.AUTHCRYPT


class UnpackedV1(NamedTuple):
    """A decrypted v1 message. ``sender_verkey`` is None for anoncrypt."""

    plaintext: bytes
    recipient_verkey: str
    sender_verkey: str | None


# -- pack ---------------------------------------------------------------------------------------


def pack(
    message: bytes,
    recipients: Sequence[PublicKey],
    sender: PrivateKey | None = None,
    *,
    agreement_cache: AgreementCache | None = None,
) -> bytes:
    """Encrypt ``message`` for ``recipients`` (Ed25519 verkeys): authcrypt if ``sender`` is given.

    Returns the envelope as compact UTF-8 JSON. Binary fields are unpadded base64url.
    ``agreement_cache``, owned by whoever holds the sender's key, keeps the per-pair box key
    of authcrypt for later messages between the same keys (see :class:`AgreementCache`).
    """
    protected, iv, ciphertext, tag = _seal(message, recipients, sender, agreement_cache)
    # Every value is base64url, which JSON needs no escaping for: format it directly.
    return (
        f'{{"protected":"{protected}","iv":"{iv}","ciphertext":"{ciphertext}","tag":"{tag}"}}'
    ).encode("ascii")


def pack_envelope(
    message: bytes,
    recipients: Sequence[PublicKey],
    sender: PrivateKey | None = None,
    *,
    agreement_cache: AgreementCache | None = None,
) -> dict[str, str]:
    """:func:`pack`, returning the envelope as the JSON object it is (for a caller that sends
    objects, so nothing is serialised only to be parsed again)."""
    protected, iv, ciphertext, tag = _seal(message, recipients, sender, agreement_cache)
    return {"protected": protected, "iv": iv, "ciphertext": ciphertext, "tag": tag}


def _seal(
    message: bytes,
    recipients: Sequence[PublicKey],
    sender: PrivateKey | None,
    agreement_cache: AgreementCache | None,
) -> tuple[str, str, str, str]:
    if not isinstance(message, (bytes, bytearray, memoryview)):
        raise InputError("the message to pack must be bytes")
    if isinstance(recipients, (str, bytes)) or not recipients:
        raise InputError("pack needs at least one recipient key")
    if len(recipients) > MAX_RECIPIENTS:
        raise InputError(f"at most {MAX_RECIPIENTS} recipients per v1 envelope")
    if sender is not None and (
        not isinstance(sender, PrivateKey) or sender.type is not KeyType.ED25519
    ):
        raise UnsupportedKeyType("a v1 sender key must be an Ed25519 private key")

    cek = os.urandom(_KEY_BYTES)
    sender_sk = sender_verkey = b""
    if sender is not None:
        sender_sk = sender.x25519_secret
        sender_verkey = _b58encode(sender.public.raw).encode("ascii")
    entries: list[dict[str, Any]] = []
    seen: set[bytes] = set()
    for recipient in recipients:
        if not isinstance(recipient, PublicKey) or recipient.type is not KeyType.ED25519:
            raise UnsupportedKeyType("v1 recipient keys must be Ed25519 public keys")
        if recipient.raw in seen:
            raise InputError("a recipient key is listed twice")
        seen.add(recipient.raw)
        target = _x25519_public(recipient.raw)
        header: dict[str, str] = {"kid": _b58encode(recipient.raw)}
        try:
            if sender is None:
                wrapped = sodium.crypto_box_seal(cek, target)
            else:
                nonce = os.urandom(_BOX_NONCE_BYTES)
                if agreement_cache is None:
                    wrapped = sodium.crypto_box(cek, nonce, target, sender_sk)
                else:
                    # crypto_box is beforenm then afternm; the first is the same every time.
                    box_key = agreement_cache.box_key(sender_sk, target)
                    wrapped = sodium.crypto_box_afternm(cek, nonce, box_key)
                header["sender"] = _b64e(sodium.crypto_box_seal(sender_verkey, target))
                header["iv"] = _b64e(nonce)
        except (nacl.exceptions.CryptoError, RuntimeError) as err:
            raise KeyFormatError("a recipient key is unusable (low-order point)") from err
        entries.append({"encrypted_key": _b64e(wrapped), "header": header})

    protected = _b64e(
        dumps_compact(
            {
                "enc": ENC,
                "typ": TYP,
                "alg": _ANONCRYPT if sender is None else _AUTHCRYPT,
                "recipients": entries,
            }
        ).encode("ascii")
    )
    # The header says xchacha20poly1305_ietf, but ACA-Py, Credo, aries-staticagent and
    # didcomm-messaging's legacy module all encrypt with ChaCha20-Poly1305 IETF and a 12-byte
    # nonce, as the RFC's own algorithm steps do (crypto_aead_chacha20poly1305_ietf). A real
    # XChaCha20 envelope would be unreadable by every agent in the field, so moi writes and
    # reads what they do, and refuses any other nonce length.
    nonce = os.urandom(_CONTENT_NONCE_BYTES)
    sealed = sodium.crypto_aead_chacha20poly1305_ietf_encrypt(
        bytes(message), protected.encode("ascii"), nonce, cek
    )
    return protected, _b64e(nonce), _b64e(sealed[:-_TAG_BYTES]), _b64e(sealed[-_TAG_BYTES:])


_ANONCRYPT, _AUTHCRYPT = V1Alg.ANONCRYPT.value, V1Alg.AUTHCRYPT.value
_ALGS = {alg.value: alg for alg in V1Alg}
_ALG_NAMES = tuple(_ALGS)  # a tuple: a header's alg may be any JSON value, even unhashable


# -- parse --------------------------------------------------------------------------------------


def _decode_protected(text: Any) -> dict[str, Any]:
    raw = _b64(text, "the protected header", max_chars=MAX_PROTECTED_CHARS)
    try:
        return loads_object(raw, max_bytes=MAX_PROTECTED_CHARS, what="the protected header")
    except InputError as err:
        raise MalformedEnvelope(str(err)) from err


def looks_like_v1(obj: Mapping[str, Any]) -> bool:
    """True if ``obj`` is meant as an RFC 0019 envelope rather than a DIDComm v2 JWE.

    Decided by the protected header, never by guesses: a v1 header names ``alg`` Authcrypt or
    Anoncrypt, ``enc`` xchacha20poly1305_ietf or ``typ`` JWM/1.0, none of which a JOSE JWE
    uses. Any one of them is enough, so that a v1 envelope with (say) an unknown ``alg`` goes to
    :func:`parse` and gets a precise error there. Never raises.
    """
    return protected_header(obj) is not None


class DecodedHeader(NamedTuple):
    """A v1 protected header as :func:`protected_header` decoded it, with the string it came
    from (so that :func:`parse` uses it only for that very envelope)."""

    protected: str
    header: dict[str, Any]


def protected_header(obj: Mapping[str, Any]) -> DecodedHeader | None:
    """The decoded protected header of ``obj`` if :func:`looks_like_v1`, else None; hand it to
    :func:`parse` (``decoded``) so that it is not decoded twice. Never raises."""
    if not isinstance(obj, Mapping):
        return None
    protected = obj.get("protected")
    try:
        header = _decode_protected(protected)
    except MalformedEnvelope:
        return None
    if header.get("alg") in _ALG_NAMES or header.get("enc") == ENC or header.get("typ") == TYP:
        return DecodedHeader(protected, header)
    return None


def parse(
    envelope: bytes | str | Mapping[str, Any],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    decoded: DecodedHeader | None = None,
) -> ParsedV1:
    """Check an envelope's structure and decode its fields; no key is needed yet.

    ``decoded`` is what :func:`protected_header` returned for this envelope, when the caller
    has it already (it is used only if it was decoded from this envelope's own ``protected``
    string). Raises :class:`MalformedEnvelope` (with :class:`EnvelopeTooLarge` over
    ``max_bytes``) or :class:`UnsupportedAlgorithm`.
    """
    if isinstance(envelope, Mapping):
        obj: Mapping[str, Any] = envelope
    elif isinstance(envelope, (bytes, bytearray, memoryview, str)):
        decoded = None  # only for an envelope already parsed into an object
        size = len(envelope)
        if size > max_bytes:
            raise EnvelopeTooLarge(f"the envelope is over the limit of {max_bytes} bytes")
        try:
            obj = loads_object(envelope, max_bytes=max_bytes, what="the v1 envelope")
        except InputError as err:
            raise MalformedEnvelope(str(err)) from err
    else:
        raise MalformedEnvelope("a v1 envelope must be JSON text or an object")

    missing = sorted(_TOP_LEVEL - obj.keys())
    if missing:
        raise MalformedEnvelope(f"the v1 envelope has no {', '.join(missing)}")
    protected = obj["protected"]
    if decoded is not None and decoded.protected is protected:
        header = decoded.header
    else:
        header = _decode_protected(protected)

    alg = header.get("alg")
    if not isinstance(alg, str):
        raise MalformedEnvelope("the protected header has no 'alg'")
    mode = _ALGS.get(alg)
    if mode is None:
        raise UnsupportedAlgorithm(f"{alg[:40]!r} is not a v1 envelope algorithm")
    enc = header.get("enc")
    if enc != ENC:
        raise UnsupportedAlgorithm(f"unsupported v1 content encryption {str(enc)[:40]!r}")
    if header.get("typ") != TYP:
        raise MalformedEnvelope(f"the protected header's 'typ' must be {TYP!r}")
    # Checked after alg, so a JWE handed here by mistake is told its alg is the problem.
    extra = sorted(str(k)[:20] for k in obj.keys() - _TOP_LEVEL)
    if extra:
        raise MalformedEnvelope(f"unexpected v1 envelope members: {', '.join(extra[:5])}")

    recipients = _parse_recipients(header.get("recipients"), mode)
    # base64 needs 4 characters per 3 bytes; the size check comes before any decoding.
    max_chars = max_bytes * 4 // 3 + 4
    iv = _b64(obj["iv"], "iv", max_chars=64)
    if len(iv) != _CONTENT_NONCE_BYTES:
        raise MalformedEnvelope(f"the content iv must be {_CONTENT_NONCE_BYTES} bytes")
    tag = _b64(obj["tag"], "tag", max_chars=64)
    if len(tag) != _TAG_BYTES:
        raise MalformedEnvelope(f"the tag must be {_TAG_BYTES} bytes")
    ciphertext = _b64(obj["ciphertext"], "ciphertext", max_chars=max_chars)
    return ParsedV1(mode, recipients, protected, iv, ciphertext, tag)


def _parse_recipients(value: Any, mode: V1Alg) -> tuple[V1Recipient, ...]:
    if not isinstance(value, list) or not value:
        raise MalformedEnvelope("the protected header needs a non-empty 'recipients' list")
    if len(value) > MAX_RECIPIENTS:
        raise EnvelopeTooLarge(f"more than {MAX_RECIPIENTS} recipients")
    out: list[V1Recipient] = []
    seen: set[str] = set()
    for index, entry in enumerate(value):
        what = f"recipient {index}"
        if not isinstance(entry, dict) or not isinstance(entry.get("header"), dict):
            raise MalformedEnvelope(f"{what} must be an object with a 'header' object")
        header = entry["header"]
        kid = header.get("kid")
        if not isinstance(kid, str) or _verkey_raw(kid) is None:
            raise MalformedEnvelope(f"{what}'s kid is not a base58 Ed25519 verkey")
        if kid in seen:
            raise MalformedEnvelope(f"{what}'s kid is listed twice")
        seen.add(kid)
        # aries-staticagent and didcomm-messaging write "sender": null, "iv": null for anoncrypt.
        sender_text, iv_text = header.get("sender"), header.get("iv")
        if mode is V1Alg.ANONCRYPT:
            if sender_text is not None or iv_text is not None:
                raise MalformedEnvelope(f"{what} has a sender or iv in an Anoncrypt envelope")
            key = _b64(entry.get("encrypted_key"), f"{what}'s encrypted_key", max_chars=128)
            if len(key) != _ANON_KEY_BYTES:
                raise MalformedEnvelope(f"{what}'s encrypted_key must be {_ANON_KEY_BYTES} bytes")
            out.append(V1Recipient(kid, key))
            continue
        if sender_text is None or iv_text is None:
            raise MalformedEnvelope(f"{what} needs a sender and an iv in an Authcrypt envelope")
        key = _b64(entry.get("encrypted_key"), f"{what}'s encrypted_key", max_chars=128)
        if len(key) != _AUTH_KEY_BYTES:
            raise MalformedEnvelope(f"{what}'s encrypted_key must be {_AUTH_KEY_BYTES} bytes")
        sender = _b64(sender_text, f"{what}'s sender", max_chars=160)
        if not _SENDER_MIN <= len(sender) <= _SENDER_MAX:
            raise MalformedEnvelope(f"{what}'s sender is not a sealed verkey")
        iv = _b64(iv_text, f"{what}'s iv", max_chars=64)
        if len(iv) != _BOX_NONCE_BYTES:
            raise MalformedEnvelope(f"{what}'s iv must be {_BOX_NONCE_BYTES} bytes")
        out.append(V1Recipient(kid, key, sender, iv))
    return tuple(out)


# -- decrypt ------------------------------------------------------------------------------------


def decrypt(
    parsed: ParsedV1,
    recipient_key: PrivateKey,
    *,
    agreement_cache: AgreementCache | None = None,
) -> UnpackedV1:
    """Open ``parsed`` with the Ed25519 private key of one of its recipients.

    Raises :class:`NoRecipientKey` if the key is not a recipient, and :class:`DecryptionError`
    for every cryptographic failure (tampering, wrong keys, a sender verkey that is not a valid
    Ed25519 key). Messages never say which step failed beyond that. ``agreement_cache``, owned
    by whoever holds ``recipient_key``, keeps the per-pair box key of authcrypt.
    """
    if not isinstance(recipient_key, PrivateKey) or recipient_key.type is not KeyType.ED25519:
        raise UnsupportedKeyType("a v1 recipient key must be an Ed25519 private key")
    verkey = _b58encode(recipient_key.public.raw)
    for entry in parsed.recipients:
        if entry.kid == verkey:
            break
    else:
        raise NoRecipientKey("the key is not one of the envelope's recipients")
    my_pk = _x25519_public(recipient_key.public.raw)
    my_sk = recipient_key.x25519_secret
    sender_verkey: str | None = None
    try:
        if entry.sender is None or entry.iv is None:
            cek = sodium.crypto_box_seal_open(entry.encrypted_key, my_pk, my_sk)
        else:
            sender_bytes = sodium.crypto_box_seal_open(entry.sender, my_pk, my_sk)
            sender_verkey, sender_pk = _sender_key(sender_bytes)
            if agreement_cache is None:
                cek = sodium.crypto_box_open(entry.encrypted_key, entry.iv, sender_pk, my_sk)
            else:
                box_key = agreement_cache.box_key(my_sk, sender_pk)
                cek = sodium.crypto_box_open_afternm(entry.encrypted_key, entry.iv, box_key)
        if len(cek) != _KEY_BYTES:
            raise DecryptionError("the unwrapped content key has the wrong length")
        plaintext = sodium.crypto_aead_chacha20poly1305_ietf_decrypt(
            parsed.ciphertext + parsed.tag, parsed.protected.encode("ascii"), parsed.iv, cek
        )
    except (nacl.exceptions.CryptoError, nacl.exceptions.ValueError, RuntimeError) as err:
        raise DecryptionError("the v1 envelope does not decrypt with this key") from err
    return UnpackedV1(plaintext, verkey, sender_verkey)


def _sender_key(sealed_plaintext: bytes) -> tuple[str, bytes]:
    """The sender's verkey and its X25519 form; the verkey must be a valid Ed25519 point."""
    try:
        verkey = sealed_plaintext.decode("ascii")
    except UnicodeDecodeError:
        raise DecryptionError("the sender field is not a base58 verkey") from None
    raw = _verkey_raw(verkey)
    if raw is None:
        raise DecryptionError("the sender field is not a base58 verkey")
    try:
        # libsodium refuses non-canonical encodings, small-order points and points outside
        # the prime-order subgroup here, which is the Ed25519 validity check we need.
        return verkey, _x25519_public(raw)
    except KeyFormatError as err:
        raise DecryptionError("the sender verkey is not a valid Ed25519 key") from err


def unpack(
    envelope: bytes | str | Mapping[str, Any],
    recipient_key: PrivateKey,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    agreement_cache: AgreementCache | None = None,
) -> UnpackedV1:
    """:func:`parse` then :func:`decrypt`, for a caller that already knows its key."""
    parsed = parse(envelope, max_bytes=max_bytes)
    return decrypt(parsed, recipient_key, agreement_cache=agreement_cache)


def verkey_of(key: PublicKey | PrivateKey) -> str:
    """The base58 verkey of an Ed25519 key, as v1 envelopes name it (cached)."""
    public = key.public if isinstance(key, PrivateKey) else key
    if public.type is not KeyType.ED25519:
        raise UnsupportedKeyType("v1 verkeys are Ed25519 keys")
    return _b58encode(public.raw)
