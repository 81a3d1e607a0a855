"""Tables: Magento's `magento_bulk` and `magento_operation` (plus queue columns), sign-in locks, token generations."""

from __future__ import annotations

import peewee

from bulk.db import database
from bulk.statuses import OperationStatus


class BaseModel(peewee.Model):
    # Declared (peewee would add the same column by itself) so that type checkers know `.id`; a
    # model with a primary key of its own drops it.
    id = peewee.AutoField()

    class Meta:
        database = database
        legacy_table_names = False


class Bulk(BaseModel):
    """One accepted request. Column names follow Magento's `magento_bulk`."""

    uuid = peewee.CharField(max_length=36, unique=True)
    user_id = peewee.IntegerField(null=True)
    user_type = peewee.SmallIntegerField(null=True)
    description = peewee.CharField(max_length=255)
    operation_count = peewee.IntegerField()
    start_time = peewee.DateTimeField(index=True)
    # Forward mode with BULK_UPSTREAM_AUTH=passthrough: the submitter's Authorization header, sent
    # upstream with each operation. Never part of an API answer.
    submitter_authorization = peewee.TextField(null=True)
    # When its last open operation got a final status, or its outcomes known when accepted were
    # published (set by `bulk.queue`, cleared when operations are re-opened); null while any is open
    # and for a bulk without operations. (Bulks finished before this column existed got their last
    # operation's finish time in the version 9 upgrade.)
    finished_at = peewee.DateTimeField(null=True)
    # Its operations' outcomes were known when it was accepted (each route's handler is `no_op`:
    # `accept` mode), so they were written with the operations. The drainer then only publishes
    # the bulk, stamping `finished_at`; until then readers show its operations open (`bulk.unpublished`).
    outcome_known = peewee.BooleanField(default=False)

    class Meta:
        table_name = "magento_bulk"


class Operation(BaseModel):
    """One entity of a bulk and its queue state. Only `bulk.queue` writes `status`."""

    id = peewee.BigAutoField()
    bulk = peewee.ForeignKeyField(Bulk, field=Bulk.uuid, column_name="bulk_uuid",
                                  object_id_name="bulk_uuid", on_delete="CASCADE", index=False)
    operation_key = peewee.IntegerField()
    topic_name = peewee.CharField(max_length=255)
    # Which catalogue route accepted it ("PUT /V1/products/:sku"): several routes can share a topic.
    route_key = peewee.CharField(max_length=255)
    serialized_data = peewee.TextField(null=True)
    result_serialized_data = peewee.TextField(null=True)
    status = peewee.SmallIntegerField(default=int(OperationStatus.OPEN))
    error_code = peewee.IntegerField(null=True)
    result_message = peewee.TextField(null=True)
    started_at = peewee.DateTimeField(null=True)
    # Queue columns. `claim_token`: which drainer holds the operation. `available_at` (epoch
    # seconds, null = now): when it may next be claimed; a claim sets it to the end of its lease,
    # a delayed retry to the retry time. An open operation past that time is claimable.
    claim_token = peewee.CharField(max_length=32, null=True)
    claimed_by = peewee.CharField(max_length=255, null=True)
    available_at = peewee.DoubleField(null=True)
    attempts = peewee.IntegerField(default=0)
    # The entity the operation changes ("sku:24-mb01", "customer:7", "email:a@b.c"), or null: an open
    # operation is not claimed while an earlier open one (of any bulk) has the same key.
    entity_key = peewee.CharField(max_length=255, null=True)
    # When the operation reached its final status (1, 2 or 3); null while open. Not indexed: the
    # dashboard's "finished in the last hour" reads `FinishedTally` instead.
    finished_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "magento_operation"
        indexes = (
            (("bulk_uuid", "operation_key"), True),
        )


