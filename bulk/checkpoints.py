"""SQLite's write-ahead log copied into the database file by the writer that finds it due, after its
commit and outside the write turn.

By default SQLite checkpoints inside the commit that takes the log past 1000 pages: that request
waits for the copy and its fsyncs (commit p99 6.7 ms against a 1.1 ms median, measured), and since
the commit runs inside the writers' turn (`bulk.writer_lock`), every other process's writer waits
too (1000-item submits with the drainer off: 0.79x of the code before the turns, bench/http_submit.py). So
SQLite's own checkpoint stays only as a far-off safety net, and every `BULK_SQLITE_CHECKPOINT_SECONDS`
the next write transaction of each process (a request's, the drainer's, a command's) checkpoints
once it has let go of the turn and flushed its commit. (A background thread per process did the
same with the drainer on, measured no faster, and missed processes without one: web-only
processes, commands.)

A PASSIVE checkpoint neither waits for nor blocks writers; when several processes try at once, one
does the work and the others find nothing to do.
"""

from __future__ import annotations

import logging
import threading
import time

import peewee

from bulk.db import database

log = logging.getLogger(__name__)

# SQLite's own checkpoint when ours run: only if the log grows this far regardless.
SAFETY_NET_PAGES = 20_000


def checkpoint() -> tuple[int, int, int]:
    """One PASSIVE checkpoint on this thread's connection: (busy, frames in the log, frames
    checkpointed), as SQLite reports it."""
    busy, log_frames, checkpointed = database.execute_sql("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return busy, log_frames, checkpointed


class CheckpointAfterWrite:
    """Called after each write transaction (`_SqliteDatabase.after_write`): checkpoints when `interval`
    seconds have passed since the last time, in one thread at a time.

    The commit before it is already on disk, so a failed checkpoint is logged and left to the next.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._due = 0.0
        self._running = threading.Lock()

    def __call__(self) -> None:
        now = time.monotonic()
        if now < self._due or not self._running.acquire(blocking=False):
            return
        try:
            self._due = now + self.interval
            checkpoint()
        except peewee.DatabaseError as error:
            log.warning("SQLite checkpoint after a write failed (the next one will try again): %s", error)
        finally:
            self._running.release()
