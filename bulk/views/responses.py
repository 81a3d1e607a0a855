"""Magento's JSON bodies, built as plain dicts in Magento's key order (status polls are hot)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bulk.accept import Accepted, RequestItem
from bulk.clock import format_time
from bulk.models import Bulk
from bulk.secret_fields import mask
from bulk.statuses import OperationStatus


def _request_item(item: RequestItem) -> dict[str, Any]:
    body: dict[str, Any] = {"id": item.id, "data_hash": item.data_hash, "status": item.status}
    # Nullable getters: left out when empty, as Magento's output processor does.
    if item.error_message is not None:
        body["error_message"] = item.error_message
    if item.error_code is not None:
        body["error_code"] = item.error_code
    return body


def async_response(accepted: Accepted, shape: str) -> dict[str, Any]:
    """The 202 body; `seed` wraps the list as the pre-release documents show."""
    items = [_request_item(item) for item in accepted.request_items]
    return {
        "bulk_uuid": accepted.bulk_uuid,
        "request_items": {"items": items} if shape == "seed" else items,
        "errors": accepted.errors,
    }


# Columns read for each status shape, in the order the dict builders below expect.
SHORT_COLUMNS = ("error_code", "operation_key", "result_message", "status")
DETAILED_COLUMNS = ("bulk_uuid", "error_code", "operation_key", "result_message",
                    "result_serialized_data", "serialized_data", "status", "topic_name")


def short_operation(row: tuple) -> dict[str, Any]:
    error_code, key, result_message, status = row
    return {"error_code": error_code, "id": key, "result_message": result_message, "status": status}


def detailed_operation(row: tuple) -> dict[str, Any]:
    bulk_uuid, error_code, key, result_message, result_data, serialized_data, status, topic = row
    return {"bulk_uuid": bulk_uuid, "error_code": error_code, "id": key,
            "result_message": result_message, "result_serialized_data": result_data,
            "serialized_data": mask(serialized_data), "status": status, "topic_name": topic}


# The summary's `counts` keys, by status.
SUMMARY_COUNTS = {
    OperationStatus.COMPLETE: "complete",
    OperationStatus.RETRIABLY_FAILED: "failed_retriably",
    OperationStatus.NOT_RETRIABLY_FAILED: "failed_not_retriably",
    OperationStatus.OPEN: "open",
    OperationStatus.REJECTED: "rejected",
}


def bulk_summary(counts: dict[int, int], finished_at: datetime | None) -> dict[str, Any]:
    """The bulk's own status, right while operations are open (Magento's is not: issue #36911).

    Every operation open (or none at all): not started; some open: in progress; none open: finished,
    successfully when every one is complete.
    """
    named = {name: counts.get(status, 0) for status, name in SUMMARY_COUNTS.items()}
    total = sum(named.values())
    if named["open"] == total:
        status = "not_started"
    elif named["open"]:
        status = "in_progress"
    elif named["complete"] == total:
        status = "finished_successfully"
    else:
        status = "finished_with_failure"
    finished = status.startswith("finished")
    return {"status": status, "counts": named, "finished_at": format_time(finished_at) if finished else None}


def bulk_status(bulk: Bulk, operations: Iterable[dict[str, Any]],
                summary: dict[str, Any] | None = None) -> dict[str, Any]:
    """`/status` and `/detailed-status`: keys as a real 2.4 answers them; nulls kept.

    `summary` goes inside `extension_attributes` (Magento's place for additions, which clients ignore).
    """
    return {
        "bulk_id": bulk.uuid,
        "description": bulk.description,
        **({"extension_attributes": summary} if summary is not None else {}),
        "operation_count": bulk.operation_count,
        "operations_list": list(operations),
        "start_time": format_time(bulk.start_time),
        "user_id": bulk.user_id,
        "user_type": bulk.user_type,
    }


def search_item(row: tuple, start_time: datetime | str) -> dict[str, Any]:
    operation = detailed_operation(row)
    return {
        "extension_attributes": {"start_time": format_time(start_time)},
        "id": operation["id"],
        "bulk_uuid": operation["bulk_uuid"],
        "topic_name": operation["topic_name"],
        "serialized_data": operation["serialized_data"],
        "result_serialized_data": operation["result_serialized_data"],
        "status": operation["status"],
        "result_message": operation["result_message"],
        "error_code": operation["error_code"],
    }
