"""Worker heartbeats: each serving process writes a row every few seconds with its drainer's state.

The dashboard shows every worker from these rows, whichever process answers it (each gunicorn worker
has its own drainer thread, and instances on other machines share the database). The table stays
tiny: one row per live process, removed when the process stops, and rows of processes that died
without a word are swept once they have been silent for `FORGET_AFTER_SECONDS`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from bulk.clock import Clock
from bulk.db import database, write_transaction
from bulk.drainer import holder
from bulk.loops import Loop
from bulk.models import WorkerHeartbeat

log = logging.getLogger(__name__)

BEAT_SECONDS = 5.0
# A worker whose last beat is older than this is shown as silent (three beats missed).
SILENT_AFTER_SECONDS = 3 * BEAT_SECONDS
# Rows of processes that stopped beating (killed, crashed) are deleted after this.
FORGET_AFTER_SECONDS = 600.0

RUNNING = "running"
STOPPED = "stopped"


@dataclass(frozen=True)
class Beat:
    """What one process says about itself."""

    worker: str
    started_at: float
    drainer: str
    drainer_tick_age: float | None


def write_beat(beat: Beat, now: float) -> None:
    """Insert or refresh this process's row."""
    with write_transaction():
        (WorkerHeartbeat
         .insert(worker=beat.worker, started_at=beat.started_at, beat_at=now, drainer=beat.drainer,
                 drainer_tick_age=beat.drainer_tick_age)
         .on_conflict(conflict_target=[WorkerHeartbeat.worker],
                      update={WorkerHeartbeat.beat_at: now, WorkerHeartbeat.drainer: beat.drainer,
                              WorkerHeartbeat.drainer_tick_age: beat.drainer_tick_age,
                              WorkerHeartbeat.started_at: beat.started_at})
         .execute())


def forget_silent(now: float) -> int:
    """Delete the rows of processes silent for longer than FORGET_AFTER_SECONDS."""
    with write_transaction():
        return WorkerHeartbeat.delete().where(WorkerHeartbeat.beat_at < now - FORGET_AFTER_SECONDS).execute()


def forget(worker: str) -> None:
    with write_transaction():
        WorkerHeartbeat.delete().where(WorkerHeartbeat.worker == worker).execute()


def workers() -> list[WorkerHeartbeat]:
    """Every worker that beat recently enough to be remembered, by name."""
    return list(WorkerHeartbeat.select().order_by(WorkerHeartbeat.worker))


class Heartbeat(Loop):
    """Writes this process's row every BEAT_SECONDS and sweeps forgotten ones; removes its row on stop.

    The first beat comes one interval after the start, when the drainer started with it is running.
    """

    def __init__(self, drainer: Loop, clock: Clock, interval: float = BEAT_SECONDS) -> None:
        super().__init__("bulk-heartbeat", interval, min_backoff=interval, max_backoff=interval, wait_first=True)
        self._drainer = drainer
        self._clock = clock
        self._started_at: float | None = None

    def start(self) -> None:
        if self._started_at is None:
            self._started_at = self._clock.time()
        super().start()

    def beat(self) -> Beat:
        """This process's state now."""
        tick = self._drainer.heartbeat
        return Beat(holder(), self._started_at if self._started_at is not None else self._clock.time(),
                    RUNNING if self._drainer.running else STOPPED,
                    None if tick is None else round(time.monotonic() - tick, 3))

    def tick(self) -> bool:
        now = self._clock.time()
        with database.connection_context():
            write_beat(self.beat(), now)
            forget_silent(now)
        return False

    def stop(self, timeout: float = 10.0) -> bool:
        stopped = super().stop(timeout)
        if self._started_at is not None:
            try:
                with database.connection_context():
                    forget(holder())
            except Exception as error:  # noqa: BLE001 - the row is swept later anyway
                log.warning("could not remove this worker's heartbeat: %s", error)
        return stopped
