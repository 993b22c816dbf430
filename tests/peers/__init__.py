"""Independent implementations that moi is tested against, each in its own virtual environment.

Some peers cannot share moi's environment (SICPA ``didcomm`` pins pydantic 1; ACA-Py needs
Python 3.13), so each gets a venv next to the checkout, built once from a pinned requirements
file and rebuilt when that file changes. Tests call the peer as a subprocess with JSON on
stdin/stdout.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

#: name -> (requirements file, interpreter to build the venv with)
PEERS: dict[str, tuple[str, str]] = {
    "sicpa": ("requirements-sicpa.txt", sys.executable),
    "askar": ("requirements-askar.txt", sys.executable),
}


def _interpreter_for(name: str) -> str:
    return PEERS[name][1]


def ensure_venv(name: str) -> Path:
    """Build (once) and return the peer's venv directory; safe across parallel test workers."""
    req_name, interpreter = PEERS[name]
    req = HERE / req_name
    venv = ROOT / f".venv-{name}"
    stamp = venv / ".moi-requirements-sha256"
    digest = hashlib.sha256(req.read_bytes()).hexdigest()
    lock_path = ROOT / f".venv-{name}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == digest:
            return venv
        if venv.exists():
            shutil.rmtree(venv)
        subprocess.run([interpreter, "-m", "venv", str(venv)], check=True)
        pip = [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
        ]
        subprocess.run([*pip, "-r", str(req)], check=True, env={**os.environ, "PIP_NO_INPUT": "1"})
        stamp.write_text(digest)
    return venv


def run_peer(name: str, script: str, request: Any, *, timeout: float = 120) -> Any:
    """Run ``tests/peers/SCRIPT`` in the peer's venv with JSON ``request`` on stdin."""
    venv = ensure_venv(name)
    proc = subprocess.run(
        [str(venv / "bin" / "python"), str(HERE / script)],
        input=json.dumps(request).encode(),
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"peer script {script} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}"
        )
    return json.loads(proc.stdout)
