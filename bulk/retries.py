"""Automatic retries of retriable failures: how many tries, and how long to wait before the next.

Magento retries nothing by itself (its consumer acknowledges every message whatever the outcome),
so the default policy makes one try and a retriable failure ends at status 2 at once. Forward mode
tries several times: exponential backoff with jitter, never sooner than the upstream's `Retry-After`
(up to the longest delay allowed).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    """`max_attempts` tries in all; before try n+1 wait ~`base_seconds` * 2**(n-1), capped."""

    max_attempts: int = 1
    base_seconds: float = 1.0
    max_seconds: float = 300.0
    # Uniform in [0, 1): where in its range the delay falls; tests pass a fixed one.
    jitter: Callable[[], float] = field(default=random.random, compare=False)

    def delay(self, attempts: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait after the `attempts`-th try failed, or None when no try is left."""
        if attempts >= self.max_attempts:
            return None
        backoff = min(self.max_seconds, self.base_seconds * 2 ** (max(attempts, 1) - 1))
        # "Equal jitter": at least half the backoff, so retries spread out but never bunch at zero.
        delay = backoff / 2 + self.jitter() * backoff / 2
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_seconds))
        return delay


def parse_retry_after(value: str | None, now: float) -> float | None:
    """An HTTP `Retry-After` (seconds, or an HTTP date) as seconds from `now`; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - now)
