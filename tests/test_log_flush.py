"""SQLite commits without flushing its log (synchronous=NORMAL); `write_transaction` flushes it after
letting go of the write lock and before it returns, so what it committed is on disk (a 202 survives
a power cut) while the lock every submit and drain batch waits for is not held during the flush."""

from __future__ import annotations

import os

import pytest

from bulk import db as bulk_db
from bulk.db import database, write_transaction
from bulk.models import Bulk
from tests.magento import assert_magento_error, bearer
from tests.test_database_trouble import PRODUCTS, token_for

pytestmark = pytest.mark.engines("sqlite")


@pytest.fixture
def flushes(monkeypatch):
    """Each flush of a file as (file name, in a transaction then, write turn held then)."""
    seen: list[tuple[str, bool, bool]] = []
    real_fsync = os.fsync

    def recording(handle):
        name = os.readlink(f"/proc/self/fd/{handle}")
        seen.append((os.path.basename(name), database.in_transaction(), database.obj.writers._depth > 0))
        return real_fsync(handle)

    monkeypatch.setattr(bulk_db.os, "fsync", recording)
    return seen


def test_a_write_transaction_flushes_the_log_once_it_let_go_of_the_write_lock(db, flushes):
    with write_transaction():
        Bulk.create(uuid="u1", description="d", operation_count=0, start_time="2024-01-01 00:00:00")
        assert flushes == []  # not while it holds the lock
    log = os.path.basename(database.obj.database) + "-wal"
    assert flushes == [(log, False, False)]
    # Nested ones flush once, when the outermost has committed.
    with write_transaction():
        with write_transaction():
            Bulk.create(uuid="u2", description="d", operation_count=0, start_time="2024-01-01 00:00:00")
        assert len(flushes) == 1
    assert len(flushes) == 2


def test_a_transaction_that_rolls_back_flushes_nothing(db, flushes):
    with pytest.raises(RuntimeError), write_transaction():
        Bulk.create(uuid="u1", description="d", operation_count=0, start_time="2024-01-01 00:00:00")
        raise RuntimeError("no")
    assert flushes == []
    assert Bulk.select().count() == 0


def test_connections_commit_without_flushing(db):
    assert database.execute_sql("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    assert database.execute_sql("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_submit_is_answered_after_its_flush(client, auth, flushes):
    flushes.clear()
    assert client.post("/rest/async/bulk/V1/products", json=PRODUCTS, headers=auth).status_code == 202
    assert [(in_transaction, turn_held) for _, in_transaction, turn_held in flushes] == [(False, False)]


def test_a_failed_flush_is_never_a_202(make_app, monkeypatch, caplog):
    client = make_app().test_client()
    auth = bearer(token_for(client))

    def failing(handle):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(bulk_db.os, "fsync", failing)
    response = client.post("/rest/async/bulk/V1/products", json=PRODUCTS, headers=auth)
    assert_magento_error(response, 503,
                         "The service cannot write to its database (%reason). Try again in %seconds second(s).",
                         {"reason": "the disk failed to store the write", "seconds": 1})
    assert "could not flush the log" in caplog.text
