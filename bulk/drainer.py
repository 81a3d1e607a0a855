"""The drainer: claims open operations, runs their handlers and records Magento's outcomes."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import NamedTuple

import peewee

from bulk import metrics, queue
from bulk.clock import Clock
from bulk.db import database, is_sqlite, write_transaction
from bulk.handlers import ClaimedOperation, Handler, HandlerFor, Job, OperationError, Outcome, is_no_op, is_pure
from bulk.jsonutil import dumps
from bulk.loops import Loop
from bulk.phrases import DATABASE_RETRIABLE, INTERNAL_ERROR, Phrase, render, report_id
from bulk.retries import RetryPolicy
from bulk.routes.catalogue import Catalogue, Route
from bulk.statuses import OperationStatus
from bulk.webhooks.subscriptions import NO_SUBSCRIPTIONS, Subscriptions
from schemas.base import ArgumentsError

log = logging.getLogger(__name__)


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
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # After a batch that was not full, the next claim waits until this long after that one began.
    coalesce_seconds: float = 0.0
    # While batches come back full (a backlog), claims grow up to this size (0: never grow).
    max_batch_size: int = 0
    # A growing batch stops growing once one batch holds the write lock this long (None: no bound).
    catch_up_seconds: float | None = None


# On SQLite a growing batch stops growing once one batch holds the write lock this long: every
# submit waits for that lock, so this bounds what the drainer adds to their latency.
CATCH_UP_SECONDS = 0.025

# How long after a batch that was not full the next claim waits (BULK_CLAIM_COALESCE_SECONDS' default),
# by engine. PostgreSQL spends CPU on each batch's statements and on each of their round trips, CPU the
# submits need: on 2 cores 0.1 s gave 1.20x and 1.33x the requests per second of 0.02 s with the drainer
# on, still keeping up (bench/checkouts_ab.py, README's Benchmarks). SQLite's batches hold the write lock
# that every submit waits for, so they stay short.
COALESCE_SECONDS = {"sqlite": 0.02, "postgresql": 0.1}

# After a tick that only published bulks (`accept` mode), the next waits at least this long: a
# publish costs a commit whatever it publishes, and on SQLite one every 20 ms was a fifth as many log
# flushes again as 250 submits a second make. Measured on SQLite, drainer on, interleaved: 1.11x the
# requests of no such wait (rounds 0.82-1.56x: within this machine's noise, README's Benchmarks). A
# bulk is then published about this long after its submit.
PUBLISH_COALESCE_SECONDS = 0.1


def run_job(job: Job) -> Outcome:
    """Run the job's handler and translate whatever happens into Magento's outcome (logged at DEBUG)."""
    if not log.isEnabledFor(logging.DEBUG):
        return _run_handler(job)
    started = time.perf_counter()
    outcome = _run_handler(job)
    duration_ms = round((time.perf_counter() - started) * 1000, 2)
    outcome_name = outcome.status.name.lower()
    log.debug("operation %s of bulk %s: %s in %sms", job.operation_key, job.bulk_uuid, outcome_name, duration_ms,
              extra={"bulk_uuid": job.bulk_uuid, "operation_id": job.operation_key, "outcome": outcome_name,
                     "topic": job.route.topic_name, "duration_ms": duration_ms})
    return outcome


def _run_handler(job: Job) -> Outcome:
    """Run the job's handler and translate whatever happens into Magento's outcome.

    Magento's consumer: success is 1 with `Service execution success <Class>::<method>`; lock waits,
    deadlocks and lost connections are 2; any other exception is 3 with its message.
    """
    assert job.operation is not None and job.handler is not None
    operation_id = job.operation.id
    try:
        result = job.handler(job)
    except OperationError as error:
        return Outcome(operation_id, error.status, str(error), error.code, retry_after=error.retry_after)
    except ArgumentsError as error:
        return Outcome(operation_id, OperationStatus.NOT_RETRIABLY_FAILED, _describe(error.phrases), 0)
    except (peewee.OperationalError, peewee.InterfaceError) as error:
        # The driver's text (SQL, host names) is for the log; the client learns it may retry.
        log.warning("operation %s of bulk %s met a database error: %s", job.operation_key, job.bulk_uuid, error)
        return Outcome(operation_id, OperationStatus.RETRIABLY_FAILED, DATABASE_RETRIABLE, _code_of(error))
    except Exception:  # any handler failure is recorded, never raised
        # A failure nobody meant (a bug, input the handler did not expect): its Python text and
        # traceback go to the log under a report id, which the operation's message names, as
        # Magento's REST layer masks an unexpected exception.
        report = report_id()
        log.exception("operation %s of bulk %s failed unexpectedly, report %s", job.operation_key, job.bulk_uuid,
                      report)
        return Outcome(operation_id, OperationStatus.NOT_RETRIABLY_FAILED, render(INTERNAL_ERROR, [report]), 0)
    return Outcome(operation_id, OperationStatus.COMPLETE, job.route.success_message, None,
                   None if result is None else dumps(result).decode())


def _describe(phrases: list[Phrase]) -> str:
    return "; ".join(phrase.render() for phrase in phrases)


def _code_of(error: Exception) -> int:
    code = getattr(error, "code", 0)
    return code if isinstance(code, int) and not isinstance(code, bool) else 0


def missing_route_outcome(operation: ClaimedOperation) -> Outcome:
    """The route that accepted this operation is no longer configured (routes file changed)."""
    return Outcome(operation.id, OperationStatus.NOT_RETRIABLY_FAILED,
                   f"No configured route processes {operation.route_key} "
                   f"(topic {operation.topic_name}).", 0)


@dataclass(frozen=True)
class _Batch:
    """One claim: its token, and the tries each claimed operation has had (this one included)."""

    token: str
    attempts: dict[int, int]
    # The bulks of its operations: those its outcomes may finish.
    bulk_uuids: set[str] = field(default_factory=set)
    # What became of the batch's operations so far (status names, `retry_scheduled`), for its log line.
    outcomes: Counter[str] = field(default_factory=Counter)


class _EarlyRun(NamedTuple):
    """What a batch read and ran before SQLite's write lock (`Drainer._run_pure_early`)."""

    outcomes: dict[int, Outcome]  # of the pure handlers, by operation id
    operations: dict[int, ClaimedOperation]  # every operation read, by id
    jobs: dict[int, Job | None]  # their jobs (None: no route processes it)


