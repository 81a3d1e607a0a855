"""The events' bodies, in the Standard Webhooks shape `{"type", "timestamp", "data"}`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

from bulk.config import BULK_FINISHED, OPERATION_FAILED
from bulk.jsonutil import dumps
from bulk.statuses import OperationStatus

# The `counts` keys of a finished bulk, by status (open is never among them: nothing is open any more).
FINISHED_COUNTS = {
    OperationStatus.COMPLETE: "complete",
    OperationStatus.RETRIABLY_FAILED: "failed_retriably",
    OperationStatus.NOT_RETRIABLY_FAILED: "failed_not_retriably",
    OperationStatus.REJECTED: "rejected",
}


def iso_time(value: float | datetime | str | None) -> str | None:
    """UTC in ISO 8601 with a `Z` (epoch seconds, or a naive UTC timestamp as the database keeps them:
    a datetime, or SQLite's text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        moment = value.replace(tzinfo=UTC)
    else:
        moment = datetime.fromtimestamp(value, tz=UTC)
    text = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")


class FinishedBulk(NamedTuple):
    uuid: str
    description: str
    operation_count: int
    start_time: datetime | str
    finished_at: datetime | str
    user_type: int | None
    user_id: int | None
    counts: dict[int, int]


def bulk_finished(bulk: FinishedBulk, now: float) -> bytes:
    """`bulk.finished`: no operation of the bulk is open any more."""
    counts = {name: bulk.counts.get(status, 0) for status, name in FINISHED_COUNTS.items()}
    return _event(BULK_FINISHED, now, {
        "bulk_uuid": bulk.uuid,
        "description": bulk.description,
        "operation_count": bulk.operation_count,
        "counts": counts,
        "finished_with_failures": counts["complete"] != sum(counts.values()),
        "start_time": iso_time(bulk.start_time),
        "finished_at": iso_time(bulk.finished_at),
        "user_type": bulk.user_type,
        "user_id": bulk.user_id,
    })


class FailedOperation(NamedTuple):
    bulk_uuid: str
    operation_key: int
    topic_name: str
    status: int
    result_message: str | None
    error_code: int | None


def operation_failed(operation: FailedOperation, now: float) -> bytes:
    """`operation.failed`: an operation ended at status 2 or 3 (its id is its index in the request)."""
    return _event(OPERATION_FAILED, now, {
        "bulk_uuid": operation.bulk_uuid,
        "id": operation.operation_key,
        "topic_name": operation.topic_name,
        "status": operation.status,
        "result_message": operation.result_message,
        "error_code": operation.error_code,
    })


def _event(event_type: str, now: float, data: dict[str, Any]) -> bytes:
    return dumps({"type": event_type, "timestamp": iso_time(now), "data": data})
