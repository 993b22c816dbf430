"""JWE content encryption (XC20P, A256GCM, A256CBC-HS512) and AES key wrap (A128KW, A256KW).

Every decryption failure becomes :class:`DecryptionError` with a fixed message ("tag
mismatch", "key unwrap failed"), whatever the underlying library said, so an error never
tells an attacker more than "no".
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass

import nacl.bindings as sodium
import nacl.exceptions
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.ciphers.algorithms import AES
from cryptography.hazmat.primitives.ciphers.modes import CBC
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from ..errors import DecryptionError

__all__ = ["CONTENT_ALGS", "ContentAlg", "unwrap_key", "wrap_key"]

_TAG_MISMATCH = "tag mismatch"


@dataclass(frozen=True, slots=True)
class ContentAlg:
    """One ``enc`` algorithm: its sizes and its two operations.

    ``encrypt(key, iv, plaintext, aad) -> (ciphertext, tag)`` and
    ``decrypt(key, iv, ciphertext, tag, aad) -> plaintext``.
    """

    name: str
    key_size: int
    iv_size: int
    tag_size: int
    encrypt: Callable[[bytes, bytes, bytes, bytes], tuple[bytes, bytes]]
    decrypt: Callable[[bytes, bytes, bytes, bytes, bytes], bytes]

    def new_key(self) -> bytes:
        return os.urandom(self.key_size)

    def new_iv(self) -> bytes:
        return os.urandom(self.iv_size)


# -- A256CBC-HS512 (RFC 7518 §5.2.5) --------------------------------------------------------


def _cbc_hs512_tag(mac_key: bytes, aad: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    al = (len(aad) * 8).to_bytes(8, "big")
    return hmac.digest(mac_key, b"".join((aad, iv, ciphertext, al)), "sha512")[:32]


def _cbc_hs512_encrypt(key: bytes, iv: bytes, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes]:
    pad = 16 - len(plaintext) % 16
    encryptor = Cipher(AES(key[32:]), CBC(iv)).encryptor()
    ciphertext = encryptor.update(plaintext + bytes((pad,)) * pad) + encryptor.finalize()
    return ciphertext, _cbc_hs512_tag(key[:32], aad, iv, ciphertext)


def _cbc_hs512_decrypt(key: bytes, iv: bytes, ciphertext: bytes, tag: bytes, aad: bytes) -> bytes:
    # The tag is checked before anything is decrypted, so there is no padding oracle.
    if not hmac.compare_digest(_cbc_hs512_tag(key[:32], aad, iv, ciphertext), tag):
        raise DecryptionError(_TAG_MISMATCH)
    if not ciphertext or len(ciphertext) % 16:
        raise DecryptionError("ciphertext is not whole AES blocks")
    decryptor = Cipher(AES(key[32:]), CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    pad = padded[-1]
    if not 1 <= pad <= 16 or padded[-pad:] != bytes((pad,)) * pad:
        raise DecryptionError("bad padding")
    return padded[:-pad]


# -- A256GCM ----------------------------------------------------------------------------------


def _gcm_encrypt(key: bytes, iv: bytes, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes]:
    sealed = AESGCM(key).encrypt(iv, plaintext, aad)
    return sealed[:-16], sealed[-16:]


def _gcm_decrypt(key: bytes, iv: bytes, ciphertext: bytes, tag: bytes, aad: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(iv, ciphertext + tag, aad)
    except InvalidTag:
        raise DecryptionError(_TAG_MISMATCH) from None


# -- XC20P (XChaCha20-Poly1305, draft-irtf-cfrg-xchacha) ------------------------------------


def _xc20p_encrypt(key: bytes, iv: bytes, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes]:
    sealed = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, iv, key)
    return sealed[:-16], sealed[-16:]


def _xc20p_decrypt(key: bytes, iv: bytes, ciphertext: bytes, tag: bytes, aad: bytes) -> bytes:
    try:
        return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(ciphertext + tag, aad, iv, key)
    except nacl.exceptions.CryptoError:
        raise DecryptionError(_TAG_MISMATCH) from None


CONTENT_ALGS: dict[str, ContentAlg] = {
    alg.name: alg
    for alg in (
        ContentAlg("A256CBC-HS512", 64, 16, 32, _cbc_hs512_encrypt, _cbc_hs512_decrypt),
        ContentAlg("A256GCM", 32, 12, 16, _gcm_encrypt, _gcm_decrypt),
        ContentAlg("XC20P", 32, 24, 16, _xc20p_encrypt, _xc20p_decrypt),
    )
}


# -- AES key wrap (RFC 3394) ------------------------------------------------------------------


def wrap_key(kek: bytes, cek: bytes) -> bytes:
    """A128KW or A256KW, chosen by the length of ``kek``."""
    return aes_key_wrap(kek, cek)


def unwrap_key(kek: bytes, wrapped: bytes) -> bytes:
    """Undo :func:`wrap_key`; any failure is ``DecryptionError("key unwrap failed")``."""
    if len(wrapped) < 24 or len(wrapped) % 8:
        raise DecryptionError("key unwrap failed")
    try:
        return aes_key_unwrap(kek, wrapped)
    except (InvalidUnwrap, ValueError):
        raise DecryptionError("key unwrap failed") from None
