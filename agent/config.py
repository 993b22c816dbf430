"""Agent configuration: one table of options, read from a TOML file, the environment and flags.

Flags override the environment (``MOI_<NAME>``), which overrides the file, which overrides
the defaults. The same table generates ``moi start``'s options, so ``moi start --help`` lists
every option there is, and a typo in the file is an error rather than a silent default.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError

_MAX_CONFIG_BYTES = 256 * 1024
#: In the home: where the running agent tells the CLI its admin URL and key (mode 0600).
ADMIN_FILE = "admin.json"


def _meta(
    help: str, *, flag: bool = True, short: str | None = None, metavar: str | None = None
) -> dict[str, Any]:
    return {"help": help, "flag": flag, "short": short, "metavar": metavar}


@dataclass(frozen=True, slots=True)
class Config:
    """Everything ``moi start`` can be told. Field names are the TOML keys."""

    host: str = field(default="127.0.0.1", metadata=_meta("address the DIDComm inbound listens on"))
    port: int = field(
        default=8020, metadata=_meta("port of the DIDComm inbound (HTTP and WebSocket)")
    )
    admin_host: str = field(default="127.0.0.1", metadata=_meta("address of the admin API"))
    admin_port: int = field(default=8021, metadata=_meta("port of the admin API"))
    endpoint: str | None = field(
        default=None,
        metadata=_meta("public HTTP address peers send to (default: http://HOST:PORT)"),
    )
    ws_endpoint: str | None = field(
        default=None, metadata=_meta("public WebSocket address (default: derived from --endpoint)")
    )
    label: str = field(default="moi", metadata=_meta("the name this agent shows to its peers"))
    insecure_admin: bool = field(
        default=False,
        metadata=_meta("DEVELOPMENT ONLY: admin API without a key (loopback addresses only)"),
    )
    wallet_url: str | None = field(
        default=None,
        metadata=_meta("record store URL (default: the home's SQLite wallet; or postgresql://…)"),
    )
    webhook_urls: tuple[str, ...] = field(
        default=(), metadata=_meta("URL to POST events to (repeat, or comma-separated in MOI_)")
    )
    allow_private_fetch: tuple[str, ...] = field(
        default=(),
        metadata=_meta(
            "host, address or CIDR network that status lists and did:web documents may be "
            "fetched from although not public (repeat; default: public addresses only)",
            metavar="HOST_OR_NET",
        ),
    )
    max_message_bytes: int = field(
        default=1024 * 1024, metadata=_meta("largest inbound message accepted, in bytes")
    )
    workers: int = field(default=16, metadata=_meta("messages processed concurrently"))
    retention: int = field(
        default=30 * 24 * 3600,
        metadata=_meta(
            "seconds handled inbox records, delivered messages and events are kept (a retry "
            "older than this is no longer recognised as a duplicate)"
        ),
    )
    prefer: str = field(
        default="http",
        metadata=_meta("transport to prefer when a peer offers both: http or ws"),
    )
    log_level: str = field(default="info", metadata=_meta("debug, info, warning or error"))
    mediator: bool = field(default=False, metadata=_meta("also serve as a mediator"))
    auto_grant: bool = field(
        default=False, metadata=_meta("mediator: grant every mediation request")
    )
    mediator_deny: tuple[str, ...] = field(
        default=(), metadata=_meta("mediator: refuse these DIDs or labels (repeat)")
    )
    no_inbound: bool = field(
        default=False, metadata=_meta("no listening port: reachable only through a mediator")
    )
    queue_max_messages: int = field(
        default=10_000, metadata=_meta("mediator: messages held per recipient")
    )
    queue_max_bytes: int = field(
        default=64 * 1024 * 1024, metadata=_meta("mediator: bytes held per recipient")
    )
    queue_max_age: int = field(
        default=7 * 24 * 3600, metadata=_meta("mediator: seconds a message is held")
    )
    queue_max_message_bytes: int = field(
        default=1024 * 1024, metadata=_meta("mediator: largest message held for a recipient")
    )
    forward_rate: int = field(
        default=200,
        metadata=_meta("mediator: forwards a second accepted from one client address (0: any)"),
    )
    forward_burst: int = field(
        default=1000, metadata=_meta("mediator: forwards one client address may send at once")
    )

    def __post_init__(self) -> None:
        for name in ("port", "admin_port"):
            value = getattr(self, name)
            if not 0 <= value <= 65535:
                raise ConfigError(f"{name} must be a port number (0-65535), not {value}")
        if not 1024 <= self.max_message_bytes <= 64 * 1024 * 1024:
            raise ConfigError("max_message_bytes must be between 1 KiB and 64 MiB")
        if not 1 <= self.queue_max_messages <= 10_000_000 or self.queue_max_bytes < 1024:
            raise ConfigError("queue limits must be positive (and bytes at least 1024)")
        if self.queue_max_age < 60:
            raise ConfigError("queue_max_age must be at least 60 seconds")
        if not 256 <= self.queue_max_message_bytes <= 64 * 1024 * 1024:
            raise ConfigError("queue_max_message_bytes must be between 256 bytes and 64 MiB")
        if self.forward_rate < 0 or not 1 <= self.forward_burst <= 1_000_000:
            raise ConfigError("forward_rate must be >= 0 and forward_burst between 1 and 1000000")
        if self.no_inbound and self.mediator:
            raise ConfigError("a mediator needs its inbound port; drop no_inbound")
        if not 3600 <= self.retention <= 10 * 365 * 24 * 3600:
            raise ConfigError("retention must be between 3600 seconds and ten years")
        if not 1 <= self.workers <= 1024:
            raise ConfigError("workers must be between 1 and 1024")
        if self.prefer not in ("http", "ws"):
            raise ConfigError("prefer must be http or ws")
        if self.log_level not in ("debug", "info", "warning", "error"):
            raise ConfigError("log_level must be debug, info, warning or error")
        for name in ("endpoint", "ws_endpoint"):
            value = getattr(self, name)
            if value is not None:
                _check_url(
                    name, value, ("ws", "wss") if name == "ws_endpoint" else ("http", "https")
                )
        for url in self.webhook_urls:
            _check_url("webhook_urls", url, ("http", "https"))
        if self.allow_private_fetch:
            # Imported only when used: it brings aiohttp, which building the CLI parser avoids.
            from wallet.outbound_guard import AddressGuard

            try:
                AddressGuard(self.allow_private_fetch)
            except ValueError as err:
                raise ConfigError(f"allow_private_fetch: {err}") from None
        if len(self.label) > 200:
            raise ConfigError("label must be at most 200 characters")
        if self.insecure_admin and not _is_loopback(self.admin_host):
            raise ConfigError(
                "insecure_admin is refused unless the admin API listens on a loopback address"
            )

    @property
    def public_endpoint(self) -> str:
        if self.endpoint:
            return self.endpoint
        host = self.host if self.host not in ("0.0.0.0", "::") else "127.0.0.1"
        return f"http://{_url_host(host)}:{self.port}"

    @property
    def public_ws_endpoint(self) -> str:
        if self.ws_endpoint:
            return self.ws_endpoint
        parts = urlsplit(self.public_endpoint)
        scheme = "wss" if parts.scheme == "https" else "ws"
        path = parts.path.rstrip("/") + "/ws"
        return f"{scheme}://{parts.netloc}{path}"

    @property
    def admin_url(self) -> str:
        host = self.admin_host if self.admin_host not in ("0.0.0.0", "::") else "127.0.0.1"
        return f"http://{_url_host(host)}:{self.admin_port}"


_FIELDS = {f.name: f for f in fields(Config)}


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _check_url(name: str, value: str, schemes: Sequence[str]) -> None:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.netloc or len(value) > 2048:
        raise ConfigError(f"{name} must be a {'/'.join(schemes)} URL, not {value[:80]!r}")


def _coerce(name: str, value: Any, source: str) -> Any:
    kind = _FIELDS[name].type
    try:
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError
            return int(value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError
        if kind == "tuple[str, ...]":
            if isinstance(value, str):
                return tuple(v.strip() for v in value.split(",") if v.strip())
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return tuple(value)
            raise ValueError
        if not isinstance(value, str):
            raise ValueError
        return value
    except ValueError:
        raise ConfigError(f"{source}: {name} has an invalid value {str(value)[:60]!r}") from None


def load_file(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror}") from err
    if len(data) > _MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is larger than {_MAX_CONFIG_BYTES} bytes")
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"config file {path} is not valid TOML: {err}") from err
    table = raw.get("agent", raw)
    out = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in _FIELDS:
            raise ConfigError(f"config file {path}: unknown option {key!r}")
        out[name] = _coerce(name, value, f"config file {path}")
    return out


def from_environment(env: Mapping[str, str]) -> dict[str, Any]:
    out = {}
    for name in _FIELDS:
        key = f"MOI_{name.upper()}"
        if key in env:
            out[name] = _coerce(name, env[key], f"environment {key}")
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per option; unset flags stay None so that they do not override."""
    parser.add_argument("--config", metavar="FILE", help="TOML file of options (or MOI_CONFIG)")
    for f in fields(Config):
        meta = f.metadata
        if not meta.get("flag", True):
            continue
        flag = "--" + f.name.replace("_", "-")
        help_text = f"{meta['help']} [env MOI_{f.name.upper()}]"
        if f.type == "bool":
            parser.add_argument(flag, action="store_true", default=None, help=help_text)
        elif f.type == "tuple[str, ...]":
            parser.add_argument(
                flag[:-1] if flag.endswith("s") else flag,
                dest=f.name,
                action="append",
                default=None,
                metavar=meta["metavar"] or ("URL" if "url" in f.name else "DID"),
                help=help_text,
            )
        else:
            parser.add_argument(
                flag,
                dest=f.name,
                default=None,
                metavar=f.name.split("_")[-1].upper(),
                type=int if f.type == "int" else str,
                help=help_text,
            )


def resolve(
    args: argparse.Namespace | None = None,
    env: Mapping[str, str] | None = None,
    config_file: str | None = None,
) -> Config:
    """File, then environment, then flags; each later source overrides the earlier ones."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    path = config_file or (getattr(args, "config", None) if args else None) or env.get("MOI_CONFIG")
    if path:
        values.update(load_file(Path(path)))
    values.update(from_environment(env))
    if args is not None:
        for name in _FIELDS:
            value = getattr(args, name, None)
            if value is not None:
                values[name] = _coerce(name, value, "command line")
    try:
        return replace(Config(), **values)
    except TypeError as err:
        raise ConfigError(str(err)) from err
