"""The README's first command: the demo runs to its end and shows the work it claims."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_demo_connects_talks_and_proves_age() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "examples.demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    for family in ("v1", "v2"):
        assert f"connected ({family}, completed)" in out
    assert out.count("received: 'Do you have size 42 in stock?'") == 2
    assert out.count("(delivered)") == 2 and out.count("(received)") == 2
    # Only what was asked is disclosed, and the shop verifies it.
    assert 'it would see {"age_over_18": true}, not member_since, name' in out
    assert 'verified=True: got {"age_over_18": true}' in out
    assert out.rstrip().splitlines()[-1].startswith("Done.")
