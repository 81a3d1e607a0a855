"""The outbox on both engines without Flask: which events the recording transactions write, once."""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from bulk import queue
from bulk.config import BULK_FINISHED, OPERATION_FAILED
from bulk.db import database
from bulk.handlers import Outcome
from bulk.models import Bulk, WebhookDelivery
from bulk.queue import NewBulk, NewOperation
from bulk.statuses import OperationStatus
from bulk.webhooks import outbox
from bulk.webhooks.subscriptions import Subscriptions

NOW = 1_700_000_000.0
URL = "https://hooks.example.com/bulk?token=t0p"
BOTH = Subscriptions(URL, frozenset({BULK_FINISHED, OPERATION_FAILED}))
FINISHED_ONLY = Subscriptions(URL, frozenset({BULK_FINISHED}))
COMPLETE, RETRIABLE, PERMANENT = (OperationStatus.COMPLETE, OperationStatus.RETRIABLY_FAILED,
                                  OperationStatus.NOT_RETRIABLY_FAILED)


def enqueue(count: int, now: float = NOW) -> str:
    bulk_uuid = str(uuid.uuid4())
    operations = [NewOperation(i, "async.topic.save.post", "POST /V1/things", f'{{"n":{i}}}') for i in range(count)]
    queue.enqueue(NewBulk(bulk_uuid, 7, 2, "Topic async.topic.save.post", operations), now)
    return bulk_uuid


def claim(token: str | None = None, limit: int = 1000, now: float = NOW) -> tuple[str, list]:
    token = token or uuid.uuid4().hex
    return token, queue.claim(token, limit, 60, now)


def outcomes(claimed, statuses: dict[int, OperationStatus] | None = None) -> list[Outcome]:
    statuses = statuses or {}
    return [Outcome(op.id, statuses.get(op.operation_key, COMPLETE), "The product can't be saved.", 42)
            if statuses.get(op.operation_key, COMPLETE) != COMPLETE else Outcome(op.id, COMPLETE, "ok")
            for op in claimed]


def deliveries(event_type: str | None = None) -> list[WebhookDelivery]:
    query = WebhookDelivery.select().order_by(WebhookDelivery.id)
    if event_type:
        query = query.where(WebhookDelivery.event_type == event_type)
    return list(query)


def finished_at(bulk_uuid: str):
    return Bulk.get(Bulk.uuid == bulk_uuid).finished_at


def test_the_transaction_that_ends_the_last_open_operation_writes_one_bulk_finished(db):
    bulk_uuid = enqueue(3)
    token, claimed = claim(limit=2)
    queue.record(token, outcomes(claimed, {1: PERMANENT}), NOW + 5, BOTH)
    assert deliveries(BULK_FINISHED) == []
    assert finished_at(bulk_uuid) is None
    token, claimed = claim()
    queue.record(token, outcomes(claimed), NOW + 65, BOTH)

    [delivery] = deliveries(BULK_FINISHED)
    assert finished_at(bulk_uuid).strftime("%Y-%m-%d %H:%M:%S") == "2023-11-14 22:14:25"
    assert (delivery.url, delivery.status, delivery.attempts, delivery.bulk_uuid) == (URL, "pending", 0, bulk_uuid)
    assert delivery.webhook_id.startswith("msg_")
    assert delivery.next_attempt_at == delivery.created_at == NOW + 65
    assert json.loads(delivery.payload) == {
        "type": "bulk.finished", "timestamp": "2023-11-14T22:14:25Z",
        "data": {"bulk_uuid": bulk_uuid, "description": "Topic async.topic.save.post", "operation_count": 3,
                 "counts": {"complete": 2, "failed_retriably": 0, "failed_not_retriably": 1, "rejected": 0},
                 "finished_with_failures": True, "start_time": "2023-11-14T22:13:20Z",
                 "finished_at": "2023-11-14T22:14:25Z", "user_type": 2, "user_id": 7}}