class _Routes:
    """Routes and their handlers by route key, each looked up once (a batch is mostly one route;
    `handler_for` wraps). Made per batch: wrappers may come and go between batches."""

    def __init__(self, catalogue: Catalogue, handler_for: HandlerFor) -> None:
        self._catalogue = catalogue
        self._handler_for = handler_for
        self._found: dict[str, tuple[Route, Handler] | None] = {}
        self._completes_with: dict[str, str | None] = {}

    def of(self, route_key: str) -> tuple[Route, Handler] | None:
        if route_key not in self._found:
            route = self._catalogue.get(route_key)
            self._found[route_key] = (route, self._handler_for(route)) if route is not None else None
        return self._found[route_key]

    def wants_payload(self, route_key: str) -> bool:
        """Whether its operations' payloads are read: not for a `no_op` handler, nor without a route."""
        return self.of(route_key) is not None and self.completes_with(route_key) is None

    def completes_with(self, route_key: str) -> str | None:
        """The success message its operations are recorded complete with when its handler is
        `no_op` (nothing is called); None otherwise, and without a route."""
        if route_key not in self._completes_with:
            found = self.of(route_key)
            no_op = found is not None and is_no_op(found[1])
            self._completes_with[route_key] = found[0].success_message if found is not None and no_op else None
        return self._completes_with[route_key]

    def all_no_op(self) -> bool:
        """Whether every route looked up for its success message so far is `no_op` (and some was)."""
        return bool(self._completes_with) and None not in self._completes_with.values()

    def calls_pure(self) -> bool:
        """Whether a handler looked up so far is pure and not `no_op` (one to call)."""
        return any(found is not None and is_pure(found[1]) and not is_no_op(found[1]) for found in self._found.values())


