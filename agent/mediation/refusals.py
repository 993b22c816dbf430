"""Why a mediator refuses a forward, and how the sender hears it.

A forward is anoncrypted to the mediator: its sender is anonymous and cannot be written to.
The refusal therefore travels in the HTTP answer to the POST that carried it — a status that
tells a sender's outbox whether to retry (429 and 503 with ``Retry-After``; 404 and 413 are
final) and a body holding the problem report in the forward's own family, threaded to it.
Nothing is queued when a forward is refused.

:class:`RateLimiter` keeps one token bucket per client address, so one sender cannot flood
the queues or the store of everybody else.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from ..errors import ProtocolError
from ..plugin import Family

PROBLEM_V1 = "https://didcomm.org/report-problem/1.0/problem-report"
PROBLEM_V2 = "https://didcomm.org/report-problem/2.0/problem-report"


class ForwardRefused(ProtocolError):
    """A forward the mediator will not queue. ``http_status`` and ``retry_after`` shape the
    HTTP answer; :meth:`answer` is its body."""

    http_status = 400

    def __init__(self, message: str, problem_code: str, retry_after: float | None = None) -> None:
        super().__init__(message, problem_code)
        self.retry_after = retry_after
        self.family: Family | None = None
        self.thread: str | None = None

    def about(self, family: Family, forward: Mapping[str, Any]) -> ForwardRefused:
        """Attach the refused forward's family and id (for the problem report's thread)."""
        self.family = family
        key = "@id" if family is Family.V1 else "id"
        thread = forward.get(key)
        self.thread = thread if isinstance(thread, str) and len(thread) <= 256 else None
        return self

    @property
    def problem_report(self) -> dict[str, Any]:
        """The problem report, as a plaintext message of the forward's family."""
        comment = str(self)[:500]
        if self.family is Family.V1:
            report: dict[str, Any] = {
                "@type": PROBLEM_V1,
                "@id": str(uuid.uuid4()),
                "description": {"code": self.problem_code, "en": comment},
            }
            if self.thread:
                report["~thread"] = {"thid": self.thread}
            return report
        report = {
            "type": PROBLEM_V2,
            "id": str(uuid.uuid4()),
            "body": {"code": self.problem_code, "comment": comment},
        }
        if self.thread:
            report["pthid"] = self.thread
        return report

    def answer(self) -> dict[str, Any]:
        """The HTTP body: a one-line reason (as every inbound refusal has) and the report."""
        return {"error": str(self)[:500], "problem_report": self.problem_report}

    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(max(1, math.ceil(self.retry_after)))}


class UnknownRecipient(ForwardRefused):
    """No recipient with that key (v1) or DID (v2) is mediated here: final."""

    http_status = 404

    def __init__(self, message: str) -> None:
        super().__init__(message, "e.p.msg.unknown-recipient")


class MessageTooLarge(ForwardRefused):
    """The forwarded message is larger than the mediator holds for anyone: final."""

    http_status = 413

    def __init__(self, message: str) -> None:
        super().__init__(message, "e.p.msg.too-large")


class QueueFull(ForwardRefused):
    """The recipient's queue is at its limit; the sender should retry later."""

    http_status = 503

    def __init__(self, message: str, retry_after: float = 60.0) -> None:
        super().__init__(message, "e.p.req.queue-full", retry_after)


class RateLimited(ForwardRefused):
    """This client address sent more forwards than its share; retry after a pause."""

    http_status = 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, "e.p.req.rate-limited", retry_after)


class RateLimiter:
    """Token buckets per client address: ``rate`` forwards a second, up to ``burst`` at once.

    ``rate`` 0 turns the limit off. At most ``max_clients`` buckets are kept; the least
    recently seen go first (a full bucket carries no information worth keeping anyway).
    """

    def __init__(self, rate: float, burst: int, *, max_clients: int = 10_000) -> None:
        if rate < 0 or burst < 1:
            raise ValueError("rate must be >= 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str | None, now: float | None = None) -> float:
        """Take one token for ``client``: 0 when allowed, else the seconds until one is
        free. An unknown client (no address) shares one bucket with every other unknown."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        key = client or "?"
        tokens, last = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            wait = 0.0
        else:
            self._buckets[key] = (tokens, now)
            wait = (1.0 - tokens) / self.rate
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait
