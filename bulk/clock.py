"""Where the service reads the time, so tests can move it instead of sleeping; Magento's time format."""

from __future__ import annotations

import time
from datetime import UTC, datetime

# Magento's timestamps as its APIs render them.
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def utc_datetime(now: float) -> datetime:
    """Magento's timestamps: UTC, whole seconds (rendered `YYYY-MM-DD HH:MM:SS`)."""
    return datetime.fromtimestamp(int(now), tz=UTC).replace(tzinfo=None)


def magento_time(now: float) -> str:
    """`now` (epoch seconds) as Magento renders a timestamp."""
    return utc_datetime(now).strftime(TIME_FORMAT)


def format_time(value: datetime | str | None) -> str | None:
    """A stored timestamp as Magento renders it (`YYYY-MM-DD HH:MM:SS`)."""
    if value is None or isinstance(value, str):
        return value
    return value.strftime(TIME_FORMAT)


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
