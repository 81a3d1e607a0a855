"""Writers of several processes take turns at SQLite's write lock (`bulk.writer_lock`).

Waiting in SQLite's busy handler is unfair: whoever asks again the instant it commits (a process
whose threads hand the lock to each other, or one writing back to back) keeps it, while writers
of other processes sleep, wake to find it taken, and under a sustained load time out.
"""

from __future__ import annotations

import multiprocessing
import threading
import time

import pytest

from bulk.db import database, open_database, write_transaction

pytestmark = pytest.mark.engines("sqlite")

WAITER_TRANSACTIONS = 20


def _open(url: str) -> None:
    database.initialize(open_database(url, busy_timeout=20))


def _write(who: str, hold_seconds: float) -> None:
    with write_transaction():
        database.execute_sql("INSERT INTO turns (who) VALUES (?)", (who,))
        time.sleep(hold_seconds)  # work done while holding the lock


def _hog(url: str, ready, done) -> None:
    """Three threads writing back to back until the waiter is done."""
    _open(url)

    def write_until_done() -> None:
        while not done.is_set():
            _write("hog", 0.002)

    _write("hog", 0)
    ready.set()
    threads = [threading.Thread(target=write_until_done) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _waiter(url: str, done) -> None:
    _open(url)
    try:
        for _ in range(WAITER_TRANSACTIONS):
            _write("waiter", 0.002)
    finally:
        done.set()


def test_a_busy_process_does_not_starve_another_processs_writer(tmp_path):
    url = f"sqlite:///{tmp_path / 'turns.sqlite3'}"
    _open(url)
    database.execute_sql("CREATE TABLE turns (id INTEGER PRIMARY KEY, who TEXT)")
    database.close_all()
    context = multiprocessing.get_context("spawn")
    ready, done = context.Event(), context.Event()
    hog = context.Process(target=_hog, args=(url, ready, done))
    hog.start()
    try:
        assert ready.wait(30)
        waiter = context.Process(target=_waiter, args=(url, done))
        waiter.start()
        waiter.join(120)
        assert waiter.exitcode == 0  # no "database is locked" in the waiter
    finally:
        done.set()
        hog.join(30)
    assert hog.exitcode == 0
    _open(url)
    order = [who for (who,) in database.execute_sql("SELECT who FROM turns ORDER BY id").fetchall()]
    database.close_all()
    assert order.count("waiter") == WAITER_TRANSACTIONS
    first = order.index("waiter")
    last = len(order) - 1 - order[::-1].index("waiter")
    # Turns alternate: between two of the waiter's transactions the busy process had one turn (two
    # at most, when the waiter was between transactions as it could have queued), and the waiter,
    # writing back to back too, did not shut the busy process out either.
    gaps = [len(run) for run in "".join("w" if who == "waiter" else "h" for who in order[first:last + 1]).split("w")]
    assert max(gaps) <= 2, gaps
    assert sum(gaps) >= WAITER_TRANSACTIONS // 2, gaps
