"""Nothing lost, nothing twice: real gunicorn processes killed, stopped and multiplied, on both engines.

The served app (tests/apps/counting.py) records every handler call in the database inside the
transaction that completes the operation, so "exactly once" is counted, not assumed.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bulk.db import database, open_database
from bulk.migrations import create_schema
from bulk.models import ALL_MODELS
from tests.apps.call_log import HandlerCall
from tests.databases import fetch_all
from tests.live import Gunicorn

pytestmark = pytest.mark.live

COUNTING_APP = "tests.apps.counting:app"


@pytest.fixture
def schema(database_url):
    """The service's tables plus the call log, created before any server starts."""
    handle = open_database(database_url)
    database.initialize(handle)
    create_schema([*ALL_MODELS, HandlerCall])
    handle.close_all()
    return database_url


def counting_server(tmp_path, url, workers=2, **env) -> Gunicorn:
    return Gunicorn(tmp_path, workers=workers, database_url=url, app=COUNTING_APP, **env)


def submit(server: Gunicorn, token: str, count: int, prefix: str, attempts: int = 1) -> requests.Response:
    """POST a bulk; with `attempts` > 1, resend after a 503 as clients do (it stored nothing)."""
    items = [{"product": {"sku": f"{prefix}-{i}"}} for i in range(count)]
    for _ in range(attempts):
        response = requests.post(server.base_url + "/rest/async/bulk/V1/products", json=items,
                                 headers={"Authorization": f"Bearer {token}"}, timeout=60)
        if response.status_code != 503:
            break
        time.sleep(int(response.headers["Retry-After"]))
    return response


