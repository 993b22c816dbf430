"""Where a person's agent keeps its files, and how the CLI unlocks the wallet."""

from __future__ import annotations

import getpass
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import base58

from wallet.errors import InputError, WalletNotFound

if TYPE_CHECKING:
    from wallet import Wallet

WALLET_FILE = "wallet.db"
DEFAULT_KDF = "argon2id-interactive"


@dataclass(frozen=True, slots=True)
class Home:
    path: Path

    @classmethod
    def locate(cls, flag: str | None) -> Home:
        """``--home``, else ``MOI_HOME``, else ``~/.moi``."""
        raw = flag or os.environ.get("MOI_HOME") or "~/.moi"
        return cls(Path(raw).expanduser().resolve())

    @property
    def wallet_url(self) -> str:
        return f"sqlite://{self.path / WALLET_FILE}"

    @property
    def initialised(self) -> bool:
        return (self.path / WALLET_FILE).exists()

    def prepare(self) -> None:
        """Create the home, readable by its owner only (it holds the wallet)."""
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.path, 0o700)


def _raw_key_from_env() -> bytes | None:
    text = os.environ.get("MOI_WALLET_KEY")
    if not text:
        return None
    text = text.strip()
    try:
        key = bytes.fromhex(text) if len(text) == 64 else base58.b58decode(text)
    except ValueError:
        raise InputError("MOI_WALLET_KEY must be 32 bytes in hex or base58") from None
    if len(key) != 32:
        raise InputError("MOI_WALLET_KEY must be 32 bytes in hex or base58")
    return key


def _passphrase(*, confirm: bool) -> str:
    value = os.environ.get("MOI_PASSPHRASE")
    if value is not None:
        if not value:
            raise InputError("MOI_PASSPHRASE is empty")
        return value
    if not sys.stdin.isatty():
        raise InputError("no passphrase: set MOI_PASSPHRASE or run in a terminal")
    first = getpass.getpass("Wallet passphrase: ")
    if not first:
        raise InputError("the passphrase must not be empty")
    if confirm and getpass.getpass("Repeat the passphrase: ") != first:
        raise InputError("the passphrases do not match")
    return first


def _kdf_from_env() -> str:
    # Test suites create many wallets; Argon2id at the interactive level costs them seconds
    # each. The level is recorded in the wallet, so opening needs no setting.
    from wallet.storage import KDF_LEVELS

    name = os.environ.get("MOI_KDF") or DEFAULT_KDF
    if name not in KDF_LEVELS:
        raise InputError(f"MOI_KDF must be one of {', '.join(sorted(KDF_LEVELS))}")
    return name


async def create_wallet(home: Home) -> Wallet:
    from wallet import Wallet

    kdf = _kdf_from_env()
    raw_key = _raw_key_from_env()
    passphrase = None if raw_key is not None else _passphrase(confirm=True)
    home.prepare()
    return await Wallet.create(home.wallet_url, passphrase=passphrase, raw_key=raw_key, kdf=kdf)


async def open_wallet(home: Home) -> Wallet:
    from wallet import Wallet

    if not home.initialised:
        raise WalletNotFound(f"no wallet in {home.path}; run 'moi init' first")
    raw_key = _raw_key_from_env()
    if raw_key is not None:
        return await Wallet.open(home.wallet_url, raw_key=raw_key)
    return await Wallet.open(home.wallet_url, passphrase=_passphrase(confirm=False))
