"""Queue functions beyond claim/record, on a real SQLite file: entity order, deferral, re-opening,
deleting, retention and stuck operations."""

from __future__ import annotations

import uuid

from bulk import queue
from bulk.entity_keys import entity_key
from bulk.handlers import Outcome
from bulk.models import Bulk, Operation
from bulk.queue import Deferral, NewBulk, NewOperation
from bulk.statuses import OperationStatus

NOW = 1_700_000_000.0
DAY = 86_400
FAILED = (OperationStatus.RETRIABLY_FAILED, OperationStatus.NOT_RETRIABLY_FAILED)


def enqueue(keys: list[str | None], now: float = NOW) -> str:
    bulk_uuid = str(uuid.uuid4())
    operations = [NewOperation(i, "async.topic.save.put", "PUT /V1/things/:sku", f'{{"n":{i}}}', key)
                  for i, key in enumerate(keys)]
    queue.enqueue(NewBulk(bulk_uuid, 1, 2, "Topic async.topic.save.put", operations), now)
    return bulk_uuid


def finish(statuses: dict[int, OperationStatus], now: float = NOW) -> None:
    """Claim everything claimable and record the given status per operation key (complete otherwise)."""
    token = uuid.uuid4().hex
    claimed = queue.claim(token, 1000, 60, now)
    queue.record(token, [Outcome(op.id, statuses.get(op.operation_key, OperationStatus.COMPLETE), "done", 0)
                         for op in claimed])


def keys_of(claimed) -> list[int]:
    return [op.operation_key for op in claimed]


def row(bulk_uuid: str, key: int) -> Operation:
    return Operation.get(Operation.bulk == bulk_uuid, Operation.operation_key == key)


def test_only_the_first_open_operation_of_an_entity_is_claimable(db):
    first = enqueue(["sku:a", "sku:b", "sku:a", None, "sku:a", None])
    later = enqueue(["sku:a", "sku:c"])  # a later bulk waits behind the earlier one for the same SKU
    assert keys_of(queue.claim("t" * 32, 100, 60, NOW)) == [0, 1, 3, 5, 1]
    # While operation 0 is held, 2 and 4 wait; once it is finished, 2 is next, then 4.
    assert queue.claim("u" * 32, 100, 60, NOW) == []
    queue.record("t" * 32, [Outcome(row(first, 0).id, OperationStatus.NOT_RETRIABLY_FAILED, "no", 0)])
    assert keys_of(queue.claim("u" * 32, 100, 60, NOW)) == [2]
    queue.record("u" * 32, [Outcome(row(first, 2).id, OperationStatus.COMPLETE, "ok")])
    assert keys_of(queue.claim("v" * 32, 100, 60, NOW)) == [4]
    assert row(later, 0).claim_token is None
    queue.record("v" * 32, [Outcome(row(first, 4).id, OperationStatus.COMPLETE, "ok")])
    assert keys_of(queue.claim("w" * 32, 100, 60, NOW)) == [0]
    assert row(later, 0).claim_token == "w" * 32


def test_a_deferred_operation_waits_and_keeps_its_entity_blocked(db):
    bulk_uuid = enqueue(["sku:a", "sku:a"])
    [held] = queue.claim("t" * 32, 10, 60, NOW)
    assert queue.defer("x" * 32, [Deferral(held.id, NOW + 30, "busy", 503)]) == 0  # not the holder
    assert queue.defer("t" * 32, [Deferral(held.id, NOW + 30, "busy", 503)]) == 1
    waiting = row(bulk_uuid, 0)
    assert (waiting.status, waiting.available_at, waiting.claim_token) == (4, NOW + 30, None)
    assert (waiting.result_message, waiting.error_code) == ("busy", 503)
    assert queue.claim("u" * 32, 10, 60, NOW + 29) == []
    [again] = queue.claim("u" * 32, 10, 60, NOW + 30)
    assert (again.operation_key, again.attempts) == (0, 2)


def test_started_at_is_the_first_start(db):
    bulk_uuid = enqueue([None])
    queue.claim("t" * 32, 10, 60, NOW)
    queue.claim("u" * 32, 10, 60, NOW + 3600)  # the first holder died; re-claimed an hour later
    assert row(bulk_uuid, 0).started_at == queue.utc_datetime(NOW)


