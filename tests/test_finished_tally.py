"""The dashboard's "finished in the last hour" is a per-minute tally that every path ending operations
adds to in its own transaction (`bulk.finished_tally`): recorded outcomes, the in-place completion
of `accept` mode and the stuck-operation sweep; late writes that are fenced out add nothing."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

from bulk import finished_tally, queue
from bulk.clock import ManualClock
from bulk.db import database, write_transaction
from bulk.handlers import Outcome
from bulk.housekeeping import Housekeeper, HousekeepingSettings
from bulk.models import FinishedTally
from bulk.statuses import OperationStatus
from tests.test_complete_in_place import steady
from tests.test_no_op_draining import NOW, UPDATE, submit
from tests.test_queue import new_bulk

COMPLETE, RETRIABLY_FAILED, NOT_RETRIABLY_FAILED = 1, 2, 3


def test_recorded_outcomes_are_counted_by_status_and_a_fenced_late_write_is_not(db):
    queue.enqueue(new_bulk(4), NOW)
    claimed = queue.claim("a" * 32, 4, 60, NOW)
    assert queue.record("a" * 32, [Outcome(claimed[0].id, OperationStatus.COMPLETE, "ok"),
                                   Outcome(claimed[1].id, OperationStatus.COMPLETE, "ok"),
                                   Outcome(claimed[2].id, OperationStatus.NOT_RETRIABLY_FAILED, "no", 7)],
                        NOW) == 3
    assert finished_tally.last_hour(NOW) == {COMPLETE: 2, NOT_RETRIABLY_FAILED: 1}
    # The fourth one's lease runs out and another drainer takes it: the first holder's late result
    # changes nothing, so it counts for nothing.
    queue.claim("b" * 32, 4, 60, NOW + 61)
    assert queue.record("a" * 32, [Outcome(claimed[3].id, OperationStatus.COMPLETE, "late")], NOW + 62) == 0
    assert finished_tally.last_hour(NOW + 62) == {COMPLETE: 2, NOT_RETRIABLY_FAILED: 1}
    assert queue.record("b" * 32, [Outcome(claimed[3].id, OperationStatus.RETRIABLY_FAILED, "later", 0)],
                        NOW + 63) == 1
    assert finished_tally.last_hour(NOW + 63) == {COMPLETE: 2, RETRIABLY_FAILED: 1, NOT_RETRIABLY_FAILED: 1}


def test_the_in_place_completion_of_accept_mode_is_counted(db):
    worker = steady()  # one warm-up operation, through the claim
    submit([f"p{n}" for n in range(7)], UPDATE, at=NOW + 1)
    assert worker.run_once() == 7
    assert finished_tally.last_hour(NOW) == {COMPLETE: 8}


def test_the_stuck_operation_sweep_is_counted_and_minutes_past_the_hour_are_forgotten(db):
    queue.enqueue(new_bulk(3), NOW)
    queue.claim("t" * 32, 2, 60, NOW)  # started, then never heard of again
    clock = ManualClock(NOW + 13 * 3_600)
    sweeper = Housekeeper(clock, HousekeepingSettings(retention_days=0, stuck_hours=12))
    assert sweeper.run_once().failed_operations == 2
    assert finished_tally.last_hour(clock.time()) == {RETRIABLY_FAILED: 2}
    clock.advance(3_600 + 60)
    assert finished_tally.last_hour(clock.time()) == {}
    assert FinishedTally.select().count() == 1  # not read any more, still there until the next sweep
    sweeper.run_once()
    assert FinishedTally.select().count() == 0


def test_the_last_hour_is_the_minutes_that_began_within_it(db):
    minute_start = (NOW // 60 + 1) * 60
    with write_transaction():
        finished_tally.add({COMPLETE: 5}, minute_start + 59)
        finished_tally.add({COMPLETE: 2, RETRIABLY_FAILED: 1, NOT_RETRIABLY_FAILED: 0}, minute_start + 60)
    assert finished_tally.last_hour(minute_start + 60) == {COMPLETE: 7, RETRIABLY_FAILED: 1}
    assert finished_tally.last_hour(minute_start + 3_600) == {COMPLETE: 7, RETRIABLY_FAILED: 1}
    # The first minute began more than an hour before: it is left out whole.
    assert finished_tally.last_hour(minute_start + 3_601) == {COMPLETE: 2, RETRIABLY_FAILED: 1}
    assert finished_tally.last_hour(minute_start + 3_660) == {COMPLETE: 2, RETRIABLY_FAILED: 1}
    assert finished_tally.last_hour(minute_start + 3_661) == {}
    assert FinishedTally.select().count() == 3  # a status with nothing finished writes no row


def test_finishes_recorded_at_once_in_one_minute_all_count(db):
    """Transactions adding to the same minute's row at the same time (PostgreSQL: the upsert waits
    for the other's commit; SQLite: one writer at a time) lose none of their counts."""
    tokens = [uuid.uuid4().hex for _ in range(4)]
    claimed = {}
    for token in tokens:
        queue.enqueue(new_bulk(25), NOW)
        claimed[token] = queue.claim(token, 25, 60, NOW)
    start = threading.Barrier(len(tokens))

    def record(token):
        with database.connection_context():
            start.wait()
            statuses = (OperationStatus.COMPLETE, OperationStatus.RETRIABLY_FAILED)
            return queue.record(token, [Outcome(op.id, statuses[op.operation_key % 2], "done")
                                        for op in claimed[token]], NOW)

    with ThreadPoolExecutor(len(tokens)) as pool:
        # (`result()` raises here whatever a transaction raised in its thread.)
        assert [future.result() for future in [pool.submit(record, token) for token in tokens]] == [25] * 4
    assert finished_tally.last_hour(NOW) == {COMPLETE: 4 * 13, RETRIABLY_FAILED: 4 * 12}