# Indexes of open operations only (status 4): a finished operation leaves them, so they stay as
# small as the backlog and recording an outcome rewrites little. (Full `(entity_key, status, id)`
# and `(status, id)` indexes made each 100-item insert write 4x the bytes when SKUs repeat.) A query
# that uses one spells out `status = 4` (a parameter would not match the index's condition).
OPEN_BY_ENTITY = "magento_operation_open_by_entity"
OPEN_BY_BULK = "magento_operation_open_by_bulk"
# The claim's "no earlier open operation for this entity" check.
Operation.add_index(Operation.index(Operation.entity_key, Operation.id, name=OPEN_BY_ENTITY,
                                    where=Operation.status == int(OperationStatus.OPEN)))
# The claim's turn through the bulks that have open operations, and each one's oldest; the backlog;
# "is any operation of this bulk still open?", which decides when a bulk finishes.
Operation.add_index(Operation.index(Operation.bulk, Operation.id, name=OPEN_BY_BULK,
                                    where=Operation.status == int(OperationStatus.OPEN)))

# Bulks that still have open operations (`finished_at` is stamped with their last final status).
# On PostgreSQL the walks of the open-by-bulk index in bulk order start at the oldest of them
# (`bulk.queue._from_oldest_unfinished_bulk`): there a finished operation's entry stays in that
# index, dead, until VACUUM, and a walk from the index's start crossed every one.
UNFINISHED_BULKS = "magento_bulk_unfinished"


def unfinished_bulk() -> peewee.Expression:
    """The index's condition, which a query must spell the same to use it (literal 0: SQLite uses a
    partial index only for a query that names the same constant, never for a bound parameter)."""
    return Bulk.finished_at.is_null() & (Bulk.operation_count > peewee.SQL("0"))


Bulk.add_index(Bulk.index(Bulk.uuid, name=UNFINISHED_BULKS, where=unfinished_bulk()))

# Bulks whose outcomes were written when accepted and that the drainer has not published yet: what
# it publishes next, oldest first, and what counts as open besides the open operations.
UNPUBLISHED_BULKS = "magento_bulk_unpublished"


def unpublished_bulk() -> peewee.Expression:
    """The index's condition (literal TRUE, so that SQLite matches the partial index)."""
    return (Bulk.outcome_known == peewee.SQL("TRUE")) & Bulk.finished_at.is_null()


Bulk.add_index(Bulk.index(Bulk.uuid, name=UNPUBLISHED_BULKS, where=unpublished_bulk()))


class AdminSignInFailures(BaseModel):
    """Failed admin sign-ins in a row, per username and client address (`bulk.sign_in`), and until when
    that address is locked out; the address `*` counts every address (the account-wide lock)."""

    username = peewee.CharField(max_length=255)
    address = peewee.CharField(max_length=64)
    failures = peewee.IntegerField()
    last_failure_at = peewee.DoubleField()  # epoch seconds
    locked_until = peewee.DoubleField(null=True)

    class Meta:
        table_name = "admin_sign_in_failures"
        primary_key = peewee.CompositeKey("username", "address")


class TokenGeneration(BaseModel):
    """The generation admin tokens and dashboard sessions are issued in (one row); raising it revokes
    every one issued before (`flask bulk tokens revoke`)."""

    id = peewee.IntegerField(primary_key=True)
    generation = peewee.IntegerField()

    class Meta:
        table_name = "admin_token_generation"


class WorkerHeartbeat(BaseModel):
    """One serving process's last sign of life and its drainer's state (written by `bulk.heartbeats`)."""

    worker = peewee.CharField(max_length=255, primary_key=True)  # host:pid, as operations' claimed_by
    started_at = peewee.DoubleField()  # epoch seconds
    beat_at = peewee.DoubleField()
    drainer = peewee.CharField(max_length=16)  # running / stopped
    # Seconds since the drainer last finished a tick, when the beat was written (None: not yet).
    drainer_tick_age = peewee.DoubleField(null=True)

    class Meta:
        table_name = "bulk_worker_heartbeat"


