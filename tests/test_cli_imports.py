"""The CLI's parser must stay cheap to build: its spelled-out choices match the wallet's, and
building it imports no crypto, storage or network stack."""

from __future__ import annotations

import subprocess
import sys

from agent.cli import wallet_cmds
from wallet.didcomm.packing import ENCS, Mode
from wallet.wallet import DID_METHODS


def test_choices_match_the_wallet() -> None:
    assert wallet_cmds.DID_METHODS == DID_METHODS
    assert wallet_cmds.ENCS == ENCS
    assert wallet_cmds.MODES == tuple(m.value for m in Mode)


def test_building_the_parser_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from agent.cli.main import build_parser\n"
        "build_parser()\n"
        "heavy = [m for m in ('aiohttp', 'wallet.storage', 'wallet.wallet', 'pyld', "
        "'agent.runtime', 'cryptography') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_credential_formats_match() -> None:
    from agent.cli import credential_cmds
    from wallet.credentials.formats import CredentialFormat

    assert credential_cmds.FORMATS == tuple(f.value for f in CredentialFormat)