def _claimed(job: Job) -> ClaimedOperation:
    """The queued operation of a job the drainer runs (only synchronous calls have none)."""
    assert job.operation is not None
    return job.operation


def _log_batch(claimed: int, bulk_uuids: Iterable[str], batch: _Batch, seconds: float) -> None:
    """One INFO line per batch (per-operation lines are DEBUG: at full speed they would cost more than
    the work); it names up to 20 of the batch's bulks (`bulk_uuids`: of each operation claimed)."""
    if not log.isEnabledFor(logging.INFO):
        return
    bulks = list(dict.fromkeys(bulk_uuids))
    outcomes = {name: count for name, count in batch.outcomes.items() if count}
    duration_ms = round(seconds * 1000, 2)
    log.info("drained %d operation(s) of %d bulk(s) in %sms: %s", claimed, len(bulks), duration_ms,
             ", ".join(f"{name} {count}" for name, count in sorted(outcomes.items())) or "none recorded",
             extra={"operations": claimed, "outcomes": outcomes, "bulk_uuids": bulks[:20],
                    "duration_ms": duration_ms})


class Drainer(Loop):
    """Drains the queue in its own thread (`start`/`stop`) or synchronously (`run_once`/`drain`)."""

    def __init__(self, catalogue: Catalogue, handler_for: HandlerFor, clock: Clock,
                 settings: DrainerSettings = DrainerSettings(),
                 subscriptions: Subscriptions = NO_SUBSCRIPTIONS) -> None:
        super().__init__("bulk-drainer", settings.poll_seconds, min_backoff=0.5, max_backoff=MAX_BACKOFF_SECONDS)
        self._catalogue = catalogue
        self._handler_for = handler_for
        self._clock = clock
        self._settings = settings
        # Whose webhooks the recording transactions write (the outbox).
        self._subscriptions = subscriptions
        self._turn = queue.Turn()
        self._coalesce_until: float | None = None
        self._batch_size = settings.batch_size
        self._held_seconds = 0.0
        # Whether the last batch had pure handlers to call: only then is the next one's read before
        # the lock worth it (a mode without them, `store`, `forward` or `accept`, whose handler is
        # `no_op`, would read every batch twice).
        self._pure_seen = True
        # Whether the last batch was all of `no_op` routes: only then is completing the oldest open
        # operations in place (`queue.complete_backlog`) tried first.
        self._no_op_seen = False
        # What the last tick's publish took (`_publish_known`): operations, and whether it read its limit.
        self._published = 0
        self._publish_full = False
        # Claims take chains (an entity's next operations with its first, `queue.plan_claim`) only
        # where they then run one by one in id order: one at a time, and no failure waits for a
        # retry (a deferred operation's successors would otherwise run before it).
        self._chains = settings.concurrency == 1 and settings.retry.max_attempts <= 1

    def tick(self) -> bool:
        if self._coalesce_until is not None:
            # The last batch was not full: let a little more work arrive before the next claim,
            # instead of one small claim (a write transaction and an fsync) per request.
            self.pause(max(0.0, self._coalesce_until - time.monotonic()))
            self._coalesce_until = None
        started = time.monotonic()
        self._held_seconds = 0.0
        done = self.run_once()
        # The claim's part: a publish is one write per bulk, whatever their size (none when it read its limit).
        claimed = done - self._published
        if done > 0 and claimed < self._batch_size and not self._publish_full and self._settings.coalesce_seconds:
            wait = self._settings.coalesce_seconds if claimed else max(self._settings.coalesce_seconds,
                                                                      PUBLISH_COALESCE_SECONDS)
            self._coalesce_until = started + wait
        self._batch_size = self._next_batch_size(claimed, self._held_seconds)
        return done > 0

    def _next_batch_size(self, done: int, held_seconds: float) -> int:
        """Catch up with a backlog in fewer, larger transactions (one commit each), and keep the size.

        Under a sustained load of submits every transaction queues for the same write lock, and a
        claim of 100 costs about what a 100-item submit does: the drainer would get its share of
        the lock per transaction and fall behind. Doubling while batches come back full (and short
        in time) spends the commit's fixed cost on more operations. A batch that was not full keeps
        the size: the next claim comes after the wake-up coalescing and takes what gathered
        meanwhile in one transaction (going back to the first size made it one bulk per commit).
        """
        if self._settings.max_batch_size <= self._settings.batch_size:
            return self._settings.batch_size
        if self._settings.catch_up_seconds is not None and held_seconds >= self._settings.catch_up_seconds:
            return max(self._settings.batch_size, self._batch_size // 2)
        if done >= self._batch_size:
            return min(self._batch_size * 2, self._settings.max_batch_size)
        return self._batch_size

    def run_once(self) -> int:
        """Publish the oldest bulks whose outcomes were known when accepted (`_publish_known`), then
        claim one batch, run it and record it (`_run_batch`); returns how many operations that finished."""
        with database.connection_context():
            published = self._publish_known()
            return published + self._run_batch()

    def _publish_known(self) -> int:
        """In a write transaction of its own, in the claim turn: publish the oldest bulks whose
        outcomes were known when accepted (`queue.publish_known`); returns their operations. When none
        waits: one probe of a small index, and no transaction."""
        self._published = 0
        self._publish_full = False
        if not queue.any_unpublished():
            return 0
        started = time.perf_counter()
        now = self._clock.time()
        with write_transaction():
            if not queue.take_claim_turn():
                return 0
            published = queue.publish_known(now, self._subscriptions)
        self._publish_full = published.read >= queue.PUBLISH_BULKS
        self._published = published.operations
        if published.operations:
            metrics.operations_finished(Counter({OperationStatus.COMPLETE: published.operations}))
            batch = _Batch("", {}, outcomes=Counter({OperationStatus.COMPLETE.name.lower(): published.operations}))
            _log_batch(published.operations, published.bulk_uuids, batch, time.perf_counter() - started)
        return published.operations

    def _run_batch(self) -> int:
        """Claim one batch, run it, record it; returns how many operations were finished.

        While the drainer keeps up, the claim is read in one statement (`queue.select_whole_backlog`)
        under SQLite's write lock or, on PostgreSQL, once the claim's transaction has the drainers'
        claim turn; nothing due: no transaction at all. Behind a backlog it is planned fairly
        (`queue.plan_claim`): on SQLite before the lock, on PostgreSQL in the claim turn.
        When the last batch was all of `no_op` routes (`accept` mode), the oldest open operations,
        a batch of them in bulk order, are first recorded complete in place (`queue.complete_backlog`),
        with no operation read into Python and no turn through the bulks, however deep the backlog;
        when they are not all of such routes and due, the claim goes on.
        Operations whose handlers only write to this database are selected and run in one
        transaction, which also records their outcomes: one commit for the whole batch, and one
        write of each operation (its outcome; such a claim needs no lease). Operations with outside
        effects are claimed with a lease in that transaction, run after it commits, and recorded after.
        """
        token = uuid.uuid4().hex
        started = time.perf_counter()
        now = self._clock.time()
        with database.connection_context():
            # A drainer that keeps up reads its claim under the write lock (SQLite) or the claim
            # turn (PostgreSQL) in one statement (`_claim`), unless it has pure handlers to call;
            # SQLite then plans before the lock, where they run too (`_run_pure_early`).
            whole = self._turn.caught_up and not self._pure_seen
            # Completing in place reads a batch of the oldest open operations, however deep the
            # backlog, so it does not wait for the drainer to catch up. (It did: a drainer behind a
            # backlog of `no_op` routes, after a start under load or a restart with a queue, planned
            # fair claims until one came back short, at a fifth of the rate or less on PostgreSQL,
            # bench/scale.py.) When the batch is not of such routes, SQLite plans the claim under the
            # write lock this once.
            in_place = self._no_op_seen
            planned = None
            # Nothing due, nothing to claim: no plan, no lock or turn. (On PostgreSQL a claim's
            # transaction took the turn to plan nothing in `accept` mode's every tick, whose bulks
            # are published, not claimed.)
            if not queue.any_due(now):
                return 0
            if not (whole or in_place) and is_sqlite():
                planned = queue.plan_claim(self._batch_size, now, self._turn, self._chains)
                if not planned:
                    return 0
            routes = _Routes(self._catalogue, self._handler_for)
            early = self._run_pure_early(planned, now, routes) if planned and self._pure_seen else _EarlyRun({}, {}, {})
            with write_transaction():
                began = time.perf_counter()
                if planned is None and not queue.take_claim_turn():
                    return 0  # another drainer's claim outlasted the wait for the turn: it takes what is claimable
                completed = self._complete_backlog(now, routes) if in_place else None
                if completed is None:
                    claimed = self._claim(now, planned, whole, early, routes)
                    if not claimed:
                        return 0
                    batch = _Batch(token, {operation.id: operation.attempts for operation in claimed},
                                   {operation.bulk_uuid for operation in claimed})
                    local, outside = self._jobs(claimed, early.jobs, routes)
                    self._pure_seen = routes.calls_pure()
                    self._no_op_seen = routes.all_no_op()
                    if outside:
                        queue.hold(token, [_claimed(job).id for job in outside], self._settings.lease_seconds, now,
                                   holder())
                    done = self._run_local(batch, *local, early.outcomes)
            # How long the batch held the write lock (SQLite: what every submit waits for), waits
            # for it left out: the measure its growth is bounded by.
            self._held_seconds = time.perf_counter() - began
            if completed is not None:
                if completed:  # (none: another drainer took them first, as an empty claim)
                    batch = _Batch(token, {}, outcomes=Counter({OperationStatus.COMPLETE.name.lower(): len(completed)}))
                    _log_batch(len(completed), (bulk_uuid for _, bulk_uuid in completed), batch,
                               time.perf_counter() - started)
                return len(completed)
            done += self._run_outside(batch, outside)
            if outside and done < len(claimed):
                # Stopping (or a lease lost): hand the rest back now, not when the lease runs out.
                queue.release(token, [_claimed(job).id for job in outside])
        _log_batch(len(claimed), (operation.bulk_uuid for operation in claimed), batch, time.perf_counter() - started)
        return done

    def _claim(self, now: float, planned: queue.Plan | None, whole: bool, early: _EarlyRun, routes: _Routes
               ) -> list[ClaimedOperation]:
        """What this batch takes, inside its write transaction: the whole backlog when `whole` and it
        fits, else what is still claimable of `planned` (planned here, in the claim turn, when None)."""
        if whole:
            claimed = queue.select_whole_backlog(self._batch_size, now, self._chains, routes.wants_payload)
            if claimed is not None:
                return claimed
            self._turn.caught_up = False  # behind: plan fairly until a claim comes back short
        if planned is None:
            planned = queue.plan_claim(self._batch_size, now, self._turn, self._chains)
            if not planned:
                return []
        return queue.select_planned(planned, self._batch_size, now, self._turn, self._chains,
                                    known=early.operations, wants_payload=routes.wants_payload)

    def _complete_backlog(self, now: float, routes: _Routes) -> list[tuple[int, str]] | None:
        """Inside the claim's write transaction, in the claim turn: the oldest batch of open
        operations recorded complete when they are all of `no_op` routes and due
        (`queue.complete_backlog`), the (id, bulk uuid) of each; None when they are not (nothing
        written: the claim goes on)."""
        completed = queue.complete_backlog(self._batch_size, now, routes.completes_with, self._subscriptions)
        if completed is not None:
            metrics.operations_finished(Counter({OperationStatus.COMPLETE: len(completed)}))
        return completed

    def _jobs(self, claimed: list[ClaimedOperation], read: Mapping[int, Job | None], routes: _Routes
              ) -> tuple[tuple[list[Job], list[Outcome], dict[str, list[int]]], list[Job]]:
        """Split a claim into its database-local part (jobs, outcomes of unroutable operations, ids
        of `no_op` operations by success message) and the jobs with outside effects. `read`: jobs
        of operations read before the claim, used again for those claimed as they were read.

        Local jobs run before outside ones, so where a claim holds several operations of one entity
        (a chain) of both kinds, only those before the first of the other kind run now; the rest
        are left out, released with whatever else did not run, and claimed again in order.
        `no_op` operations are recorded complete without a job: when the whole claim is of such
        routes (`accept` mode) they come back as the third local item, their ids by success
        message; otherwise as jobs, in order with the others (`_run_local` records them).
        """
        completed = self._all_completed(claimed, routes)
        if completed is not None:
            return ([], [], completed), []
        local: list[Job] = []
        outside: list[Job] = []
        unroutable: list[Outcome] = []
        first_kind: dict[str, bool] = {}
        left_out: set[str] = set()
        for operation, job in zip(claimed, self._jobs_of(claimed, routes, read), strict=True):
            is_local = job is None or job.transactional
            entity = operation.entity_key
            if entity is not None and (entity in left_out or first_kind.setdefault(entity, is_local) != is_local):
                left_out.add(entity)
                continue
            if job is None:
                # Without a route there is nothing to run: the failure is recorded like a local effect.
                unroutable.append(missing_route_outcome(operation))
            else:
                (local if is_local else outside).append(job)
        return (local, unroutable, {}), outside

    @staticmethod
    def _all_completed(claimed: list[ClaimedOperation], routes: _Routes) -> dict[str, list[int]] | None:
        """The claim's ids by success message when every route it holds is `no_op`, else None.

        Then nothing is run, held or ordered (they are recorded in one statement of this
        transaction), so nothing per operation is made beyond its id: in `accept` mode that
        per-operation work was a third of what a batch held the write lock for.
        """
        route_keys = {operation.route_key for operation in claimed}
        messages = {key: message for key in route_keys if (message := routes.completes_with(key)) is not None}
        if len(messages) < len(route_keys):
            return None
        if len(messages) == 1:
            [message] = messages.values()
            return {message: [operation.id for operation in claimed]}
        completed: dict[str, list[int]] = {}
        for operation in claimed:
            completed.setdefault(messages[operation.route_key], []).append(operation.id)
        return completed

    def _run_pure_early(self, planned: queue.Plan, now: float, routes: _Routes) -> _EarlyRun:
        """SQLite: run the planned operations whose handlers are pure before taking the write lock.

        What a pure handler answers depends on its operation alone (an open operation's payload
        never changes), so its outcome can be worked out from a read; the batch then only records
        it, and the lock every submit waits for is held for the writes. Those the batch no longer
        gets (taken meanwhile) are dropped: nothing happened. The jobs read are kept for the claim,
        which then reads only ids and tries under the lock.
        """
        read = queue.read_due(planned, now)
        early = _EarlyRun({}, {operation.id: operation for operation in read},
                          {operation.id: job for operation, job in zip(read, self._jobs_of(read, routes), strict=True)})
        for operation_id, job in early.jobs.items():
            if job is not None and job.pure and not job.no_op and not self.stopping:
                early.outcomes[operation_id] = run_job(job)
        return early

    def _jobs_of(self, operations: list[ClaimedOperation], routes: _Routes,
                 read: Mapping[int, Job | None] | None = None) -> list[Job | None]:
        """Each operation's job (None when no configured route processes it); the job in `read`
        of an operation claimed as it was read."""
        jobs: list[Job | None] = []
        for operation in operations:
            known = read.get(operation.id) if read else None
            if known is not None and known.operation is operation:
                jobs.append(known)
                continue
            found = routes.of(operation.route_key)
            jobs.append(Job.of(operation, *found) if found is not None else None)
        return jobs

    def _run_local(self, batch: _Batch, jobs: list[Job], unroutable: list[Outcome],
                   completed: dict[str, list[int]], ran_early: Mapping[int, Outcome]) -> int:
        """Run handlers whose effects live in this database inside the transaction that claimed
        them and records their outcomes, so effects and status commit together: exactly once,
        even after a kill. Pure handlers' outcomes may come from `ran_early`; `no_op` handlers'
        operations are recorded complete without a call (`completed`: those already split off,
        ids by success message; more are added from `jobs`)."""
        outcomes = list(unroutable)
        for job in jobs:
            if job.no_op:
                completed.setdefault(job.route.success_message, []).append(_claimed(job).id)
            elif self.stopping:
                break
            elif job.pure:
                early = ran_early.get(_claimed(job).id)
                outcomes.append(early if early is not None else run_job(job))
            else:
                outcomes.append(self._run_in_savepoint(job))
        if outcomes or completed:
            self.record_outcomes(batch, outcomes, claimed=False, completed=completed)
        return len(outcomes) + sum(map(len, completed.values()))

    @staticmethod
    def _run_in_savepoint(job: Job) -> Outcome:
        with database.atomic() as savepoint:
            outcome = run_job(job)
            if outcome.status != OperationStatus.COMPLETE:
                savepoint.rollback()  # a failed operation leaves no partial effects
        return outcome

    def _run_outside(self, batch: _Batch, jobs: list[Job]) -> int:
        """Run handlers with outside effects (an upstream call) without holding the write lock.

        Their outcomes are recorded afterwards, only where the claim still holds (at least once).
        A long batch renews its lease half-way, so a live drainer does not lose its operations.
        With `concurrency` above 1 they run in that many threads while this one keeps the lease.
        """
        if not jobs:
            return 0
        operation_ids = [_claimed(job).id for job in jobs]
        lease = self._settings.lease_seconds
        renew_at = self._clock.time() + lease / 2

        def renew_if_due() -> None:
            nonlocal renew_at
            now = self._clock.time()
            if now >= renew_at:
                queue.extend_lease(batch.token, operation_ids, now + lease)
                renew_at = now + lease / 2

        workers = min(self._settings.concurrency, len(jobs))
        if workers > 1:
            outcomes = self._run_concurrently(jobs, workers, renew_if_due)
        else:
            outcomes = []
            for job in jobs:
                if self.stopping:
                    break
                renew_if_due()
                outcomes.append(run_job(job))
        if outcomes:
            self.record_outcomes(batch, outcomes)
        return len(outcomes)

    def _run_concurrently(self, jobs: list[Job], workers: int,
                          renew_if_due: Callable[[], None]) -> list[Outcome]:
        """Run `jobs` in `workers` threads; a job not started when stopping is left out."""
        def run(job: Job) -> Outcome | None:
            return None if self.stopping else run_job(job)

        # A pool per batch: no thread outlives the batch, and a batch is worth far more than their start.
        with ThreadPoolExecutor(workers, thread_name_prefix="bulk-job") as pool:
            futures = [pool.submit(run, job) for job in jobs]
            pending = set(futures)
            while pending:
                _, pending = wait(pending, timeout=self._settings.lease_seconds / 4)
                renew_if_due()
        return [outcome for outcome in (future.result() for future in futures) if outcome is not None]

    def record_outcomes(self, batch: _Batch, outcomes: list[Outcome], claimed: bool = True,
                        completed: Mapping[str, list[int]] | None = None) -> None:
        """The transaction that records a batch's outcomes (a savepoint of the selecting transaction
        for database-local handlers, whose operations were not `claimed`). Whatever must commit
        together with outcomes goes here. `completed`: operations of `no_op` handlers, their ids by
        success message.

        Final outcomes are recorded; retriable failures with tries left wait for their retry instead.
        """
        finished, deferred = self._retry_or_finish(batch.attempts, outcomes)
        token = batch.token if claimed else None
        with write_transaction():
            if finished or completed:
                queue.record(token, finished, self._clock.time(), self._subscriptions, completed, batch.bulk_uuids)
            if deferred:
                queue.defer(token, deferred, self._clock.time())
        # Counted once: an enum's `name` is a Python-level lookup, slow when made for every operation.
        statuses = Counter(outcome.status for outcome in finished)
        statuses[OperationStatus.COMPLETE] += sum(map(len, (completed or {}).values()))
        metrics.operations_finished(statuses)
        metrics.retries_scheduled(len(deferred))
        batch.outcomes.update({status.name.lower(): count for status, count in statuses.items() if count})
        batch.outcomes["retry_scheduled"] += len(deferred)

    def _retry_or_finish(self, attempts: dict[int, int], outcomes: Sequence[Outcome]
                         ) -> tuple[list[Outcome], list[queue.Deferral]]:
        """Split outcomes into those to record and retriable failures to try again later."""
        now = self._clock.time()
        finished: list[Outcome] = []
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
