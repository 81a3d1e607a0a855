"""Background sweeps, as Magento's crons: purge old finished bulks, fail stuck operations; and forget
expired idempotency keys, old settled webhook deliveries and the finished counts of minutes past the hour.

Every serving process runs them on its own timer; each sweep is one idempotent statement (or a few
short chunks), so several processes doing it at once only repeat harmless work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bulk import finished_tally, idempotency, metrics, queue
from bulk.clock import Clock
from bulk.db import database
from bulk.loops import Loop
from bulk.statuses import OperationStatus
from bulk.webhooks import outbox
from bulk.webhooks.subscriptions import NO_SUBSCRIPTIONS, Subscriptions

log = logging.getLogger(__name__)

DAY = 86_400
HOUR = 3_600


@dataclass(frozen=True)
class HousekeepingSettings:
    retention_days: float = 60.0  # 0: keep every bulk
    stuck_hours: float = 12.0  # 0: never fail an open operation
    interval_seconds: float = 60.0
    idempotency_hours: float = 24.0


@dataclass(frozen=True)
class Swept:
    purged_bulks: int
    failed_operations: int
    expired_rows: int = 0


class Housekeeper(Loop):
    """Runs the sweeps now (`run_once`) or every `interval_seconds` in a thread (`start`/`stop`)."""

    def __init__(self, clock: Clock, settings: HousekeepingSettings = HousekeepingSettings(),
                 subscriptions: Subscriptions = NO_SUBSCRIPTIONS,
                 sweeps: Sequence[Callable[[float], int]] = ()) -> None:
        # A failed sweep is tried again at the next tick; the first sweep waits one interval too.
        super().__init__("bulk-housekeeping", settings.interval_seconds, min_backoff=settings.interval_seconds,
                         max_backoff=settings.interval_seconds, wait_first=True)
        self._clock = clock
        self._settings = settings
        # A stuck operation that finishes its bulk announces it like any other.
        self._subscriptions = subscriptions
        # More sweeps of expired rows, each given the time (used OAuth nonces, ended rate windows).
        self._sweeps = tuple(sweeps)

    def tick(self) -> bool:
        self.run_once()
        return False

    def run_once(self) -> Swept:
        """Fail stuck operations, then purge finished bulks past their retention."""
        now = self._clock.time()
        failed = purged = 0
        with database.connection_context():
            if self._settings.stuck_hours:
                failed = queue.fail_stuck(now - self._settings.stuck_hours * HOUR, now, self._subscriptions)
            if self._settings.retention_days:
                purged = queue.purge_finished(now - self._settings.retention_days * DAY)
                outbox.purge_settled(now - self._settings.retention_days * DAY)
            idempotency.purge_expired(now - self._settings.idempotency_hours * HOUR)
            finished_tally.forget_before_last_hour(now)
            expired = sum(sweep(now) for sweep in self._sweeps)
        metrics.operations_finished({OperationStatus.RETRIABLY_FAILED: failed})
        if failed or purged:
            log.info("housekeeping: %d stuck operation(s) failed, %d old bulk(s) purged", failed, purged)
        if expired:
            log.debug("housekeeping: %d expired nonce(s) and rate window(s) deleted", expired)
        return Swept(purged, failed, expired)
