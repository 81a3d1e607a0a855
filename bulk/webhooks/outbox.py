"""The outbox: events written in the transaction that causes them, then claimed, settled and listed.

`enqueue_finished` runs inside every transaction of `bulk.queue` that gives operations a final
status, so a bulk's `finished_at` and its events commit with the statuses that caused them: a crash
loses no event and invents none. Deliveries are claimed with a lease (several senders, processes
and instances never send one at the same time) and settled only while the claim holds.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlparse

import peewee

from bulk.clock import utc_datetime
from bulk.config import BULK_FINISHED, OPERATION_FAILED
from bulk.db import (
    Prepared,
    Slot,
    database,
    execute_together,
    is_postgresql,
    is_sqlite,
    list_parameter,
    one_of,
    tuples,
    write_transaction,
)
from bulk.models import OPEN_BY_BULK, Bulk, IntegrationEndpoint, Operation, WebhookDelivery
from bulk.statuses import OperationStatus, UserType
from bulk.webhooks import events
from bulk.webhooks.subscriptions import Subscriber, Subscriptions

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"

FAILED_STATUSES = (int(OperationStatus.RETRIABLY_FAILED), int(OperationStatus.NOT_RETRIABLY_FAILED))


def _finishing(given: bool) -> peewee.ModelSelect[Any]:
    """The bulks a batch may finish, as a `bulk_uuid` column: those of its operations (`ids`), or
    the `uuids` the caller gives, when it knows them (a probe per bulk instead of a read of each
    operation: a batch holds hundreds of operations of a few bulks)."""
    if given:
        return Bulk.select(Bulk.uuid.alias("bulk_uuid")).where(one_of(Bulk.uuid, Slot("uuids")))
    return Operation.select(Operation.bulk).where(one_of(Operation.id, Slot("ids")))


# PostgreSQL: two transactions finishing a bulk's last two operations would each still see the other's
# operation open (neither committed) and neither would mark the bulk finished. Locking the bulks before
# looking makes the second wait for the first's commit, which its next statement then sees. (SQLite
# has one writer at a time: the second transaction starts after the first committed.) The lock is an
# advisory one per bulk (a row lock would write the bulk's row in every recording transaction), taken
# in one order, so two transactions never wait for each other in a circle.
BULK_LOCK_CLASS = 13


def bulk_lock(bulk_uuid: peewee.Node) -> peewee.Node:
    """`pg_advisory_xact_lock` of one bulk (`bulk.queue.reopen` takes it too)."""
    return peewee.fn.pg_advisory_xact_lock(BULK_LOCK_CLASS, peewee.fn.hashtext(bulk_uuid))


def _lock_statement(given: bool) -> peewee.Query:
    bulks = _finishing(given).distinct().alias("finishing")
    # The locks are taken after the sort (PostgreSQL evaluates volatile functions of the select list last).
    return (peewee.Select([bulks], [bulk_lock(bulks.c.bulk_uuid)])
            .order_by(peewee.fn.hashtext(bulks.c.bulk_uuid)).bind(database))


# By whether the bulks are given (`_finishing`).
_LOCK_BULKS = {given: Prepared(partial(_lock_statement, given)) for given in (False, True)}


def _finish_statement(with_endpoints: bool, given: bool) -> peewee.Query:
    """Stamp `finished_at` on the bulks of these operations that have no open operation left.

    One set-based statement for the whole batch; `finished_at IS NULL` makes it announce a bulk
    once (a fenced late write on a finished bulk finds it stamped already). `with_endpoints`: each
    finished bulk comes back with its owner's own endpoint, so which bulks have a subscriber is
    known without another statement.
    """
    finished = (Bulk.update({Bulk.finished_at: Slot("finished_at", Bulk.finished_at)})
                .where(Bulk.finished_at.is_null(),
                       one_of(Bulk.uuid, Slot("uuids")) if given else Bulk.uuid.in_(_finishing(given=False)),
                       _no_open_operation()))
    return finished.returning(Bulk.uuid, _owner_endpoint()) if with_endpoints else finished.returning(Bulk.uuid)


def _owner_endpoint() -> peewee.Node:
    """The own endpoint of the integration that submitted the bulk; null for other owners and for an
    integration without one. A probe by primary key, made only for an integration's bulk."""
    return (IntegrationEndpoint.select(IntegrationEndpoint.endpoint)
            .where(Bulk.user_type == int(UserType.INTEGRATION), IntegrationEndpoint.integration_id == Bulk.user_id))


