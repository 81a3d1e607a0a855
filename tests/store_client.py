"""Requests the store tests make again and again: submit a bulk, read its operations, search."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode


def submit(client, auth, method: str, bulk_path: str, items: list, store: str = "default") -> str:
    """Submit a bulk and return its uuid (the request must be accepted)."""
    response = client.open(f"/rest/{store}/async/bulk{bulk_path}", method=method, json=items, headers=auth)
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.get_json()["bulk_uuid"]


def operations(client, auth, bulk_uuid: str) -> list[dict[str, Any]]:
    """The bulk's operations in request order, as detailed-status shows them."""
    response = client.get(f"/rest/V1/bulk/{bulk_uuid}/detailed-status", headers=auth)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["operations_list"]


def criteria(*filters: tuple[str, Any, str], sort: tuple[str, str] | None = None, **extra: Any) -> str:
    """A `searchCriteria` query string: each filter its own group (AND), a sort order, page_size etc."""
    pairs = []
    for group, (field, value, condition) in enumerate(filters):
        prefix = f"searchCriteria[filter_groups][{group}][filters][0]"
        pairs += [(f"{prefix}[field]", field), (f"{prefix}[value]", value), (f"{prefix}[condition_type]", condition)]
    if sort is not None:
        pairs += [("searchCriteria[sort_orders][0][field]", sort[0]),
                  ("searchCriteria[sort_orders][0][direction]", sort[1])]
    pairs += [(f"searchCriteria[{key}]", value) for key, value in extra.items()]
    return urlencode(pairs or [("searchCriteria", "")])
