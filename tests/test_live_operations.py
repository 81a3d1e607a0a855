"""A real 2-worker gunicorn: metrics add up across workers, logs are JSON lines without secrets."""

from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.live import Gunicorn

pytestmark = pytest.mark.live

PRODUCTS = "/rest/default/async/bulk/V1/products"


def scrape(server: Gunicorn) -> dict[tuple[str, frozenset], float]:
    response = requests.get(server.base_url + "/metrics", timeout=10)
    assert response.status_code == 200, response.text
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def heartbeat_pids(samples) -> set[str]:
    return {dict(labels)["pid"] for name, labels in samples
            if name == "bulk_loop_heartbeat_age_seconds" and dict(labels)["loop"] == "bulk-drainer"}


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.1)
    pytest.fail(f"{what} not reached within {timeout}s")


def submit_many(server: Gunicorn, token: str, count: int) -> None:
    def submit(n: int) -> None:
        # A new connection each time, so the kernel spreads them over both workers.
        response = requests.post(server.base_url + PRODUCTS, json=[{"product": {"sku": f"S{n}-{i}"}} for i in range(3)],
                                 headers={"Authorization": f"Bearer {token}", "Connection": "close"}, timeout=30)
        assert response.status_code == 202, response.text

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(submit, range(count)))


def test_two_workers_counts_add_up_in_every_scrape(tmp_path, database_url):
    metrics_dir = tmp_path / "metrics"
    server = Gunicorn(tmp_path, workers=2, database_url=database_url, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    with server:
        token = server.token()
        submit_many(server, token, 40)
        wait_for(lambda: scrape(server).get(("bulk_open_operations", frozenset())) == 0, what="drained")
        # Both workers counted (one counter file each), and any worker's scrape adds up both.
        pids = {path.name.split("_")[1].split(".")[0] for path in metrics_dir.glob("counter_*.db")}
        assert len(pids) >= 2, pids
        for _ in range(6):
            samples = scrape(server)
            assert samples[("bulk_http_requests_total", frozenset(
                {"method": "POST", "route": "/async/bulk/V1/products", "status": "202"}.items()))] == 40
            assert samples[("bulk_operations_accepted_total", frozenset(
                {"topic": "async.magento.catalog.api.productrepositoryinterface.save.post"}.items()))] == 120
            assert samples[("bulk_operations_finished_total", frozenset({"status": "complete"}.items()))] == 120
        workers = set(map(str, server.worker_pids()))
        assert wait_for(lambda: heartbeat_pids(scrape(server)) == workers, what="a heartbeat per worker")

        # A worker dies: its heartbeat series goes with it, what it counted stays.
        victim = server.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: len(server.worker_pids()) == 2 and victim not in server.worker_pids(), what="a new worker")
        workers = set(map(str, server.worker_pids()))
        wait_for(lambda: heartbeat_pids(scrape(server)) == workers, what="the dead worker's heartbeat gone")
        samples = scrape(server)
        assert samples[("bulk_operations_finished_total", frozenset({"status": "complete"}.items()))] == 120
        assert server.stop() == 0

    # A new start with the same folder counts from zero.
    with Gunicorn(tmp_path, workers=2, database_url=database_url, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)) as again:
        samples = scrape(again)
        assert ("bulk_operations_finished_total", frozenset({"status": "complete"}.items())) not in samples
    assert metrics_dir.is_dir()  # the operator's folder stays


def test_the_default_metrics_folder_is_fresh_per_start_and_removed_at_exit(tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    server = Gunicorn(tmp_path, workers=2, TMPDIR=str(temp))
    server.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with server:
        requests.post(server.base_url + "/rest/V1/integration/admin/token",
                      json={"username": "admin", "password": "wrong"}, timeout=10)
        [folder] = list(temp.glob("bulk-metrics-*"))
        assert list(folder.glob("*.db"))
        assert scrape(server)[("bulk_http_requests_total", frozenset(
            {"method": "POST", "route": "/V1/integration/admin/token", "status": "401"}.items()))] == 1
        assert server.stop() == 0
    assert not list(temp.glob("bulk-metrics-*"))


SECRET_KEY = "s3cret-signing-key-0123456789"
ADMIN_PASSWORD = "Adm1n-Passw0rd-xyz"
UPSTREAM_TOKEN = "upstream-token-abcdef"


def json_lines(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


def test_json_logs_with_request_ids_and_no_secrets(tmp_path):
    server = Gunicorn(tmp_path, workers=2, BULK_LOG_FORMAT="json", BULK_ENV="production",
                      BULK_SECRET_KEY=SECRET_KEY, BULK_ADMIN_PASSWORD=ADMIN_PASSWORD, BULK_PROCESSING="forward",
                      BULK_UPSTREAM_URL="http://127.0.0.1:9", BULK_UPSTREAM_TOKEN=UPSTREAM_TOKEN,
                      BULK_RETRY_ATTEMPTS="1", BULK_UPSTREAM_AUTH="token")
    with server:
        base = server.base_url
        wrong = requests.post(base + "/rest/V1/integration/admin/token",
                              json={"username": "admin", "password": "not-" + ADMIN_PASSWORD}, timeout=10)
        assert wrong.status_code == 401
        token = requests.post(base + "/rest/V1/integration/admin/token",
                              json={"username": "admin", "password": ADMIN_PASSWORD}, timeout=10).json()
        submitted = requests.post(base + PRODUCTS, json=[{"product": {"sku": "A"}}, {"product": {"sku": "B"}}],
                                  headers={"Authorization": f"Bearer {token}", "X-Request-Id": "order-42"},
                                  timeout=10)
        assert submitted.status_code == 202
        assert submitted.headers["X-Request-Id"] == "order-42"
        bulk_uuid = submitted.json()["bulk_uuid"]
        generated = requests.get(base + "/rest/V1/bulk/nope/status", headers={"Authorization": f"Bearer {token}"},
                                 timeout=10).headers["X-Request-Id"]
        requests.get(base + "/rest/V1/bulk", params={"password": ADMIN_PASSWORD},
                     headers={"Authorization": f"Bearer {SECRET_KEY}"}, timeout=10)
        wait_for(lambda: bulk_uuid in server.log() and "drained" in server.log(), what="the drainer's line")
        assert server.stop() == 0
    log = server.log()
    for secret in (SECRET_KEY, ADMIN_PASSWORD, UPSTREAM_TOKEN, token):
        assert secret not in log
    records = json_lines(log)  # every line is one JSON object, gunicorn's own included
    assert any(record["logger"] == "gunicorn.error" and "Booting worker" in record["message"] for record in records)
    [submit] = [record for record in records if record.get("request_id") == "order-42"]
    assert submit["logger"] == "bulk.requests"
    assert (submit["method"], submit["route"], submit["status"]) == ("POST", "/async/bulk/V1/products", 202)
    assert (submit["user_type"], submit["user_id"], submit["bulk_uuid"], submit["items"]) == ("admin", 1, bulk_uuid, 2)
    assert submit["duration_ms"] > 0 and submit["level"] == "INFO" and "timestamp" in submit
    assert any(record.get("request_id") == generated and record.get("status") == 404 for record in records)
    assert len(generated) == 32
    [drained] = [record for record in records if bulk_uuid in record.get("bulk_uuids", [])]
    assert drained["logger"] == "bulk.drainer" and drained["operations"] == 2
    assert drained["outcomes"] == {"retriably_failed": 2}
