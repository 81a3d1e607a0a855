"""The queue: store accepted bulks, claim open operations with a lease, record outcomes.

This is the only module that writes an operation's `status`. Every function takes `now` (epoch
seconds) from its caller, so tests and the drainer decide what time it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import groupby
from typing import Any, Iterable, NamedTuple, Sequence

import orjson
import peewee

from bulk.db import Prepared, Slot, database, is_postgresql, write_transaction
from bulk.models import Bulk, Operation
from bulk.statuses import OperationStatus

def utc_datetime(now: float) -> datetime:
    """Magento's timestamps: UTC, whole seconds (rendered `YYYY-MM-DD HH:MM:SS`)."""
    return datetime.fromtimestamp(int(now), tz=timezone.utc).replace(tzinfo=None)


class NewOperation(NamedTuple):
    """One operation to store (a tuple: built for every item of every request)."""

    operation_key: int
    topic_name: str
    route_key: str
    serialized_data: str


@dataclass(frozen=True)
class NewBulk:
    uuid: str
    user_id: int | None
    user_type: int
    description: str
    operations: Sequence[NewOperation]


_INSERT_BULK = Prepared(lambda: Bulk.insert({
    Bulk.uuid: Slot("uuid"), Bulk.user_id: Slot("user_id"), Bulk.user_type: Slot("user_type"),
    Bulk.description: Slot("description"), Bulk.operation_count: Slot("operation_count"),
    Bulk.start_time: Slot("start_time", Bulk.start_time)}).returning())
_OPERATION_COLUMNS = ("bulk_uuid", "operation_key", "topic_name", "route_key", "serialized_data", "status",
                      "attempts")
_INSERT_OPERATION = Prepared(lambda: Operation.insert(
    {getattr(Operation, "bulk" if name == "bulk_uuid" else name): Slot(name) for name in _OPERATION_COLUMNS}
).returning())


def enqueue(bulk: NewBulk, now: float) -> None:
    """Store a bulk and all its operations in one transaction: whole or not at all."""
    opened = int(OperationStatus.OPEN)
    with write_transaction():
        _INSERT_BULK.execute(uuid=bulk.uuid, user_id=bulk.user_id, user_type=bulk.user_type,
                             description=bulk.description, operation_count=len(bulk.operations),
                             start_time=utc_datetime(now))
        if bulk.operations:
            _INSERT_OPERATION.execute_many(_OPERATION_COLUMNS, [
                (bulk.uuid, op.operation_key, op.topic_name, op.route_key, op.serialized_data, opened, 0)
                for op in bulk.operations])


class ClaimedOperation(NamedTuple):
    """An operation handed to a drainer, valid while its claim token is current."""

    id: int
    bulk_uuid: str
    operation_key: int
    topic_name: str
    route_key: str
    serialized_data: str | None
    attempts: int


def _claimable() -> peewee.Expression:
    # Open, and not held by a live lease nor waiting for a delayed retry (`available_at` passed).
    return (Operation.status == OperationStatus.OPEN) & (
        Operation.available_at.is_null() | (Operation.available_at <= Slot("now")))


_HAS_CLAIMABLE = Prepared(lambda: Operation.select(Operation.id).where(_claimable()).limit(1))


def _claim_statement() -> peewee.Query:
    candidates = (Operation.select(Operation.id).where(_claimable())
                  .order_by(Operation.id).limit(Slot("limit")))
    if is_postgresql():
        # Concurrent claimers skip each other's rows instead of queueing behind them.
        candidates = candidates.for_update(skip_locked=True)
    return (Operation
            .update({Operation.claim_token: Slot("token"),
                     Operation.claimed_by: Slot("holder"),
                     Operation.available_at: Slot("expires"),
                     Operation.started_at: Slot("started_at", Operation.started_at),
                     Operation.attempts: Operation.attempts + 1})
            .where(Operation.id.in_(candidates))
            .returning(Operation.id, Operation.bulk, Operation.operation_key, Operation.topic_name,
                       Operation.route_key, Operation.serialized_data, Operation.attempts))


_CLAIM = Prepared(_claim_statement)


def has_claimable(now: float) -> bool:
    """A cheap read, so an idle drainer does not take the write lock to find nothing."""
    return _HAS_CLAIMABLE.execute(now=now).fetchone() is not None


def claim(token: str, limit: int, lease_seconds: float, now: float,
          holder: str | None = None) -> list[ClaimedOperation]:
    """Atomically take up to `limit` claimable operations, oldest first, for `token`."""
    if not has_claimable(now):
        return []
    with write_transaction():
        if is_postgresql():
            # Without fresh statistics (a backlog that just arrived) the planner sorts every open
            # row for each claim; walking the (status, id) index is right at any depth.
            database.execute_sql("SET LOCAL enable_sort = off; SET LOCAL enable_bitmapscan = off")
        rows = _CLAIM.execute(token=token, holder=holder, expires=now + lease_seconds,
                              started_at=utc_datetime(now), now=now, limit=limit).fetchall()
    rows.sort()
    return [ClaimedOperation(*row) for row in rows]


