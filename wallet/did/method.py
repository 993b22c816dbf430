"""Verification methods: the key suites peers put in DID documents, read into one typed form.

Whatever the suite (Multikey, the Ed25519/X25519 2018-2020 suites, JsonWebKey2020, the
secp256k1/P-256 suites of the did:key vectors), a method becomes a :class:`PublicKey`; the
property that carried the key is remembered so the normalised document re-emits a form its
``type`` allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import base58
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ..errors import KeyFormatError, UnsupportedKeyType
from ..keys import KeyType, PublicKey
from ._codec import decode_multikey, key_error
from ._util import MAX_REF, absolute, preview, text
from .errors import InvalidDIDDocument, UnsupportedKeyCodec

MULTIBASE = "publicKeyMultibase"
BASE58 = "publicKeyBase58"
JWK = "publicKeyJwk"
_MATERIALS = (MULTIBASE, BASE58, JWK)

#: Suites whose base58 (or, leniently, un-prefixed multibase) value is the bare key.
_BARE_KEY_TYPES: dict[str, KeyType] = {
    "Ed25519VerificationKey2018": KeyType.ED25519,
    "Ed25519VerificationKey2020": KeyType.ED25519,
    "X25519KeyAgreementKey2019": KeyType.X25519,
    "X25519KeyAgreementKey2020": KeyType.X25519,
    "EcdsaSecp256k1VerificationKey2019": KeyType.SECP256K1,
    "EcdsaSecp256r1VerificationKey2019": KeyType.P256,
    "P256Key2021": KeyType.P256,
}
_ANY_KEY_TYPES = frozenset({"Multikey", "JsonWebKey2020", "JsonWebKey"})
SUPPORTED_TYPES = frozenset(_BARE_KEY_TYPES) | _ANY_KEY_TYPES

_EC_CURVES = {
    KeyType.P256: ec.SECP256R1(),
    KeyType.P384: ec.SECP384R1(),
    KeyType.P521: ec.SECP521R1(),
    KeyType.SECP256K1: ec.SECP256K1(),
}


class UnsupportedMethod(Exception):
    """Internal signal: a well-formed method of a suite or curve moi does not use."""


@dataclass(frozen=True, slots=True, repr=False)
class VerificationMethod:
    """A verification method with an absolute ``id`` and its decoded key."""

    id: str
    type: str
    controller: str
    public_key: PublicKey
    #: The property that carried the key (``publicKeyMultibase``, ``publicKeyBase58`` or
    #: ``publicKeyJwk``); :meth:`to_json` writes the key back in the same property.
    key_format: str = MULTIBASE

    def __repr__(self) -> str:
        return f"VerificationMethod({preview(self.id)}, {self.type}, {self.public_key!r})"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "type": self.type, "controller": self.controller}
        if self.key_format == JWK:
            out[JWK] = self.public_key.to_jwk()
        elif self.key_format == BASE58:
            out[BASE58] = self.public_key.base58
        else:
            out[MULTIBASE] = self.public_key.multikey
        return out


def parse_method(raw: Any, did: str, where: str) -> VerificationMethod:
    """Read one method; raises :class:`UnsupportedMethod` for suites moi skips."""
    if not isinstance(raw, dict):
        raise InvalidDIDDocument(f"{where} must be an object")
    vm_id = absolute(text(raw.get("id"), f"{where} id", MAX_REF), did, f"{where} id")
    vm_type = raw.get("type")
    if isinstance(vm_type, list) and len(vm_type) == 1:
        vm_type = vm_type[0]
    vm_type = text(vm_type, f"type of {vm_id}")
    controller = raw.get("controller", did)
    controller = text(controller, f"controller of {vm_id}", MAX_REF)
    if vm_type not in SUPPORTED_TYPES:
        raise UnsupportedMethod(f"{vm_id} has type {preview(vm_type)}, which moi does not use")
    present = [name for name in _MATERIALS if name in raw]
    if len(present) != 1:
        found = "none" if not present else " and ".join(present)
        raise InvalidDIDDocument(f"{vm_id} must carry exactly one public key property, has {found}")
    key_format = present[0]
    try:
        key = _decode_key(vm_type, key_format, raw[key_format], vm_id)
        if not key.type.is_okp:
            key.ec_key()  # a point off the curve is refused here, not at first use
    except KeyFormatError as err:
        value = raw[key_format]
        if key_format == MULTIBASE and isinstance(value, str):
            precise = key_error(value, err, vm_id)
            if isinstance(precise, UnsupportedKeyCodec):
                raise UnsupportedMethod(str(precise)) from err
            raise InvalidDIDDocument(str(precise)) from err
        if isinstance(err, UnsupportedKeyType):  # a JWK curve moi does not use
            raise UnsupportedMethod(f"{vm_id}: {err}") from err
        raise InvalidDIDDocument(f"{vm_id}: {err}") from err
    expected = _BARE_KEY_TYPES.get(vm_type)
    if expected is not None and key.type is not expected:
        raise InvalidDIDDocument(f"{vm_id} is a {vm_type} but holds a {key.type} key")
    return VerificationMethod(vm_id, vm_type, controller, key, key_format)


def _decode_key(vm_type: str, key_format: str, value: Any, vm_id: str) -> PublicKey:
    if key_format == JWK:
        if not isinstance(value, dict) or len(value) > 16:
            raise InvalidDIDDocument(f"{vm_id}: publicKeyJwk must be a small JSON object")
        if "d" in value:
            # A document is public; a private key in it means the peer leaked its key.
            raise InvalidDIDDocument(f"{vm_id}: publicKeyJwk contains a private key")
        return PublicKey.from_jwk(value)
    if not isinstance(value, str) or len(value) > 400:
        raise InvalidDIDDocument(f"{vm_id}: {key_format} must be a short string")
    bare_type = _BARE_KEY_TYPES.get(vm_type)
    if key_format == BASE58:
        if bare_type is None:
            raise InvalidDIDDocument(f"{vm_id}: a {vm_type} cannot carry publicKeyBase58")
        return _bare_key(bare_type, _b58(value, vm_id))
    if not value.startswith("z"):
        raise KeyFormatError("publicKeyMultibase must be base58btc (a 'z' prefix)")
    try:
        return decode_multikey(value)
    except KeyFormatError:
        # Some 2020-suite documents carry the bare key under multibase, without the codec.
        if bare_type is None:
            raise
        return _bare_key(bare_type, _b58(value[1:], vm_id))


def _b58(value: str, vm_id: str) -> bytes:
    try:
        return base58.b58decode(value)
    except ValueError as err:
        raise InvalidDIDDocument(f"{vm_id}: the key is not valid base58") from err


def _bare_key(kty: KeyType, raw: bytes) -> PublicKey:
    curve = _EC_CURVES.get(kty)
    if curve is not None and len(raw) > 0 and raw[0] == 4:
        # Older secp256k1 documents give the uncompressed point; moi keeps points compressed.
        try:
            point = ec.EllipticCurvePublicKey.from_encoded_point(curve, raw)
        except ValueError as err:
            raise KeyFormatError(f"the {kty} point is not on the curve") from err
        raw = point.public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    return PublicKey(kty, raw)
