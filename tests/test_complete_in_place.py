"""In `accept` mode the drainer records the oldest open operations, a batch of them in bulk order,
complete with one UPDATE per success message (`queue.complete_backlog`), however deep the backlog;
when they are not all of `no_op` routes and due, they are left, untouched, to the claim."""

from __future__ import annotations

import json
import logging

import pytest

from bulk import queue
from bulk.clock import ManualClock, utc_datetime
from bulk.config import BULK_FINISHED
from bulk.db import database
from bulk.drainer import Drainer, DrainerSettings
from bulk.handlers import accept_handler, transactional
from bulk.models import Bulk, Operation, WebhookDelivery
from bulk.queue import NewBulk, NewOperation
from bulk.statuses import OperationStatus
from bulk.webhooks.subscriptions import NO_SUBSCRIPTIONS, Subscriptions
from tests.spies import answers_of
from tests.sql_helpers import statements_run
from tests.test_no_op_draining import CATALOGUE, CREATE, DELETE, NOW, UPDATE, submit

COMPLETE, OPEN = OperationStatus.COMPLETE, OperationStatus.OPEN


def steady(handler_for=lambda route: accept_handler, batch_size: int = 10,
           subscriptions: Subscriptions = NO_SUBSCRIPTIONS) -> Drainer:
    """A drainer after its first batch, of `no_op` routes: the next claims try `complete_backlog` first."""
    worker = Drainer(CATALOGUE, handler_for, ManualClock(NOW), DrainerSettings(batch_size=batch_size), subscriptions)
    submit(["warm-up"], at=NOW - 10)
    assert worker.run_once() == 1
    return worker


@pytest.fixture
def in_place(monkeypatch):
    """What each `complete_backlog` call answered (None: not such a backlog, left to the claim)."""
    return answers_of(monkeypatch, queue, "complete_backlog", lambda completed: None if completed is None else len(completed))


def status_of(bulk_uuid: str) -> list[tuple[str, int, str | None]]:
    return [(row.entity_key, row.status, row.result_message)
            for row in Operation.select().where(Operation.bulk == bulk_uuid).order_by(Operation.id)]


def test_a_backlog_of_no_op_routes_is_recorded_complete_with_one_update_per_message(db, monkeypatch, in_place):
    worker = steady()
    creates = submit(["A", "B"], CREATE, at=NOW + 1)
    deletes = submit(["A", "C"], DELETE, at=NOW + 2)  # A's delete waits behind its create
    done, statements = statements_run(monkeypatch, worker.run_once)
    assert done == 4 and in_place == [4]
    assert status_of(creates) == [("sku:A", COMPLETE, CREATE.success_message),
                                  ("sku:B", COMPLETE, CREATE.success_message)]
    assert status_of(deletes) == [("sku:A", COMPLETE, DELETE.success_message),
                                  ("sku:C", COMPLETE, DELETE.success_message)]
    # As Magento's consumer records a success: the payload cleared, one try, its start and finish.
    rows = list(Operation.select().where(Operation.bulk.in_([creates, deletes])))
    assert {(row.serialized_data, row.attempts, row.started_at, row.finished_at) for row in rows} == {
        (None, 1, utc_datetime(NOW), utc_datetime(NOW))}
    assert Bulk.select().where(Bulk.finished_at.is_null()).count() == 0
    # Nothing read row by row into Python: the routes of the backlog, then one UPDATE per message.
    updates = [sql for sql, _ in statements if sql.startswith('UPDATE "magento_operation"')]
    assert len(updates) == 2 and all(" RETURNING " in sql for sql in updates)
    reads = [sql for sql, _ in statements if sql.startswith('SELECT "backlog"')]
    assert len(reads) == 1 and "GROUP BY" in reads[0] and '"serialized_data"' not in reads[0]
    # The table itself is read for the look for due work (before the lock) and for one row, the
    # last one in bulk order that the read of the routes took in, which bounds the writes.
    assert [sql.split(" FROM ")[0] for sql, _ in statements
            if sql.startswith("SELECT") and sql.split(" FROM ")[1].startswith('"magento_operation"')] == [
        "SELECT 1", 'SELECT "t1"."bulk_uuid", "t1"."id"']
    assert worker.run_once() == 0


