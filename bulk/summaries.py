"""Bulks with their operations counted per status, newest first: what a person asks first (the CLI)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import peewee

from bulk.clock import format_time
from bulk.db import tuples
from bulk.models import Bulk, Operation
from bulk.statuses import OperationStatus, UserType
from bulk.unpublished import has_failed_operation, has_open_operation, shown_result_message, shown_status, with_bulk

FAILED = (OperationStatus.RETRIABLY_FAILED, OperationStatus.NOT_RETRIABLY_FAILED)
# `--status` filters of a bulk list: which operations a listed bulk must have.
BULK_FILTERS = ("open", "finished", "failed")


def status_name(status: int) -> str:
    return OperationStatus(status).name.lower()


@dataclass
class BulkSummary:
    uuid: str
    description: str
    start_time: str | None
    user_type: int | None
    user_id: int | None
    operation_count: int
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def owner(self) -> str:
        if self.user_type is None:
            return "-"
        name = UserType(self.user_type).name.lower()
        return name if self.user_id is None else f"{name}:{self.user_id}"

    def count(self, *statuses: OperationStatus) -> int:
        return sum(self.counts.get(status_name(status), 0) for status in statuses)

    def to_json(self) -> dict[str, Any]:
        return {"bulk_uuid": self.uuid, "description": self.description, "start_time": self.start_time,
                "user_type": self.user_type, "user_id": self.user_id, "operation_count": self.operation_count,
                "counts": {status_name(status): self.counts.get(status_name(status), 0)
                           for status in OperationStatus}}


def recent_bulks(limit: int, only: str | None = None) -> list[BulkSummary]:
    """The `limit` newest bulks (optionally only those with open / failed operations, or none open)."""
    query = Bulk.select().order_by(Bulk.id.desc()).limit(limit)
    if only is not None:
        query = query.where(_has(only))
    summaries = [_summary(bulk) for bulk in query]
    _count(summaries)
    return summaries


def find_summary(bulk_uuid: str) -> BulkSummary | None:
    bulk = Bulk.get_or_none(Bulk.uuid == bulk_uuid)
    if bulk is None:
        return None
    summary = _summary(bulk)
    _count([summary])
    return summary


def operations(bulk_uuid: str, limit: int | None = None) -> list[dict[str, Any]]:
    """A bulk's operations in request order: id, status, message, error code."""
    query = (with_bulk(Operation.select(Operation.operation_key, shown_status(), shown_result_message(),
                                        Operation.error_code))
             .where(Operation.bulk == bulk_uuid).order_by(Operation.operation_key))
    if limit:
        query = query.limit(limit)
    return [{"id": key, "status": status, "status_name": status_name(status), "result_message": message,
             "error_code": code} for key, status, message, code in tuples(query)]


def _has(only: str) -> Any:
    if only not in BULK_FILTERS:
        raise ValueError(f"unknown filter {only!r}")
    if only == "failed":
        return has_failed_operation()
    return ~has_open_operation() if only == "finished" else has_open_operation()


def _summary(bulk: Bulk) -> BulkSummary:
    return BulkSummary(bulk.uuid, bulk.description, format_time(bulk.start_time), bulk.user_type, bulk.user_id,
                       bulk.operation_count)


def _count(summaries: list[BulkSummary]) -> None:
    """Fill each summary's counts per status with one grouped query."""
    by_uuid = {summary.uuid: summary for summary in summaries}
    if not by_uuid:
        return
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    status = shown_status()
    rows = tuples(with_bulk(Operation.select(Operation.bulk, status, peewee.fn.COUNT(Operation.id)))
                  .where(Operation.bulk.in_(list(by_uuid))).group_by(Operation.bulk, status))
    for bulk_uuid, status, count in rows:
        counts[bulk_uuid][status_name(status)] = count
    for bulk_uuid, summary in by_uuid.items():
        summary.counts = counts[bulk_uuid]
