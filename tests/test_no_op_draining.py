"""Draining without per-operation work where none is needed: `no_op` handlers (accept mode) and,
on SQLite, the whole backlog claimed with one read under the write lock."""

from __future__ import annotations

import json
import threading
import uuid

import peewee
import pytest

from bulk import queue
from bulk.accept import serialize_operation, time_ordered_uuid
from bulk.clock import ManualClock
from bulk.db import database
from bulk.drainer import Drainer, DrainerSettings
from bulk.handlers import Job, accept_handler, no_op, pure, transactional
from bulk.models import Bulk, Operation
from bulk.processing import Processing, accept_mode
from bulk.queue import NewBulk, NewOperation
from bulk.routes.builtin import builtin_catalogue
from bulk.statuses import OperationStatus
from tests.spies import answers_of
from tests.sql_helpers import statements_run

CATALOGUE = builtin_catalogue()
CREATE = CATALOGUE.get("POST /V1/products")
UPDATE = CATALOGUE.get("PUT /V1/products/:sku")
DELETE = CATALOGUE.get("DELETE /V1/products/:sku")
NOW = 1_700_000_000.0


def submit(skus: list[str], route=CREATE, at: float = NOW) -> str:
    bulk_uuid = time_ordered_uuid(at)
    operations = [NewOperation(i, route.topic_name, route.key, serialize_operation({"product": {"sku": sku}}, 1),
                               f"sku:{sku}")
                  for i, sku in enumerate(skus)]
    queue.enqueue(NewBulk(bulk_uuid, 1, 2, route.description, operations), NOW)
    return bulk_uuid


def drainer(handler_for, batch_size: int = 10) -> Drainer:
    return Drainer(CATALOGUE, handler_for, ManualClock(NOW), DrainerSettings(batch_size=batch_size))


def sql_of(monkeypatch, call):
    """What `call()` returns, and the SQL statements it ran (without their parameters)."""
    result, statements = statements_run(monkeypatch, call)
    return result, [sql for sql, _ in statements]


def reads_payloads(statements: list[str]) -> bool:
    return any(sql.startswith("SELECT") and '"serialized_data"' in sql.split(" FROM ")[0] for sql in statements)


def test_no_op_operations_are_recorded_complete_without_a_call_or_a_payload_read(db, monkeypatch):
    calls = []

    @no_op
    def never_called(job):
        calls.append(job)

    worker = drainer(lambda route: never_called)
    submit(["first"])
    assert worker.run_once() == 1  # a first batch reads payloads, not yet knowing what its handlers are
    bulk_uuid = submit(["A", "B", "C"], at=NOW + 1)
    done, statements = sql_of(monkeypatch, worker.run_once)
    assert done == 3 and calls == []
    assert not reads_payloads(statements)
    rows = list(Operation.select().where(Operation.bulk == bulk_uuid))
    # As Magento's consumer records a successful call: its message, the payload cleared, one try.
    assert {(row.status, row.result_message, row.serialized_data, row.attempts) for row in rows} == {
        (OperationStatus.COMPLETE, CREATE.success_message, None, 1)}
    assert all(row.started_at is not None and row.finished_at is not None for row in rows)
    assert worker.run_once() == 0


def test_accept_mode_handlers_are_no_op_and_a_wrapper_that_works_is_called(db):
    processing = Processing("accept", accept_mode(None))  # accept mode uses nothing of its context
    assert processing.handler_for(CREATE) is accept_handler and Job(CREATE, None, None, accept_handler).no_op
    seen: list[str | None] = []

    def recording(route, handler):
        def recorded(job):
            seen.append(job.serialized_data)
            return handler(job)
        return recorded

    processing.add_wrapper(recording)
    submit(["A", "B"])
    assert drainer(processing.handler_for).run_once() == 2
    # The wrapper does something of its own: it ran for each operation, with the payload.
    assert [json.loads(data)["meta_information"] for data in seen] == [
        json.dumps({"product": {"sku": sku}}, separators=(",", ":")) for sku in ("A", "B")]
    assert Operation.select().where(Operation.status == OperationStatus.COMPLETE).count() == 2


