"""Where the service reads the time, so tests can move it instead of sleeping."""

from __future__ import annotations

import time


class Clock:
    """Wall-clock time in epoch seconds; the one place the service asks what time it is."""

    def time(self) -> float:
        return time.time()


class ManualClock(Clock):
    """A clock that only moves when told to (tests of leases, expiry and backoff)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    def set(self, now: float) -> None:
        """Jump to `now` (epoch seconds), forwards or backwards."""
        self._now = now