def test_reopen_chooses_failed_operations_and_resets_them(db):
    bulk_uuid = enqueue([None] * 5)
    finish({1: OperationStatus.RETRIABLY_FAILED, 2: OperationStatus.NOT_RETRIABLY_FAILED,
            3: OperationStatus.RETRIABLY_FAILED})
    assert queue.reopen(bulk_uuid, (OperationStatus.RETRIABLY_FAILED,), [3, 4]) == [3]
    assert queue.reopen(bulk_uuid, (OperationStatus.RETRIABLY_FAILED,)) == [1]
    assert queue.reopen(bulk_uuid, FAILED, []) == []
    assert queue.reopen(bulk_uuid, (OperationStatus.COMPLETE,)) == []
    assert queue.reopen(bulk_uuid, FAILED, submitter_authorization="Bearer new") == [2]
    reopened = row(bulk_uuid, 2)
    assert (reopened.status, reopened.result_message, reopened.error_code, reopened.attempts,
            reopened.started_at, reopened.serialized_data) == (4, None, None, 0, None, '{"n":2}')
    assert Bulk.get(Bulk.uuid == bulk_uuid).submitter_authorization == "Bearer new"
    assert [op.status for op in Operation.select().order_by(Operation.operation_key)] == [1, 4, 4, 4, 1]


def test_delete_only_a_finished_bulk(db):
    bulk_uuid = enqueue([None, None])
    assert queue.delete_finished_bulk("nope") is None
    assert queue.delete_finished_bulk(bulk_uuid) is False
    finish({})
    assert queue.delete_finished_bulk(bulk_uuid) is True
    assert (Bulk.select().count(), Operation.select().count()) == (0, 0)


def test_purge_takes_finished_bulks_older_than_the_limit(db):
    old_done = enqueue([None], now=NOW - 61 * DAY)
    old_open = enqueue([None, None], now=NOW - 61 * DAY)
    recent = enqueue([None], now=NOW - 59 * DAY)
    token = uuid.uuid4().hex
    claimed = queue.claim(token, 10, 60, NOW)
    done = [op for op in claimed if op.bulk_uuid != old_open or op.operation_key == 0]
    queue.record(token, [Outcome(op.id, OperationStatus.COMPLETE, "ok") for op in done])
    queue.release(token, [op.id for op in claimed])
    assert queue.purge_finished(NOW - 60 * DAY, chunk=1) == 1
    assert {bulk.uuid for bulk in Bulk.select()} == {old_open, recent}
    assert Operation.select().where(Operation.bulk == old_done).count() == 0


def test_stuck_operations_end_at_unknown_error_and_their_holder_is_fenced_out(db):
    bulk_uuid = enqueue([None, None])
    [stuck] = queue.claim("t" * 32, 1, 60, NOW)
    assert queue.fail_stuck(NOW - 1) == 0
    assert queue.fail_stuck(NOW + 1) == 1  # the never-started operation 1 is not touched
    failed = row(bulk_uuid, 0)
    assert (failed.status, failed.result_message, failed.error_code, failed.claim_token) == \
        (2, "Unknown Error", 0, None)
    assert queue.record("t" * 32, [Outcome(stuck.id, OperationStatus.COMPLETE, "late")]) == 0
    assert row(bulk_uuid, 1).status == 4


def test_entity_keys():
    assert entity_key({"product": {"name": "x", "sku": "24-MB01"}}) == "sku:24-mb01"
    assert entity_key({"sku": "A", "product": {"sku": "B"}}) == "sku:a"
    assert entity_key({"sku": "A", "optionId": 3}) == "sku:a"
    assert entity_key({"option": {"product_sku": "P", "title": "Size"}}) == "sku:p"
    assert entity_key({"productLink": {"sku": "L", "category_id": "3"}}) == "sku:l"
    assert entity_key({"customerId": 7}) == "customer:7"
    assert entity_key({"customer": {"email": "Mia@Example.com", "id": 7}}) == "customer:7"
    assert entity_key({"customer": {"email": "Mia@Example.com"}, "password": "x"}) == "email:mia@example.com"
    assert entity_key({"item": {"id": 7}}) is None  # only a customer's id names the customer
    assert entity_key({"product": {"sku": ""}}) is None
    assert entity_key({"pageId": 3}) is None
    assert len(entity_key({"sku": "x" * 400})) == 255
    # Names are worked out once and remembered: the second time gives the same answer.
    for _ in range(2):
        assert entity_key({"Customer_Id": 5}) == "customer:5"
        assert entity_key({"customer": {"ID": 8}}) == "customer:8"
        assert entity_key({"product": {"Name": "x"}}) is None


