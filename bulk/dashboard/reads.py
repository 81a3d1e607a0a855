"""What the dashboard reads from the database (never writes): bulk pages, counts, the overview."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

import peewee

from bulk import backlog, finished_tally, heartbeats
from bulk.db import tuples
from bulk.integrations import Integration
from bulk.models import Bulk, Operation, WorkerHeartbeat
from bulk.statuses import OperationStatus
from bulk.unpublished import (
    has_failed_operation,
    has_open_operation,
    shown_result_message,
    shown_serialized_data,
    shown_status,
    with_bulk,
)

BULKS_PER_PAGE = 25
OPERATIONS_PER_PAGE = 100
# Pages past this are not served (an offset scan that long helps nobody).
MAX_PAGE = 100_000
# What this service's bulk uuids are made of (uuid4 text); anything else is not looked up at all.
_UUID = re.compile(r"[0-9a-fA-F-]{1,64}")

FAILED = (int(OperationStatus.RETRIABLY_FAILED), int(OperationStatus.NOT_RETRIABLY_FAILED))
FINISHED = (int(OperationStatus.COMPLETE), *FAILED, int(OperationStatus.REJECTED))

# Bulk list filters by state, and operation filters on a bulk's page.
BULK_STATES = {"open": "Open", "finished": "Finished", "failed": "With failures"}
OPERATION_STATES = {"open": "Open", "failed": "Failed", "complete": "Complete"}


@dataclass(frozen=True)
class BulkFilters:
    state: str = ""  # "", or a key of BULK_STATES
    topic: str = ""  # part of the description (the topic), case-insensitive
    owner: tuple[int, int | None] | None = None  # (user type, user id)

    @property
    def active(self) -> bool:
        return bool(self.state or self.topic or self.owner)


@dataclass
class BulkRow:
    uuid: str
    description: str
    user_type: int | None
    user_id: int | None
    start_time: datetime | None
    operation_count: int
    counts: dict[int, int] = field(default_factory=dict)

    @property
    def open(self) -> int:
        return self.counts.get(OperationStatus.OPEN, 0)

    @property
    def failed(self) -> int:
        return sum(self.counts.get(status, 0) for status in FAILED)


@dataclass(frozen=True)
class Page:
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size


def clamp_page(raw: str | None) -> int:
    """A page number from the query string: 1 for anything that is not a sensible positive integer."""
    if raw is None or not raw.isdigit() or len(raw) > 6:
        return 1
    return min(max(int(raw), 1), MAX_PAGE)


def _like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _bulk_query(filters: BulkFilters) -> peewee.ModelSelect[Bulk]:
    query = Bulk.select(Bulk.uuid, Bulk.description, Bulk.user_type, Bulk.user_id, Bulk.start_time,
                        Bulk.operation_count)
    if filters.state == "open":
        query = query.where(has_open_operation())
    elif filters.state == "finished":
        query = query.where(~has_open_operation())
    elif filters.state == "failed":
        query = query.where(has_failed_operation())
    if filters.topic:
        # LIKE with our own escape character, lower-cased on both sides: the same on SQLite and PostgreSQL.
        query = query.where(peewee.NodeList((peewee.fn.LOWER(Bulk.description), peewee.SQL("LIKE"),
                                             _like_pattern(filters.topic), peewee.SQL("ESCAPE '\\'"))))
    if filters.owner is not None:
        user_type, user_id = filters.owner
        query = query.where(Bulk.user_type == user_type,
                            Bulk.user_id.is_null() if user_id is None else Bulk.user_id == user_id)
    return query


def bulks(filters: BulkFilters, page_number: int, size: int | None = None) -> tuple[list[BulkRow], Page]:
    """One page of bulks, newest first, each with its operations counted by status."""
    size = size or BULKS_PER_PAGE
    query = _bulk_query(filters)
    page = Page(page_number, size, query.count())
    rows = [BulkRow(*row) for row in tuples(query.order_by(Bulk.start_time.desc(), Bulk.id.desc())
                                            .limit(size).offset(page.offset))]
    counts = status_counts([row.uuid for row in rows])
    for row in rows:
        row.counts = counts.get(row.uuid, {})
    return rows, page


def find_bulk(bulk_uuid: str) -> BulkRow | None:
    """One bulk with its counts, or None (also for text that cannot be a bulk uuid)."""
    if not _UUID.fullmatch(bulk_uuid):
        return None
    found = tuples(Bulk.select(Bulk.uuid, Bulk.description, Bulk.user_type, Bulk.user_id, Bulk.start_time,
                               Bulk.operation_count).where(Bulk.uuid == bulk_uuid))
    if not found:
        return None
    row = BulkRow(*found[0])
    row.counts = status_counts([row.uuid]).get(row.uuid, {})
    return row


def status_counts(bulk_uuids: list[str]) -> dict[str, dict[int, int]]:
    """{bulk uuid: {status: operations}} for the bulks given, in one grouped query."""
    if not bulk_uuids:
        return {}
    counts: dict[str, dict[int, int]] = {}
    status = shown_status()
    query = (with_bulk(Operation.select(Operation.bulk, status, peewee.fn.COUNT(Operation.id)))
             .where(Operation.bulk.in_(bulk_uuids)).group_by(Operation.bulk, status))
    for bulk_uuid, status, count in tuples(query):
        counts.setdefault(bulk_uuid, {})[int(status)] = count
    return counts


@dataclass(frozen=True)
class OperationRow:
    id: int
    status: int
    result_message: str | None
    error_code: int | None
    serialized_data: str | None


def operations(bulk_uuid: str, state: str, page_number: int,
               size: int | None = None) -> tuple[list[OperationRow], Page]:
    """One page of a bulk's operations in request order; `state` narrows them (a key of OPERATION_STATES)."""
    size = size or OPERATIONS_PER_PAGE
    status = shown_status()
    query = with_bulk(Operation.select(Operation.operation_key, status, shown_result_message(), Operation.error_code,
                                       shown_serialized_data())).where(Operation.bulk == bulk_uuid)
    if state == "open":
        query = query.where(status == OperationStatus.OPEN)
    elif state == "failed":
        query = query.where(status.in_(FAILED))
    elif state == "complete":
        query = query.where(status == OperationStatus.COMPLETE)
    page = Page(page_number, size, query.count())
    rows = [OperationRow(*row) for row in
            tuples(query.order_by(Operation.operation_key).limit(size).offset(page.offset))]
    return rows, page


