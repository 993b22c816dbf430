"""The CLI's side of the admin API: find the running agent through the home, call it."""

from __future__ import annotations

import json
import os
import stat
from typing import Any

from wallet.errors import InputError, MoiError

from ..config import ADMIN_FILE
from ..errors import AgentNotRunning
from .home import Home


class AdminError(MoiError):
    """The admin API answered with an error."""


def admin_info(home: Home) -> dict[str, Any]:
    path = home.path / ADMIN_FILE
    try:
        mode = path.stat().st_mode
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise AgentNotRunning(
            f"no running agent for {home.path}; start one with 'moi start'"
        ) from None
    except (OSError, ValueError) as err:
        raise AgentNotRunning(f"cannot read {path}: {err}") from err
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InputError(f"{path} is readable by others; it must be private (chmod 600)")
    if not isinstance(data, dict) or not isinstance(data.get("url"), str):
        raise AgentNotRunning(f"{path} is not a valid admin file")
    return data


class AdminClient:
    def __init__(self, url: str, key: str | None, *, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.headers = {"X-API-Key": key} if key else {}
        self.timeout = timeout

    @classmethod
    def for_home(cls, home: Home, *, timeout: float = 60.0) -> AdminClient:
        info = admin_info(home)
        key = os.environ.get("MOI_ADMIN_KEY") or info.get("key")
        return cls(info["url"], key, timeout=timeout)

    async def call(
        self, method: str, path: str, *, body: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        import aiohttp  # the CLI's commands that never call the agent do not pay for it

        timeout = aiohttp.ClientTimeout(total=self.timeout)
        try:
            async with aiohttp.ClientSession(timeout=timeout, headers=self.headers) as http:
                async with http.request(method, self.url + path, json=body, params=params) as resp:
                    text = await resp.text()
                    if resp.status == 204:
                        return None
                    try:
                        data = json.loads(text) if text else None
                    except ValueError:
                        data = None
                    if resp.status >= 400:
                        reason = data.get("error") if isinstance(data, dict) else text[:200]
                        raise AdminError(f"{reason} (HTTP {resp.status})")
                    return data
        except aiohttp.ClientConnectionError as err:
            raise AgentNotRunning(
                f"the agent at {self.url} does not answer; is 'moi start' running?"
            ) from err
        except TimeoutError as err:
            raise AgentNotRunning(f"the agent at {self.url} did not answer in time") from err