def wait_until_drained(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fetch_all(url, "SELECT count(*) FROM magento_operation WHERE status = 4") == [(0,)]:
            return
        time.sleep(0.2)
    pytest.fail(f"operations still open after {timeout}s: "
                f"{fetch_all(url, 'SELECT status, count(*) FROM magento_operation GROUP BY status')}")


def wait_for_a_running_batch(running_dir, timeout: float = 30.0) -> int:
    """The pid of a worker running operations; its batch (claim, calls, outcomes) is not committed yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [int(path.name) for path in running_dir.iterdir()]
        if pids:
            return pids[0]
        time.sleep(0.02)
    pytest.fail("no operation ever started")


def assert_each_operation_ran_once(url: str, expected: int) -> None:
    operations = fetch_all(url, "SELECT status, count(*) FROM magento_operation GROUP BY status")
    assert operations == [(1, expected)], operations
    calls = fetch_all(url, "SELECT operation_id, count(*) FROM test_handler_call GROUP BY operation_id")
    assert len(calls) == expected
    assert {count for _, count in calls} == {1}, [row for row in calls if row[1] != 1][:10]
    assert fetch_all(url, "SELECT count(*) FROM magento_operation WHERE claim_token IS NOT NULL") == [(0,)]


def test_kill_9_under_load_loses_no_accepted_operation_and_runs_each_once(tmp_path, schema):
    server = counting_server(tmp_path, schema, BULK_LEASE_SECONDS="2", BULK_WORKER_BATCH="20",
                             COUNTING_DELAY_SECONDS="0.002").start()
    token = server.token()
    accepted: list[str] = []
    stop = threading.Event()

    def client(n: int) -> None:
        sent = 0
        while not stop.is_set():
            try:
                response = submit(server, token, 25, f"c{n}-{sent}")
            except requests.RequestException:
                return  # the server is gone
            sent += 1
            if response.status_code == 202:
                accepted.append(response.json()["bulk_uuid"])

    with ThreadPoolExecutor(4) as pool:
        for n in range(4):
            pool.submit(client, n)
        while len(accepted) < 20:  # load is flowing and draining has begun
            time.sleep(0.05)
        server.kill()
        stop.set()

    restarted = counting_server(tmp_path, schema, BULK_LEASE_SECONDS="2").start()
    try:
        wait_until_drained(schema)
    finally:
        restarted.stop()
    stored = dict(fetch_all(schema, "SELECT uuid, operation_count FROM magento_bulk"))
    missing = [bulk_uuid for bulk_uuid in accepted if bulk_uuid not in stored]
    assert not missing, f"202 answered but not stored: {missing}"
    assert {stored[bulk_uuid] for bulk_uuid in accepted} == {25}
    total = fetch_all(schema, "SELECT count(*) FROM magento_operation")[0][0]
    assert total == sum(stored.values())
    assert_each_operation_ran_once(schema, total)


def test_kill_9_of_a_worker_holding_operations_hands_them_to_another(tmp_path, schema):
    running = tmp_path / "running"
    running.mkdir()
    server = counting_server(tmp_path, schema, BULK_LEASE_SECONDS="2", BULK_WORKER_BATCH="5",
                             COUNTING_DELAY_SECONDS="0.2", COUNTING_RUNNING_DIR=str(running)).start()
    try:
        assert submit(server, server.token(), 20, "held").status_code == 202
        victim = wait_for_a_running_batch(running)
        assert victim in server.worker_pids()
        os.kill(victim, signal.SIGKILL)
        wait_until_drained(schema)
    finally:
        server.stop()
    assert_each_operation_ran_once(schema, 20)
    pids = {pid for _, pid in fetch_all(schema, "SELECT operation_id, pid FROM test_handler_call")}
    assert victim not in pids  # its uncommitted batch left no trace


def test_sigterm_while_draining_releases_what_it_holds(tmp_path, schema):
    # A long lease: if the stop did not release its claims, the restart could not finish in time.
    running = tmp_path / "running"
    running.mkdir()
    server = counting_server(tmp_path, schema, BULK_LEASE_SECONDS="300", BULK_WORKER_BATCH="10",
                             COUNTING_DELAY_SECONDS="0.1", COUNTING_RUNNING_DIR=str(running)).start()
    assert submit(server, server.token(), 60, "term").status_code == 202
    wait_for_a_running_batch(running)
    assert server.stop(timeout=30) == 0, server.log()
    assert fetch_all(schema, "SELECT count(*) FROM magento_operation WHERE claim_token IS NOT NULL") == [(0,)]
    done = fetch_all(schema, "SELECT count(*) FROM magento_operation WHERE status = 1")[0][0]
    assert fetch_all(schema, "SELECT count(*) FROM test_handler_call") == [(done,)]
    assert "Traceback" not in server.log()

    restarted = counting_server(tmp_path, schema, BULK_LEASE_SECONDS="300").start()
    try:
        wait_until_drained(schema, timeout=60)
    finally:
        restarted.stop()
    assert_each_operation_ran_once(schema, 60)


def test_four_workers_and_two_instances_share_one_queue(tmp_path, schema):
    # Batches grow from 100 as they do in production (BULK_WORKER_BATCH_MAX): on PostgreSQL a drainer
    # that re-took the claim turn right after its commit, while the others slept, could take every
    # claim alone; waiting drainers now get the turn in order.
    instances = [counting_server(tmp_path, schema, workers=4, BULK_WORKER_BATCH="100") for _ in range(2)]
    try:
        for instance in instances:
            instance.start()
        tokens = [instance.token() for instance in instances]

        def send(n: int) -> None:
            instance = n % 2
            response = submit(instances[instance], tokens[instance], 500, f"bulk{n}", attempts=10)
            assert response.status_code == 202, response.text

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(send, range(40)))
        wait_until_drained(schema, timeout=300)
        holders = fetch_all(schema, "SELECT DISTINCT pid FROM test_handler_call")
    finally:
        for instance in instances:
            instance.stop()
    assert_each_operation_ran_once(schema, 20_000)
    # The work was shared by most of the 8 processes, not drained by a few (before drainers waited
    # in line for PostgreSQL's claim turn, 4 or 5 took part; now all 8 usually do).
    assert len(holders) >= 6
