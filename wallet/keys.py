"""Public and private keys: Ed25519 and X25519 (libsodium), and the NIST / secp256k1 curves
(OpenSSL, through ``cryptography``) that DIDComm vectors and peers use.

A key has one binary form (the raw 32 bytes for the Edwards/Montgomery curves, the compressed
SEC1 point for the Weierstrass ones) and converts to the text forms the specs exchange:
Multikey (multibase base58btc of a multicodec-prefixed key), JWK, and the bare base58 verkeys
of DIDComm v1.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import base58
import nacl.bindings as sodium
import nacl.exceptions
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from .encoding import b64url_decode, b64url_encode
from .errors import InputError, KeyFormatError, UnsupportedKeyType


class KeyType(StrEnum):
    """Key types, valued by their JWK ``crv`` names."""

    ED25519 = "Ed25519"
    X25519 = "X25519"
    P256 = "P-256"
    P384 = "P-384"
    P521 = "P-521"
    SECP256K1 = "secp256k1"

    @property
    def is_okp(self) -> bool:
        return self in (KeyType.ED25519, KeyType.X25519)

    @property
    def can_sign(self) -> bool:
        return self is not KeyType.X25519

    @property
    def can_agree(self) -> bool:
        return self is not KeyType.ED25519


# Multicodec varint prefixes (multiformats table: ed25519-pub 0xed, x25519-pub 0xec,
# secp256k1-pub 0xe7, p256-pub 0x1200, p384-pub 0x1201, p521-pub 0x1202). Kept as bytes
# because decoding through the generic multiformats registry costs ~100 µs per key.
_PUB_PREFIX: dict[KeyType, bytes] = {
    KeyType.ED25519: b"\xed\x01",
    KeyType.X25519: b"\xec\x01",
    KeyType.SECP256K1: b"\xe7\x01",
    KeyType.P256: b"\x80\x24",
    KeyType.P384: b"\x81\x24",
    KeyType.P521: b"\x82\x24",
}
_PREFIX_TO_TYPE = {v: k for k, v in _PUB_PREFIX.items()}

_EC_CURVES: dict[KeyType, ec.EllipticCurve] = {
    KeyType.P256: ec.SECP256R1(),
    KeyType.P384: ec.SECP384R1(),
    KeyType.P521: ec.SECP521R1(),
    KeyType.SECP256K1: ec.SECP256K1(),
}
_EC_HASH: dict[KeyType, hashes.HashAlgorithm] = {
    KeyType.P256: hashes.SHA256(),
    KeyType.P384: hashes.SHA384(),
    KeyType.P521: hashes.SHA512(),
    KeyType.SECP256K1: hashes.SHA256(),
}
_EC_SIZE = {KeyType.P256: 32, KeyType.P384: 48, KeyType.P521: 66, KeyType.SECP256K1: 32}


def _curve(kty: KeyType) -> ec.EllipticCurve:
    try:
        return _EC_CURVES[kty]
    except KeyError:
        raise UnsupportedKeyType(f"{kty} is not an elliptic curve key type") from None


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A public key. ``raw`` is 32 bytes for Ed25519/X25519, a compressed point otherwise."""

    type: KeyType
    raw: bytes

    def __post_init__(self) -> None:
        if self.type.is_okp:
            if len(self.raw) != 32:
                raise KeyFormatError(f"an {self.type} public key is 32 bytes, got {len(self.raw)}")
        else:
            expected = _EC_SIZE[self.type] + 1
            if len(self.raw) != expected or self.raw[0] not in (2, 3):
                raise KeyFormatError(f"a {self.type} public key must be a compressed point")

    @classmethod
    def x25519(cls, raw: bytes) -> PublicKey:
        """An X25519 key from its 32 raw bytes: ``PublicKey(KeyType.X25519, raw)`` with the
        same check, built without the dataclass machinery (every envelope carries one)."""
        if type(raw) is not bytes or len(raw) != 32:
            return cls(KeyType.X25519, raw)  # the general path, with its errors
        key = _new(cls)
        _set_type(key, KeyType.X25519)
        _set_raw(key, raw)
        return key

    # -- text forms -------------------------------------------------------------------------

    @property
    def multikey(self) -> str:
        """``publicKeyMultibase`` of a Multikey: ``z`` + base58btc(multicodec ‖ key)."""
        return "z" + base58.b58encode(_PUB_PREFIX[self.type] + self.raw).decode("ascii")

    @classmethod
    def from_multikey(cls, value: str) -> PublicKey:
        if not isinstance(value, str) or not value.startswith("z") or len(value) > 200:
            raise KeyFormatError("a Multikey must be base58btc multibase (a 'z' prefix)")
        try:
            data = base58.b58decode(value[1:])
        except ValueError as err:
            raise KeyFormatError("a Multikey is not valid base58btc") from err
        kty = _PREFIX_TO_TYPE.get(data[:2])
        if kty is None:
            raise UnsupportedKeyType("the Multikey's multicodec is not a supported public key")
        raw = data[2:]
        if not kty.is_okp and len(raw) == 2 * _EC_SIZE[kty] + 1 and raw[0] == 4:
            raw = _compress(kty, raw)
        return cls(kty, raw)

    @property
    def base58(self) -> str:
        """The bare base58 key, as DIDComm v1 verkeys and 2018 suites write it."""
        return base58.b58encode(self.raw).decode("ascii")

    @classmethod
    def from_base58(cls, value: str, kty: KeyType = KeyType.ED25519) -> PublicKey:
        if not isinstance(value, str) or not 30 <= len(value) <= 100:
            raise KeyFormatError("a base58 key must be a string of 32 encoded bytes")
        try:
            raw = base58.b58decode(value)
        except ValueError as err:
            raise KeyFormatError("the key is not valid base58") from err
        return cls(kty, raw)

    def to_jwk(self) -> dict[str, str]:
        if self.type.is_okp:
            return {"kty": "OKP", "crv": self.type.value, "x": b64url_encode(self.raw)}
        x, y = self._xy()
        return {"kty": "EC", "crv": self.type.value, "x": b64url_encode(x), "y": b64url_encode(y)}

    @classmethod
    def from_jwk(cls, jwk: Any) -> PublicKey:
        if not isinstance(jwk, dict):
            raise KeyFormatError("a JWK must be a JSON object")
        kty, crv = jwk.get("kty"), jwk.get("crv")
        try:
            ktype = KeyType(crv)
        except ValueError:
            raise UnsupportedKeyType(f"unsupported JWK curve {str(crv)[:20]!r}") from None
        try:
            x = b64url_decode(jwk.get("x", ""), what="JWK x")
            if kty == "OKP" and ktype.is_okp:
                return cls(ktype, x)
            if kty == "EC" and not ktype.is_okp:
                y = b64url_decode(jwk.get("y", ""), what="JWK y")
                size = _EC_SIZE[ktype]
                if len(x) != size or len(y) != size:
                    raise KeyFormatError(f"a {ktype} JWK needs {size}-byte x and y")
                return cls(ktype, _compress(ktype, b"\x04" + x + y))
        except InputError as err:
            raise KeyFormatError(str(err)) from err
        raise KeyFormatError(f"JWK kty {str(kty)[:10]!r} does not match curve {ktype}")

    def jwk_thumbprint(self) -> str:
        """RFC 7638 thumbprint (SHA-256), base64url."""
        jwk = self.to_jwk()
        members = {k: jwk[k] for k in sorted(jwk) if k in ("crv", "e", "kty", "n", "x", "y")}
        text = "{" + ",".join(f'"{k}":"{v}"' for k, v in members.items()) + "}"
        return b64url_encode(hashlib.sha256(text.encode()).digest())

    # -- operations -------------------------------------------------------------------------

    def verify(self, signature: bytes, data: bytes) -> bool:
        """Check a signature: Ed25519, or ECDSA in the JOSE ``r ‖ s`` form."""
        if self.type is KeyType.ED25519:
            if len(signature) != 64:
                return False
            try:
                sodium.crypto_sign_open(signature + data, self.raw)
                return True
            except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError):
                return False
        if self.type is KeyType.X25519:
            raise UnsupportedKeyType("an X25519 key cannot verify signatures")
        size = _EC_SIZE[self.type]
        if len(signature) != 2 * size:
            return False
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        try:
            self.ec_key().verify(encode_dss_signature(r, s), data, ec.ECDSA(_EC_HASH[self.type]))
            return True
        except InvalidSignature:
            return False

    def to_x25519(self) -> PublicKey:
        """The X25519 key birationally equivalent to this Ed25519 key."""
        if self.type is not KeyType.ED25519:
            raise UnsupportedKeyType(f"only Ed25519 keys convert to X25519, not {self.type}")
        try:
            return PublicKey(KeyType.X25519, sodium.crypto_sign_ed25519_pk_to_curve25519(self.raw))
        except (RuntimeError, nacl.exceptions.CryptoError) as err:
            raise KeyFormatError("the Ed25519 key is not a valid curve point") from err

    def ec_key(self) -> ec.EllipticCurvePublicKey:
        try:
            return ec.EllipticCurvePublicKey.from_encoded_point(_curve(self.type), self.raw)
        except ValueError as err:
            raise KeyFormatError(f"the {self.type} point is not on the curve") from err

    def _xy(self) -> tuple[bytes, bytes]:
        numbers = self.ec_key().public_numbers()
        size = _EC_SIZE[self.type]
        return numbers.x.to_bytes(size, "big"), numbers.y.to_bytes(size, "big")

    def __repr__(self) -> str:
        return f"PublicKey({self.type}, {self.multikey})"