@pytest.mark.parametrize("backlog", ["an operation held", "a retry waiting", "a route that works",
                                     "an unroutable operation"])
def test_any_other_backlog_is_left_to_the_claim_untouched(db, in_place, backlog):
    worked: list[str] = []

    @transactional
    def working(job):
        worked.append(job.arguments["product"]["sku"])

    worker = steady(lambda route: working if route.key == UPDATE.key else accept_handler)
    first = submit(["A", "B"], CREATE, at=NOW + 1)
    later = submit(["A", "C"], CREATE, at=NOW + 2)
    first_a = Operation.get(Operation.bulk == first, Operation.entity_key == "sku:A")
    if backlog == "an operation held":
        queue.hold("h" * 32, [first_a.id], 60, NOW)
    elif backlog == "a retry waiting":
        Operation.update(available_at=NOW + 30).where(Operation.id == first_a.id).execute()
    elif backlog == "a route that works":
        submit(["C"], UPDATE, at=NOW + 3)
    else:
        stray = NewOperation(0, "gone.topic", "POST /V1/gone", json.dumps({"x": 1}))
        queue.enqueue(NewBulk("0" * 32, 1, 2, "gone", [stray]), NOW)
    done = worker.run_once()
    assert in_place == [None]  # it looked, wrote nothing, and the claim went on
    if backlog in ("an operation held", "a retry waiting"):
        # A's later operation still waits behind its first: entity order holds.
        assert done == 2
        assert status_of(first) == [("sku:A", OPEN, None), ("sku:B", COMPLETE, CREATE.success_message)]
        assert status_of(later) == [("sku:A", OPEN, None), ("sku:C", COMPLETE, CREATE.success_message)]
    elif backlog == "a route that works":
        assert done == 5 and worked == ["C"]
    else:
        assert done == 5
        [stray_row] = Operation.select().where(Operation.route_key == "POST /V1/gone")
        assert stray_row.status == OperationStatus.NOT_RETRIABLY_FAILED
        assert "No configured route" in stray_row.result_message


def test_behind_a_deeper_backlog_the_oldest_batch_in_bulk_order_completes_in_place(db, in_place):
    worker = steady()
    first = submit(["A", "B"], CREATE, at=NOW + 1)
    later = submit(["A", "C"], DELETE, at=NOW + 2)
    last = submit([f"S{n}" for n in range(7)], CREATE, at=NOW + 3)
    assert worker.run_once() == 10 and in_place == [10]
    # The first ten in bulk order: A's create and delete in the same batch; only the newest waits.
    assert [status for _, status, _ in status_of(first) + status_of(later)] == [COMPLETE] * 4
    assert [status for _, status, _ in status_of(last)] == [COMPLETE] * 6 + [OPEN]
    assert worker.run_once() == 1 and in_place == [10, 1]


def test_a_drainer_that_starts_behind_a_deep_backlog_completes_in_place_from_its_second_batch(
        db, monkeypatch, in_place):
    # A start under load or a restart with a queue: the first batch is claimed (nothing is known of
    # the routes yet) and comes back full, so the drainer is behind; it need not catch up to
    # complete in place (it did: every batch until then went through the fair plan).
    bulks = [submit([f"S{n}-{i}" for i in range(4)], CREATE, at=NOW + n) for n in range(5)]
    worker = Drainer(CATALOGUE, lambda route: accept_handler, ManualClock(NOW), DrainerSettings(batch_size=8))
    plans = answers_of(monkeypatch, queue, "plan_claim", len)
    assert [worker.run_once() for _ in range(4)] == [8, 8, 4, 0]
    assert plans == [8] and in_place == [8, 4]
    assert not worker._turn.caught_up  # still: only a claim tells, and none was needed
    assert all(status == COMPLETE for bulk_uuid in bulks for _, status, _ in status_of(bulk_uuid))


