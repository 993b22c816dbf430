"""``moi start`` runs the agent; the other commands here talk to it through its admin API."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import signal
import sys
import time
from typing import Any

from wallet.errors import InputError, RecordNotFound

from .. import config as config_mod
from .client import AdminClient
from .home import Home, open_wallet

ADMIN_KEY_RECORD = ("agent", "admin-key")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    start = sub.add_parser(
        "start",
        help="run the agent in the foreground (until SIGTERM/SIGINT)",
        description="Run the agent: DIDComm inbound (HTTP + WebSocket), admin API, workers. "
        "Options come from --config FILE (TOML), then MOI_* variables, then flags.",
    )
    config_mod.add_arguments(start)
    start.set_defaults(handler=cmd_start)

    invite = sub.add_parser("invite", help="create an invitation; prints its URL")
    family = invite.add_mutually_exclusive_group()
    family.add_argument(
        "--v1",
        dest="family",
        action="store_const",
        const="v1",
        help="DIDComm v1: OOB 1.1 + DID exchange 1.1 (the default)",
    )
    family.add_argument(
        "--v2", dest="family", action="store_const", const="v2", help="DIDComm v2: OOB 2.0"
    )
    invite.add_argument("--label", metavar="TEXT", help="the name the invitee sees")
    invite.add_argument("--multi-use", action="store_true", help="let several people use it")
    invite.set_defaults(handler=cmd_invite, family="v1")

    connect = sub.add_parser("connect", help="accept an invitation; prints the connection id")
    connect.add_argument("url", metavar="URL")
    connect.add_argument("--timeout", type=float, default=30.0, metavar="S")
    connect.add_argument("--label", metavar="TEXT", help="the name the inviter sees")
    connect.set_defaults(handler=cmd_connect)

    connections = sub.add_parser("connections", help="list connections (JSON)")
    connections.set_defaults(handler=cmd_connections)

    send = sub.add_parser("send", help="send a message; prints its id")
    send.add_argument("connection", metavar="CONNECTION", help="connection id or peer label")
    send.add_argument("text", metavar="TEXT")
    send.set_defaults(handler=cmd_send)

    messages = sub.add_parser("messages", help="messages of a connection, oldest first (JSON)")
    messages.add_argument("connection", metavar="CONNECTION")
    messages.set_defaults(handler=cmd_messages)

    ping = sub.add_parser("ping", help="trust ping a connection; prints the round trip")
    ping.add_argument("connection", metavar="CONNECTION")
    ping.add_argument("--timeout", type=float, default=10.0, metavar="S")
    ping.set_defaults(handler=cmd_ping)

    features = sub.add_parser("features", help="protocols the peer supports (JSON list)")
    features.add_argument("connection", metavar="CONNECTION")
    features.add_argument("--timeout", type=float, default=10.0, metavar="S")
    features.set_defaults(handler=cmd_features)


def _quote(ref: str) -> str:
    from urllib.parse import quote

    return quote(ref, safe="")


async def _admin_key(wallet: Any) -> str:
    """The admin key: MOI_ADMIN_KEY, else the one kept (encrypted) in the wallet."""
    given = os.environ.get("MOI_ADMIN_KEY")
    if given:
        if len(given) < 16:
            raise InputError("MOI_ADMIN_KEY must be at least 16 characters")
        return given
    try:
        return (await wallet.store.get(*ADMIN_KEY_RECORD)).value.decode("ascii")
    except RecordNotFound:
        key = secrets.token_urlsafe(32)
        await wallet.store.add(*ADMIN_KEY_RECORD, key.encode("ascii"))
        return key


async def cmd_start(args: argparse.Namespace) -> None:
    from ..runtime import Agent

    config = config_mod.resolve(args)
    home = Home.locate(args.home)
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if config.wallet_url:
        from wallet import Wallet

        from .home import _passphrase, _raw_key_from_env

        raw = _raw_key_from_env()
        wallet = await (
            Wallet.open(config.wallet_url, raw_key=raw)
            if raw
            else Wallet.open(config.wallet_url, passphrase=_passphrase(confirm=False))
        )
    else:
        wallet = await open_wallet(home)
    home.prepare()
    agent = Agent(config, wallet, home=home.path, admin_key=await _admin_key(wallet))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await agent.start()
        print(
            f"moi agent '{config.label}' running — DIDComm {agent.endpoint}, "
            f"admin {agent.admin_url}",
            file=sys.stderr,
            flush=True,
        )
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await agent.stop()
        await wallet.close()


async def cmd_invite(args: argparse.Namespace) -> str:
    client = AdminClient.for_home(Home.locate(args.home))
    body: dict[str, Any] = {"family": args.family, "multi_use": args.multi_use}
    if args.label:
        body["label"] = args.label
    result = await client.call("POST", "/invitations", body=body)
    url = result["url"]
    if sys.stdout.isatty():
        import segno

        segno.make(url, error="l").terminal(compact=True)
    return url


async def cmd_connect(args: argparse.Namespace) -> str:
    if not 0 < args.timeout <= 3600:
        raise InputError("--timeout must be between 0 and 3600 seconds")
    client = AdminClient.for_home(Home.locate(args.home), timeout=args.timeout + 5)
    body: dict[str, Any] = {"url": args.url}
    if args.label:
        body["label"] = args.label
    connection = await client.call("POST", "/invitations/receive", body=body)
    deadline = time.monotonic() + args.timeout
    while connection["state"] != "completed":
        if connection["state"] == "abandoned":
            raise InputError(f"the connection was abandoned by the inviter ({connection['id']})")
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the connection is still {connection['state']} after {args.timeout:g} s"
            )
        await asyncio.sleep(0.05)
        connection = await client.call("GET", f"/connections/{connection['id']}")
    return connection["id"]


async def cmd_connections(args: argparse.Namespace) -> Any:
    client = AdminClient.for_home(Home.locate(args.home))
    keys = ("id", "state", "family", "their_label", "their_did", "my_did")
    out, offset = [], 0
    while True:
        page = await client.call("GET", "/connections", params={"limit": 1000, "offset": offset})
        out.extend({k: c.get(k) for k in keys} for c in page)
        if len(page) < 1000:
            return out
        offset += len(page)


async def cmd_send(args: argparse.Namespace) -> str:
    client = AdminClient.for_home(Home.locate(args.home))
    result = await client.call(
        "POST", f"/connections/{_quote(args.connection)}/messages", body={"content": args.text}
    )
    return result["id"]


async def cmd_messages(args: argparse.Namespace) -> Any:
    client = AdminClient.for_home(Home.locate(args.home))
    return await client.call("GET", f"/connections/{_quote(args.connection)}/messages")


async def cmd_ping(args: argparse.Namespace) -> Any:
    client = AdminClient.for_home(Home.locate(args.home), timeout=args.timeout + 5)
    return await client.call(
        "POST", f"/connections/{_quote(args.connection)}/ping", params={"timeout": args.timeout}
    )


async def cmd_features(args: argparse.Namespace) -> Any:
    client = AdminClient.for_home(Home.locate(args.home), timeout=args.timeout + 5)
    return await client.call(
        "POST",
        f"/connections/{_quote(args.connection)}/features",
        params={"timeout": args.timeout},
    )