class WebhookDelivery(BaseModel):
    """The outbox: one event for one subscriber, written in the transaction that caused the event, then
    sent (and retried) by `bulk.webhooks.delivery`. No foreign key: a delivery outlives a deleted bulk."""

    id = peewee.BigAutoField()
    # Standard Webhooks' `webhook-id`: the same on every attempt, so receivers can drop repeats.
    webhook_id = peewee.CharField(max_length=64)
    event_type = peewee.CharField(max_length=64)
    bulk_uuid = peewee.CharField(max_length=36, index=True)
    url = peewee.TextField()
    # Whose endpoint it goes to: null, the global BULK_WEBHOOK_URL (signed with BULK_WEBHOOK_SECRET); else
    # the integration whose own endpoint (`IntegrationEndpoint`) receives it, signed with that one's secret.
    # Each subscriber has its own row, attempts and outcome.
    integration_id = peewee.IntegerField(null=True)
    # The exact body, signed anew (with a fresh timestamp) on each attempt.
    payload = peewee.TextField()
    status = peewee.CharField(max_length=16)
    attempts = peewee.IntegerField(default=0)
    # Epoch seconds. A pending delivery is sent once `next_attempt_at` has passed; a claim moves it to
    # the end of the sender's lease, so no other sender takes it meanwhile.
    created_at = peewee.DoubleField()
    next_attempt_at = peewee.DoubleField()
    claim_token = peewee.CharField(max_length=32, null=True)
    last_attempt_at = peewee.DoubleField(null=True)
    last_status = peewee.IntegerField(null=True)
    last_error = peewee.TextField(null=True)
    delivered_at = peewee.DoubleField(null=True)

    class Meta:
        table_name = "bulk_webhook_delivery"
        indexes = (
            (("status", "next_attempt_at"), False),
        )


class IntegrationEndpoint(BaseModel):
    """An integration's own webhook endpoint (Magento's integration `endpoint`) and its signing secret.

    Kept beside the integration rather than in its table, so that the queue (which reads it in the
    transaction that finishes a bulk) needs no table outside these models. Written by `bulk.integrations`.
    """

    # One endpoint per integration (no foreign key: integrations live in `bulk.integrations`, which
    # deletes the endpoint with its integration).
    integration_id = peewee.IntegerField(primary_key=True)
    endpoint = peewee.TextField()
    # The `whsec_` secret, sealed (`bulk.crypto`): only this integration's receiver can verify its events.
    secret = peewee.TextField()
    created_at = peewee.DoubleField()

    class Meta:
        table_name = "bulk_integration_endpoint"


class IdempotencyKey(BaseModel):
    """An `Idempotency-Key` a caller sent with a submit, stored with its bulk, and the 202 it got."""

    # Whose key (`user_type:user_id`): keys of different callers never meet.
    caller = peewee.CharField(max_length=64)
    key = peewee.CharField(max_length=255)
    # SHA-256 of method, path and body: the same key with another request is refused.
    fingerprint = peewee.CharField(max_length=64)
    bulk_uuid = peewee.CharField(max_length=36)
    response = peewee.TextField()
    created_at = peewee.DoubleField(index=True)

    class Meta:
        table_name = "bulk_idempotency_key"
        indexes = (
            # Decides between concurrent duplicates: only one of them can store its bulk.
            (("caller", "key"), True),
        )


class FinishedTally(BaseModel):
    """How many operations reached each final status in each minute: the dashboard's "finished in the
    last hour" (`bulk.finished_tally`, written in the transaction that records the statuses)."""

    minute = peewee.IntegerField()  # epoch seconds // 60
    status = peewee.SmallIntegerField()
    operations = peewee.IntegerField()

    class Meta:
        table_name = "bulk_finished_tally"
        indexes = (
            # One row per minute and status, which each finishing transaction adds to.
            (("minute", "status"), True),
        )


ALL_MODELS: list[type[peewee.Model]] = [Bulk, Operation, AdminSignInFailures, TokenGeneration, WorkerHeartbeat,
                                        WebhookDelivery, IntegrationEndpoint, IdempotencyKey, FinishedTally]