def test_operation_failed_events_only_when_named_and_only_for_failures(db):
    bulk_uuid = enqueue(4)
    token, claimed = claim()
    queue.record(token, outcomes(claimed, {1: PERMANENT, 3: RETRIABLE}), NOW, BOTH)
    failed = [json.loads(d.payload) for d in deliveries(OPERATION_FAILED)]
    assert [event["data"] for event in failed] == [
        {"bulk_uuid": bulk_uuid, "id": 1, "topic_name": "async.topic.save.post", "status": 3,
         "result_message": "The product can't be saved.", "error_code": 42},
        {"bulk_uuid": bulk_uuid, "id": 3, "topic_name": "async.topic.save.post", "status": 2,
         "result_message": "The product can't be saved.", "error_code": 42}]
    # Each event has its own id; the bulk's own event comes after its operations' ones.
    assert len({d.webhook_id for d in deliveries()}) == 3
    assert [d.event_type for d in deliveries()] == [OPERATION_FAILED, OPERATION_FAILED, BULK_FINISHED]

    enqueue_and_fail_one = enqueue(1)
    token, claimed = claim()
    queue.record(token, outcomes(claimed, {0: PERMANENT}), NOW, FINISHED_ONLY)
    assert [d.bulk_uuid for d in deliveries(OPERATION_FAILED)] == [bulk_uuid, bulk_uuid]
    assert deliveries(BULK_FINISHED)[-1].bulk_uuid == enqueue_and_fail_one


def test_without_subscribers_nothing_is_written_but_the_finish_time(db):
    bulk_uuid = enqueue(2)
    token, claimed = claim()
    queue.record(token, outcomes(claimed, {0: PERMANENT}), NOW)
    assert deliveries() == []
    assert finished_at(bulk_uuid) is not None


def test_a_fenced_late_write_announces_nothing_twice(db):
    bulk_uuid = enqueue(1)
    stale, _ = claim()
    # The lease runs out, another drainer takes the operation over and fails it for good.
    fresh, claimed = claim(now=NOW + 61)
    queue.record(fresh, outcomes(claimed, {0: PERMANENT}), NOW + 62, BOTH)
    assert len(deliveries()) == 2
    # The first holder's late result is refused, and so are its events.
    assert queue.record(stale, outcomes(claimed, {0: PERMANENT}), NOW + 63, BOTH) == 0
    assert len(deliveries()) == 2
    assert finished_at(bulk_uuid).strftime("%H:%M:%S") == "22:14:22"


def test_a_reopened_bulk_finishes_and_is_announced_again_with_a_new_id(db):
    bulk_uuid = enqueue(2)
    token, claimed = claim()
    queue.record(token, outcomes(claimed, {1: RETRIABLE}), NOW, BOTH)
    assert finished_at(bulk_uuid) is not None
    assert queue.reopen(bulk_uuid, (RETRIABLE,)) == [1]
    assert finished_at(bulk_uuid) is None
    token, claimed = claim()
    queue.record(token, outcomes(claimed, {1: RETRIABLE}), NOW, BOTH)  # same instant: still a new event
    finished = deliveries(BULK_FINISHED)
    assert len(finished) == 2 and finished[0].webhook_id != finished[1].webhook_id
    assert len(deliveries(OPERATION_FAILED)) == 2
    assert json.loads(finished[1].payload)["data"]["counts"]["failed_retriably"] == 1


def test_stuck_operations_that_end_a_bulk_announce_it(db):
    bulk_uuid = enqueue(2)
    token, claimed = claim(limit=1)
    queue.record(token, outcomes(claimed), NOW, BOTH)
    claim()  # started, never finished: its holder died
    assert queue.fail_stuck(NOW + 13 * 3600 - 12 * 3600 + 1, NOW + 13 * 3600, BOTH) == 1
    [failed] = [json.loads(d.payload)["data"] for d in deliveries(OPERATION_FAILED)]
    assert (failed["id"], failed["status"], failed["result_message"]) == (1, 2, "Unknown Error")
    [finished] = deliveries(BULK_FINISHED)
    assert json.loads(finished.payload)["data"]["counts"]["failed_retriably"] == 1
    assert finished_at(bulk_uuid) is not None


