"""The write-ahead log is checkpointed by a background loop, not by the request that commits."""

from __future__ import annotations

import pytest

from bulk.checkpoints import SAFETY_NET_PAGES, Checkpointer
from bulk.db import database


@pytest.mark.engines("sqlite")
def test_a_serving_process_checkpoints_in_the_background(make_app, engine):
    service = make_app(BULK_WORKER=True).extensions["bulk"]
    [checkpointer] = [loop for loop in service.loops if isinstance(loop, Checkpointer)]
    with database.connection_context():
        # SQLite's own checkpoint in the committing request only as a far-off safety net.
        assert database.execute_sql("PRAGMA wal_autocheckpoint").fetchone() == (SAFETY_NET_PAGES,)
    service.ensure_ready_without_worker()  # writes the schema: the log has frames now
    busy, log_frames, checkpointed = checkpointer.run_once()
    assert busy == 0 and log_frames > 0 and checkpointed == log_frames


@pytest.mark.engines("sqlite")
def test_without_background_loops_sqlite_checkpoints_by_itself(make_app, engine):
    service = make_app().extensions["bulk"]  # BULK_WORKER off: no loop would run
    assert not any(isinstance(loop, Checkpointer) for loop in service.loops)
    with database.connection_context():
        assert database.execute_sql("PRAGMA wal_autocheckpoint").fetchone() == (1000,)


def test_postgresql_has_no_checkpointer(make_app, engine):
    service = make_app(BULK_WORKER=True).extensions["bulk"]
    assert any(isinstance(loop, Checkpointer) for loop in service.loops) == (engine == "sqlite")