def _no_open_operation() -> peewee.SQL:
    """The bulk has no open operation: one probe of the index of open operations by bulk.

    Written out because the index is partial: its `status = 4` must appear as such (a bound parameter
    does not match it), and SQLite, without statistics, would rather walk every open operation of
    the queue through another index, so it is told which one to use.
    """
    indexed_by = f' INDEXED BY "{OPEN_BY_BULK}"' if is_sqlite() else ""
    return peewee.SQL(
        f'NOT EXISTS (SELECT 1 FROM "{Operation._meta.table_name}" AS "still_open"{indexed_by} '
        f'WHERE "still_open"."bulk_uuid" = "{Bulk._meta.table_name}"."uuid" '
        f'AND "still_open"."status" = {int(OperationStatus.OPEN)})')


# By (with endpoints, bulks given).
_FINISH_BULKS = {(with_endpoints, given): Prepared(partial(_finish_statement, with_endpoints, given))
                 for with_endpoints in (False, True) for given in (False, True)}


def enqueue_finished(operation_ids: list[int], now: float, subscriptions: Subscriptions,
                     failed_operation_ids: Collection[int] = (), bulk_uuids: Collection[str] | None = None
                     ) -> list[str]:
    """Events of operations that just got a final status; returns the bulks this finished.

    Call inside the transaction that wrote the statuses, after writing them. `failed_operation_ids`:
    those among them that this transaction failed (each gets an `operation.failed` when subscribed).
    `bulk_uuids`: their bulks, when the caller knows them (or more: only bulks with no open
    operation left are finished).
    """
    if not operation_ids:
        return []
    if failed_operation_ids and subscriptions.wants(OPERATION_FAILED):
        _enqueue_failures(failed_operation_ids, now, subscriptions)
    if bulk_uuids is not None:
        return finish_bulks(bulk_uuids, now, subscriptions)
    return _finish(now, subscriptions, ids=list_parameter(operation_ids))


def finish_bulks(bulk_uuids: Collection[str], now: float, subscriptions: Subscriptions) -> list[str]:
    """Stamp and announce those of `bulk_uuids` that have no open operation and are not finished yet;
    returns them. Inside the transaction that gave their operations (or, `bulk.queue.publish_known`,
    published their outcomes) their final status."""
    if not bulk_uuids:
        return []
    return _finish(now, subscriptions, uuids=list_parameter(sorted(bulk_uuids)))


def _finish(now: float, subscriptions: Subscriptions, **finishing: Any) -> list[str]:
    """`finishing`: the bulks as `uuids`, or as those of the operations `ids` (`_finishing`)."""
    announce = subscriptions.wants(BULK_FINISHED)
    given = "uuids" in finishing
    finish = _FINISH_BULKS[announce, given]
    values = {"finished_at": utc_datetime(now), **finishing}
    if is_postgresql():
        # Lock, then look: two statements, one round trip.
        cursor = execute_together((_LOCK_BULKS[given], finish), **values)
    else:
        cursor = finish.execute(**values)
    rows = cursor.fetchall()
    if announce:
        # Only bulks someone receives: with no global endpoint, an integration's that has its own.
        endpoints = {row[0]: row[1] for row in rows if subscriptions.url is not None or row[1] is not None}
        if endpoints:
            _enqueue_bulks_finished(endpoints, now, subscriptions)
    return [row[0] for row in rows]


_BULK_COLUMNS = (Bulk.uuid, Bulk.description, Bulk.operation_count, Bulk.start_time, Bulk.finished_at,
                 Bulk.user_type, Bulk.user_id)
