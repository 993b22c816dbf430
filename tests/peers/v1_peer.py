"""DIDComm v1 (RFC 0019) packers and unpackers from other implementations, for interop tests.

Runs inside the "askar" peer venv (tests/peers/requirements-askar.txt). Reads one JSON request
on stdin, ``{"cases": [...]}``, and writes ``{"results": [...]}``, one result per case, in
order. A case that fails gives ``{"error": "..."}`` instead of stopping the others.

Cases (keys are Ed25519 seeds in hex; messages are text):

- ``{"op": "pack", "impl": IMPL, "message", "to": [seed...], "sender": seed | null,
  "encoding": "url" | "url-padded" | "std-padded"}`` -> ``{"envelope": JSON text}``
  (``encoding`` is honoured by the askar packer only; the others have fixed encodings);
- ``{"op": "unpack", "impl": IMPL, "envelope": JSON text, "key": seed}``
  -> ``{"message", "sender", "recipient"}``.

IMPL is ``staticagent`` (aries-staticagent 0.8.0), ``legacy`` (didcomm-messaging's legacy
module) or ``askar``: an RFC 0019 packer written here on aries-askar's primitives (its
``crypto_box``, sealed box, Ed25519-to-X25519 conversion and ChaCha20-Poly1305), the same
building blocks ACA-Py and Credo use, so that the crypto on this side is Rust, not libsodium.
"""

from __future__ import annotations

import base64
import json
import sys
import traceback
from typing import Any

import base58
from aries_askar import Key, KeyAlg, crypto_box
from aries_staticagent import crypto as sa_crypto
from didcomm_messaging.legacy import crypto as legacy_crypto


def ed25519(seed_hex: str) -> Key:
    return Key.from_secret_bytes(KeyAlg.ED25519, bytes.fromhex(seed_hex))


def nacl_pair(seed_hex: str) -> tuple[bytes, bytes]:
    """(verkey, 64-byte libsodium secret key), the form the nacl-based packers take."""
    import nacl.bindings

    return nacl.bindings.crypto_sign_seed_keypair(bytes.fromhex(seed_hex))


# -- base64 as the askar packer writes it -------------------------------------------------------


def encoder(kind: str):
    if kind == "url":
        return lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    if kind == "url-padded":
        return lambda b: base64.urlsafe_b64encode(b).decode()
    if kind == "std-padded":
        return lambda b: base64.b64encode(b).decode()
    raise ValueError(f"unknown encoding {kind}")


def decode_any(text: str) -> bytes:
    text = text.rstrip("=")
    return base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4))


# -- an RFC 0019 packer and unpacker on aries-askar --------------------------------------------


def askar_pack(message: str, to: list[str], sender: str | None, encoding: str) -> str:
    enc = encoder(encoding)
    cek = Key.generate(KeyAlg.C20P)
    sender_key = ed25519(sender) if sender else None
    recipients = []
    for seed in to:
        # The recipient is known by its public key only.
        public = ed25519(seed).get_public_bytes()
        target = Key.from_public_bytes(KeyAlg.ED25519, public).convert_key(KeyAlg.X25519)
        header: dict[str, Any] = {"kid": base58.b58encode(public).decode()}
        if sender_key is None:
            wrapped = crypto_box.crypto_box_seal(target, cek.get_secret_bytes())
        else:
            nonce = crypto_box.random_nonce()
            wrapped = crypto_box.crypto_box(
                target, sender_key.convert_key(KeyAlg.X25519), cek.get_secret_bytes(), nonce
            )
            verkey = base58.b58encode(sender_key.get_public_bytes())
            header["sender"] = enc(crypto_box.crypto_box_seal(target, verkey))
            header["iv"] = enc(nonce)
        recipients.append({"encrypted_key": enc(wrapped), "header": header})
    protected = {
        "enc": "xchacha20poly1305_ietf",
        "typ": "JWM/1.0",
        "alg": "Authcrypt" if sender_key else "Anoncrypt",
        "recipients": recipients,
    }
    protected_b64 = enc(json.dumps(protected).encode())
    sealed = cek.aead_encrypt(message.encode(), aad=protected_b64.encode())
    return json.dumps(
        {
            "protected": protected_b64,
            "iv": enc(sealed.nonce),
            "ciphertext": enc(sealed.ciphertext),
            "tag": enc(sealed.tag),
        }
    )


