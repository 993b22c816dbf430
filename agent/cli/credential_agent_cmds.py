"""Credential commands that go through the running agent (DIDComm exchanges with peers).

    moi credential offer CONNECTION --format F --claims JSON|@FILE [--type T]... [--sd CLAIM]...
                         [--status] [--valid-until TIME] [--timeout S]
    moi credential offers                     offers waiting for your decision
    moi credential accept ID | decline ID     answer an offer
    moi credential policy [--auto-accept-offers on|off] [--auto-present on|off] ...
    moi proof request CONNECTION (--definition @FILE | --claim PATH...) [--format F]
    moi proof requests                        requests waiting for you, with what they would see
    moi proof accept ID | decline ID          answer a proof request
    moi proof show ID

``offer`` prints the exchange id on stderr at once, then waits for the holder's ack and
prints the exchange. ``proof request`` prints the verification result in the shape of
``moi credential verify`` and, like it, exits 0 only when the proof verified.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any
from urllib.parse import quote

from wallet.encoding import loads_strict
from wallet.errors import InputError, MoiError

from .client import AdminClient
from .credential_cmds import MAX_INPUT_BYTES, NotVerified
from .home import Home
from .wallet_cmds import read_input

OFFER_FORMATS = ("di-jcs", "di-rdfc", "ed25519-2020", "vc-jwt", "sd-jwt")
PROOF_FORMATS = ("sd-jwt", "vc-jwt", "di-jcs", "di-rdfc", "ed25519-2020", "ldp")


class ExchangeFailed(MoiError):
    """The peer declined, or the exchange was abandoned."""


def _actions(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:  # type: ignore[type-arg]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise RuntimeError("the credential command has no subcommands")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    credential = _actions(sub.choices["credential"])
    offer = credential.add_parser(
        "offer", help="offer a credential to a connection (running agent); waits for the ack"
    )
    offer.add_argument("connection", metavar="CONNECTION", help="connection id or peer label")
    offer.add_argument("--format", required=True, choices=OFFER_FORMATS)
    offer.add_argument("--claims", metavar="JSON|@FILE", help="the claims, a JSON object")
    offer.add_argument(
        "--credential", metavar="JSON|@FILE", help="(JSON-LD formats) a whole credential to offer"
    )
    offer.add_argument("--type", dest="types", action="append", default=[], metavar="TYPE")
    offer.add_argument(
        "--sd", action="append", default=[], metavar="CLAIM", help="selectively disclosable"
    )
    offer.add_argument("--status", action="store_true", help="revocable and suspendable")
    offer.add_argument("--valid-until", metavar="TIME", help="e.g. 2030-01-01T00:00:00Z")
    offer.add_argument("--subject", metavar="DID", help="whom it is about (default: the peer)")
    offer.add_argument(
        "--open-subject", action="store_true", help="let the holder name the subject DID"
    )
    offer.add_argument("--issuer", metavar="DID", help="one of your DIDs (default: the policy's)")
    offer.add_argument("--comment", metavar="TEXT")
    offer.add_argument("--timeout", type=float, default=60.0, metavar="S")
    offer.add_argument("--no-wait", action="store_true", help="print the exchange and return")
    offer.set_defaults(handler=cmd_offer)

    offers = credential.add_parser("offers", help="credential offers waiting for your decision")
    offers.set_defaults(handler=cmd_offers)
    accept = credential.add_parser("accept", help="accept a credential offer; waits until kept")
    accept.add_argument("id", metavar="ID", help="the exchange id (see 'moi credential offers')")
    accept.add_argument("--timeout", type=float, default=60.0, metavar="S")
    accept.set_defaults(handler=cmd_accept)
    decline = credential.add_parser("decline", help="decline a credential offer")
    decline.add_argument("id", metavar="ID")
    decline.add_argument("--reason", metavar="TEXT")
    decline.set_defaults(handler=cmd_decline, kind="credential")

    policy = credential.add_parser("policy", help="show or change what happens without asking")
    for name, text in (
        ("--auto-accept-offers", "accept credential offers without asking"),
        ("--auto-present", "answer proof requests that can be met without asking"),
    ):
        policy.add_argument(name, choices=("on", "off"), help=text)
    policy.add_argument(
        "--status-max-age", type=float, metavar="S", help="seconds a status list is trusted"
    )
    policy.add_argument(
        "--status-allow-http", choices=("on", "off", "auto"), help="status lists over http"
    )
    policy.add_argument("--issuer", metavar="DID|auto", help="the DID credentials come from")
    policy.set_defaults(handler=cmd_policy)

    proof = sub.add_parser("proof", help="ask connections for proofs, and answer theirs")
    actions = proof.add_subparsers(dest="proof_command", metavar="ACTION")
    actions.required = True
    request = actions.add_parser(
        "request", help="ask a connection for a proof; prints the verification result"
    )
    request.add_argument("connection", metavar="CONNECTION")
    what = request.add_mutually_exclusive_group(required=True)
    what.add_argument("--definition", metavar="@FILE|JSON", help="a DIF presentation definition")
    what.add_argument(
        "--claim", action="append", metavar="PATH[=VALUE]", help="a claim to ask for (repeat)"
    )
    request.add_argument("--format", choices=PROOF_FORMATS, help="the credential format wanted")
    request.add_argument("--type", dest="types", action="append", default=[], metavar="TYPE")
    request.add_argument(
        "--no-domain", action="store_true", help="leave the domain out (for peers that drop it)"
    )
    request.add_argument("--timeout", type=float, default=60.0, metavar="S")
    request.set_defaults(handler=cmd_request)

    pending = actions.add_parser("requests", help="proof requests waiting for you, with previews")
    pending.set_defaults(handler=cmd_requests)
    answer = actions.add_parser("accept", help="send the previewed presentation")
    answer.add_argument("id", metavar="ID")
    answer.add_argument(
        "--choose",
        action="append",
        default=[],
        metavar="DESCRIPTOR=CREDENTIAL",
        help="present another matching credential for an input descriptor",
    )
    answer.set_defaults(handler=cmd_present)
    refuse = actions.add_parser("decline", help="refuse a proof request")
    refuse.add_argument("id", metavar="ID")
    refuse.add_argument("--reason", metavar="TEXT")
    refuse.set_defaults(handler=cmd_decline, kind="proof")
    show = actions.add_parser("show", help="one presentation exchange")
    show.add_argument("id", metavar="ID")
    show.set_defaults(handler=cmd_show)


def _client(args: argparse.Namespace, wait: float = 0) -> AdminClient:
    if not 0 <= wait <= 300:
        raise InputError("--timeout must be between 0 and 300 seconds")
    return AdminClient.for_home(Home.locate(args.home), timeout=wait + 30)


def _json(text: str, what: str) -> Any:
    data: str | bytes = text
    if text.startswith("@"):
        data = read_input(text[1:], what=f"{what} file", max_bytes=MAX_INPUT_BYTES)
    value = loads_strict(data, what=what)
    if not isinstance(value, dict):
        raise InputError(f"{what} must be a JSON object")
    return value


def _note(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _exchange(record: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "role", "state", "connection_id", "format", "credential_id", "summary", "error")
    return {k: record.get(k) for k in keys if k in record}


def _ended(record: dict[str, Any]) -> dict[str, Any]:
    if record.get("state") == "abandoned":
        raise ExchangeFailed(f"exchange {record['id']} was abandoned: {record.get('error')}")
    return record


# -- credentials ---------------------------------------------------------------------------


async def cmd_offer(args: argparse.Namespace) -> Any:
    if not args.claims and not args.credential:
        raise InputError("give the credential's --claims (or a whole --credential)")
    body: dict[str, Any] = {"connection": args.connection, "format": args.format}
    if args.claims:
        body["claims"] = _json(args.claims, "--claims")
    if args.credential:
        body["credential"] = _json(args.credential, "--credential")
    for key, value in (
        ("types", args.types),
        ("sd", args.sd),
        ("valid_until", args.valid_until),
        ("subject", args.subject),
        ("issuer", args.issuer),
        ("comment", args.comment),
    ):
        if value:
            body[key] = value
    if args.status:
        body["status"] = True
    if args.open_subject:
        body["open_subject"] = True
    client = _client(args, 0 if args.no_wait else args.timeout)
    record = await client.call("POST", "/credentials/offers", body=body)
    if args.no_wait:
        return _exchange(record)
    _note(f"offered: exchange {record['id']}; waiting for the holder (up to {args.timeout:g} s)")
    final = await client.call(
        "GET",
        f"/credentials/exchanges/{quote(record['id'], safe='')}",
        params={"wait": args.timeout},
    )
    return _exchange(_ended(final))


async def cmd_offers(args: argparse.Namespace) -> Any:
    rows = await _client(args).call("GET", "/credentials/offers")
    return [
        {
            "id": r["id"],
            "from": r.get("their_label"),
            "connection_id": r["connection_id"],
            "comment": r.get("comment"),
            "offer": r.get("summary"),
        }
        for r in rows
    ]


async def cmd_accept(args: argparse.Namespace) -> Any:
    client = _client(args, args.timeout)
    path = f"/credentials/exchanges/{quote(args.id, safe='')}"
    record = await client.call("POST", path + "/accept", body={}, params={"wait": args.timeout})
    return _exchange(_ended(record))


async def cmd_decline(args: argparse.Namespace) -> Any:
    body = {"reason": args.reason} if args.reason else {}
    prefix = "/credentials/exchanges/" if args.kind == "credential" else "/proofs/"
    record = await _client(args).call(
        "POST", f"{prefix}{quote(args.id, safe='')}/decline", body=body
    )
    return {"id": record["id"], "state": record["state"], "error": record.get("error")}


def _switch(value: str | None) -> bool | None:
    return None if value is None else value == "on"


async def cmd_policy(args: argparse.Namespace) -> Any:
    changes: dict[str, Any] = {}
    for name in ("auto_accept_offers", "auto_present"):
        value = _switch(getattr(args, name))
        if value is not None:
            changes[name] = value
    if args.status_max_age is not None:
        changes["status_max_age"] = args.status_max_age
    if args.status_allow_http is not None:
        choice = args.status_allow_http
        changes["status_allow_http"] = None if choice == "auto" else choice == "on"
    if args.issuer is not None:
        changes["issuer_did"] = None if args.issuer == "auto" else args.issuer
    client = _client(args)
    if not changes:
        return await client.call("GET", "/credentials/policy")
    return await client.call("PUT", "/credentials/policy", body=changes)


# -- proofs --------------------------------------------------------------------------------


async def cmd_request(args: argparse.Namespace) -> Any:
    body: dict[str, Any] = {"connection": args.connection}
    if args.definition:
        if args.format or args.types:
            raise InputError("--format and --type shape a --claim request, not a --definition")
        body["definition"] = _json(args.definition, "--definition")
    else:
        body["claims"] = args.claim
        if args.format:
            body["format"] = args.format
        if args.types:
            body["types"] = args.types
    if args.no_domain:
        body["domain"] = None
    client = _client(args, args.timeout)
    record = await client.call("POST", "/proofs", body=body)
    _note(f"requested: exchange {record['id']}; waiting for the presentation")
    final = await client.call(
        "GET", f"/proofs/{quote(record['id'], safe='')}", params={"wait": args.timeout}
    )
    report = final.get("report")
    if report is None:
        raise ExchangeFailed(f"no presentation: {final.get('error') or final.get('state')}")
    if report.get("verified"):
        return report
    sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    first = (report.get("errors") or [None])[0]
    reason = f"{first['check']}: {first['message']}" if first else "nothing was proven"
    raise NotVerified(f"not verified: {reason}")


async def cmd_requests(args: argparse.Namespace) -> Any:
    rows = await _client(args).call("GET", "/proofs/pending")
    return [
        {
            "id": r["id"],
            "from": r.get("their_label"),
            "connection_id": r["connection_id"],
            "comment": r.get("comment"),
            "preview": r.get("preview"),
        }
        for r in rows
    ]


async def cmd_present(args: argparse.Namespace) -> Any:
    choices: dict[str, str] = {}
    for item in args.choose:
        descriptor, sep, credential = item.partition("=")
        if not sep or not descriptor or not credential:
            raise InputError("--choose takes DESCRIPTOR=CREDENTIAL_ID")
        choices[descriptor] = credential
    body = {"choices": choices} if choices else {}
    record = await _client(args).call(
        "POST", f"/proofs/{quote(args.id, safe='')}/accept", body=body
    )
    return {"id": record["id"], "state": record["state"], "shown": record.get("preview")}


async def cmd_show(args: argparse.Namespace) -> Any:
    return await _client(args).call("GET", f"/proofs/{quote(args.id, safe='')}")
