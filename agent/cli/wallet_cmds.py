"""Commands that work on the wallet alone, with no running agent: init, did, message."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from wallet.didcomm.message import BASIC_MESSAGE_V2
from wallet.encoding import DEFAULT_MAX_BYTES, loads_strict
from wallet.errors import InputError, WalletExists

from .home import Home, create_wallet, open_wallet

# The parser's choices, spelled here so that building the parser imports no crypto or
# storage (every `moi` command builds it); tests check they match wallet's own lists.
DID_METHODS = ("key", "peer2", "peer4")
MODES = ("plain", "signed", "anoncrypt", "authcrypt")
ENCS = ("XC20P", "A256GCM", "A256CBC-HS512")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    init = sub.add_parser("init", help="create the wallet in the home directory")
    init.set_defaults(handler=cmd_init)

    did = sub.add_parser("did", help="create, resolve and list DIDs")
    did_sub = did.add_subparsers(dest="did_command", metavar="ACTION")
    did_sub.required = True
    create = did_sub.add_parser("create", help="create a DID; prints it")
    create.add_argument("--method", required=True, choices=DID_METHODS)
    create.add_argument(
        "--endpoint", action="append", default=[], metavar="URL", help="DIDComm endpoint (repeat)"
    )
    create.add_argument("--label", metavar="TEXT", help="a name for this DID, for you")
    create.set_defaults(handler=cmd_did_create)
    resolve = did_sub.add_parser("resolve", help="print a DID's document")
    resolve.add_argument("did", metavar="DID")
    resolve.set_defaults(handler=cmd_did_resolve)
    listing = did_sub.add_parser("list", help="list your DIDs")
    listing.set_defaults(handler=cmd_did_list)

    message = sub.add_parser("message", help="pack and unpack DIDComm messages")
    msg_sub = message.add_subparsers(dest="message_command", metavar="ACTION")
    msg_sub.required = True
    pack = msg_sub.add_parser("pack", help="pack a message; prints the packed JSON")
    pack.add_argument("--to", action="append", default=[], metavar="DID", help="recipient (repeat)")
    pack.add_argument("--from", dest="frm", metavar="DID", help="sender (one of your DIDs)")
    pack.add_argument("--mode", required=True, choices=MODES)
    pack.add_argument("--sign", action="store_true", help="sign the plaintext before encrypting")
    pack.add_argument("--v1", action="store_true", help="DIDComm v1 (Aries RFC 0019) envelope")
    pack.add_argument("--enc", choices=ENCS, default="XC20P", help="content encryption (anoncrypt)")
    pack.add_argument("--type", dest="msg_type", default=BASIC_MESSAGE_V2, metavar="URI")
    pack.add_argument("--id", dest="msg_id", metavar="ID", help="message id (default: a UUID)")
    pack.add_argument("--body", default="{}", metavar="JSON|@FILE", help="the body, an object")
    pack.set_defaults(handler=cmd_message_pack)
    unpack = msg_sub.add_parser("unpack", help="unpack a message; prints message and metadata")
    unpack.add_argument("source", nargs="?", default="-", metavar="FILE|-")
    unpack.set_defaults(handler=cmd_message_unpack)


async def cmd_init(args: argparse.Namespace) -> str:
    home = Home.locate(args.home)
    if home.initialised:
        raise WalletExists(f"a wallet already exists in {home.path}")
    wallet = await create_wallet(home)
    await wallet.close()
    return str(home.path)


async def cmd_did_create(args: argparse.Namespace) -> str:
    async with await open_wallet(Home.locate(args.home)) as wallet:
        return await wallet.create_did(args.method, endpoints=args.endpoint, label=args.label)


async def cmd_did_resolve(args: argparse.Namespace) -> Any:
    async with await open_wallet(Home.locate(args.home)) as wallet:
        doc = await wallet.resolve(args.did)
        return doc.to_json()


async def cmd_did_list(args: argparse.Namespace) -> Any:
    async with await open_wallet(Home.locate(args.home)) as wallet:
        return [info.to_json() for info in await wallet.list_dids()]


def read_input(source: str, *, what: str, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Read a file or stdin, refusing more than ``max_bytes`` before parsing anything."""
    try:
        if source == "-":
            data = sys.stdin.buffer.read(max_bytes + 1)
        else:
            with Path(source).open("rb") as handle:
                data = handle.read(max_bytes + 1)
    except OSError as err:
        raise InputError(f"cannot read {what} {source!r}: {err.strerror}") from err
    if len(data) > max_bytes:
        raise InputError(f"{what} is larger than the limit of {max_bytes} bytes")
    return data


def _body(text: str) -> Any:
    data = read_input(text[1:], what="body file") if text.startswith("@") else text
    body = loads_strict(data, what="--body")
    if not isinstance(body, dict):
        raise InputError("--body must be a JSON object")
    return body


async def cmd_message_pack(args: argparse.Namespace) -> Any:
    from wallet.didcomm.packing import Mode
    from wallet.wallet import build_plaintext

    mode = Mode(args.mode)
    if not args.to and mode in (Mode.ANONCRYPT, Mode.AUTHCRYPT):
        raise InputError(f"--mode {mode} needs at least one --to")
    if mode in (Mode.SIGNED, Mode.AUTHCRYPT) and not args.frm:
        raise InputError(f"--mode {mode} needs --from")
    if args.sign and mode not in (Mode.ANONCRYPT, Mode.AUTHCRYPT):
        raise InputError("--sign applies to anoncrypt and authcrypt (use --mode signed)")
    if args.v1 and mode not in (Mode.ANONCRYPT, Mode.AUTHCRYPT):
        raise InputError("--v1 packs anoncrypt or authcrypt envelopes only")
    if args.v1 and args.sign:
        raise InputError("DIDComm v1 envelopes are not signed; drop --sign")
    if mode is Mode.AUTHCRYPT and args.enc != "XC20P" and not args.v1:
        raise InputError("authcrypt always uses A256CBC-HS512; --enc applies to anoncrypt")
    body = _body(args.body)
    async with await open_wallet(Home.locate(args.home)) as wallet:
        plaintext = build_plaintext(
            to=args.to,
            frm=args.frm,
            body=body,
            msg_type=args.msg_type,
            msg_id=args.msg_id,
            v1=args.v1,
        )
        return await wallet.pack(
            plaintext,
            to=args.to,
            frm=args.frm,
            mode=mode,
            sign=args.sign,
            enc=args.enc,
            v1=args.v1,
        )


async def cmd_message_unpack(args: argparse.Namespace) -> Any:
    data = read_input(args.source, what="message")
    async with await open_wallet(Home.locate(args.home)) as wallet:
        result = await wallet.unpack(data)
        return {"message": result.message, "metadata": result.metadata.to_json()}
