"""End to end: a real gunicorn in forward mode feeds a flaky upstream until every operation is complete."""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict

import pytest
import requests

from tests.live import Gunicorn
from tests.upstream import Reply, Upstream

pytestmark = pytest.mark.live

ITEMS = 500
SKUS = 250  # every SKU twice: its two updates must arrive in submission order


class Flaky:
    """Fails one call in five with a transient error (503, 500, or 429 with Retry-After)."""

    def __init__(self) -> None:
        self._random = random.Random(20240501)
        self._lock = threading.Lock()
        self.failures = 0
        self.successes: dict[str, list[int]] = defaultdict(list)

    def __call__(self, call) -> Reply:
        with self._lock:
            roll = self._random.random()
            if roll < 0.2:
                self.failures += 1
                if roll < 0.02:
                    return Reply(429, {"message": "Too many requests"}, {"Retry-After": "1"})
                return Reply(503 if roll < 0.12 else 500, {"message": "Temporarily unavailable"})
            product = call.body["product"]
            self.successes[product["sku"]].append(product["price"])
        return Reply(200, {"id": 1, **product})


def test_a_bulk_is_delivered_through_transient_failures(tmp_path):
    flaky = Flaky()
    with Upstream(flaky) as upstream, Gunicorn(
            tmp_path, workers=2, BULK_PROCESSING="forward", BULK_UPSTREAM_URL=upstream.url,
            BULK_UPSTREAM_TOKEN="upstream-secret", BULK_WORKER_CONCURRENCY="4", BULK_RETRY_ATTEMPTS="15",
            BULK_RETRY_BASE_SECONDS="0.05", BULK_RETRY_MAX_SECONDS="1") as server:
        auth = {"Authorization": f"Bearer {server.token()}"}
        items = [{"product": {"sku": f"SKU-{i % SKUS}", "price": i}} for i in range(ITEMS)]
        response = requests.put(f"{server.base_url}/rest/default/async/bulk/V1/products/bySku", json=items,
                                headers=auth, timeout=30)
        assert response.status_code == 202, response.text
        bulk_uuid = response.json()["bulk_uuid"]

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            open_count = requests.get(f"{server.base_url}/rest/V1/bulk/{bulk_uuid}/operation-status/4",
                                      headers=auth, timeout=10).json()
            if open_count == 0:
                break
            time.sleep(0.2)
        body = requests.get(f"{server.base_url}/rest/V1/bulk/{bulk_uuid}/status", headers=auth, timeout=10).json()
        assert server.stop() == 0, server.log()

    statuses = [operation["status"] for operation in body["operations_list"]]
    assert statuses == [1] * ITEMS, (statuses.count(4), server.log()[-3000:])
    assert flaky.failures >= ITEMS * 0.1  # the upstream really failed about one call in five
    # Every item reached the upstream successfully exactly once, and each SKU's updates in order.
    assert {sku: prices for sku, prices in flaky.successes.items()} == \
        {f"SKU-{n}": [n, n + SKUS] for n in range(SKUS)}
    assert len(upstream.calls) == ITEMS + flaky.failures
    assert "Traceback" not in server.log()
