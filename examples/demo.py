"""The quick-start demo: a person's wallet and a shop's wallet, both local, talk DIDComm.

Run it with ``./run demo``. Each side creates its own pairwise DIDs; the person sends an
authenticated, encrypted message (DIDComm v2 authcrypt), the shop answers with a signed and
encrypted one, and the person talks to the shop's older Aries (DIDComm v1) endpoint too.
Everything printed is what each side really unpacked.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

from wallet import Wallet
from wallet.wallet import build_plaintext

BOLD, DIM, RESET = "\033[1m", "\033[2m", "\033[0m"


def show(who: str, text: str) -> None:
    print(f"{BOLD}{who:>6}{RESET}  {text}")


async def main() -> None:
    with tempfile.TemporaryDirectory(prefix="moi-demo-") as tmp:
        home = Path(tmp)
        person = await Wallet.create(f"sqlite://{home / 'person.db'}", passphrase="person demo")
        shop = await Wallet.create(f"sqlite://{home / 'shop.db'}", passphrase="shop demo")
        try:
            me = await person.create_did("peer4", endpoints=["http://127.0.0.1:8020/didcomm"])
            them = await shop.create_did("peer2", endpoints=["http://127.0.0.1:8030/didcomm"])
            show("person", f"my pairwise DID for the shop: {me[:48]}…")
            show("shop", f"the shop's DID: {them[:48]}…")

            ask = build_plaintext(
                to=[them], frm=me, body={"content": "Do you have size 42 in stock?"}
            )
            packed = await person.pack(ask, to=[them], frm=me, mode="authcrypt")
            show("person", f"sends {len(json.dumps(packed))} bytes of authcrypt (ECDH-1PU)")
            got = await shop.unpack(packed)
            show("shop", f"reads: {got.message['body']['content']!r}")
            show("shop", f"{DIM}{json.dumps(got.metadata.to_json())}{RESET}")

            reply = build_plaintext(to=[me], frm=them, body={"content": "Yes — shall I hold it?"})
            reply["thid"] = ask["id"]
            packed = await shop.pack(reply, to=[me], frm=them, mode="authcrypt", sign=True)
            got = await person.unpack(packed)
            meta = got.metadata
            show("person", f"reads: {got.message['body']['content']!r}")
            show(
                "person",
                f"signed by {meta.sender_kid.split('#')[-1] if meta.sender_kid else '?'}, "
                f"non-repudiable={meta.non_repudiation}, authenticated={meta.authenticated}",
            )

            aries = build_plaintext(
                to=[them],
                frm=me,
                body={"content": "Please hold it until Friday."},
                msg_type="https://didcomm.org/basicmessage/1.0/message",
                v1=True,
            )
            packed = await person.pack(aries, to=[them], frm=me, mode="authcrypt", v1=True)
            got = await shop.unpack(packed)
            show("shop", f"reads (DIDComm v1, RFC 0019): {got.message['content']!r}")
            show("shop", f"{DIM}sender verkey {got.metadata.sender_kid}{RESET}")
            print()
            print("Both wallets keep their keys encrypted at rest; nothing left this machine.")
        finally:
            await person.close()
            await shop.close()


if __name__ == "__main__":
    asyncio.run(main())
