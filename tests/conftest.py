"""Shared test setup: services that some tests need, and how their absence is reported."""

from __future__ import annotations

import os
import socket

import pytest

POSTGRES_HOST = os.environ.get("MOI_TEST_PG_HOST", "127.0.0.1")
POSTGRES_PORT = int(os.environ.get("MOI_TEST_PG_PORT", "5432"))
POSTGRES_URL = f"postgresql://{POSTGRES_HOST}:{POSTGRES_PORT}/test"


def service_up(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip locally when a service is missing; fail in CI, where it must be there."""
    if service_up(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set: this must not be skipped)")
    pytest.skip(message)


@pytest.fixture
def postgres_url() -> str:
    require_service("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)
    return POSTGRES_URL