# The slots of the frozen PublicKey, written directly by PublicKey.x25519.
_new = object.__new__
_set_type = PublicKey.__dict__["type"].__set__
_set_raw = PublicKey.__dict__["raw"].__set__


def _compress(kty: KeyType, uncompressed: bytes) -> bytes:
    try:
        point = ec.EllipticCurvePublicKey.from_encoded_point(_curve(kty), uncompressed)
    except ValueError as err:
        raise KeyFormatError(f"the {kty} point is not on the curve") from err
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return point.public_bytes(Encoding.X962, PublicFormat.CompressedPoint)


@dataclass(frozen=True, slots=True, repr=False)
class PrivateKey:
    """A private key. ``secret`` is the Ed25519 seed, the X25519 scalar, or the EC scalar.

    The repr never shows the secret; keys leave the wallet only as ciphertext.
    """

    type: KeyType
    secret: bytes
    public: PublicKey = field(compare=False)
    _sodium_sk: bytes = field(default=b"", compare=False)
    _x25519_sk: bytes = field(default=b"", compare=False)

    @classmethod
    def generate(cls, kty: KeyType = KeyType.ED25519) -> PrivateKey:
        if kty.is_okp:
            return cls.from_secret(kty, sodium.randombytes(32))
        key = ec.generate_private_key(_curve(kty))
        return cls.from_secret(
            kty, key.private_numbers().private_value.to_bytes(_EC_SIZE[kty], "big")
        )

    @classmethod
    def from_secret(cls, kty: KeyType, secret: bytes) -> PrivateKey:
        if kty is KeyType.ED25519:
            if len(secret) != 32:
                raise KeyFormatError("an Ed25519 seed is 32 bytes")
            pk, sk = sodium.crypto_sign_seed_keypair(secret)
            # Its X25519 form too (one hash), for DIDComm v1 envelopes and did:key agreement.
            x25519_sk = sodium.crypto_sign_ed25519_sk_to_curve25519(sk)
            return cls(kty, bytes(secret), PublicKey(kty, pk), sk, x25519_sk)
        if kty is KeyType.X25519:
            if len(secret) != 32:
                raise KeyFormatError("an X25519 private key is 32 bytes")
            pk = sodium.crypto_scalarmult_base(secret)
            return cls(kty, bytes(secret), PublicKey(kty, pk))
        size = _EC_SIZE[kty]
        if len(secret) != size:
            raise KeyFormatError(f"a {kty} private key is {size} bytes")
        try:
            key = ec.derive_private_key(int.from_bytes(secret, "big"), _curve(kty))
        except ValueError as err:
            raise KeyFormatError(f"not a valid {kty} private key") from err
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        point = key.public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
        return cls(kty, bytes(secret), PublicKey(kty, point))

    @classmethod
    def from_jwk(cls, jwk: Any) -> PrivateKey:
        if not isinstance(jwk, dict) or "d" not in jwk:
            raise KeyFormatError("a private JWK needs a 'd' member")
        public = PublicKey.from_jwk(jwk)
        try:
            d = b64url_decode(jwk["d"], what="JWK d")
        except InputError as err:
            raise KeyFormatError(str(err)) from err
        key = cls.from_secret(public.type, d)
        if key.public != public:
            raise KeyFormatError("the JWK's private and public parts do not match")
        return key

    def to_jwk(self) -> dict[str, str]:
        return {**self.public.to_jwk(), "d": b64url_encode(self.secret)}

    def sign(self, data: bytes) -> bytes:
        """Ed25519 signature, or ECDSA in the JOSE ``r ‖ s`` form."""
        if self.type is KeyType.ED25519:
            return sodium.crypto_sign(data, self._sodium_sk)[:64]
        if self.type is KeyType.X25519:
            raise UnsupportedKeyType("an X25519 key cannot sign")
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        der = self.ec_key().sign(data, ec.ECDSA(_EC_HASH[self.type]))
        r, s = decode_dss_signature(der)
        size = _EC_SIZE[self.type]
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")

    def exchange(self, peer: PublicKey) -> bytes:
        """Raw ECDH shared secret with a peer key of the same curve."""
        if peer.type is not self.type:
            raise KeyFormatError(f"cannot agree a {self.type} key with a {peer.type} key")
        if self.type is KeyType.X25519:
            try:
                shared = sodium.crypto_scalarmult(self.secret, peer.raw)
            except (RuntimeError, nacl.exceptions.CryptoError) as err:
                raise KeyFormatError("the X25519 peer key is a low-order point") from err
            if shared == bytes(32):
                raise KeyFormatError("the X25519 peer key is a low-order point")
            return shared
        if self.type is KeyType.ED25519:
            raise UnsupportedKeyType("an Ed25519 key cannot do key agreement; convert it")
        return self.ec_key().exchange(ec.ECDH(), peer.ec_key())

    def to_x25519(self) -> PrivateKey:
        if self.type is not KeyType.ED25519:
            raise UnsupportedKeyType(f"only Ed25519 keys convert to X25519, not {self.type}")
        return PrivateKey.from_secret(KeyType.X25519, self.x25519_secret)

    @property
    def sodium_secret_key(self) -> bytes:
        """libsodium's 64-byte Ed25519 secret key (seed ‖ public), for v1 ``crypto_box``."""
        if self.type is not KeyType.ED25519:
            raise UnsupportedKeyType("only Ed25519 keys have a libsodium signing secret key")
        return self._sodium_sk

    @property
    def x25519_secret(self) -> bytes:
        """The raw X25519 scalar of an Ed25519 key (what :meth:`to_x25519` holds), for
        ``crypto_box`` in DIDComm v1 envelopes."""
        if self.type is not KeyType.ED25519:
            raise UnsupportedKeyType("only Ed25519 keys have an X25519 form")
        return self._x25519_sk or sodium.crypto_sign_ed25519_sk_to_curve25519(self._sodium_sk)

    def ec_key(self) -> ec.EllipticCurvePrivateKey:
        return ec.derive_private_key(int.from_bytes(self.secret, "big"), _curve(self.type))

    def __repr__(self) -> str:
        return f"PrivateKey({self.type}, public={self.public.multikey})"
