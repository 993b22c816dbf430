"""Credential commands that work offline, without a running agent.

    moi credential issue --from DID --subject DID --format di-jcs|di-rdfc|vc-jwt|sd-jwt
                         --claims JSON|@FILE [--type T]... [--sd CLAIM]... [--status]
                         [--valid-until TIME] [--status-url-base URL]
    moi credential verify FILE|- [--nonce N] [--audience A]
    moi credential store FILE|-
    moi credentials
    moi credential show ID | delete ID
    moi credential present ID [--disclose CLAIM]... [--holder DID] --nonce N --audience A
    moi credential revoke ID | suspend ID | unsuspend ID

``verify`` prints its report whether or not the credential verifies, and exits 0 only when it
does (1 otherwise, with the first error on stderr). The credential modules are imported by the
commands that use them: JSON-LD processing costs a third of a second to import, which every
other ``moi`` command would otherwise pay.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from wallet.credentials.errors import CredentialError
from wallet.encoding import loads_strict
from wallet.errors import InputError

from .home import Home, open_wallet
from .wallet_cmds import read_input

#: Largest credential or presentation read from a file or stdin.
MAX_INPUT_BYTES = 1024 * 1024


#: ``--format`` choices, spelled here so that building the parser loads no crypto (tests
#: check they match CredentialFormat).
FORMATS = ("di-jcs", "di-rdfc", "vc-jwt", "sd-jwt")


class NotVerified(CredentialError):
    """``moi credential verify``: the credential or presentation did not verify."""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    listing = sub.add_parser("credentials", help="list the credentials you hold")
    listing.add_argument("--type", dest="types", action="append", default=[], metavar="TYPE")
    listing.add_argument("--issuer", metavar="DID", help="only credentials from this issuer")
    listing.add_argument("--format", choices=FORMATS)
    listing.set_defaults(handler=cmd_list)

    cred = sub.add_parser("credential", help="issue, verify, hold, present and revoke credentials")
    actions = cred.add_subparsers(dest="credential_command", metavar="ACTION")
    actions.required = True

    issue = actions.add_parser("issue", help="issue a credential; prints it")
    issue.add_argument("--from", dest="issuer", required=True, metavar="DID", help="your DID")
    issue.add_argument("--subject", required=True, metavar="DID", help="whom it is about")
    issue.add_argument("--format", required=True, choices=FORMATS)
    issue.add_argument("--claims", required=True, metavar="JSON|@FILE", help="a JSON object")
    issue.add_argument("--type", dest="types", action="append", default=[], metavar="TYPE")
    issue.add_argument(
        "--sd", action="append", default=[], metavar="CLAIM", help="selectively disclosable"
    )
    issue.add_argument("--status", action="store_true", help="revocable and suspendable")
    issue.add_argument("--valid-until", metavar="TIME", help="e.g. 2030-01-01T00:00:00Z")
    issue.add_argument(
        "--status-url-base",
        metavar="URL",
        help="public URL of your agent, where /status/LIST is served (default: the agent's"
        " configured endpoint, $MOI_ENDPOINT)",
    )
    issue.set_defaults(handler=cmd_issue)

    check = actions.add_parser("verify", help="verify a credential or presentation")
    check.add_argument("source", nargs="?", default="-", metavar="FILE|-")
    check.add_argument("--nonce", metavar="N", help="the nonce / challenge you asked for")
    check.add_argument("--audience", metavar="A", help="who you are (aud / domain)")
    _status_flags(check)
    check.set_defaults(handler=cmd_verify)

    store = actions.add_parser("store", help="verify and keep a credential; prints its id")
    store.add_argument("source", nargs="?", default="-", metavar="FILE|-")
    store.add_argument("--check-status", action="store_true", help="also fetch its status")
    _status_flags(store)
    store.set_defaults(handler=cmd_store)

    show = actions.add_parser("show", help="show a held credential")
    show.add_argument("id", metavar="ID")
    show.set_defaults(handler=cmd_show)
    delete = actions.add_parser("delete", help="delete a held credential")
    delete.add_argument("id", metavar="ID")
    delete.set_defaults(handler=cmd_delete)

    present = actions.add_parser("present", help="present a held credential; prints it")
    present.add_argument("id", metavar="ID")
    present.add_argument(
        "--disclose", action="append", default=[], metavar="CLAIM", help="(sd-jwt) show this"
    )
    present.add_argument("--holder", metavar="DID", help="your DID (default: the subject)")
    present.add_argument("--nonce", metavar="N", help="the verifier's nonce / challenge")
    present.add_argument("--audience", metavar="A", help="the verifier (aud / domain)")
    present.add_argument(
        "--preview", action="store_true", help="only show what would be disclosed, to whom"
    )
    present.set_defaults(handler=cmd_present)

    for name, text in (
        ("revoke", "revoke a credential you issued (for good)"),
        ("suspend", "suspend a credential you issued"),
        ("unsuspend", "lift a suspension"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("id", metavar="ID")
        action.set_defaults(handler=cmd_status_change, action=name)


def _status_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-http",
        action="store_true",
        help="fetch status lists over plain http, and from loopback addresses (testing)",
    )


# -- issuer ----------------------------------------------------------------------------------


async def cmd_issue(args: argparse.Namespace) -> Any:
    from wallet.credentials.issuer import issue_credential
    from wallet.credentials.model import parse_datetime

    claims = _json_object(args.claims, "--claims")
    valid_until = None
    if args.valid_until:
        try:
            valid_until = parse_datetime(args.valid_until, "--valid-until")
        except CredentialError as err:
            raise InputError(f"{err} (e.g. 2030-01-01T00:00:00Z)") from None
    base = args.status_url_base or (_configured_endpoint() if args.status else None)
    async with await open_wallet(Home.locate(args.home)) as wallet:
        issued = await issue_credential(
            wallet,
            issuer=args.issuer,
            subject=args.subject,
            format=args.format,
            claims=claims,
            types=args.types,
            disclose=args.sd,
            valid_until=valid_until,
            status=args.status,
            status_base_url=base,
        )
    return issued.credential


def _configured_endpoint() -> str:
    from agent.config import resolve

    return resolve(None).public_endpoint


async def cmd_status_change(args: argparse.Namespace) -> Any:
    from wallet.credentials.issuer import revoke, suspend, unsuspend

    change = {"revoke": revoke, "suspend": suspend, "unsuspend": unsuspend}[args.action]
    async with await open_wallet(Home.locate(args.home)) as wallet:
        return await change(wallet, args.id)


# -- verifier --------------------------------------------------------------------------------


async def cmd_verify(args: argparse.Namespace) -> Any:
    from wallet.credentials.verifier import status_fetcher, verify
    from wallet.did import default_registry

    data = read_input(args.source, what="credential", max_bytes=MAX_INPUT_BYTES)
    resolver = default_registry()
    try:
        async with status_fetcher(resolver, allow_http=args.allow_http) as fetcher:
            report = await verify(
                data,
                nonce=args.nonce,
                audience=args.audience,
                now=datetime.now(UTC),
                resolver=resolver,
                status_fetcher=fetcher,
            )
    finally:
        await resolver.close()
    out = report.to_json()
    if report.verified:
        return out
    sys.stdout.write(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    first = report.errors[0] if report.errors else None
    reason = f"{first['check']}: {first['message']}" if first else "nothing was proven"
    raise NotVerified(f"not verified: {reason}")


# -- holder ----------------------------------------------------------------------------------


async def cmd_store(args: argparse.Namespace) -> Any:
    from wallet.credentials.holder import Holder
    from wallet.credentials.verifier import status_fetcher

    data = read_input(args.source, what="credential", max_bytes=MAX_INPUT_BYTES)
    async with await open_wallet(Home.locate(args.home)) as wallet:
        holder = Holder(wallet)
        if not args.check_status:
            return (await holder.store(data)).id
        async with status_fetcher(wallet.resolver, allow_http=args.allow_http) as fetcher:
            return (await holder.store(data, status_fetcher=fetcher)).id


async def cmd_list(args: argparse.Namespace) -> Any:
    from wallet.credentials.holder import Holder

    now = datetime.now(UTC)
    async with await open_wallet(Home.locate(args.home)) as wallet:
        held = await Holder(wallet).search(types=args.types, issuer=args.issuer, format=args.format)
        return [c.summary(now) for c in held]


async def cmd_show(args: argparse.Namespace) -> Any:
    from wallet.credentials.formats import subject_claims, user_claims
    from wallet.credentials.holder import Holder

    async with await open_wallet(Home.locate(args.home)) as wallet:
        stored = await Holder(wallet).get(args.id)
    out = stored.summary(datetime.now(UTC))
    from wallet.credentials.formats import CredentialFormat

    if stored.format is CredentialFormat.SD_JWT:
        out["claims"] = user_claims(stored.claims)
    else:
        out["claims"] = subject_claims(stored.claims)
    out["credential"] = stored.credential
    return out


async def cmd_delete(args: argparse.Namespace) -> Any:
    from wallet.credentials.holder import Holder

    async with await open_wallet(Home.locate(args.home)) as wallet:
        await Holder(wallet).delete(args.id)
    return {"deleted": args.id}


async def cmd_present(args: argparse.Namespace) -> Any:
    from wallet.credentials.holder import Holder

    async with await open_wallet(Home.locate(args.home)) as wallet:
        holder = Holder(wallet)
        if args.preview:
            preview = await holder.preview(
                args.id, disclose=args.disclose, holder=args.holder, audience=args.audience
            )
            return preview.to_json()
        if not args.nonce or not args.audience:
            raise InputError(
                "a presentation answers a verifier: give its --nonce and --audience"
                " (or --preview to see what would be shown)"
            )
        return await holder.present(
            args.id,
            disclose=args.disclose,
            holder=args.holder,
            nonce=args.nonce,
            audience=args.audience,
        )


def _json_object(text: str, what: str) -> dict[str, Any]:
    data: str | bytes = text
    if text.startswith("@"):
        data = read_input(text[1:], what=f"{what} file", max_bytes=MAX_INPUT_BYTES)
    value = loads_strict(data, what=what)
    if not isinstance(value, dict):
        raise InputError(f"{what} must be a JSON object")
    return value
