"""Background sweeps, as Magento's crons (spec 5.4): purge old finished bulks, fail stuck operations.

Every serving process runs them on its own timer; each sweep is one idempotent statement (or a few
short chunks), so several processes doing it at once only repeat harmless work.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from bulk import queue
from bulk.clock import Clock
from bulk.db import database

log = logging.getLogger(__name__)

DAY = 86_400
HOUR = 3_600


@dataclass(frozen=True)
class HousekeepingSettings:
    retention_days: float = 60.0  # 0: keep every bulk
    stuck_hours: float = 12.0  # 0: never fail an open operation
    interval_seconds: float = 60.0


@dataclass(frozen=True)
class Swept:
    purged_bulks: int
    failed_operations: int


class Housekeeper:
    """Runs the sweeps now (`run_once`) or every `interval_seconds` in a thread (`start`/`stop`)."""

    def __init__(self, clock: Clock, settings: HousekeepingSettings = HousekeepingSettings()) -> None:
        self._clock = clock
        self._settings = settings
        self._stopping = threading.Event()
        self._lifecycle = threading.Lock()
        self._thread: threading.Thread | None = None

    def run_once(self) -> Swept:
        """Fail stuck operations, then purge finished bulks past their retention."""
        now = self._clock.time()
        failed = purged = 0
        with database.connection_context():
            if self._settings.stuck_hours:
                failed = queue.fail_stuck(now - self._settings.stuck_hours * HOUR)
            if self._settings.retention_days:
                purged = queue.purge_finished(now - self._settings.retention_days * DAY)
        if failed or purged:
            log.info("housekeeping: %d stuck operation(s) failed, %d old bulk(s) purged", failed, purged)
        return Swept(purged, failed)

    def start(self) -> None:
        """Start the timer thread if it is not running (idempotent)."""
        with self._lifecycle:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping.clear()
            self._thread = threading.Thread(target=self._loop, name="bulk-housekeeping", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the thread; True if it ended within `timeout` (idempotent)."""
        with self._lifecycle:
            self._stopping.set()
            thread = self._thread
            if thread is None:
                return True
            # A sweep in progress finishes first (a few short transactions).
            thread.join(timeout)
            if thread.is_alive():
                return False
            self._thread = None
            return True

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stopping.wait(self._settings.interval_seconds):
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - a failed sweep is tried again at the next tick
                log.exception("housekeeping sweep failed; trying again in %.0fs", self._settings.interval_seconds)
