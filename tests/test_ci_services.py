"""A test that needs PostgreSQL fails — it does not skip — when CI is set and the server is
missing; locally it skips. (Run in a child pytest pointed at a closed port.)"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow
TARGET = "tests/test_storage_crud.py::test_add_then_get_round_trips[postgres]"


def _run(ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["MOI_TEST_PG_PORT"] = "1"  # nothing listens there
    if ci:
        env["CI"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", TARGET],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_postgres_fails_under_ci() -> None:
    result = _run(ci=True)
    assert result.returncode != 0
    assert "PostgreSQL is not reachable" in result.stdout
    assert "CI is set" in result.stdout


def test_missing_postgres_skips_locally() -> None:
    result = _run(ci=False)
    assert result.returncode == 0
    assert "1 skipped" in result.stdout