def test_operations_selected_and_run_in_one_transaction_are_written_once_with_their_try_counted(db):
    bulk_uuid = enqueue(["sku:a", None])
    # A drainer that died holding the first: its lease ran out, so a later claim may take it.
    [stale] = queue.claim("d" * 32, 1, 60, NOW)
    later = NOW + 120
    with queue.write_transaction():
        selected = queue.select_planned(queue.plan_claim(10, later), 10, later)
        assert [(op.operation_key, op.attempts) for op in selected] == [(0, 2), (1, 1)]  # this try counted
        assert [row(bulk_uuid, key).attempts for key in (0, 1)] == [1, 0]  # nothing written yet
        queue.record(None, [Outcome(op.id, OperationStatus.COMPLETE, "ok") for op in selected], later)
    first, second = row(bulk_uuid, 0), row(bulk_uuid, 1)
    assert [(op.status, op.attempts, op.claim_token) for op in (first, second)] == [(1, 2, None), (1, 1, None)]
    assert first.started_at == queue.utc_datetime(NOW)  # its first start stays
    assert second.started_at == queue.utc_datetime(later)
    # The dead drainer's late result is fenced out.
    assert queue.record("d" * 32, [Outcome(stale.id, OperationStatus.NOT_RETRIABLY_FAILED, "late", 0)]) == 0
    assert row(bulk_uuid, 0).status == OperationStatus.COMPLETE


def test_a_selected_operation_deferred_in_its_transaction_counts_its_try(db):
    bulk_uuid = enqueue(["sku:a", "sku:a"])
    with queue.write_transaction():
        [selected] = queue.select_planned(queue.plan_claim(10, NOW), 10, NOW)
        assert queue.defer(None, [Deferral(selected.id, NOW + 30, "busy", 503)], NOW) == 1
    waiting = row(bulk_uuid, 0)
    assert (waiting.status, waiting.attempts, waiting.available_at, waiting.claim_token) == (4, 1, NOW + 30, None)
    assert waiting.started_at == queue.utc_datetime(NOW)
    assert queue.claim("u" * 32, 10, 60, NOW + 29) == []  # its entity waits with it


def test_a_bulk_reopened_behind_finished_ones_is_claimed_counted_and_completed_again(db):
    """On PostgreSQL the queue's walks begin at the oldest unfinished bulk: re-opening an old bulk
    must make it unfinished again (it sorts before every bulk finished since), or its operations
    would never be claimed."""
    def submit(bulk_uuid: str) -> str:
        queue.enqueue(NewBulk(bulk_uuid, 1, 2, "Topic async.topic.save.put", [
            NewOperation(0, "async.topic.save.put", "PUT /V1/things/:sku", '{"n":0}', None)]), NOW)
        return bulk_uuid

    old = submit("00000000-0000-7000-8000-000000000001")
    finish({0: OperationStatus.RETRIABLY_FAILED})
    submit("00000000-0000-7000-8000-000000000002")
    finish({})
    assert queue.open_count() == 0 and queue.claim("t" * 32, 10, 60, NOW) == []
    assert queue.reopen(old, (OperationStatus.RETRIABLY_FAILED,)) == [0]
    assert queue.open_count() == 1
    [claimed] = queue.claim("t" * 32, 10, 60, NOW)
    assert claimed.bulk_uuid == old
    queue.release("t" * 32, [claimed.id])
    completed = queue.complete_backlog(10, NOW, lambda route_key: "done")
    assert completed == [(claimed.id, old)]
    assert row(old, 0).status == OperationStatus.COMPLETE
