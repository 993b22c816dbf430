"""XChaCha20-Poly1305 (libsodium's IETF construction) for sealing records.

pynacl's public binding allocates a zero-filled cffi buffer on every call, which costs about
three times the encryption itself for a record-sized message, and a find decrypts two
ciphertexts per row. So the same libsodium functions are called through pynacl's compiled
module with a ``bytearray`` as the output buffer; if that module ever moves, the public
binding takes over (the tests check both paths against each other).
"""

from __future__ import annotations

from collections.abc import Callable

import nacl.bindings as _public
import nacl.exceptions

KEY_BYTES = _public.crypto_aead_xchacha20poly1305_ietf_KEYBYTES
NONCE_BYTES = _public.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
TAG_BYTES = _public.crypto_aead_xchacha20poly1305_ietf_ABYTES

CryptoError = nacl.exceptions.CryptoError


def public_encrypt(message: bytes, aad: bytes, nonce: bytes, key: bytes) -> bytes:
    return _public.crypto_aead_xchacha20poly1305_ietf_encrypt(message, aad, nonce, key)


def public_decrypt(ciphertext: bytes, aad: bytes, nonce: bytes, key: bytes) -> bytes:
    return _public.crypto_aead_xchacha20poly1305_ietf_decrypt(ciphertext, aad, nonce, key)


def _direct() -> tuple[Callable[..., bytes], Callable[..., bytes]] | None:
    try:
        from nacl._sodium import ffi, lib

        enc = lib.crypto_aead_xchacha20poly1305_ietf_encrypt
        dec = lib.crypto_aead_xchacha20poly1305_ietf_decrypt
    except (ImportError, AttributeError):
        return None
    null = ffi.NULL
    from_buffer = ffi.from_buffer

    def encrypt(message: bytes, aad: bytes, nonce: bytes, key: bytes) -> bytes:
        if len(nonce) != NONCE_BYTES or len(key) != KEY_BYTES:
            raise CryptoError("bad nonce or key length")
        out = bytearray(len(message) + TAG_BYTES)
        enc(from_buffer(out), null, message, len(message), aad, len(aad), null, nonce, key)
        return bytes(out)

    def decrypt(ciphertext: bytes, aad: bytes, nonce: bytes, key: bytes) -> bytes:
        if len(nonce) != NONCE_BYTES or len(key) != KEY_BYTES or len(ciphertext) < TAG_BYTES:
            raise CryptoError("bad nonce, key or ciphertext length")
        out = bytearray(len(ciphertext) - TAG_BYTES)
        rc = dec(
            from_buffer(out), null, null, ciphertext, len(ciphertext), aad, len(aad), nonce, key
        )
        if rc != 0:
            raise CryptoError("Decryption failed. Ciphertext failed verification")
        return bytes(out)

    return encrypt, decrypt


_fast = _direct()
encrypt, decrypt = _fast if _fast is not None else (public_encrypt, public_decrypt)
DIRECT = _fast is not None