# A finished bulk's row with its operations counted by status (rendered once: a bulk finishes per batch).
_FINISHED_BULKS = Prepared(lambda: Bulk.select(*_BULK_COLUMNS, Operation.status, peewee.fn.COUNT(peewee.SQL("*")))
                           .join(Operation, on=(Operation.bulk == Bulk.uuid))
                           .where(one_of(Bulk.uuid, Slot("uuids")))
                           .group_by(*_BULK_COLUMNS, Operation.status).order_by(Bulk.uuid))
_FAILED_OPERATIONS = Prepared(lambda: Operation.select(
    Operation.bulk, Operation.operation_key, Operation.topic_name, Operation.status, Operation.result_message,
    Operation.error_code, Bulk.user_type, Bulk.user_id, _owner_endpoint())
    .join(Bulk, on=(Operation.bulk == Bulk.uuid))
    .where(one_of(Operation.id, Slot("ids")), Operation.status.in_(FAILED_STATUSES))
    .order_by(Operation.id))
_DELIVERY_COLUMNS = ("webhook_id", "event_type", "bulk_uuid", "url", "integration_id", "payload", "status",
                     "attempts", "created_at", "next_attempt_at")
_INSERT_DELIVERY = Prepared(lambda: WebhookDelivery.insert(
    {getattr(WebhookDelivery, name): Slot(name) for name in _DELIVERY_COLUMNS}))


def _enqueue_bulks_finished(endpoints: dict[str, str | None], now: float, subscriptions: Subscriptions) -> None:
    """One `bulk.finished` per bulk, one delivery per subscriber (`endpoints`: each bulk's owner's own)."""
    bulks: dict[str, tuple] = {}
    counts: dict[str, dict[int, int]] = defaultdict(dict)
    for *found, status, count in _FINISHED_BULKS.execute(uuids=list_parameter(list(endpoints))).fetchall():
        bulks[found[0]] = tuple(found)
        counts[found[0]][status] = count
    deliveries: list[tuple] = []
    for bulk_uuid, row in bulks.items():
        _, description, operation_count, start_time, finished_at, user_type, user_id = row
        bulk = events.FinishedBulk(bulk_uuid, description, operation_count, start_time, finished_at, user_type,
                                   user_id, counts[bulk_uuid])
        deliveries += _deliveries(BULK_FINISHED, bulk.uuid, events.bulk_finished(bulk, now),
                                  subscriptions.subscribers(user_type, user_id, endpoints[bulk_uuid]), now)
    _insert(deliveries)


def _enqueue_failures(operation_ids: Collection[int], now: float, subscriptions: Subscriptions) -> None:
    deliveries: list[tuple] = []
    for *fields, user_type, user_id, endpoint in (
            _FAILED_OPERATIONS.execute(ids=list_parameter(list(operation_ids))).fetchall()):
        subscribers = subscriptions.subscribers(user_type, user_id, endpoint)
        if subscribers:
            operation = events.FailedOperation(*fields)
            deliveries += _deliveries(OPERATION_FAILED, operation.bulk_uuid,
                                      events.operation_failed(operation, now), subscribers, now)
    _insert(deliveries)


def new_webhook_id() -> str:
    """A unique message id (`webhook-id`), shared by every subscriber's delivery of one event."""
    return f"msg_{uuid.uuid4().hex}"


def _deliveries(event_type: str, bulk_uuid: str, payload: bytes, subscribers: Iterable[Subscriber],
                now: float) -> list[tuple]:
    """Rows of `_DELIVERY_COLUMNS`: one per subscriber, all with the event's one id (a receiver dedupes
    by it; each subscriber's delivery is attempted, retried and settled on its own)."""
    webhook_id = new_webhook_id()
    body = payload.decode()
    return [(webhook_id, event_type, bulk_uuid, subscriber.url, subscriber.integration_id, body, PENDING, 0, now, now)
            for subscriber in subscribers]


def _insert(deliveries: list[tuple]) -> None:
    if deliveries:
        _INSERT_DELIVERY.execute_many(_DELIVERY_COLUMNS, deliveries)


