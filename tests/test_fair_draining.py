"""Fair draining: a huge bulk does not hold up a small bulk behind it by more than one claim batch,
bulks take turns, and operations on one entity still run one at a time in submission order."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from bulk import queue
from bulk.accept import serialize_operation, time_ordered_uuid
from bulk.clock import ManualClock
from bulk.db import database
from bulk.drainer import CATCH_UP_SECONDS, Drainer, DrainerSettings
from bulk.handlers import accept_handler, pure, transactional
from bulk.models import Operation
from bulk.queue import NewBulk, NewOperation, Turn
from bulk.routes.builtin import builtin_catalogue
from bulk.statuses import OperationStatus
from tests.sql_helpers import statements_run

ROUTE = builtin_catalogue().get("POST /V1/products")
NOW = 1_700_000_000.0


def submit(skus: list[str], user_id: int = 1, bulk_uuid: str | None = None) -> str:
    bulk_uuid = bulk_uuid or str(uuid.uuid4())
    operations = [NewOperation(i, ROUTE.topic_name, ROUTE.key,
                               serialize_operation({"product": {"sku": sku}}, 1), f"sku:{sku}")
                  for i, sku in enumerate(skus)]
    queue.enqueue(NewBulk(bulk_uuid, user_id, 2, ROUTE.description, operations), NOW)
    return bulk_uuid


# A handler that runs (a database-local one doing nothing): fair turns are for handlers that work.
# In `accept` mode nothing runs, and the oldest operations are completed in place in bulk order
# (tests/test_complete_in_place.py).
WORKING = transactional(lambda job: None)


def drainer(batch_size: int) -> Drainer:
    return Drainer(builtin_catalogue(), lambda route: WORKING, ManualClock(NOW),
                   DrainerSettings(batch_size=batch_size))


def open_count(bulk_uuid: str) -> int:
    return Operation.select().where(Operation.bulk == bulk_uuid,
                                    Operation.status == OperationStatus.OPEN).count()


def test_a_small_bulk_behind_a_huge_one_is_done_by_the_next_batch(db):
    huge = submit([f"H{i}" for i in range(2000)], user_id=1)
    worker = drainer(batch_size=100)
    assert worker.run_once() == 100  # the huge bulk alone so far
    small = submit(["S1", "S2", "S3"], user_id=2)
    assert worker.run_once() == 100
    assert open_count(small) == 0
    assert open_count(huge) == 2000 - 197


def test_bulks_take_turns_when_there_are_more_than_a_batch_holds(db):
    bulks = [submit([f"{n}-{i}" for i in range(3)]) for n in range(5)]
    in_turn_order = sorted(bulks)
    turn = Turn()
    visited = []
    for _ in range(5):
        claimed = queue.claim(uuid.uuid4().hex, 2, 60, NOW, turn=turn)
        assert len(claimed) == 2
        visited.append(sorted({operation.bulk_uuid for operation in claimed}))
    # One operation from each of two bulks per claim, going round: every bulk is served by the third.
    assert visited[:3] == [in_turn_order[0:2], in_turn_order[2:4], sorted([in_turn_order[4], in_turn_order[0]])]
    assert visited[3:] == [in_turn_order[1:3], in_turn_order[3:5]]


def test_shares_a_bulk_cannot_use_go_to_the_others(db):
    small = submit(["S1"])
    large = submit([f"L{i}" for i in range(50)])
    claimed = queue.claim(uuid.uuid4().hex, 10, 60, NOW)
    assert len(claimed) == 10
    assert sum(operation.bulk_uuid == small for operation in claimed) == 1
    assert sum(operation.bulk_uuid == large for operation in claimed) == 9


def test_turns_keep_each_entity_in_submission_order(db):
    first = submit(["A", "B", "C"])
    second = submit(["A", "D"])  # its A waits for the first bulk's A, whoever's turn it is
    claimed = queue.claim("t" * 32, 100, 60, NOW)
    assert sorted((op.bulk_uuid == second, op.operation_key) for op in claimed) == [
        (False, 0), (False, 1), (False, 2), (True, 1)]
    queue.record("t" * 32, [queue.Outcome(op.id, OperationStatus.COMPLETE, "ok") for op in claimed])
    [second_a] = queue.claim("u" * 32, 100, 60, NOW)
    assert (second_a.bulk_uuid, second_a.operation_key) == (second, 0)
    assert open_count(first) == 0


def test_the_drainer_finishes_every_bulk_with_turns(db):
    bulks = [submit([f"{n}-{i}" for i in range(n * 37 + 1)]) for n in range(6)]
    assert drainer(batch_size=25).drain() == sum(n * 37 + 1 for n in range(6))
    assert all(open_count(bulk_uuid) == 0 for bulk_uuid in bulks)


def test_a_feed_sent_again_and_again_drains_a_full_batch_every_claim(db):
    # Every bulk's operations wait behind the previous bulk's for the same SKUs; bulk uuids sort by
    # submission time as the service issues them. The turn soon reaches bulks that can only wait.
    feeds = [submit([f"SKU{i}" for i in range(50)], bulk_uuid=time_ordered_uuid(NOW + n)) for n in range(20)]
    worker = drainer(batch_size=50)
    assert [worker.run_once() for _ in range(20)] == [50] * 20
    assert all(open_count(bulk_uuid) == 0 for bulk_uuid in feeds)


def test_bulk_uuids_sort_by_submission_time():
    issued = [time_ordered_uuid(NOW + n / 1000) for n in range(50)]
    assert issued == sorted(issued)
    assert all(uuid.UUID(value).version == 7 for value in issued)


def test_a_backlog_is_claimed_in_growing_batches_while_they_stay_short():
    worker = Drainer(builtin_catalogue(), lambda route: accept_handler, ManualClock(NOW),
                     DrainerSettings(batch_size=100, max_batch_size=1000, catch_up_seconds=CATCH_UP_SECONDS))
    sizes = [100]
    for _ in range(5):  # full batches, each well under the time budget
        worker._batch_size = worker._next_batch_size(sizes[-1], 0.001)
        sizes.append(worker._batch_size)
    assert sizes == [100, 200, 400, 800, 1000, 1000]
    assert worker._next_batch_size(1000, 0.2) == 500  # a batch that held the lock too long shrinks
    worker._batch_size = 400
    assert worker._next_batch_size(37, 0.001) == 400  # a short batch keeps the size for what gathers next
    fixed = Drainer(builtin_catalogue(), lambda route: accept_handler, ManualClock(NOW), DrainerSettings(batch_size=100))
    assert fixed._next_batch_size(100, 0.001) == 100  # growth is off unless a larger size is set
    unbounded = Drainer(builtin_catalogue(), lambda route: accept_handler, ManualClock(NOW),
                        DrainerSettings(batch_size=100, max_batch_size=1000))
    assert unbounded._next_batch_size(100, 0.2) == 200  # PostgreSQL's: no write lock to bound it in time


def test_a_claim_fills_its_batch_from_many_small_bulks(db):
    # A turn visits BULKS_PER_CLAIM bulks; the rest of the batch comes from the oldest bulks.
    singles = [submit([f"ONE{n}"], bulk_uuid=time_ordered_uuid(NOW + n)) for n in range(3 * queue.BULKS_PER_CLAIM)]
    worker = drainer(batch_size=2 * queue.BULKS_PER_CLAIM)
    assert worker.run_once() == 2 * queue.BULKS_PER_CLAIM
    assert worker.run_once() == queue.BULKS_PER_CLAIM
    assert all(open_count(bulk_uuid) == 0 for bulk_uuid in singles)


def order_of_finishing(bulks: list[str]) -> list[tuple[int, int]]:
    """(bulk position, operation key) of every finished operation, in the order they finished."""
    position = {bulk_uuid: index for index, bulk_uuid in enumerate(bulks)}
    rows = Operation.select().where(Operation.status != OperationStatus.OPEN).order_by(Operation.id)
    return [(position[row.bulk_uuid], row.operation_key) for row in rows]


def test_a_claim_with_room_takes_each_entitys_next_operations_with_its_first(db):
    feeds = [submit(["A", "B"], bulk_uuid=time_ordered_uuid(NOW + n)) for n in range(3)]
    plan = queue.plan_claim(10, NOW, chain=True)
    claimed = queue.claim_planned("t" * 32, plan, 10, 60, NOW, chain=True)
    # All six, in id order: each SKU's operations of the three bulks, oldest first.
    assert [(feeds.index(op.bulk_uuid), op.operation_key, op.entity_key) for op in claimed] == [
        (0, 0, "sku:A"), (0, 1, "sku:B"), (1, 0, "sku:A"), (1, 1, "sku:B"), (2, 0, "sku:A"), (2, 1, "sku:B")]
    # Without chains only each SKU's first operation is claimable.
    assert queue.plan_claim(10, NOW) == []
    queue.release("t" * 32, [op.id for op in claimed])
    assert sorted(op_id for op_id, _ in queue.plan_claim(10, NOW)) == [claimed[0].id, claimed[1].id]


def statements_of(monkeypatch, call):
    """What `call()` returns, and how many SQL statements it ran."""
    result, statements = statements_run(monkeypatch, call)
    return result, len(statements)


def test_a_backlog_that_fits_in_the_claim_is_planned_whole_with_one_read(db, monkeypatch):
    for n in range(3):
        submit(["A", "B", "C"], bulk_uuid=time_ordered_uuid(NOW + n))
    ids = [op.id for op in Operation.select().order_by(Operation.id)]
    turn = Turn()
    plan, statements = statements_of(monkeypatch, lambda: queue.plan_claim(9, NOW, turn, chain=True))
    # Every operation, in id order (each SKU's in submission order), from one read: no turn taken,
    # no chain layers looked up one query each.
    assert [op_id for op_id, _ in plan] == ids
    assert statements == 1
    assert turn.after == ""
    # One more operation than the claim holds: the fair plan, which takes turns through the bulks.
    submit(["D"], bulk_uuid=time_ordered_uuid(NOW + 3))
    plan, statements = statements_of(monkeypatch, lambda: queue.plan_claim(9, NOW, turn, chain=True))
    assert statements > 1
    assert turn.after != "" and not turn.caught_up
    # Behind a deep queue the whole backlog is not read first again, until a plan comes back short.
    whole_reads = []
    real_execute = type(queue._OPEN_AND_DUE).execute
    monkeypatch.setattr(type(queue._OPEN_AND_DUE), "execute", lambda self, **values: (
        whole_reads.append(1) if self is queue._OPEN_AND_DUE else None) or real_execute(self, **values))
    assert len(queue.plan_claim(9, NOW, turn, chain=True)) == 9
    assert whole_reads == []
    assert len(queue.plan_claim(20, NOW, turn, chain=True)) == 10
    assert turn.caught_up
    queue.plan_claim(20, NOW, turn, chain=True)
    assert whole_reads == [1]
    # Without chains the whole backlog's plan holds each entity's first operation only.
    assert [entity for _, entity in queue.plan_claim(20, NOW)] == ["sku:A", "sku:B", "sku:C", "sku:D"]


def test_a_whole_backlog_plan_leaves_out_what_waits_behind_an_operation_held_elsewhere(db):
    submit(["A", "B"], bulk_uuid=time_ordered_uuid(NOW))
    submit(["A", "B"], bulk_uuid=time_ordered_uuid(NOW + 1))
    [held_a] = [op for op in queue.claim("h" * 32, 2, 60, NOW) if op.entity_key == "sku:A"]
    queue.release("h" * 32, [op.id for op in Operation.select().where(Operation.entity_key == "sku:B")])
    for chain in (True, False):
        plan = queue.plan_claim(10, NOW, chain=chain)
        claimed = queue.claim_planned("t" * 32, plan, 10, 60, NOW, chain=chain)
        # A's second operation is planned (it is due) but not claimed: A's first is held elsewhere.
        assert any(entity == "sku:A" for _, entity in plan)
        assert "sku:A" not in {op.entity_key for op in claimed} and held_a.entity_key == "sku:A"
        assert [op.entity_key for op in claimed] == (["sku:B", "sku:B"] if chain else ["sku:B"])
        queue.release("t" * 32, [op.id for op in claimed])


def test_a_chain_stops_at_an_operation_held_elsewhere_or_waiting_for_a_retry(db):
    first = submit(["A", "B", "C"], bulk_uuid=time_ordered_uuid(NOW))
    later = [submit(["A", "B", "C"], bulk_uuid=time_ordered_uuid(NOW + n)) for n in (1, 2)]
    [held_a] = [op for op in queue.claim("h" * 32, 1, 60, NOW) if op.entity_key == "sku:A"]
    # B's second operation waits for a retry: B's chain stops before it, C's runs through.
    second_b = Operation.get(Operation.bulk == later[0], Operation.operation_key == 1)
    Operation.update(available_at=NOW + 30).where(Operation.id == second_b.id).execute()
    plan = queue.plan_claim(10, NOW, chain=True)
    claimed = queue.claim_planned("t" * 32, plan, 10, 60, NOW, chain=True)
    assert held_a.bulk_uuid == first
    assert sorted((op.entity_key, op.bulk_uuid) for op in claimed) == sorted(
        [("sku:B", first), ("sku:C", first), ("sku:C", later[0]), ("sku:C", later[1])])


def test_a_planned_chain_whose_first_operation_was_taken_meanwhile_is_not_claimed(db):
    submit(["A", "B"], bulk_uuid=time_ordered_uuid(NOW))
    submit(["A", "B"], bulk_uuid=time_ordered_uuid(NOW + 1))
    plan = queue.plan_claim(10, NOW, chain=True)
    assert len(plan) == 4
    # Another drainer takes the first A between this plan (read without the lock) and its claim.
    first_a = min(op_id for op_id, entity in plan if entity == "sku:A")
    queue.claim_planned("o" * 32, [(first_a, "sku:A")], 1, 60, NOW)
    claimed = queue.claim_planned("t" * 32, plan, 10, 60, NOW, chain=True)
    assert sorted(op.entity_key for op in claimed) == ["sku:B", "sku:B"]


def test_the_drainer_drains_a_feed_sent_again_in_few_claims_keeping_each_skus_order(db):
    feeds = [submit([f"SKU{i}" for i in range(50)], bulk_uuid=time_ordered_uuid(NOW + n)) for n in range(20)]
    worker = drainer(batch_size=500)
    assert [worker.run_once() for _ in range(3)] == [500, 500, 0]
    assert all(open_count(bulk_uuid) == 0 for bulk_uuid in feeds)
    finished = order_of_finishing(feeds)
    for sku in range(50):
        assert [bulk for bulk, key in finished if key == sku] == list(range(20))


def test_a_chain_of_local_and_outside_operations_runs_only_up_to_the_first_of_the_other_kind(db):
    # POST /V1/products runs in the claiming transaction (local); PUT /V1/products/:sku has an outside
    # effect, run after that transaction commits. A chain of one SKU mixing them must not reorder.
    catalogue = builtin_catalogue()
    put = catalogue.get("PUT /V1/products/:sku")
    ran: list[tuple[str, int]] = []

    def local(job):
        ran.append(("local", job.operation.id))

    def outside(job):
        ran.append(("outside", job.operation.id))

    local = transactional(local)
    bulks = []
    for route in (ROUTE, put, ROUTE):
        operation = NewOperation(0, route.topic_name, route.key, serialize_operation({"sku": "A"}, 1), "sku:A")
        bulks.append(time_ordered_uuid(NOW + len(bulks)))
        queue.enqueue(NewBulk(bulks[-1], 1, 2, route.description, [operation]), NOW)
    worker = Drainer(catalogue, lambda route: outside if route.key == put.key else local, ManualClock(NOW),
                     DrainerSettings(batch_size=10))
    assert worker.run_once() == 1
    assert worker.run_once() == 1
    assert worker.run_once() == 1
    ids = [row.id for row in Operation.select().order_by(Operation.id)]
    assert ran == [("local", ids[0]), ("outside", ids[1]), ("local", ids[2])]


def hold_the_claim_turn_elsewhere(seconds: float) -> tuple[threading.Thread, list[float]]:
    """Another drainer's claim (its own connection) holding the turn for `seconds`, started once it has
    the turn; returns its thread and the monotonic time it began to let go (its commit follows)."""
    taken = threading.Event()
    letting_go: list[float] = []

    def claiming_elsewhere() -> None:
        with database.connection_context(), queue.write_transaction():
            assert queue.take_claim_turn()
            taken.set()
            time.sleep(seconds)
            letting_go.append(time.monotonic())

    thread = threading.Thread(target=claiming_elsewhere)
    thread.start()
    assert taken.wait(10)
    return thread, letting_go


@pytest.mark.engines("postgresql")
def test_a_drainer_refused_the_claim_turn_on_postgresql_waits_in_line_then_claims(db):
    """One claiming transaction at a time; the others wait for the turn (PostgreSQL hands it over in
    order) instead of planning the same operations and finding them locked, or giving up while the
    holder takes it again right after its commit (then one process drained alone)."""
    submit(["A", "B"])
    thread, letting_go = hold_the_claim_turn_elsewhere(0.5)
    try:
        assert drainer(batch_size=10).run_once() == 2  # waited, then claimed both
        claimed_at = time.monotonic()
    finally:
        thread.join(10)
    assert letting_go and claimed_at >= letting_go[0]


@pytest.mark.engines("postgresql")
def test_a_drainer_gives_up_the_claim_turn_after_the_lock_timeout_and_its_transaction_goes_on(db):
    submit(["A"])
    thread, _ = hold_the_claim_turn_elsewhere(2.0)
    try:
        with queue.write_transaction():
            database.execute_sql("SET LOCAL lock_timeout = 200")  # this transaction's only
            started = time.monotonic()
            assert not queue.take_claim_turn()
            assert 0.15 <= time.monotonic() - started < 1.9  # gave up after the lock timeout, not the holder
            # Only the wait's savepoint was rolled back: the transaction still answers.
            assert Operation.select().where(Operation.status == OperationStatus.OPEN).count() == 1
    finally:
        thread.join(10)
    assert drainer(batch_size=10).run_once() == 1  # the turn is free again


@pytest.mark.engines("sqlite")
def test_pure_handlers_run_before_the_write_lock_and_only_what_the_batch_gets_is_recorded(db, monkeypatch):
    submit(["A", "B", "C"])
    in_transaction: list[bool] = []

    @pure
    def observing(job):
        in_transaction.append(database.in_transaction())

    real_read_due = queue.read_due

    def read_then_lose_one(planned, now):
        read = real_read_due(planned, now)
        queue.claim("o" * 32, 1, 60, now)  # another drainer takes the first meanwhile
        return read

    monkeypatch.setattr(queue, "read_due", read_then_lose_one)
    worker = Drainer(builtin_catalogue(), lambda route: observing, ManualClock(NOW), DrainerSettings(batch_size=10))
    assert worker.run_once() == 2
    assert in_transaction == [False, False, False]  # all three ran early, none under the lock
    rows = {row.entity_key: row for row in Operation.select()}
    assert (rows["sku:A"].status, rows["sku:A"].claim_token) == (OperationStatus.OPEN, "o" * 32)
    assert [rows[key].status for key in ("sku:B", "sku:C")] == [OperationStatus.COMPLETE] * 2


@pytest.mark.engines("sqlite")
def test_batches_without_pure_handlers_stop_reading_before_the_lock(db, monkeypatch):
    reads: list[int] = []
    real_read_due = queue.read_due
    monkeypatch.setattr(queue, "read_due", lambda planned, now: reads.append(len(planned)) or real_read_due(planned, now))
    worker = Drainer(builtin_catalogue(), lambda route: transactional(lambda job: None), ManualClock(NOW),
                     DrainerSettings(batch_size=10))
    submit(["A"])
    assert worker.run_once() == 1
    submit(["B"])
    assert worker.run_once() == 1
    assert reads == [1]  # only the first batch, before it knew its handlers were not pure


@pytest.mark.engines("sqlite")
def test_operations_read_before_the_lock_are_claimed_without_reading_their_payloads_again(db, monkeypatch):
    submit(["A", "B"])
    submit(["C"])
    payload_reads: list[int] = []
    real_execute = type(queue._DUE_OF_PLAN).execute

    def counting(self, **values):
        if self is queue._DUE_OF_PLAN:
            payload_reads.append(1)
        return real_execute(self, **values)

    monkeypatch.setattr(type(queue._DUE_OF_PLAN), "execute", counting)
    worker = Drainer(builtin_catalogue(), lambda route: pure(lambda job: None), ManualClock(NOW),
                     DrainerSettings(batch_size=10))
    worker._pure_seen = True  # as after a first batch of pure handlers
    assert worker.run_once() == 3
    assert len(payload_reads) == 1  # the read before the lock; under it, ids and tries only
    assert Operation.select().where(Operation.status == OperationStatus.COMPLETE).count() == 3


def test_operations_already_read_are_claimed_as_read_with_their_tries_counted_now(db):
    submit(["A", "B"])
    planned = queue.plan_claim(10, NOW)
    read = {operation.id: operation for operation in queue.read_due(planned, NOW)}
    first, second = sorted(read)
    # The first's try was counted by someone else meanwhile (a lease that then ran out).
    Operation.update(attempts=Operation.attempts + 1).where(Operation.id == first).execute()
    with database.atomic():
        claimed = queue.select_planned(planned, 10, NOW, known=read)
    assert [operation.id for operation in claimed] == [first, second]
    assert claimed[1] is read[second]
    assert claimed[0].attempts == read[first].attempts + 1
    assert claimed[0]._replace(attempts=read[first].attempts) == read[first]
