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
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

#: A peer that needs another Python than the one running the tests.
ACAPY_PYTHON = (3, 13)


class PythonNotFound(RuntimeError):
    """No interpreter of the version a peer needs is installed on this machine."""


def _python_version(candidate: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [candidate, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            timeout=20,
            check=True,
        ).stdout.split()
        return int(out[0]), int(out[1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def find_python(version: tuple[int, int]) -> str:
    """An interpreter of exactly ``version``: $MOI_PYTHON<major><minor>, pyenv's versions, PATH.

    pyenv's real binaries come before PATH because a pyenv shim on PATH may refuse to run a
    version that is installed but not selected.
    """
    major, minor = version
    name = f"python{major}.{minor}"
    candidates: list[str] = []
    override = os.environ.get(f"MOI_PYTHON{major}{minor}")
    if override:
        candidates.append(override)
    roots = [os.environ.get("PYENV_ROOT"), str(Path.home() / ".pyenv"), "/root/.pyenv"]
    for root in dict.fromkeys(r for r in roots if r):
        versions = Path(root) / "versions"
        if versions.is_dir():
            # newest patch release first: 3.13.10 before 3.13.9
            found = sorted(
                versions.glob(f"{major}.{minor}*/bin/{name}"),
                key=lambda p: [
                    int(x) if x.isdigit() else -1 for x in p.parent.parent.name.split(".")
                ],
                reverse=True,
            )
            candidates.extend(str(p) for p in found)
    on_path = shutil.which(name)
    if on_path:
        candidates.append(on_path)
    candidates.extend(f"{d}/{name}" for d in ("/usr/local/bin", "/usr/bin"))
    for candidate in dict.fromkeys(candidates):
        if Path(candidate).exists() and _python_version(candidate) == version:
            return candidate
    raise PythonNotFound(
        f"no Python {major}.{minor} interpreter found (looked at $MOI_PYTHON{major}{minor}, "
        f"pyenv's versions/{major}.{minor}*, {name} on PATH, /usr/local/bin, /usr/bin); "
        f"install one (e.g. `pyenv install {major}.{minor}`) or point "
        f"MOI_PYTHON{major}{minor} at it"
    )


#: name -> (requirements file, interpreter to build the venv with: a path, or a function that
#: finds one, called only when that peer's venv is needed)
PEERS: dict[str, tuple[str, str | Callable[[], str]]] = {
    "sicpa": ("requirements-sicpa.txt", sys.executable),
    "askar": ("requirements-askar.txt", sys.executable),
    "acapy": ("requirements-acapy.txt", lambda: find_python(ACAPY_PYTHON)),
}


def _interpreter_for(name: str) -> str:
    interpreter = PEERS[name][1]
    return interpreter if isinstance(interpreter, str) else interpreter()


def ensure_venv(name: str) -> Path:
    """Build (once) and return the peer's venv directory; safe across parallel test workers."""
    req = HERE / PEERS[name][0]
    venv = ROOT / f".venv-{name}"
    stamp = venv / ".moi-requirements-sha256"
    digest = hashlib.sha256(req.read_bytes()).hexdigest()
    lock_path = ROOT / f".venv-{name}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == digest:
            return venv
        interpreter = _interpreter_for(name)
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
