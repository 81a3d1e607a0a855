"""PostgreSQL: the claim's statements that find operations by id (select the planned ones, hold
them, record their outcomes) do not go through an index of open operations, whatever the planner
believes of the backlog: by the primary key.

With `status = 4` spelled as the partial indexes' condition, a planner whose statistics predate the
backlog (a table never analyzed, or analyzed while the queue was empty) took the open-by-entity index
for a handful of rows and read all of it to find 100 ids: 70-90 ms a statement at 100,000 open
operations, and a `store`-mode drain of that queue at 525 operations a second. EXPLAIN's plan and
page counts are checked here, not timings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bulk import queue
from bulk.db import database
from bulk.models import Operation
from bulk.queue import NewBulk, NewOperation
from tests.sql_helpers import statements_run
from tests.test_postgres_finished_entries import ROUTE, in_a_claim_turn

pytestmark = pytest.mark.engines("postgresql")

NOW = 1_700_000_000.0
OPEN = 5_000  # never analyzed: the planner guesses the open-operations indexes hold a few rows
CLAIM = 100


def scans_and_pages(sql: str, params: Any) -> tuple[set[tuple[str, str | None]], int]:
    """The scan nodes of the statement's plan ((node type, index name)) and the pages its scans
    read, run under EXPLAIN (ANALYZE, BUFFERS)."""
    [[plan]] = database.execute_sql("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params).fetchall()
    plan = plan if isinstance(plan, list) else json.loads(plan)
    scans: set[tuple[str, str | None]] = set()
    pages = 0
    pending = [plan[0]["Plan"]]
    while pending:
        node = pending.pop()
        pending.extend(node.get("Plans", []))
        if "Scan" in node["Node Type"]:
            scans.add((node["Node Type"], node.get("Index Name")))
            pages += int(node["Shared Hit Blocks"]) + int(node["Shared Read Blocks"])
    return scans, pages


def test_lookups_by_id_leave_the_open_operations_indexes_alone_behind_a_backlog_the_planner_has_not_seen(db, monkeypatch):
    for number in range(OPEN // 100):
        operations = [NewOperation(i, ROUTE.topic_name, ROUTE.key, json.dumps({"product": {"sku": f"S{i}"}}),
                                   f"sku:S{number}-{i}") for i in range(100)]
        queue.enqueue(NewBulk(f"bulk-{number:04d}", 1, 2, ROUTE.description, operations), NOW)
    ids = [row.id for row in Operation.select(Operation.id).order_by(Operation.id).limit(CLAIM)]
    planned = [(operation_id, None) for operation_id in ids]

    def claim_and_record() -> None:
        assert len(queue.select_planned(planned, CLAIM, NOW)) == CLAIM
        queue.hold("t" * 32, ids[:10], 60, NOW)
        queue.record(None, [], NOW, completed={ROUTE.success_message: ids[10:]})

    _, statements = statements_run(monkeypatch, lambda: in_a_claim_turn(claim_and_record))
    by_id = [(sql, params) for sql, params in statements
             if "\"id\" = ANY(" in sql and sql.startswith(('SELECT "t1"', 'UPDATE "magento_operation"'))]
    assert [sql.split(" ")[0] for sql, _ in by_id] == ["SELECT", "UPDATE", "UPDATE"]  # select, hold, record
    for sql, params in by_id:
        scans, pages = in_a_claim_turn(lambda sql=sql, params=params: scans_and_pages(sql, params))
        # Never an index of open operations, whose size is what the planner guesses wrong, nor a
        # scan of the table (the claim's transaction plans without them).
        assert scans == {("Index Scan", "magento_operation_pkey")}, (sql, scans)
        assert pages < 6 * CLAIM, (sql, pages)
