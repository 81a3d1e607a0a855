"""Storage-level enqueue and drain rates, each against raw sqlite3 doing the same work in this run.

    .venv/bin/python bench/storage.py [--items 20000] [--bulk 100] [--batch 100] [--repeat 3]

Enqueue: one transaction per bulk of `--bulk` operations (what one request does).
Drain: claim a batch of `--batch` open operations with a lease, then record them complete, one
transaction each (what the drainer does). "drainer" adds the real Drainer.run_once with the
`accept` handler (job decoding, outcome mapping) on top of the bare queue functions.
The raw baseline runs equivalent SQL through the sqlite3 module on an identical schema, with the
same pragmas, so the ratio shows what the ORM and our code cost. Best of `--repeat` runs each.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bulk import queue
from bulk.accept import serialize_operation
from bulk.clock import Clock
from bulk.db import SQLITE_PRAGMAS, database, open_database
from bulk.drainer import Drainer, DrainerSettings
from bulk.handlers import accept_handler
from bulk.migrations import create_schema
from bulk.models import ALL_MODELS
from bulk.routes.builtin import builtin_catalogue

ROUTE = builtin_catalogue().get("POST /V1/products")


def payloads(count: int) -> list[str]:
    return [serialize_operation({"product": {"sku": f"SKU-{i}", "name": f"Product {i}", "price": 9.5,
                                             "attribute_set_id": 4, "type_id": "simple"}}, 1)
            for i in range(count)]


def bound_schema(url: str):
    """Bind the models to `url` and create the schema there; returns the open database handle."""
    handle = open_database(url)
    database.initialize(handle)
    create_schema(ALL_MODELS)
    return handle


def fresh_database(folder: Path, name: str):
    return bound_schema(f"sqlite:///{folder / name}")


def ours_enqueue(data: list[str], bulk_size: int) -> None:
    now = time.time()
    with database.connection_context():
        for start in range(0, len(data), bulk_size):
            operations = [queue.NewOperation(i, ROUTE.topic_name, ROUTE.key, payload)
                          for i, payload in enumerate(data[start:start + bulk_size])]
            queue.enqueue(queue.NewBulk(str(uuid.uuid4()), 1, 2, ROUTE.description, operations), now)


def ours_drain_queue(batch: int) -> int:
    done = 0
    with database.connection_context():
        while True:
            token = uuid.uuid4().hex
            claimed = queue.claim(token, batch, 60, time.time())
            if not claimed:
                return done
            message = "Service execution success X::save"
            queue.record(token, [queue.Outcome(op.id, 1, message) for op in claimed])
            done += len(claimed)


def ours_drain_drainer(batch: int) -> int:
    drainer = Drainer(builtin_catalogue(), lambda route: accept_handler, Clock(),
                      DrainerSettings(batch_size=batch))
    return drainer.drain()


def raw_connection(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma, value in SQLITE_PRAGMAS.items():
        connection.execute(f"PRAGMA {pragma} = {value}")
    # Commits as durable as ours: the service commits with NORMAL and flushes the log itself after
    # the write lock (`bulk.db.write_transaction`); plain sqlite3 gets that from FULL.
    connection.execute("PRAGMA synchronous = FULL")
    return connection


def raw_enqueue(path: Path, data: list[str], bulk_size: int) -> None:
    connection = raw_connection(path)
    for start in range(0, len(data), bulk_size):
        bulk_uuid = str(uuid.uuid4())
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("INSERT INTO magento_bulk (uuid, user_id, user_type, description, operation_count, "
                           "start_time) VALUES (?, 1, 2, ?, ?, datetime('now'))",
                           (bulk_uuid, ROUTE.description, bulk_size))
        connection.executemany(
            "INSERT INTO magento_operation (bulk_uuid, operation_key, topic_name, route_key, serialized_data, "
            "status, attempts) VALUES (?, ?, ?, ?, ?, 4, 0)",
            [(bulk_uuid, i, ROUTE.topic_name, ROUTE.key, payload)
             for i, payload in enumerate(data[start:start + bulk_size])])
        connection.execute("COMMIT")
    connection.close()


def raw_drain(path: Path, batch: int) -> int:
    connection = raw_connection(path)
    done = 0
    while True:
        token = uuid.uuid4().hex
        now = time.time()
        connection.execute("BEGIN IMMEDIATE")
        ids = [row[0] for row in connection.execute(
            "UPDATE magento_operation SET claim_token = ?, available_at = ?, attempts = attempts + 1, "
            "started_at = datetime('now') WHERE id IN (SELECT id FROM magento_operation WHERE status = 4 AND "
            "(available_at IS NULL OR available_at < ?) ORDER BY id LIMIT ?) RETURNING id",
            (token, now + 60, now, batch)).fetchall()]
        connection.execute("COMMIT")
        if not ids:
            connection.close()
            return done
        connection.execute("BEGIN IMMEDIATE")
        marks = ",".join("?" * len(ids))
        connection.execute(
            f"UPDATE magento_operation SET status = 1, result_message = ?, serialized_data = NULL, "
            f"claim_token = NULL, available_at = NULL WHERE id IN ({marks}) AND claim_token = ? AND status = 4",
            ["Service execution success X::save", *ids, token])
        connection.execute("COMMIT")
        done += len(ids)


def timed(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def best_rate(items: int, repeat: int, run) -> float:
    """Items per second, best of `repeat` runs; `run(folder)` returns the seconds it measured."""
    best = 0.0
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as folder:
            best = max(best, items / run(Path(folder)))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--bulk", type=int, default=100)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = payloads(args.items)

    def ours_enqueue_run(folder: Path) -> float:
        handle = fresh_database(folder, "ours.sqlite3")
        seconds = timed(ours_enqueue, data, args.bulk)
        handle.close_all()
        return seconds

    def raw_enqueue_run(folder: Path) -> float:
        fresh_database(folder, "raw.sqlite3").close_all()
        return timed(raw_enqueue, folder / "raw.sqlite3", data, args.bulk)

    def drain_run(drain):
        def run(folder: Path) -> float:
            handle = fresh_database(folder, "drain.sqlite3")
            ours_enqueue(data, args.bulk)
            seconds = timed(drain, args.batch)
            handle.close_all()
            return seconds
        return run

    def raw_drain_run(folder: Path) -> float:
        handle = fresh_database(folder, "raw-drain.sqlite3")
        ours_enqueue(data, args.bulk)
        handle.close_all()
        return timed(raw_drain, folder / "raw-drain.sqlite3", args.batch)

    raw_in = best_rate(args.items, args.repeat, raw_enqueue_run)
    ours_in = best_rate(args.items, args.repeat, ours_enqueue_run)
    raw_out = best_rate(args.items, args.repeat, raw_drain_run)
    ours_out = best_rate(args.items, args.repeat, drain_run(ours_drain_queue))
    drainer_out = best_rate(args.items, args.repeat, drain_run(ours_drain_drainer))

    print(f"storage benchmark: {args.items} operations, bulks of {args.bulk}, claim batches of {args.batch}, "
          f"best of {args.repeat}, SQLite {sqlite3.sqlite_version} (WAL; every commit on disk before it returns)")
    print(f"{'':28}{'items/s':>12}{'vs raw sqlite3':>18}")
    print(f"{'enqueue  raw sqlite3':28}{raw_in:12,.0f}{1.0:18.2f}")
    print(f"{'enqueue  bulk.queue':28}{ours_in:12,.0f}{ours_in / raw_in:18.2f}")
    print(f"{'drain    raw sqlite3':28}{raw_out:12,.0f}{1.0:18.2f}")
    print(f"{'drain    bulk.queue':28}{ours_out:12,.0f}{ours_out / raw_out:18.2f}")
    print(f"{'drain    Drainer (accept)':28}{drainer_out:12,.0f}{drainer_out / raw_out:18.2f}")


if __name__ == "__main__":
    main()
