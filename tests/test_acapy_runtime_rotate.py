"""DID exchange's ``did_rotate~attach`` between moi and ACA-Py 1.7's own attachment code.

ACA-Py writes the signed DID as *standard, padded* base64 but signs (and verifies) the
*unpadded base64url* form of the same bytes (docs/acapy-notes.md). The JWS signing input is
``protected + "." + BASE64URL(payload)`` (RFC 7515), whatever alphabet the attachment carries,
so a verifier re-encodes before it checks. Here ACA-Py's ``AttachDecorator`` signs and verifies
in its own interpreter (a small script with a stand-in wallet that only signs and verifies
Ed25519, so the encoding and the signing input are ACA-Py's own), and moi's
``sign_attachment`` / ``verify_attachment`` do the same on moi's side, in both directions,
with DIDs chosen so that standard base64 has padding and ``+`` / ``/`` in it.
"""

from __future__ import annotations

import base64
import json
import subprocess
from typing import Any

import pytest

from agent.errors import RemoteProtocolError
from protocols.didexchange.attachments import sign_attachment, verify_attachment
from tests.peers import ensure_venv
from wallet.keys import KeyType, PrivateKey

pytestmark = [pytest.mark.interop]

# Runs in ACA-Py's venv: stdin {"seed", "sign": [str], "verify": [{"attachment", "signer"}]}.
ACAPY_SCRIPT = r"""
import asyncio, json, sys
import base58
from nacl.signing import SigningKey, VerifyKey
from nacl.exceptions import BadSignatureError
from acapy_agent.messaging.decorators.attach_decorator import AttachDecorator


class StandInWallet:
    # Only what AttachDecoratorData.sign / verify call on a wallet.
    def __init__(self, seed):
        self.key = SigningKey(seed)

    async def sign_message(self, message, from_verkey):
        assert from_verkey == base58.b58encode(bytes(self.key.verify_key)).decode()
        return self.key.sign(message).signature

    async def verify_message(self, message, signature, from_verkey, key_type):
        try:
            VerifyKey(base58.b58decode(from_verkey)).verify(message, signature)
            return True
        except BadSignatureError:
            return False


async def main():
    request = json.load(sys.stdin)
    wallet = StandInWallet(bytes.fromhex(request["seed"]))
    verkey = base58.b58encode(bytes(wallet.key.verify_key)).decode()
    signed = []
    for text in request["sign"]:
        attach = AttachDecorator.data_base64_string(text)
        await attach.data.sign(verkey, wallet)
        signed.append(attach.serialize())
    verified = []
    for item in request["verify"]:
        attach = AttachDecorator.deserialize(item["attachment"])
        ok = await attach.data.verify(wallet, item["signer"])
        verified.append({"ok": ok, "text": attach.data.base64 and base_text(attach)})
    json.dump({"verkey": verkey, "signed": signed, "verified": verified}, sys.stdout)


def base_text(attach):
    import base64
    raw = attach.data.base64
    raw = raw.replace("-", "+").replace("_", "/")
    return base64.b64decode(raw + "=" * (-len(raw) % 4)).decode()


asyncio.run(main())
"""

#: DIDs whose standard base64 needs padding and holds "+" or "/", and one that needs neither.
DIDS = (
    "did:example:~~~>?",  # "ZGlkOmV4YW1wbGU6fn5+Pj8=": padding and "+"
    "did:example:???~",  # "ZGlkOmV4YW1wbGU6Pz8/fg==": "/" and two padding characters
    "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
)


def _acapy(request: dict[str, Any]) -> dict[str, Any]:
    venv = ensure_venv("acapy")
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-c", ACAPY_SCRIPT],
        input=json.dumps(request).encode(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"ACA-Py's attachment script failed: {proc.stderr.decode()[-2000:]}")
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def signer() -> PrivateKey:
    return PrivateKey.from_secret(KeyType.ED25519, bytes(range(32)))


@pytest.fixture(scope="module")
def acapy_signed(signer: PrivateKey) -> dict[str, Any]:
    return _acapy({"seed": bytes(range(32)).hex(), "sign": list(DIDS), "verify": []})


def test_the_dids_cover_padding_and_both_alphabets() -> None:
    encoded = [base64.b64encode(d.encode()).decode() for d in DIDS]
    assert any("=" in e for e in encoded) and any("==" in e for e in encoded)
    assert any("+" in e for e in encoded) and any("/" in e for e in encoded)


def test_moi_accepts_what_acapy_signs(signer: PrivateKey, acapy_signed: dict) -> None:
    assert acapy_signed["verkey"] == signer.public.base58
    for did, attachment in zip(DIDS, acapy_signed["signed"], strict=True):
        data = attachment["data"]
        # ACA-Py's form: standard alphabet, padded — not what it signs.
        assert data["base64"] == base64.b64encode(did.encode()).decode()
        assert verify_attachment(attachment, signer.public) == did.encode()
        assert verify_attachment(attachment, None) == did.encode()


def test_moi_refuses_acapy_attachments_tampered_or_by_another_key(acapy_signed: dict) -> None:
    other = PrivateKey.from_secret(KeyType.ED25519, bytes(32)).public
    for attachment in acapy_signed["signed"]:
        with pytest.raises(RemoteProtocolError, match="not signed by the invitation"):
            verify_attachment(attachment, other)
        forged = json.loads(json.dumps(attachment))
        forged["data"]["base64"] = base64.b64encode(b"did:example:mallory").decode()
        with pytest.raises(RemoteProtocolError, match="does not verify"):
            verify_attachment(forged, None)


async def test_acapy_accepts_what_moi_signs(signer: PrivateKey) -> None:
    async def sign(data: bytes) -> bytes:
        return signer.sign(data)

    other = PrivateKey.from_secret(KeyType.ED25519, bytes(32)).public
    attachments = [
        await sign_attachment(d.encode(), signer.public, sign, "text/string") for d in DIDS
    ]
    for did, attachment in zip(DIDS, attachments, strict=True):
        # ACA-Py's schema takes the standard alphabet only ("-" or "_" fail the message).
        assert attachment["data"]["base64"] == base64.b64encode(did.encode()).decode()
    tampered = json.loads(json.dumps(attachments[0]))
    tampered["data"]["base64"] = base64.b64encode(b"did:example:mallory").decode()
    checks = [{"attachment": a, "signer": signer.public.base58} for a in attachments]
    checks.append({"attachment": attachments[0], "signer": other.base58})
    checks.append({"attachment": tampered, "signer": signer.public.base58})
    result = _acapy({"seed": bytes(range(32)).hex(), "sign": [], "verify": checks})
    verdicts = result["verified"]
    assert [v["ok"] for v in verdicts] == [True] * len(DIDS) + [False, False]
    assert [v["text"] for v in verdicts[: len(DIDS)]] == list(DIDS)
