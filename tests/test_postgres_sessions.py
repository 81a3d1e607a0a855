"""A PostgreSQL connection gets its lock timeout once, when opened, not each time the pool hands it out
(peewee initialises a connection at every check-out: that was three round trips per request)."""

from __future__ import annotations

import pytest

from bulk.db import open_database

pytestmark = pytest.mark.engines("postgresql")


@pytest.fixture
def handle(database_url):
    handle = open_database(database_url, busy_timeout=2.5, pool_size=1)
    yield handle
    handle.close_all()


def _session(handle) -> tuple[int, str]:
    with handle.connection_context():
        backend = handle.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
        return backend, handle.execute_sql("SHOW lock_timeout").fetchone()[0]


def test_a_new_connection_waits_for_locks_as_long_as_the_busy_timeout(handle):
    assert _session(handle)[1] == "2500ms"  # so a lock wait ends like SQLite's busy timeout: a 503


def test_a_pooled_connection_is_not_set_up_again_at_each_check_out(handle):
    with handle.connection_context():
        first_backend = handle.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
        with handle.atomic():
            handle.execute_sql("SET lock_timeout = 1234")
    # The same server session, handed out again: nothing ran on it in between.
    assert _session(handle) == (first_backend, "1234ms")