def test_an_operation_held_after_the_oldest_batch_does_not_hold_it_up(db, in_place):
    worker = steady()
    oldest = submit([f"S{n}" for n in range(10)], CREATE, at=NOW + 1)
    newer = submit(["S0", "T"], CREATE, at=NOW + 2)
    [held_t] = [row.id for row in Operation.select().where(Operation.bulk == newer, Operation.entity_key == "sku:T")]
    queue.hold("h" * 32, [held_t], 60, NOW)
    assert worker.run_once() == 10 and in_place == [10]
    assert [status for _, status, _ in status_of(oldest)] == [COMPLETE] * 10
    # The held one is its holder's to record; the newer bulk's other operation waits for the next batch.
    assert status_of(newer) == [("sku:S0", OPEN, None), ("sku:T", OPEN, None)]
    assert Operation.get_by_id(held_t).claim_token == "h" * 32


def test_a_claim_of_any_other_backlog_makes_the_next_one_a_claim_too(db, in_place):
    @transactional
    def working(job):
        return None

    worker = steady(lambda route: working if route.key == UPDATE.key else accept_handler)
    submit(["C"], UPDATE, at=NOW + 1)
    assert worker.run_once() == 1 and in_place == [None]
    submit(["D"], CREATE, at=NOW + 2)
    # The last batch had a route that works: no look at the routes first.
    assert worker.run_once() == 1 and in_place == [None]
    submit(["E"], CREATE, at=NOW + 3)
    assert worker.run_once() == 1 and in_place == [None, 1]


def test_the_bulks_it_finishes_are_announced(db, in_place):
    worker = steady(subscriptions=Subscriptions("https://hooks.example.com/in", frozenset({BULK_FINISHED})))
    bulk_uuid = submit(["A", "B"], CREATE, at=NOW + 1)
    assert worker.run_once() == 2 and in_place == [2]
    [delivery] = WebhookDelivery.select().where(WebhookDelivery.bulk_uuid == bulk_uuid)
    payload = json.loads(delivery.payload)
    assert delivery.event_type == BULK_FINISHED
    assert (payload["data"]["bulk_uuid"], payload["data"]["counts"]["complete"]) == (bulk_uuid, 2)


@pytest.mark.engines("sqlite")
def test_on_sqlite_the_update_walks_the_open_operations_not_the_table(db, monkeypatch):
    worker = steady(batch_size=100)
    for number in range(20):
        submit([f"S{n}" for n in range(50)], CREATE, at=NOW + number)
        assert worker.run_once() == 50
    submit(["late"], CREATE, at=NOW + 30)
    _, statements = statements_run(monkeypatch, worker.run_once)
    [(sql, params)] = [(sql, params) for sql, params in statements if sql.startswith('UPDATE "magento_operation"')]
    plan = " ".join(row[3] for row in database.execute_sql("EXPLAIN QUERY PLAN " + sql, params).fetchall())
    # Bounded by the last id read, the UPDATE walked the table by id, past every finished operation.
    assert "USING INDEX magento_operation_open_by_" in plan and "PRIMARY KEY" not in plan


def test_a_batch_completed_in_place_is_logged_once_and_an_empty_one_not_at_all(db, monkeypatch, caplog, in_place):
    worker = steady()
    bulk_uuid = submit(["A", "B"], CREATE, at=NOW + 1)
    with caplog.at_level(logging.INFO, logger="bulk.drainer"):
        assert worker.run_once() == 2
        # Another drainer took the work between the look for it and the lock: nothing to log.
        monkeypatch.setattr(queue, "any_due", lambda now: True)
        assert worker.run_once() == 0
    assert in_place == [2, 0]
    [line] = [record for record in caplog.records if record.name == "bulk.drainer"]
    assert line.getMessage().startswith("drained 2 operation(s) of 1 bulk(s) in ")
    assert (line.outcomes, line.bulk_uuids) == ({"complete": 2}, [bulk_uuid])