@dataclass(frozen=True)
class DueDelivery:
    """A claimed delivery, ready to send."""

    id: int
    webhook_id: str
    # Where it goes: the global endpoint as it was when the event was written; an integration's
    # delivery is sent to that integration's endpoint as it is now (`integration_id`).
    url: str
    payload: str
    attempts: int
    created_at: float
    integration_id: int | None = None


def has_due(now: float) -> bool:
    """A cheap read, so an idle sender does not take the write lock to find nothing."""
    return (WebhookDelivery.select(WebhookDelivery.id)
            .where(WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= now)
            .limit(1).scalar()) is not None


def claim_due(token: str, limit: int, lease_seconds: float, now: float) -> list[DueDelivery]:
    """Take up to `limit` due deliveries for `token` until `now + lease_seconds`, oldest due first."""
    candidates = (WebhookDelivery.select(WebhookDelivery.id)
                  .where(WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= now)
                  .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit))
    if is_postgresql():
        candidates = candidates.for_update(skip_locked=True)
    with write_transaction():
        rows = tuples(WebhookDelivery
                      .update({WebhookDelivery.claim_token: token,
                               WebhookDelivery.next_attempt_at: now + lease_seconds})
                      .where(WebhookDelivery.id.in_(candidates))
                      .returning(WebhookDelivery.id, WebhookDelivery.webhook_id, WebhookDelivery.url,
                                 WebhookDelivery.payload, WebhookDelivery.attempts, WebhookDelivery.created_at,
                                 WebhookDelivery.integration_id))
    return sorted((DueDelivery(*row) for row in rows), key=lambda delivery: delivery.id)


@dataclass(frozen=True)
class Settlement:
    """The result of one attempt: delivered, failed for good, or pending again until `next_attempt_at`."""

    delivery_id: int
    status: str
    attempted_at: float
    http_status: int | None
    error: str | None
    next_attempt_at: float
    delivered_at: float | None = None
    # The address attempted (an integration's endpoint may have changed since the event was written).
    url: str | None = None


def settle(token: str, settlements: Iterable[Settlement]) -> int:
    """Record attempts of deliveries `token` still holds; returns how many (a late sender's are dropped)."""
    changed = 0
    with write_transaction():
        for result in settlements:
            values = {WebhookDelivery.status: result.status,
                      WebhookDelivery.attempts: WebhookDelivery.attempts + 1,
                      WebhookDelivery.last_attempt_at: result.attempted_at,
                      WebhookDelivery.last_status: result.http_status,
                      WebhookDelivery.last_error: result.error,
                      WebhookDelivery.next_attempt_at: result.next_attempt_at,
                      WebhookDelivery.delivered_at: result.delivered_at,
                      WebhookDelivery.claim_token: None}
            if result.url is not None:
                values[WebhookDelivery.url] = result.url
            changed += (WebhookDelivery
                        .update(values)
                        .where(WebhookDelivery.id == result.delivery_id, WebhookDelivery.claim_token == token)
                        .execute())
    return changed


def shown_url(url: str) -> str:
    """A URL as answers and logs show it: without its query string, which may carry a token."""
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}{parsed.path}"


def deliveries_of(bulk_uuid: str) -> list[WebhookDelivery]:
    """A bulk's deliveries, oldest first."""
    return list(WebhookDelivery.select().where(WebhookDelivery.bulk_uuid == bulk_uuid).order_by(WebhookDelivery.id))


def purge_settled(created_before: float, chunk: int = 500) -> int:
    """Delete delivered and failed deliveries of events older than the time given; returns how many."""
    purged = 0
    while True:
        with write_transaction():
            ids = [row[0] for row in tuples(
                WebhookDelivery.select(WebhookDelivery.id)
                .where(WebhookDelivery.status != PENDING, WebhookDelivery.created_at < created_before)
                .order_by(WebhookDelivery.id).limit(chunk))]
            if ids:
                WebhookDelivery.delete().where(WebhookDelivery.id.in_(ids)).execute()
        purged += len(ids)
        if len(ids) < chunk:
            return purged
