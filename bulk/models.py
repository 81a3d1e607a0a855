"""Tables: Magento's `magento_bulk` and `magento_operation` (plus queue columns) and sign-in locks."""

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

    class Meta:
        table_name = "magento_operation"
        indexes = (
            (("bulk_uuid", "operation_key"), True),
        )


# Indexes of open operations only (status 4): a finished operation leaves them, so they stay as
# small as the backlog and recording an outcome rewrites little. (Full `(entity_key, status, id)`
# and `(status, id)` indexes made each 100-item insert write 4x the bytes when SKUs repeat.)
OPEN_BY_ENTITY = "magento_operation_open_by_entity"
OPEN_BY_BULK = "magento_operation_open_by_bulk"
# The claim's "no earlier open operation for this entity" check.
Operation.add_index(Operation.index(Operation.entity_key, Operation.id, name=OPEN_BY_ENTITY,
                                    where=Operation.status == int(OperationStatus.OPEN)))
# The claim's turn through the bulks that have open operations, and each one's oldest; the backlog.
Operation.add_index(Operation.index(Operation.bulk, Operation.id, name=OPEN_BY_BULK,
                                    where=Operation.status == int(OperationStatus.OPEN)))


class AdminLoginLock(BaseModel):
    """Consecutive failed sign-ins of an admin account, and until when it is locked."""

    username = peewee.CharField(max_length=255, primary_key=True)
    failures = peewee.IntegerField(default=0)
    locked_until = peewee.DoubleField(null=True)

    class Meta:
        table_name = "admin_login_lock"


ALL_MODELS: list[type[peewee.Model]] = [Bulk, Operation, AdminLoginLock]