def test_a_bulk_without_operations_never_finishes(db):
    bulk_uuid = enqueue(0)
    other = enqueue(1)
    token, claimed = claim()
    queue.record(token, outcomes(claimed), NOW, BOTH)
    assert [d.bulk_uuid for d in deliveries()] == [other]
    assert finished_at(bulk_uuid) is None


def record_in_own_connection(barrier: threading.Barrier, token: str, claimed: list) -> None:
    with database.connection_context():  # each thread takes its own pooled connection
        barrier.wait()
        queue.record(token, outcomes(claimed), NOW, BOTH)


def test_concurrent_recorders_of_a_bulks_last_operations_announce_it_exactly_once(db):
    """Two transactions each end one of the last two operations at the same moment (PostgreSQL's
    snapshots would let both miss the finish without the bulk lock)."""
    for _ in range(5):
        bulk_uuid = enqueue(2)
        tokens = [uuid.uuid4().hex, uuid.uuid4().hex]
        held = [queue.claim(token, 1, 60, NOW) for token in tokens]
        barrier = threading.Barrier(2)
        with ThreadPoolExecutor(2) as pool:
            for future in [pool.submit(record_in_own_connection, barrier, tokens[i], held[i]) for i in range(2)]:
                future.result(timeout=60)
        assert [d.bulk_uuid for d in deliveries(BULK_FINISHED)].count(bulk_uuid) == 1
        assert finished_at(bulk_uuid) is not None


def test_deliveries_are_claimed_by_one_sender_at_a_time_and_settled_only_by_it(db):
    for _ in range(3):
        token, claimed = claim()
        queue.record(token, outcomes(claimed), NOW, BOTH) if claimed else None
        enqueue(1)
    token, claimed = claim()
    queue.record(token, outcomes(claimed), NOW, BOTH)
    assert outbox.has_due(NOW)
    first = outbox.claim_due("a" * 32, 2, 60, NOW)
    second = outbox.claim_due("b" * 32, 10, 60, NOW + 30)
    assert len(first) == 2 and len(second) == 1
    assert not {d.id for d in first} & {d.id for d in second}
    assert outbox.claim_due("c" * 32, 10, 60, NOW + 59) == []
    # The first sender's lease ran out: another takes its deliveries, and its late result is dropped.
    taken = outbox.claim_due("c" * 32, 10, 60, NOW + 61)
    assert {d.id for d in taken} == {d.id for d in first}
    late = [outbox.Settlement(d.id, outbox.DELIVERED, NOW + 62, 200, None, NOW + 62, NOW + 62) for d in first]
    assert outbox.settle("a" * 32, late) == 0
    assert outbox.settle("c" * 32, late) == 2
    assert {d.status for d in deliveries() if d.id in {x.id for x in first}} == {"delivered"}


def test_settled_deliveries_are_purged_pending_ones_kept(db):
    enqueue(1)
    token, claimed = claim()
    queue.record(token, outcomes(claimed), NOW, BOTH)
    enqueue(1)
    token, claimed = claim()
    queue.record(token, outcomes(claimed), NOW + 10, BOTH)
    [due] = outbox.claim_due("a" * 32, 1, 60, NOW + 20)
    outbox.settle("a" * 32, [outbox.Settlement(due.id, outbox.FAILED, NOW + 20, 410, "HTTP 410", NOW + 20)])
    assert outbox.purge_settled(NOW + 100) == 1
    assert [d.status for d in deliveries()] == ["pending"]


@pytest.mark.parametrize("url", ["https://h.example.com/x?token=secret", "https://h.example.com/x"])
def test_shown_urls_leave_the_query_out(url):
    assert outbox.shown_url(url) == "https://h.example.com/x"