def owners(limit: int = 200) -> list[tuple[int | None, int | None]]:
    """Who has submitted the bulks kept (for the owner filter)."""
    return [(user_type, user_id) for user_type, user_id in tuples(
        Bulk.select(Bulk.user_type, Bulk.user_id).distinct().order_by(Bulk.user_type, Bulk.user_id).limit(limit))]


@dataclass(frozen=True)
class Overview:
    open_operations: int
    oldest_open_age: float | None  # seconds since the oldest open operation's bulk was accepted
    completed_last_hour: int
    failed_last_hour: int
    workers: list[WorkerHeartbeat]


def overview(now: float) -> Overview:
    """The queue at a glance, read from the database so every worker process shows the same."""
    open_operations = backlog.open_operations()
    finished = finished_tally.last_hour(now)
    return Overview(
        open_operations=open_operations,
        oldest_open_age=backlog.oldest_open_age(now) if open_operations else None,
        completed_last_hour=finished.get(int(OperationStatus.COMPLETE), 0),
        failed_last_hour=sum(finished.get(status, 0) for status in FAILED),
        workers=heartbeats.workers(),
    )


def integration_names() -> dict[int, str]:
    """Each integration's name by id, to name bulk owners."""
    return dict(tuples(Integration.select(Integration.id, Integration.name)))
