"""`store` mode under a real `gunicorn app:app` with 2 workers: what bulks create is read back."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.live import Gunicorn

pytestmark = pytest.mark.live


def wait_until_done(server: Gunicorn, auth: dict, bulk_uuid: str, timeout: float = 60.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = requests.get(f"{server.base_url}/rest/V1/bulk/{bulk_uuid}/status", headers=auth, timeout=10).json()
        if all(op["status"] != 4 for op in body["operations_list"]):
            return body["operations_list"]
        time.sleep(0.1)
    pytest.fail(f"bulk {bulk_uuid} still open after {timeout}s:\n{server.log()}")


def test_bulks_drained_by_two_workers_are_read_back(tmp_path, database_url):
    with Gunicorn(tmp_path, workers=2, database_url=database_url) as server:
        auth = {"Authorization": f"Bearer {server.token()}"}

        def post(path: str, items: list) -> str:
            response = requests.post(server.base_url + path, json=items, headers=auth, timeout=30)
            assert response.status_code == 202, response.text
            return response.json()["bulk_uuid"]

        products = [{"product": {"sku": f"LIVE-{i}", "name": f"Live {i}", "price": i}} for i in range(40)]
        same_customer = [{"customer": {"email": "once@example.com", "firstname": "A", "lastname": "B"}}]
        with ThreadPoolExecutor(4) as pool:
            product_bulks = list(pool.map(lambda start: post("/rest/async/bulk/V1/products",
                                                             products[start:start + 10]), range(0, 40, 10)))
            customer_bulks = list(pool.map(lambda _: post("/rest/async/bulk/V1/customers", same_customer),
                                           range(4)))
        for bulk_uuid in product_bulks:
            assert {op["status"] for op in wait_until_done(server, auth, bulk_uuid)} == {1}
        for item in products:
            sku = item["product"]["sku"]
            product = requests.get(f"{server.base_url}/rest/V1/products/{sku}", headers=auth, timeout=10).json()
            assert (product["sku"], product["name"]) == (sku, item["product"]["name"])
        # Four bulks raced to create the same customer in two processes: exactly one did.
        outcomes = sorted(op["status"] for bulk_uuid in customer_bulks
                          for op in wait_until_done(server, auth, bulk_uuid))
        assert outcomes == [1, 3, 3, 3]
        found = requests.get(f"{server.base_url}/rest/V1/customers/search?searchCriteria", headers=auth,
                             timeout=10).json()
        assert found["total_count"] == 1
        assert server.stop() == 0, server.log()
    assert "Traceback" not in server.log()
