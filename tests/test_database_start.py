"""Several processes starting on a new SQLite file at once: every start must work.

gunicorn starts its workers together; each opens the database, switches the new file to WAL and
creates the schema. SQLite refuses the switch at once ("database is locked", no busy wait) while
another connection holds a lock on the file, which made about 1 start in 40 fail.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading

import pytest

from bulk.db import database, open_database
from bulk.factory import create_app


def test_a_connection_waits_while_another_holds_a_new_file_locked(tmp_path):
    path = tmp_path / "new.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    # A new file in its first (rollback journal) mode with a write lock held: what a starting
    # neighbour looks like in the instant it creates the file.
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("CREATE TABLE neighbour (x)")
    released = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    released.start()
    handle = open_database(f"sqlite:///{path}", busy_timeout=10)
    try:
        with handle.connection_context():
            assert handle.execute_sql("PRAGMA journal_mode").fetchone() == ("wal",)
            # NORMAL: commits do not flush; `write_transaction` flushes the log after the lock (tests/test_log_flush.py).
            assert handle.execute_sql("PRAGMA synchronous").fetchone() == (1,)
            # Every pragma was set once the lock was let go, the page cache for large submits too.
            assert handle.execute_sql("PRAGMA cache_size").fetchone() == (-16 * 1024,)
    finally:
        released.join()
        holder.close()
        handle.close_all()


def _start_worker(url: str, data_dir: str, barrier, results) -> None:
    """What gunicorn's post_worker_init does in each worker: build the app, create the schema."""
    try:
        app = create_app({"BULK_ENV": "development", "BULK_DATA_DIR": data_dir, "DATABASE_URL": url,
                          "BULK_WORKER": False})
        service = app.extensions["bulk"]
        barrier.wait(10)
        service.ensure_ready_without_worker()
        with database.connection_context():
            database.execute_sql("SELECT count(*) FROM magento_operation").fetchone()
        service.shutdown()
        results.put("ok")
    except Exception as error:  # noqa: BLE001 - reported to the test process
        results.put(repr(error))


@pytest.mark.live
def test_many_simultaneous_starts_on_new_files_all_work(tmp_path):
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    starts = 0
    for round_number in range(10):
        url = f"sqlite:///{tmp_path / f'round-{round_number}.sqlite3'}"
        barrier = context.Barrier(3)
        processes = [context.Process(target=_start_worker, args=(url, str(tmp_path), barrier, results))
                     for _ in range(3)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(60)
            assert process.exitcode == 0
        starts += len(processes)
    outcomes = [results.get(timeout=10) for _ in range(starts)]
    assert outcomes == ["ok"] * starts, [outcome for outcome in outcomes if outcome != "ok"]
