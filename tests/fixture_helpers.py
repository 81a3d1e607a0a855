"""Requests the tests of the test fixture repeat: submit a bulk, read it back from the status endpoint."""

from __future__ import annotations

from typing import Any

from bulk.testing.fixture import BulkFixture

PRODUCTS = "/rest/default/async/bulk/V1/products"


def submit(bulk: BulkFixture, items: Any, path: str = PRODUCTS, method: str = "POST") -> str:
    """Send a bulk (or a single async call) through the test client; returns its uuid."""
    response = bulk.client.open(path, method=method, json=items, headers=bulk.headers)
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.get_json()["bulk_uuid"]


def products(*skus: str) -> list[dict[str, Any]]:
    return [{"product": {"sku": sku}} for sku in skus]


def reported(bulk: BulkFixture, bulk_uuid: str) -> list[tuple[int, str | None, int | None]]:
    """(status, result_message, error_code) of each operation, from `GET /V1/bulk/<uuid>/status`."""
    response = bulk.client.get(f"/rest/V1/bulk/{bulk_uuid}/status", headers=bulk.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return [(op["status"], op["result_message"], op["error_code"]) for op in response.get_json()["operations_list"]]
