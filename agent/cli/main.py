"""``moi``: the entry point. Parses arguments, runs one command, prints JSON or one error line.

Each command module adds its subcommands with ``register(subparsers)`` and sets
``handler=`` to an async function of the parsed arguments; the handler returns what to print
(a string is printed as is, anything else as JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

from wallet.errors import MoiError

from . import agent_cmds, credential_agent_cmds, credential_cmds, mediation_cmds, wallet_cmds

EPILOG = """\
Start here:
  moi init                                   create your wallet (asks for a passphrase)
  moi did create --method peer2 --endpoint https://me.example/didcomm
  moi did list
  moi message pack --to DID --from DID --mode authcrypt --body '{"content": "hi"}'
  moi message unpack FILE
  moi start --label Alice                    run your agent (in another terminal)
  moi invite                                 make an invitation URL for someone
  moi connect URL                            accept someone's invitation
  moi send Bob 'hello'                       talk (CONNECTION: id or the peer's label)

The wallet lives in --home, $MOI_HOME or ~/.moi; the passphrase comes from $MOI_PASSPHRASE
or a prompt ($MOI_WALLET_KEY gives a raw 32-byte key instead). $MOI_KDF sets the Argon2id
level of a new wallet: argon2id-interactive (default), argon2id-moderate, or argon2id-test
(fast and weak: for test suites only). Output is JSON on stdout;
errors are one line on stderr with a non-zero exit code (--debug shows the traceback).
"""


class UsageError(Exception):
    """Bad command-line usage (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    # argparse prints the usage block and exits; the contract is one line on stderr.
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="moi",
        description="moi — your personal agent: keys, DIDs and DIDComm messages you control.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--home", metavar="DIR", help="agent home (default: $MOI_HOME or ~/.moi)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and library logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    wallet_cmds.register(sub)
    credential_cmds.register(sub)
    credential_agent_cmds.register(sub)
    agent_cmds.register(sub)
    mediation_cmds.register(sub)
    return parser


def _emit(result: Any) -> None:
    if result is None:
        return
    if isinstance(result, str):
        sys.stdout.write(result + "\n")
    else:
        sys.stdout.write(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _one_line(text: str) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= 500 else line[:497] + "..."


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    if not debug:
        warnings.filterwarnings("ignore")
        logging.disable(logging.CRITICAL)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        result = asyncio.run(args.handler(args))
    except UsageError as err:
        sys.stderr.write(_one_line(str(err)) + "\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("moi: interrupted\n")
        return 130
    except MoiError as err:
        if debug:
            raise
        sys.stderr.write(f"moi: error: {_one_line(str(err))}\n")
        return 1
    except Exception as err:  # the one catch-all of the CLI: never a traceback for a user
        if debug:
            raise
        sys.stderr.write(f"moi: internal error: {type(err).__name__}: {_one_line(str(err))}\n")
        return 3
    try:
        _emit(result)
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