def test_a_batch_of_no_op_and_working_handlers_reads_only_the_payloads_it_runs(db, monkeypatch):
    seen: list[str] = []

    @transactional
    def working(job):
        seen.append(job.arguments["product"]["sku"])

    submit(["A", "B"], CREATE)
    submit(["C"], UPDATE, at=NOW + 1)
    worker = drainer(lambda route: working if route.key == UPDATE.key else accept_handler)
    worker._pure_seen = False  # as after a first batch: no read before the lock
    payload_reads: list[list[int]] = []
    real_with_payloads = queue._with_payloads
    monkeypatch.setattr(queue, "_with_payloads", lambda operations, wanted: payload_reads.append(wanted) or
                        real_with_payloads(operations, wanted))
    assert worker.run_once() == 3
    assert seen == ["C"]
    [wanted] = payload_reads
    assert [Operation.get_by_id(operation_id).entity_key for operation_id in wanted] == ["sku:C"]
    assert Operation.select().where(Operation.status == OperationStatus.COMPLETE).count() == 3


def test_a_claim_of_no_op_routes_only_makes_no_job_and_records_each_route_s_message(db, monkeypatch):
    submit(["A", "B"], CREATE)
    submit(["A", "C"], DELETE, at=NOW + 1)  # A's delete waits behind its create: a chain, same claim
    worker = drainer(lambda route: accept_handler)
    worker._pure_seen = False  # as after a first batch: no read before the lock

    def no_job(*args, **kwargs):
        raise AssertionError("a job was made for a no_op operation")

    monkeypatch.setattr(Job, "of", no_job)
    assert worker.run_once() == 4
    rows = Operation.select().order_by(Operation.id)
    assert [(row.entity_key, row.status, row.result_message) for row in rows] == [
        ("sku:A", OperationStatus.COMPLETE, CREATE.success_message),
        ("sku:B", OperationStatus.COMPLETE, CREATE.success_message),
        ("sku:A", OperationStatus.COMPLETE, DELETE.success_message),
        ("sku:C", OperationStatus.COMPLETE, DELETE.success_message)]
    assert DELETE.success_message != CREATE.success_message
    assert Bulk.select().where(Bulk.finished_at.is_null()).count() == 0


def test_a_drainer_that_keeps_up_claims_the_whole_backlog_with_one_read_under_the_lock(db, monkeypatch):
    # The lock: SQLite's write lock, or PostgreSQL's claim turn with the rows read locked.
    for n in range(3):
        submit(["A", "B"], at=NOW + n)
    worker = drainer(lambda route: accept_handler)
    worker._pure_seen = False  # as after its first batch
    executed: list[object] = []
    real_execute = type(queue._OPEN_BACKLOG).execute
    monkeypatch.setattr(type(queue._OPEN_BACKLOG), "execute",
                        lambda self, **values: executed.append(self) or real_execute(self, **values))
    in_transaction: list[bool] = []
    real_select = queue.select_whole_backlog
    monkeypatch.setattr(queue, "select_whole_backlog", lambda *args, **kwargs: in_transaction.append(
        database.in_transaction()) or real_select(*args, **kwargs))
    assert worker.run_once() == 6
    assert in_transaction == [True]
    assert Operation.select().where(Operation.status == OperationStatus.COMPLETE).count() == 6
    # No plan before the lock, no checks after: the backlog read is the claim.
    assert queue._OPEN_BACKLOG in executed
    assert not {queue._OPEN_AND_DUE, queue._DUE_OF_PLAN, queue._DUE_IDS_OF_PLAN,
                queue._OPEN_OF_ENTITIES} & set(executed)
    # Nothing open: no write transaction at all.
    _, statements = sql_of(monkeypatch, worker.run_once)
    assert not any(sql.startswith(("BEGIN", "UPDATE", "INSERT")) for sql in statements)


def test_the_whole_backlog_leaves_out_what_waits_behind_a_held_or_delayed_operation(db):
    first = submit(["A", "B", "C"])
    later = submit(["A", "B", "C", "D"], at=NOW + 1)
    [held_a] = queue.claim("h" * 32, 1, 60, NOW)
    second_b = Operation.get(Operation.bulk == later, Operation.operation_key == 1)
    first_b = Operation.get(Operation.bulk == first, Operation.operation_key == 1)
    Operation.update(available_at=NOW + 30).where(Operation.id == first_b.id).execute()  # a retry later
    with database.atomic():
        chained = queue.select_whole_backlog(10, NOW, chain=True)
        firsts = queue.select_whole_backlog(10, NOW, chain=False)
        assert queue.select_whole_backlog(6, NOW, chain=True) is None  # 7 open: not all fit
    assert held_a.entity_key == "sku:A" and second_b.entity_key == "sku:B"
    # A waits behind its held first, B behind its first's retry; C's chain runs through; D is new.
    assert [(op.bulk_uuid, op.entity_key) for op in chained] == [
        (first, "sku:C"), (later, "sku:C"), (later, "sku:D")]
    assert [(op.bulk_uuid, op.entity_key) for op in firsts] == [(first, "sku:C"), (later, "sku:D")]
    # Claimed as `select_planned` claims: tries from now, payloads read.
    assert all(op.attempts == 1 and op.serialized_data for op in chained)