def askar_unpack(envelope: str, seed: str) -> dict[str, Any]:
    env = json.loads(envelope)
    header = json.loads(decode_any(env["protected"]))
    if header["alg"] not in ("Authcrypt", "Anoncrypt"):
        raise ValueError(f"unsupported alg {header['alg']}")
    me = ed25519(seed)
    my_verkey = base58.b58encode(me.get_public_bytes()).decode()
    entry = next(r for r in header["recipients"] if r["header"]["kid"] == my_verkey)
    my_x = me.convert_key(KeyAlg.X25519)
    sender = None
    if entry["header"].get("sender"):
        sender = bytes(
            crypto_box.crypto_box_seal_open(my_x, decode_any(entry["header"]["sender"]))
        ).decode()
        sender_x = Key.from_public_bytes(KeyAlg.ED25519, base58.b58decode(sender)).convert_key(
            KeyAlg.X25519
        )
        cek_bytes = crypto_box.crypto_box_open(
            my_x,
            sender_x,
            decode_any(entry["encrypted_key"]),
            decode_any(entry["header"]["iv"]),
        )
    else:
        if header["alg"] == "Authcrypt":
            raise ValueError("Authcrypt without a sender")
        cek_bytes = crypto_box.crypto_box_seal_open(my_x, decode_any(entry["encrypted_key"]))
    cek = Key.from_secret_bytes(KeyAlg.C20P, cek_bytes)
    plaintext = cek.aead_decrypt(
        decode_any(env["ciphertext"]),
        nonce=decode_any(env["iv"]),
        tag=decode_any(env["tag"]),
        aad=env["protected"].encode(),
    )
    return {"message": plaintext.decode(), "sender": sender, "recipient": my_verkey}


# -- the nacl-based Python packers ---------------------------------------------------------------


def nacl_pack(module: Any, message: str, to: list[str], sender: str | None) -> str:
    to_verkeys = [nacl_pair(seed)[0] for seed in to]
    if sender:
        verkey, sigkey = nacl_pair(sender)
        packed = module.pack_message(message, to_verkeys, verkey, sigkey)
    else:
        packed = module.pack_message(message, to_verkeys)
    return json.dumps(packed)


def nacl_unpack(module: Any, envelope: str, seed: str) -> dict[str, Any]:
    verkey, sigkey = nacl_pair(seed)
    message, sender, recipient = module.unpack_message(envelope.encode(), verkey, sigkey)
    return {"message": message, "sender": sender, "recipient": recipient}


MODULES = {"staticagent": sa_crypto, "legacy": legacy_crypto}


def run(case: dict[str, Any]) -> dict[str, Any]:
    impl, op = case["impl"], case["op"]
    if op == "pack":
        if impl == "askar":
            envelope = askar_pack(
                case["message"], case["to"], case.get("sender"), case.get("encoding", "url")
            )
        else:
            envelope = nacl_pack(MODULES[impl], case["message"], case["to"], case.get("sender"))
        return {"envelope": envelope}
    if op == "unpack":
        if impl == "askar":
            return askar_unpack(case["envelope"], case["key"])
        return nacl_unpack(MODULES[impl], case["envelope"], case["key"])
    raise ValueError(f"unknown op {op}")


def main() -> None:
    request = json.load(sys.stdin)
    results = []
    for case in request["cases"]:
        try:
            results.append(run(case))
        except Exception as err:  # one failing case must not hide the others
            results.append(
                {"error": f"{type(err).__name__}: {err}", "trace": traceback.format_exc()}
            )
    json.dump({"results": results}, sys.stdout)


if __name__ == "__main__":
    main()