@dataclass(slots=True)
class Outcome:
    """What running one operation produced, in Magento's terms."""

    operation_id: int
    status: OperationStatus
    result_message: str | None = None
    error_code: int | None = None
    result_serialized_data: str | None = None

    def __post_init__(self) -> None:
        if self.status not in (OperationStatus.COMPLETE, OperationStatus.RETRIABLY_FAILED,
                               OperationStatus.NOT_RETRIABLY_FAILED, OperationStatus.REJECTED):
            raise ValueError(f"an outcome cannot leave an operation {self.status!r}")


def _same_write(outcome: Outcome) -> tuple:
    return (outcome.status, outcome.error_code, outcome.result_message or "",
            outcome.result_serialized_data or "")


def _record_statement(complete: bool) -> peewee.Query:
    values = {
        Operation.status: Slot("status"),
        Operation.error_code: Slot("error_code"),
        Operation.result_message: Slot("result_message"),
        Operation.result_serialized_data: Slot("result_serialized_data"),
        Operation.claim_token: None,
        Operation.claimed_by: None,
        Operation.available_at: None,
    }
    if complete:
        # Magento clears the payload of a successful operation and keeps a failed one's.
        values[Operation.serialized_data] = None
    # A claim token is only ever set on open operations and cleared with any status change, so
    # "held by this token" needs no status test (which would steer PostgreSQL's planner wrong).
    return Operation.update(values).where(_id_among(), Operation.claim_token == Slot("token"))


_RECORD_COMPLETE = Prepared(lambda: _record_statement(complete=True))
_RECORD_FAILED = Prepared(lambda: _record_statement(complete=False))


def record(token: str, outcomes: Iterable[Outcome]) -> int:
    """Write outcomes for operations still held by `token`; returns how many rows changed.

    A drainer whose lease expired and was re-claimed by another no longer matches the token,
    so its late write is dropped instead of overwriting the newer holder's result (fencing).
    """
    ordered = sorted(outcomes, key=_same_write)
    changed = 0
    with write_transaction():
        # Identical outcomes (the usual case) go out as one UPDATE per group.
        for _, group in groupby(ordered, key=_same_write):
            group = list(group)
            first = group[0]
            statement = _RECORD_COMPLETE if first.status == OperationStatus.COMPLETE else _RECORD_FAILED
            cursor = statement.execute(
                status=int(first.status), error_code=first.error_code, result_message=first.result_message,
                result_serialized_data=first.result_serialized_data, token=token,
                ids=_ids_parameter([outcome.operation_id for outcome in group]))
            changed += cursor.rowcount
    return changed


def _id_among() -> peewee.Expression:
    """`id IN (...)` with every id in one bound parameter: one statement fits any batch size."""
    if is_postgresql():
        return Operation.id == peewee.fn.ANY(Slot("ids"))
    ids = peewee.NodeList((peewee.SQL("(SELECT value FROM json_each("), Slot("ids"), peewee.SQL("))")), glue="")
    return Operation.id.in_(ids)


def _ids_parameter(ids: list[int]) -> Any:
    return ids if is_postgresql() else orjson.dumps(ids).decode()


def _held_statement() -> peewee.Query:
    query = Operation.select(Operation.id).where(_id_among(), Operation.claim_token == Slot("token"))
    # PostgreSQL: lock the rows, so no other drainer re-claims them before this transaction ends.
    return query.for_update() if is_postgresql() else query


_HELD = Prepared(_held_statement)


def held(token: str, operation_ids: list[int]) -> set[int]:
    """Which of `operation_ids` `token` still holds (call inside the transaction that records them)."""
    cursor = _HELD.execute(token=token, ids=_ids_parameter(operation_ids))
    return {row[0] for row in cursor.fetchall()}


_EXTEND_LEASE = Prepared(lambda: Operation.update({Operation.available_at: Slot("until")})
                         .where(_id_among(), Operation.claim_token == Slot("token")))
_RELEASE = Prepared(lambda: Operation.update({Operation.claim_token: None, Operation.claimed_by: None,
                                              Operation.available_at: None})
                    .where(_id_among(), Operation.claim_token == Slot("token")))


def extend_lease(token: str, operation_ids: list[int], until: float) -> int:
    """Keep holding what `token` holds of `operation_ids` until `until` (a long batch still at work)."""
    with write_transaction():
        return _EXTEND_LEASE.execute(until=until, token=token, ids=_ids_parameter(operation_ids)).rowcount


def release(token: str, operation_ids: list[int]) -> int:
    """Give back what `token` still holds of `operation_ids`, so another drainer can take it at once."""
    with write_transaction():
        return _RELEASE.execute(token=token, ids=_ids_parameter(operation_ids)).rowcount


def open_count() -> int:
    """Operations not yet processed (backlog)."""
    return Operation.select().where(Operation.status == OperationStatus.OPEN).count()
