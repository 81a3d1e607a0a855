"""The drainer's automatic retries, its lease discipline and concurrency, with handlers in-process."""

from __future__ import annotations

import threading
import time

from bulk.clock import ManualClock
from bulk.db import database
from bulk.drainer import Drainer, DrainerSettings
from bulk.handlers import PermanentError, RetriableError
from bulk.models import Operation
from bulk.retries import RetryPolicy, parse_retry_after
from bulk.routes.builtin import builtin_catalogue
from tests.test_worker import product, rows, submit


def drainer(handler, clock, **settings) -> Drainer:
    return Drainer(builtin_catalogue(), lambda route: handler, clock, DrainerSettings(**settings))


def test_backoff_doubles_with_jitter_and_stops_at_the_last_attempt():
    low = RetryPolicy(max_attempts=6, base_seconds=1, max_seconds=10, jitter=lambda: 0.0)
    high = RetryPolicy(max_attempts=6, base_seconds=1, max_seconds=10, jitter=lambda: 0.999999)
    assert [low.delay(n) for n in range(1, 6)] == [0.5, 1, 2, 4, 5]
    assert [round(high.delay(n), 3) for n in range(1, 6)] == [1, 2, 4, 8, 10]
    assert low.delay(6) is None and RetryPolicy().delay(1) is None
    # Retry-After is a floor, capped by the longest delay.
    assert low.delay(1, retry_after=7) == 7
    assert low.delay(1, retry_after=3600) == 10
    assert high.delay(5, retry_after=2) == high.delay(5)


def test_retry_after_values():
    now = 1_700_000_000.0
    assert parse_retry_after("120", now) == 120
    assert parse_retry_after("Tue, 14 Nov 2023 22:14:20 GMT", now) == 60
    assert parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now) == 0  # already past
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("-5", now) is None
    assert parse_retry_after(None, now) is None


def test_retriable_failures_are_retried_until_the_attempts_run_out(db):
    clock = ManualClock()
    submit([product("flaky"), product("broken"), product("ok")])
    calls: list[str] = []

    def handler(job):
        sku = job.arguments["product"]["sku"]
        calls.append(sku)
        if sku == "flaky":
            raise RetriableError("Lock wait timeout exceeded", code=1205, retry_after=5)
        if sku == "broken":
            raise PermanentError("Invalid product")

    worker = drainer(handler, clock, retry=RetryPolicy(max_attempts=3, base_seconds=1, jitter=lambda: 0.0))
    assert worker.drain() == 3
    flaky, broken, ok = rows()
    assert (flaky.status, flaky.available_at, flaky.result_message, flaky.error_code) == \
        (4, clock.time() + 5, "Lock wait timeout exceeded", 1205)
    assert (broken.status, ok.status) == (3, 1)  # permanent failures are never retried
    for _ in range(2):
        clock.advance(5)
        assert worker.drain() == 1
    assert calls == ["flaky", "broken", "ok", "flaky", "flaky"]
    flaky = rows()[0]
    assert (flaky.status, flaky.attempts, flaky.claim_token) == (2, 3, None)


def test_concurrent_jobs_keep_their_lease_while_they_run(db):
    clock = ManualClock()
    submit([product("slow-1"), product("slow-2")])
    claimed_until = clock.time() + 0.4

    def slow(job):
        """Take longer than half the lease, then wait (bounded) for the drainer to renew it."""
        if job.operation_key == 0:
            clock.advance(0.3)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with database.connection_context():
                if Operation.get_by_id(job.operation.id).available_at > claimed_until:
                    return "renewed"
            time.sleep(0.01)
        return "lease not renewed"

    assert drainer(slow, clock, concurrency=2, lease_seconds=0.4).drain() == 2
    assert [row.result_serialized_data for row in rows()] == ['"renewed"', '"renewed"']


def test_jobs_run_in_parallel_up_to_the_concurrency(db):
    submit([product(f"SKU-{i}") for i in range(8)])
    gate = threading.Barrier(4, timeout=10)
    threads: set[str] = set()

    def handler(job):
        threads.add(threading.current_thread().name)
        gate.wait()

    assert drainer(handler, ManualClock(), concurrency=4).drain() == 8
    assert len(threads) == 4
    assert Operation.select().where(Operation.status == 1).count() == 8
