"""The write-ahead log is checkpointed by the writer that finds it due, after its commit and outside the
writers' turn, not inside a commit."""

from __future__ import annotations

import os
import time

import peewee
import pytest

from bulk.checkpoints import SAFETY_NET_PAGES, checkpoint
from bulk.db import database
from tests.magento import bearer

PRODUCTS = [{"product": {"sku": f"ck-{n}", "name": "Checkpointed", "price": 1, "attribute_set_id": 4}}
            for n in range(50)]


def _database_file_bytes() -> int:
    # Pages reach the database file only through a checkpoint; commits go to the log.
    return os.path.getsize(database.obj.database)


@pytest.mark.engines("sqlite")
def test_the_writers_checkpoint_after_their_turn(make_app, engine, monkeypatch):
    app = make_app()
    seen = []

    def watched_checkpoint():
        # The other processes' writers must not wait for the copy: the turn is let go first.
        seen.append((database.in_transaction(), database.obj.writers._depth))
        return checkpoint()

    monkeypatch.setattr("bulk.checkpoints.checkpoint", watched_checkpoint)
    with database.connection_context():
        assert database.execute_sql("PRAGMA wal_autocheckpoint").fetchone() == (SAFETY_NET_PAGES,)
    client = app.test_client()
    auth = bearer(client.post("/rest/V1/integration/admin/token",
                              json={"username": "admin", "password": "admin123"}).get_json())
    before = _database_file_bytes()
    assert client.post("/rest/async/bulk/V1/products", json=PRODUCTS, headers=auth).status_code == 202
    # The token and the schema were written first; the first write checkpointed them, and a
    # writer finds the next checkpoint due only after BULK_SQLITE_CHECKPOINT_SECONDS (0.5).
    assert seen and all(state == (False, 0) for state in seen)
    assert before > 0
    checkpoints_so_far = len(seen)
    time.sleep(0.6)
    assert client.post("/rest/async/bulk/V1/products", json=PRODUCTS, headers=auth).status_code == 202
    assert len(seen) == checkpoints_so_far + 1
    assert _database_file_bytes() > before  # the submits' pages were copied into the file


@pytest.mark.engines("sqlite")
def test_writers_checkpoint_at_most_once_an_interval(make_app, engine, monkeypatch):
    app = make_app(BULK_SQLITE_CHECKPOINT_SECONDS=3600)
    calls = []
    monkeypatch.setattr("bulk.checkpoints.checkpoint", lambda: calls.append(1) or (0, 0, 0))
    app.extensions["bulk"].ensure_ready_without_worker()
    client = app.test_client()
    auth = bearer(client.post("/rest/V1/integration/admin/token",
                              json={"username": "admin", "password": "admin123"}).get_json())
    for _ in range(3):
        assert client.post("/rest/async/bulk/V1/products", json=PRODUCTS, headers=auth).status_code == 202
    assert len(calls) == 1


@pytest.mark.engines("sqlite")
def test_with_checkpoints_off_sqlite_checkpoints_by_itself(make_app, engine):
    app = make_app(BULK_SQLITE_CHECKPOINT_SECONDS=0)
    assert app.extensions["bulk"].database.after_write is None
    with database.connection_context():
        assert database.execute_sql("PRAGMA wal_autocheckpoint").fetchone() == (1000,)


@pytest.mark.engines("sqlite")
def test_a_failed_checkpoint_is_logged_and_the_submit_stands(make_app, engine, monkeypatch, caplog):
    app = make_app()
    app.extensions["bulk"].ensure_ready_without_worker()
    client = app.test_client()
    auth = bearer(client.post("/rest/V1/integration/admin/token",
                              json={"username": "admin", "password": "admin123"}).get_json())
    time.sleep(0.6)  # the token's write checkpointed; the next write finds one due

    def failing():
        raise peewee.OperationalError("disk I/O error")

    monkeypatch.setattr("bulk.checkpoints.checkpoint", failing)
    response = client.post("/rest/async/bulk/V1/products", json=PRODUCTS, headers=auth)
    # The commit was on disk before the checkpoint: the submit is answered and kept.
    assert response.status_code == 202
    bulk_uuid = response.get_json()["bulk_uuid"]
    status = client.get(f"/rest/V1/bulk/{bulk_uuid}/status", headers=auth).get_json()
    assert status["operation_count"] == len(PRODUCTS)
    assert "SQLite checkpoint after a write failed" in caplog.text
