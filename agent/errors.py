"""Errors of the runtime layer, under the one root :class:`wallet.errors.MoiError`."""

from __future__ import annotations

from wallet.errors import MoiError


class ConfigError(MoiError):
    """The configuration (file, environment or flags) is invalid."""


class TransportError(MoiError):
    """A message could not be delivered or received over a transport."""


class ProtocolError(MoiError):
    """A protocol rule was broken; carries the problem code sent in a problem report."""

    def __init__(self, message: str, problem_code: str = "e.p.msg") -> None:
        super().__init__(message)
        self.problem_code = problem_code


class LocalProtocolError(ProtocolError):
    """We would break the protocol if we went on (a caller's mistake)."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol; the exchange is abandoned with a problem report."""


class AgentNotRunning(MoiError):
    """A command needs the running agent, and none answers at the home's admin URL."""
