"""The drainer: a thread that claims open operations, runs their handlers and records outcomes."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Sequence

from bulk import queue
from bulk.catalogue import Catalogue, Route
from bulk.clock import Clock
from bulk.db import database, write_transaction
from bulk.handlers import Handler, Job, missing_route_outcome, run_job
from bulk.retries import RetryPolicy
from bulk.statuses import OperationStatus

log = logging.getLogger(__name__)

HandlerFor = Callable[[Route], Handler]


def holder() -> str:
    """Who claims (host:pid), recorded on each claimed operation so operators see who holds it."""
    return f"{socket.gethostname()}:{os.getpid()}"


# After an unexpected failure (database gone, disk full) the loop waits, doubling up to this.
MAX_BACKOFF_SECONDS = 30.0


@dataclass(frozen=True)
class DrainerSettings:
    batch_size: int = 100
    lease_seconds: float = 60.0
    poll_seconds: float = 0.5
    # Operations run at once, in threads (forward mode: the bound on concurrent upstream calls).
    concurrency: int = 1
    # Automatic retries of status-2 outcomes; the default makes none, as Magento.
    retry: RetryPolicy = RetryPolicy()


@dataclass(frozen=True)
class _Task:
    """A claimed operation with its route and handler."""

    operation: queue.ClaimedOperation
    route: Route | None
    handler: Handler | None

    @property
    def transactional(self) -> bool:
        # Without a route there is nothing to run: the failure is recorded like a local effect.
        return self.handler is None or getattr(self.handler, "transactional", False)

    @property
    def pure(self) -> bool:
        return self.handler is None or getattr(self.handler, "pure", False)

    def run(self) -> queue.Outcome:
        if self.route is None or self.handler is None:
            return missing_route_outcome(self.operation)
        return run_job(Job(self.operation, self.route), self.handler)


class Drainer:
    """Drains the queue in its own thread (`start`/`stop`) or synchronously (`run_once`/`drain`)."""

    def __init__(self, catalogue: Catalogue, handler_for: HandlerFor, clock: Clock,
                 settings: DrainerSettings = DrainerSettings()) -> None:
        self._catalogue = catalogue
        self._handler_for = handler_for
        self._clock = clock
        self._settings = settings
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lifecycle = threading.Lock()
        self._thread: threading.Thread | None = None

    # -- synchronous use ---------------------------------------------------------------------

    def run_once(self) -> int:
        """Claim one batch, run it, record it; returns how many operations were finished."""
        token = uuid.uuid4().hex
        with database.connection_context():
            claimed = queue.claim(token, self._settings.batch_size, self._settings.lease_seconds,
                                  self._clock.time(), holder=holder())
        if not claimed:
            return 0
        tasks = [self._task(operation) for operation in claimed]
        with database.connection_context():
            done = self._run_in_transaction(token, [task for task in tasks if task.transactional])
            done += self._run_outside(token, [task for task in tasks if not task.transactional])
            if done < len(claimed):
                # Stopping (or a lease lost): hand the rest back now, not when the lease runs out.
                queue.release(token, [operation.id for operation in claimed])
        return done

    def _task(self, operation: queue.ClaimedOperation) -> "_Task":
        route = self._catalogue.get(operation.route_key)
        return _Task(operation, route, self._handler_for(route) if route is not None else None)

    def _run_in_transaction(self, token: str, tasks: list["_Task"]) -> int:
        """Run handlers whose effects live in this database inside the transaction that records
        their outcomes, so effects and status commit together: exactly once, even after a kill."""
        if not tasks:
            return 0
        outcomes = []
        with write_transaction():
            # Only operations this claim still holds; the rows stay locked until the commit.
            held = queue.held(token, [task.operation.id for task in tasks])
            for task in tasks:
                if self._stopping.is_set():
                    break
                if task.operation.id not in held:
                    continue
                outcomes.append(task.run() if task.pure else self._run_in_savepoint(task))
            self._record(token, tasks, outcomes)
        return len(outcomes)

    @staticmethod
    def _run_in_savepoint(task: "_Task") -> queue.Outcome:
        with database.atomic() as savepoint:
            outcome = task.run()
            if outcome.status != OperationStatus.COMPLETE:
                savepoint.rollback()  # a failed operation leaves no partial effects
        return outcome

    def _run_outside(self, token: str, tasks: list["_Task"]) -> int:
        """Run handlers with outside effects (an upstream call) without holding the write lock.

        Their outcomes are recorded afterwards, only where the claim still holds (at least once).
        A long batch renews its lease half-way, so a live drainer does not lose its operations.
        With `concurrency` above 1 they run in that many threads while this one keeps the lease.
        """
        if not tasks:
            return 0
        lease = self._settings.lease_seconds
        renew_at = self._clock.time() + lease / 2

        def renew_if_due() -> None:
            nonlocal renew_at
            now = self._clock.time()
            if now >= renew_at:
                queue.extend_lease(token, [task.operation.id for task in tasks], now + lease)
                renew_at = now + lease / 2

        workers = min(self._settings.concurrency, len(tasks))
        if workers > 1:
            outcomes = self._run_concurrently(tasks, workers, renew_if_due)
        else:
            outcomes = []
            for task in tasks:
                if self._stopping.is_set():
                    break
                renew_if_due()
                outcomes.append(task.run())
        self._record(token, tasks, outcomes)
        return len(outcomes)

    def _run_concurrently(self, tasks: list["_Task"], workers: int,
                          renew_if_due: Callable[[], None]) -> list[queue.Outcome]:
        """Run `tasks` in `workers` threads; a task not started when stopping is left out."""
        def run(task: "_Task") -> queue.Outcome | None:
            return None if self._stopping.is_set() else task.run()

        # A pool per batch: no thread outlives the batch, and a batch is worth far more than their start.
        with ThreadPoolExecutor(workers, thread_name_prefix="bulk-job") as pool:
            futures = [pool.submit(run, task) for task in tasks]
            pending = set(futures)
            while pending:
                _, pending = wait(pending, timeout=self._settings.lease_seconds / 4)
                renew_if_due()
        return [outcome for outcome in (future.result() for future in futures) if outcome is not None]

    def _record(self, token: str, tasks: list["_Task"], outcomes: list[queue.Outcome]) -> None:
        """Record final outcomes; retriable failures with tries left wait for their retry instead."""
        finished, deferred = self._retry_or_finish([task.operation for task in tasks], outcomes)
        if finished:
            queue.record(token, finished)
        if deferred:
            queue.defer(token, deferred)

    def _retry_or_finish(self, claimed: Sequence[queue.ClaimedOperation], outcomes: list[queue.Outcome]
                         ) -> tuple[list[queue.Outcome], list[queue.Deferral]]:
        """Split outcomes into those to record and retriable failures to try again later."""
        attempts = {operation.id: operation.attempts for operation in claimed}
        now = self._clock.time()
        finished: list[queue.Outcome] = []
        deferred: list[queue.Deferral] = []
        for outcome in outcomes:
            delay = None
            if outcome.status == OperationStatus.RETRIABLY_FAILED:
                delay = self._settings.retry.delay(attempts[outcome.operation_id], outcome.retry_after)
            if delay is None:
                finished.append(outcome)
            else:
                deferred.append(queue.Deferral(outcome.operation_id, now + delay, outcome.result_message,
                                               outcome.error_code))
        return finished, deferred

    def drain(self) -> int:
        """Run batches until nothing is claimable; returns how many operations were finished."""
        total = 0
        while True:
            done = self.run_once()
            if not done:
                return total
            total += done

    # -- background thread -------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread if it is not running (idempotent)."""
        with self._lifecycle:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping.clear()
            self._thread = threading.Thread(target=self._loop, name="bulk-drainer", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> bool:
        """Ask the thread to finish its current operation and exit; True if it did within `timeout`."""
        with self._lifecycle:
            thread = self._thread
            self._stopping.set()
            self._wake.set()
            if thread is None:
                return True
            thread.join(timeout)
            stopped = not thread.is_alive()
            if stopped:
                self._thread = None
            else:
                log.warning("drainer did not stop within %.1fs; its claims expire with their lease",
                            timeout)
            return stopped

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def notify(self) -> None:
        """Work was just queued in this process: look now instead of at the next poll."""
        self._wake.set()

    def _loop(self) -> None:
        backoff = 0.0
        while not self._stopping.is_set():
            # Cleared before looking, so a notify() during the batch makes the next wait return at once.
            self._wake.clear()
            try:
                done = self.run_once()
                backoff = 0.0
            except Exception:  # noqa: BLE001 - the loop must survive anything and retry
                backoff = min(max(backoff * 2, 0.5), MAX_BACKOFF_SECONDS)
                log.exception("drainer batch failed; retrying in %.1fs", backoff)
                self._stopping.wait(backoff)
                continue
            if not done:
                self._wake.wait(self._settings.poll_seconds)
