"""``moi mediation``: use a mediator (request, status) or, as one, list who you mediate for."""

from __future__ import annotations

import argparse
from typing import Any

from wallet.errors import InputError

from .client import AdminClient
from .home import Home


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    mediation = sub.add_parser("mediation", help="mediators: request one, status, recipients")
    actions = mediation.add_subparsers(dest="mediation_command", metavar="ACTION")
    actions.required = True
    request = actions.add_parser("request", help="ask a connection to mediate for you")
    request.add_argument("connection", metavar="CONNECTION")
    request.add_argument("--pickup", choices=("live", "poll"), default="live")
    request.add_argument(
        "--interval", type=float, default=5.0, metavar="S", help="seconds between pickups (poll)"
    )
    request.add_argument(
        "--ws-endpoint",
        metavar="URL",
        help="the mediator's WebSocket URL, if its DID does not list one",
    )
    request.add_argument("--timeout", type=float, default=30.0, metavar="S")
    request.set_defaults(handler=cmd_request)
    status = actions.add_parser("status", help="your mediator and what it holds for you")
    status.set_defaults(handler=cmd_status)
    recipients = actions.add_parser("recipients", help="(mediator) who you mediate for")
    recipients.set_defaults(handler=cmd_recipients)


async def cmd_request(args: argparse.Namespace) -> Any:
    if not 0.2 <= args.interval <= 3600:
        raise InputError("--interval must be between 0.2 and 3600 seconds")
    if not 0 < args.timeout <= 3600:
        raise InputError("--timeout must be between 0 and 3600 seconds")
    client = AdminClient.for_home(Home.locate(args.home), timeout=args.timeout + 5)
    body: dict[str, Any] = {
        "connection": args.connection,
        "pickup": args.pickup,
        "interval": args.interval,
    }
    if args.ws_endpoint:
        body["ws_endpoint"] = args.ws_endpoint
    return await client.call(
        "POST", "/mediation/request", body=body, params={"timeout": args.timeout}
    )


async def cmd_status(args: argparse.Namespace) -> Any:
    client = AdminClient.for_home(Home.locate(args.home))
    status = await client.call("GET", "/mediation")
    return {k: status.get(k) for k in ("mediator", "state", "live", "pending")}


async def cmd_recipients(args: argparse.Namespace) -> Any:
    client = AdminClient.for_home(Home.locate(args.home))
    rows = await client.call("GET", "/mediation/recipients")
    return [{k: r.get(k) for k in ("recipient", "connection", "queued", "live")} for r in rows]
