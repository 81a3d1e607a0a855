"""SQLite's write lock, waited for in turn by every thread of every serving process.

SQLite lets a waiting writer poll the lock in its busy handler's sleeps (1, 2, 5 ... 100 ms). With
several threads per process (request threads, the drainer) that is unfair across processes: the
threads of one process hand the lock to each other the moment one commits, while the other
process's waiter sleeps, wakes to find it taken again and, under a sustained load, times out. So a
writer first queues here:

- inside a process, on a lock its threads share (the next thread gets it as soon as it is free);
- across processes, on two byte-range locks of a file beside the database, a gate and the write
  turn itself. A process takes the gate, then the turn, then lets go of the gate. While one
  process waits for the turn it holds the gate, so the process that has the turn cannot take it
  again when it lets go: busy processes take turns, one transaction each.

The file locks are polled every half millisecond by one thread per process (the others wait on
the in-process lock), so a waiter gives up after `timeout` like SQLite's busy timeout, with
SQLite's own error, and the callers' "database busy" handling (a 503) stays as it is.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from types import TracebackType

import peewee

GATE = 0  # byte offsets of the two locks in the lock file
TURN = 1
POLL_SECONDS = 0.0005


class WriterQueue:
    """Context manager: holds SQLite's write turn for this thread (re-entrant within a thread)."""

    def __init__(self, database_path: str, timeout: float) -> None:
        self.path = database_path + "-writer.lock"
        self.timeout = timeout
        self._threads = threading.RLock()
        self._depth = 0  # only the thread holding `_threads` reads or writes it
        self._file: int | None = None
        self._file_pid = 0

    def __enter__(self) -> WriterQueue:
        deadline = time.monotonic() + self.timeout
        if not self._threads.acquire(timeout=self.timeout):
            raise peewee.OperationalError("database is locked")
        if self._depth == 0:
            try:
                self._take_turn(deadline)
            except BaseException:
                self._threads.release()
                raise
        self._depth += 1
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._depth -= 1
        try:
            if self._depth == 0:
                fcntl.lockf(self._lock_file(), fcntl.LOCK_UN, 1, TURN)
        finally:
            self._threads.release()

    def _take_turn(self, deadline: float) -> None:
        handle = self._lock_file()
        _poll(handle, GATE, deadline)
        try:
            _poll(handle, TURN, deadline)
        finally:
            fcntl.lockf(handle, fcntl.LOCK_UN, 1, GATE)

    def _lock_file(self) -> int:
        # Opened once per process: after a fork (gunicorn's workers) the child opens its own, since
        # these locks belong to a process, and closing any handle of the file would drop them.
        if self._file is None or self._file_pid != os.getpid():
            self._file = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._file_pid = os.getpid()
        return self._file


def _poll(handle: int, offset: int, deadline: float) -> None:
    while True:
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
            return
        except OSError:
            if time.monotonic() >= deadline:
                raise peewee.OperationalError("database is locked") from None
            time.sleep(POLL_SECONDS)
