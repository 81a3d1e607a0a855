"""PostgreSQL: the drainer's statements do not slow down with the operations finished since the last
vacuum. The indexes of open operations keep an entry for each of them (dead rows) until a vacuum;
the pages a statement reads are counted with EXPLAIN (ANALYZE, BUFFERS), which are not timings."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from bulk import queue
from bulk.accept import serialize_operation, time_ordered_uuid
from bulk.clock import ManualClock
from bulk.db import database, write_transaction
from bulk.drainer import Drainer, DrainerSettings
from bulk.handlers import accept_handler
from bulk.models import Operation
from bulk.queue import NewBulk, NewOperation
from bulk.routes.builtin import builtin_catalogue
from bulk.statuses import OperationStatus
from tests.sql_helpers import statements_run

pytestmark = pytest.mark.engines("postgresql")

CATALOGUE = builtin_catalogue()
ROUTE = CATALOGUE.get("POST /V1/products")
NOW = 1_700_000_000.0
# Enough finished operations for their dead index entries to point into hundreds of table pages.
# The same SKUs in every bulk, as a feed sent again (and the benchmark's load).
BULKS = 100
SIZE = 100


def submit(number: int) -> str:
    bulk_uuid = time_ordered_uuid(NOW + number)
    operations = [NewOperation(i, ROUTE.topic_name, ROUTE.key,
                               serialize_operation({"product": {"sku": f"S{i}", "name": "x" * 80}}, 1), f"sku:S{i}")
                  for i in range(SIZE)]
    queue.enqueue(NewBulk(bulk_uuid, 1, 2, ROUTE.description, operations), NOW)
    return bulk_uuid


class _Rollback(Exception):
    pass


def pages_read(sql: str, params: Any, finding_rows: bool = False) -> int:
    """Buffer pages the statement reads, run under EXPLAIN (ANALYZE, BUFFERS); `finding_rows`: only
    those its scan reads to find the rows it then changes (an UPDATE's writes read pages too)."""
    [[plan]] = database.execute_sql("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params).fetchall()
    plan = plan if isinstance(plan, list) else json.loads(plan)
    nodes = [plan[0]["Plan"]]
    if finding_rows:
        nodes = nodes[0]["Plans"]  # (its scan, and the subqueries that bound it)
    return sum(int(node["Shared Hit Blocks"]) + int(node["Shared Read Blocks"]) for node in nodes)


def in_a_claim_turn(call: Callable[[], Any]) -> Any:
    """`call()` inside a claim's transaction (with its turn), then rolled back."""
    result: list[Any] = []
    try:
        with write_transaction():
            assert queue.take_claim_turn()
            result.append(call())
            raise _Rollback
    except _Rollback:
        pass
    return result[0]


def test_the_claim_reads_few_pages_after_thousands_of_operations_finished(db, monkeypatch):
    worker = Drainer(CATALOGUE, lambda route: accept_handler, ManualClock(NOW),
                     DrainerSettings(batch_size=SIZE * 2))
    # A steady drain: each bulk drained after it arrives, so every claim ran with dead entries about.
    for number in range(BULKS):
        submit(number)
        assert worker.run_once() == SIZE
    fresh = submit(BULKS)
    finished = Operation.select().where(Operation.status == int(OperationStatus.COMPLETE)).count()
    assert finished == BULKS * SIZE

    # What a caught-up claim of other routes than `no_op` ones runs: the look for due work, the
    # whole-backlog read, the outcome write.
    _, [(due_sql, due_params)] = statements_run(monkeypatch, lambda: queue.any_due(NOW))
    claimed: list = []
    _, backlog = statements_run(monkeypatch, lambda: in_a_claim_turn(
        lambda: claimed.extend(queue.select_whole_backlog(SIZE * 2, NOW, chain=True) or [])))
    [(read_sql, read_params)] = [(sql, params) for sql, params in backlog if "FOR UPDATE" in sql]
    assert len(claimed) == SIZE and {operation.bulk_uuid for operation in claimed} == {fresh}
    ids = [operation.id for operation in claimed]
    [(write_sql, write_params)] = [
        (sql, params) for sql, params in statements_run(monkeypatch, lambda: in_a_claim_turn(
            lambda: queue.record(None, [], NOW, completed={ROUTE.success_message: ids})))[1]
        if sql.startswith("UPDATE")]

    # Each reads about the pages of the open operations it deals with, not the table page of every
    # finished operation's index entry, nor the index pages of those entries. Measured: the read 110
    # pages (100 of them its row locks); planned with bitmap scans (before) 644, growing with the
    # operations finished since the last vacuum; 188 while it walked the open-by-bulk index from its
    # start (`queue._from_oldest_unfinished_bulk`). The write finds its rows by id, through the primary
    # key (`queue._still_open`, tests/test_postgres_lookups_by_id.py): 500 pages, five for each of
    # the 100, however many finished; through the open-by-entity index 59 here, 544 with bitmap scans.
    assert pages_read(due_sql, due_params) < 20
    assert in_a_claim_turn(lambda: pages_read(read_sql, read_params)) < 150
    assert in_a_claim_turn(lambda: pages_read(write_sql, write_params, finding_rows=True)) < 600

    # Behind a backlog a claim is planned: its turn through the bulks with open operations begins
    # again from the start of the open-by-bulk index.
    _, plan = statements_run(monkeypatch, lambda: queue.plan_claim(10, NOW, queue.Turn(caught_up=False), True))
    [(turn_sql, turn_params)] = [(sql, params) for sql, params in plan if sql.startswith("WITH RECURSIVE turn")]
    # Measured: 7 pages; 88 when its first probe walked from the index's start.
    assert pages_read(turn_sql, turn_params) < 30

    # `accept` mode's claim completes the backlog in place: a read of its routes and of the last of
    # them (one row), then one UPDATE.
    _, in_place = statements_run(monkeypatch, lambda: in_a_claim_turn(
        lambda: queue.complete_backlog(SIZE * 2, NOW, lambda route_key: ROUTE.success_message)))
    [(routes_sql, routes_params)] = [(sql, params) for sql, params in in_place if sql.startswith('SELECT "backlog"')]
    [(complete_sql, complete_params)] = [(sql, params) for sql, params in in_place
                                         if sql.startswith('UPDATE "magento_operation"')]
    # Measured: 10 and 8 pages. Walking the open-by-bulk index from its start, across the dead
    # entries of the 10,000 finished operations, both read 88; matching the read's rows with
    # `id IN (the read)` searched 8,648: PostgreSQL ran that subquery once per row it updated.
    assert in_a_claim_turn(lambda: pages_read(routes_sql, routes_params)) < 40
    assert in_a_claim_turn(lambda: pages_read(complete_sql, complete_params, finding_rows=True)) < 40
