"""Running the real ``moi`` command in a subprocess, for the CLI contract tests.

Helpers only (no tests here). Every run gets a clean environment: its own ``HOME`` (so no
test can touch the real ``~/.moi``), ``MOI_PASSPHRASE``, and ``MOI_KDF=argon2id-test`` so a
new wallet costs milliseconds instead of a second of Argon2id. Python warnings are switched on
(``PYTHONWARNINGS=default``), so a library warning that leaks to stderr fails the
one-line-error contract instead of hiding.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wallet.encoding import loads_strict

PASSPHRASE = "correct horse battery staple"
_SCRIPT = shutil.which("moi", path=str(Path(sys.executable).parent))
#: The installed console script when there is one (the real thing), else the module.
MOI: list[str] = [_SCRIPT] if _SCRIPT else [sys.executable, "-m", "agent.cli.main"]
MODULE: list[str] = [sys.executable, "-m", "agent.cli.main"]
#: CPU-bound subprocesses; more workers than this only queue on a small CI machine.
WORKERS = max(2, min(4, (os.cpu_count() or 2) * 2))


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return loads_strict(self.out, what="moi's stdout")

    def __str__(self) -> str:
        head = f"moi {' '.join(self.args)[:300]} -> exit {self.code}"
        return f"{head}\nstdout: {self.out[:2000]}\nstderr: {self.err[:2000]}"


def base_env(scratch: Path, **overrides: str | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MOI_") and k not in ("PYTHONWARNINGS", "PYTHONDEVMODE")
    }
    env.update(
        HOME=str(scratch),
        MOI_PASSPHRASE=PASSPHRASE,
        MOI_KDF="argon2id-test",
        PYTHONWARNINGS="default",
    )
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def moi(
    *args: str | Path,
    home: Path | None,
    env: Mapping[str, str],
    stdin: bytes | None = None,
    command: Sequence[str] = MOI,
    timeout: float = 120,
) -> Run:
    """Run ``moi [--home HOME] ARGS`` and capture everything."""
    argv = [*(["--home", str(home)] if home is not None else []), *map(str, args)]
    proc = subprocess.run(
        [*command, *argv],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        env=dict(env),
        timeout=timeout,
        check=False,
    )
    return Run(
        tuple(argv),
        proc.returncode,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
    )


def ok(run: Run) -> Run:
    """A success: exit 0, nothing at all on stderr."""
    assert run.code == 0, str(run)
    assert run.err == "", str(run)
    return run


def failed(run: Run, *, code: int | None = None) -> str:
    """A failure by the contract: non-zero exit, nothing on stdout, exactly one line on
    stderr, no traceback, no warning. Returns that line."""
    assert run.code != 0, str(run)
    if code is not None:
        assert run.code == code, str(run)
    assert run.out == "", str(run)
    assert run.err.endswith("\n") and run.err.count("\n") == 1, str(run)
    line = run.err.rstrip("\n")
    assert line.strip(), str(run)
    for noise in ("Traceback", "Warning:", "warn(", "Unclosed", "Exception ignored"):
        assert noise not in line, str(run)
    return line


def parallel(jobs: Iterable[tuple[Any, ...]], fn: Any) -> list[Any]:
    """``fn(*job)`` for every job, a few at a time (subprocesses spend their time in CPU)."""
    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(lambda job: fn(*job), jobs))


def home_digest(home: Path) -> dict[str, str]:
    """SHA-256 of every file under the home, by relative path."""
    return {
        str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(home.rglob("*"))
        if p.is_file()
    }


def store_rows(home: Path) -> list[tuple[Any, ...]]:
    """Every row of every table of the wallet, read with SQLite from a copy (a read-only
    connection to the original would leave -wal and -shm files behind)."""
    with tempfile.TemporaryDirectory() as scratch:
        for suffix in ("", "-wal"):
            source = home / f"wallet.db{suffix}"
            if source.exists():
                shutil.copyfile(source, Path(scratch) / f"wallet.db{suffix}")
        conn = sqlite3.connect(Path(scratch) / "wallet.db")
        try:
            names = conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            rows: list[tuple[Any, ...]] = []
            for (table,) in sorted(names.fetchall()):
                rows.extend((table, *r) for r in conn.execute(f'SELECT * FROM "{table}"'))
        finally:
            conn.close()
    return sorted(rows, key=repr)


def doc_ids(doc: Mapping[str, Any], relation: str) -> list[str]:
    """The absolute ids of the methods a document lists under ``relation``."""
    out = []
    for entry in doc.get(relation, []):
        ref = entry["id"] if isinstance(entry, Mapping) else entry
        out.append(doc["id"] + ref if ref.startswith("#") else ref)
    return out


def first_ed25519_verkey(doc: Mapping[str, Any]) -> str:
    """The base58 verkey of a document's first Ed25519 method (the Aries convention)."""
    from wallet.keys import KeyType, PublicKey

    for method in doc.get("verificationMethod", []):
        if "publicKeyMultibase" in method:
            key = PublicKey.from_multikey(method["publicKeyMultibase"])
            if key.type is KeyType.ED25519:
                return key.base58
    raise LookupError("no Ed25519 method")
