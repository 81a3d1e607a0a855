"""The queue functions on a real SQLite file, without Flask."""

from __future__ import annotations

import threading
import uuid

import peewee
import pytest

from bulk import queue
from bulk.db import database
from bulk.handlers import Outcome
from bulk.models import Bulk, Operation
from bulk.queue import NewBulk, NewOperation
from bulk.statuses import OperationStatus

NOW = 1_700_000_000.0


def new_bulk(count: int, bulk_uuid: str | None = None) -> NewBulk:
    bulk_uuid = bulk_uuid or str(uuid.uuid4())
    operations = [NewOperation(i, "async.topic.save.post", "POST /V1/things", f'{{"n":{i}}}')
                  for i in range(count)]
    return NewBulk(bulk_uuid, 1, 2, "Topic async.topic.save.post", operations)


def test_enqueue_stores_bulk_and_open_operations(db):
    bulk = new_bulk(3)
    queue.enqueue(bulk, NOW)
    row = Bulk.get(Bulk.uuid == bulk.uuid)
    assert (row.operation_count, row.user_id, row.user_type) == (3, 1, 2)
    assert row.start_time.strftime("%Y-%m-%d %H:%M:%S") == "2023-11-14 22:13:20"
    operations = list(Operation.select().order_by(Operation.operation_key))
    assert [op.operation_key for op in operations] == [0, 1, 2]
    assert {op.status for op in operations} == {OperationStatus.OPEN}
    assert operations[2].serialized_data == '{"n":2}'


def test_enqueue_is_all_or_nothing(db):
    bulk = new_bulk(2)
    queue.enqueue(bulk, NOW)
    duplicate = NewBulk(str(uuid.uuid4()), 1, 2, "x", [NewOperation(0, "t", "r", "{}"),
                                                         NewOperation(0, "t", "r", "{}")])
    with pytest.raises(peewee.IntegrityError):
        queue.enqueue(duplicate, NOW)
    assert Bulk.select().count() == 1
    assert Operation.select().count() == 2


def test_enqueue_splits_large_bulks_into_statements(db):
    queue.enqueue(new_bulk(1234), NOW)
    assert Operation.select().count() == 1234


def test_claim_takes_oldest_first_and_only_once(db):
    queue.enqueue(new_bulk(5), NOW)
    first = queue.claim("a" * 32, 3, 60, NOW)
    second = queue.claim("b" * 32, 3, 60, NOW)
    assert [op.operation_key for op in first] == [0, 1, 2]
    assert [op.operation_key for op in second] == [3, 4]
    assert queue.claim("c" * 32, 3, 60, NOW) == []
    assert {op.attempts for op in first + second} == {1}


def test_expired_lease_makes_operation_claimable_again(db):
    queue.enqueue(new_bulk(1), NOW)
    assert len(queue.claim("a" * 32, 10, 60, NOW)) == 1
    assert queue.claim("b" * 32, 10, 60, NOW + 59) == []
    again = queue.claim("b" * 32, 10, 60, NOW + 61)
    assert [op.attempts for op in again] == [2]


def test_record_is_fenced_by_the_claim_token(db):
    queue.enqueue(new_bulk(1), NOW)
    [stale] = queue.claim("a" * 32, 10, 60, NOW)
    queue.claim("b" * 32, 10, 60, NOW + 61)  # the first holder's lease ran out
    late = queue.record("a" * 32, [Outcome(stale.id, OperationStatus.COMPLETE, "late")])
    assert late == 0
    assert Operation.get_by_id(stale.id).status == OperationStatus.OPEN
    assert queue.record("b" * 32, [Outcome(stale.id, OperationStatus.COMPLETE, "current")]) == 1
    row = Operation.get_by_id(stale.id)
    assert (row.status, row.result_message, row.claim_token) == (OperationStatus.COMPLETE, "current", None)


def test_record_clears_payload_on_success_and_keeps_it_on_failure(db):
    queue.enqueue(new_bulk(3), NOW)
    claimed = queue.claim("t" * 32, 10, 60, NOW)
    changed = queue.record("t" * 32, [
        Outcome(claimed[0].id, OperationStatus.COMPLETE, "ok", None, '{"sku":"a"}'),
        Outcome(claimed[1].id, OperationStatus.RETRIABLY_FAILED, "later", 0),
        Outcome(claimed[2].id, OperationStatus.NOT_RETRIABLY_FAILED, "never", 7),
    ])
    assert changed == 3
    done, retry, failed = (Operation.get_by_id(op.id) for op in claimed)
    assert (done.serialized_data, done.result_serialized_data, done.error_code) == (None, '{"sku":"a"}', None)
    assert (retry.status, retry.serialized_data, retry.error_code) == (2, '{"n":1}', 0)
    assert (failed.status, failed.result_message, failed.error_code) == (3, "never", 7)


def test_record_refuses_to_reopen(db):
    with pytest.raises(ValueError):
        Outcome(1, OperationStatus.OPEN)


def test_release_returns_held_operations_at_once(db):
    queue.enqueue(new_bulk(2), NOW)
    claimed = queue.claim("a" * 32, 10, 60, NOW)
    assert queue.release("a" * 32, [op.id for op in claimed]) == 2
    assert len(queue.claim("b" * 32, 10, 60, NOW)) == 2


def test_open_count(db):
    queue.enqueue(new_bulk(4), NOW)
    claimed = queue.claim("a" * 32, 1, 60, NOW)
    queue.record("a" * 32, [Outcome(claimed[0].id, OperationStatus.COMPLETE, "ok")])
    assert queue.open_count() == 3


def test_concurrent_claimers_never_share_an_operation(db):
    queue.enqueue(new_bulk(600), NOW)
    taken: list[int] = []
    lock = threading.Lock()

    def claimer() -> None:
        with database.connection_context():
            while True:
                batch = queue.claim(uuid.uuid4().hex, 7, 60, NOW)
                if not batch:
                    return
                with lock:
                    taken.extend(op.id for op in batch)

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(taken) == 600
    assert len(set(taken)) == 600


def test_claim_records_the_holder_and_finishing_clears_it(db):
    queue.enqueue(new_bulk(2), NOW)
    claimed = queue.claim("a" * 32, 10, 60, NOW, holder="host:123")
    assert {op.claimed_by for op in Operation.select()} == {"host:123"}
    queue.record("a" * 32, [Outcome(claimed[0].id, OperationStatus.COMPLETE, "ok")])
    queue.release("a" * 32, [op.id for op in claimed])
    assert {op.claimed_by for op in Operation.select()} == {None}


def test_held_tells_which_operations_a_claim_still_holds(db):
    queue.enqueue(new_bulk(3), NOW)
    claimed = queue.claim("a" * 32, 2, 60, NOW)
    ids = [op.id for op in claimed]
    assert queue.held("a" * 32, ids) == set(ids)
    queue.claim("b" * 32, 10, 60, NOW + 61)  # a's lease ran out; b took everything
    assert queue.held("a" * 32, ids) == set()
    assert queue.held("b" * 32, ids) == set(ids)


def test_extend_lease_keeps_operations_held(db):
    queue.enqueue(new_bulk(1), NOW)
    claimed = queue.claim("a" * 32, 10, 60, NOW)
    assert queue.extend_lease("a" * 32, [op.id for op in claimed], NOW + 120) == 1
    assert queue.claim("b" * 32, 10, 60, NOW + 61) == []
    assert len(queue.claim("b" * 32, 10, 60, NOW + 121)) == 1
