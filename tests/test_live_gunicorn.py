"""A real `gunicorn app:app` with 2 workers, driven over real HTTP."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.databases import fetch_all
from tests.live import Gunicorn

pytestmark = pytest.mark.live


def test_two_workers_complete_every_operation_exactly_once(tmp_path, database_url):
    server = Gunicorn(tmp_path, workers=2, database_url=database_url, BULK_WORKER_BATCH="20")
    with server:
        auth = {"Authorization": f"Bearer {server.token()}"}

        def submit(n: int) -> str:
            items = [{"product": {"sku": f"SKU-{n}-{i}", "price": i}} for i in range(50)]
            layout = ["/rest/default/async/bulk/V1/products", "/rest/async/bulk/V1/products",
                      "/async/bulk/V1/products", "/rest/all/async/bulk/V1/products"][n % 4]
            response = requests.post(server.base_url + layout, json=items, headers=auth, timeout=30)
            assert response.status_code == 202, response.text
            return response.json()["bulk_uuid"]

        with ThreadPoolExecutor(4) as pool:
            uuids = list(pool.map(submit, range(12)))

        deadline = time.monotonic() + 60
        pending = set(uuids)
        while pending and time.monotonic() < deadline:
            for bulk_uuid in list(pending):
                response = requests.get(f"{server.base_url}/rest/V1/bulk/{bulk_uuid}/operation-status/4",
                                        headers=auth, timeout=10)
                if response.json() == 0:
                    pending.discard(bulk_uuid)
            time.sleep(0.1)
        assert not pending, server.log()

        for bulk_uuid in uuids:
            body = requests.get(f"{server.base_url}/rest/V1/bulk/{bulk_uuid}/status", headers=auth, timeout=10).json()
            assert [op["id"] for op in body["operations_list"]] == list(range(50))
            assert {op["status"] for op in body["operations_list"]} == {1}
        exit_code = server.stop()
    assert exit_code == 0, server.log()

    rows = fetch_all(database_url, "SELECT status, attempts, claim_token FROM magento_operation")
    assert len(rows) == 600
    # Each operation was claimed once (attempts) and finished once (status 1, claim cleared).
    assert set(rows) == {(1, 1, None)}
    assert "Traceback" not in server.log()
