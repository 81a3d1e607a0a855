"""The one shape of every background job: a thread that runs `tick()` until it is stopped.

The service starts and stops a list of loops (the drainer, housekeeping). A subclass says what one
tick does; the loop keeps it alive: `start()` and `stop()` are idempotent, `stop()` joins with a
timeout, a failing tick is logged and tried again after a backoff, and `heartbeat` tells when the
last tick ended, so a health check can tell a stalled loop from an idle one.
"""

from __future__ import annotations

import logging
import threading
import time

from bulk import metrics

log = logging.getLogger(__name__)


class Loop:
    """Runs `tick()` in a daemon thread: again at once while it reports more work, else every `interval`."""

    def __init__(self, name: str, interval: float, *, min_backoff: float, max_backoff: float,
                 wait_first: bool = False) -> None:
        self.name = name
        self.interval = interval
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        # A periodic job (a sweep) waits one interval before its first tick; a queue drainer does not.
        self._wait_first = wait_first
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lifecycle = threading.Lock()
        self._thread: threading.Thread | None = None
        # time.monotonic() when the last tick ended without an error; None before the first.
        self.heartbeat: float | None = None

    def tick(self) -> bool:
        """Do one unit of work; True when more may be waiting (the next tick then starts at once)."""
        raise NotImplementedError

    @property
    def stopping(self) -> bool:
        """Set by `stop()`: a long tick checks it to end early."""
        return self._stopping.is_set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread if it is not running (idempotent)."""
        with self._lifecycle:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> bool:
        """Ask the thread to finish its tick and exit; True if it did within `timeout` (idempotent)."""
        with self._lifecycle:
            thread = self._thread
            self._stopping.set()
            self._wake.set()
            if thread is None:
                return True
            thread.join(timeout)
            if thread.is_alive():
                log.warning("%s did not stop within %.1fs", self.name, timeout)
                return False
            self._thread = None
            return True

    def pause(self, seconds: float) -> None:
        """Wait `seconds` inside a tick, or less when the loop is asked to stop."""
        self._stopping.wait(seconds)

    def notify(self) -> None:
        """Look for work now instead of at the end of the current wait."""
        self._wake.set()

    def _run(self) -> None:
        if self._wait_first:
            self._wake.wait(self.interval)
        backoff = 0.0
        while not self._stopping.is_set():
            # Cleared before the tick, so a notify() during it makes the next wait return at once.
            self._wake.clear()
            try:
                more = self.tick()
            except Exception:  # the loop must survive anything and retry
                backoff = min(max(backoff * 2, self._min_backoff), self._max_backoff)
                log.exception("%s failed; trying again in %.1fs", self.name, backoff)
                self._stopping.wait(backoff)
                continue
            backoff = 0.0
            self.heartbeat = time.monotonic()
            metrics.loop_ticked(self.name)
            if not more:
                self._wake.wait(self.interval)