@pytest.mark.engines("postgresql")
def test_on_postgresql_the_whole_backlog_read_locks_the_rows_it_claims(db):
    submit(["A", "B"])
    seen: list[str] = []

    def lock_elsewhere(operation_id: int) -> None:
        with database.connection_context():
            try:
                with database.atomic():
                    database.execute_sql("SELECT id FROM magento_operation WHERE id = %s FOR UPDATE NOWAIT",
                                         (operation_id,))
                seen.append("free")
            except peewee.OperationalError:
                seen.append("locked")

    with queue.write_transaction():
        assert queue.take_claim_turn()
        claimed = queue.select_whole_backlog(10, NOW, chain=True)
        assert claimed is not None and len(claimed) == 2
        other = threading.Thread(target=lock_elsewhere, args=(claimed[0].id,))
        other.start()
        other.join(10)
    lock_elsewhere(claimed[0].id)
    # Another writer (housekeeping, a late outcome) waits for the claim, as with a planned claim.
    assert seen == ["locked", "free"]


def test_behind_a_deep_backlog_the_drainer_plans_fairly_and_then_claims_whole_again(db, monkeypatch):
    @transactional
    def working(job):
        return None

    bulks = [submit([f"S{n}-{i}" for i in range(4)], at=NOW + n) for n in range(5)]
    worker = drainer(lambda route: working, batch_size=8)
    worker._pure_seen = False
    whole = answers_of(monkeypatch, queue, "select_whole_backlog", lambda claimed: claimed is not None)
    assert [worker.run_once() for _ in range(4)] == [8, 8, 4, 0]
    # 20 open: too many for one claim, so turns through the bulks until a plan comes back short.
    assert whole == [False]
    assert worker._turn.caught_up
    submit(["late"], at=NOW + 9)
    assert worker.run_once() == 1
    # Caught up again: the whole backlog in one claim.
    assert whole == [False, True]
    assert all(Operation.select().where(Operation.bulk == bulk, Operation.status == OperationStatus.OPEN).count() == 0
               for bulk in bulks)


def test_an_unroutable_operation_is_still_failed_among_no_op_ones(db):
    submit(["A"])
    stray = NewOperation(0, "gone.topic", "POST /V1/gone", serialize_operation({"x": 1}, 1))
    queue.enqueue(NewBulk(str(uuid.uuid4()), 1, 2, "gone", [stray]), NOW)
    assert drainer(lambda route: accept_handler).run_once() == 2
    statuses = {row.route_key: (row.status, row.result_message) for row in Operation.select()}
    assert statuses[CREATE.key] == (OperationStatus.COMPLETE, CREATE.success_message)
    assert statuses["POST /V1/gone"][0] == OperationStatus.NOT_RETRIABLY_FAILED
    assert "No configured route" in statuses["POST /V1/gone"][1]


@pytest.mark.engines("sqlite")
def test_pure_handlers_keep_running_before_the_lock_batch_after_batch(db, monkeypatch):
    reads: list[int] = []
    real_read_due = queue.read_due
    monkeypatch.setattr(queue, "read_due", lambda planned, now: reads.append(len(planned)) or real_read_due(planned, now))
    worker = drainer(lambda route: pure(lambda job: None))
    for n in range(3):
        submit([f"S{n}"], at=NOW + n)
        assert worker.run_once() == 1
    # Every batch read before the lock: jobs that ran early count as the batch's own.
    assert reads == [1, 1, 1]


def test_a_batch_finishes_the_bulks_it_completes_and_only_those(db):
    done = submit(["A", "B"])
    waiting = submit(["C", "D"], at=NOW + 1)
    held = Operation.get(Operation.entity_key == "sku:C")
    queue.hold("h" * 32, [held.id], 60, NOW)  # held elsewhere
    assert drainer(lambda route: accept_handler).run_once() == 3
    finished = {bulk.uuid: bulk.finished_at for bulk in Bulk.select()}
    assert finished[done] is not None and finished[waiting] is None
