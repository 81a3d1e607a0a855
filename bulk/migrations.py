"""Schema creation and upgrades, the same on SQLite and PostgreSQL.

A fresh database gets every table in its latest shape. An existing one first gets the upgrade
steps it has not had (recorded in `bulk_schema_version`), in order, then any missing table.

To change a table that exists in released versions: change the model, then append a step to
`UPGRADES` that makes the same change with `playhouse.migrate` through `add_column_if_missing`
(or a check of its own): steps must be safe to run on a database that already has the change.
A new table needs no step; it is created when missing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import peewee
from playhouse.migrate import SchemaMigrator, migrate

from bulk import finished_tally
from bulk.clock import utc_datetime
from bulk.db import database, is_postgresql, write_transaction
from bulk.models import BaseModel, Bulk, FinishedTally, Operation
from bulk.statuses import OperationStatus

# Serialises upgrades of several instances starting at once against one PostgreSQL.
_ADVISORY_LOCK_KEY = 4_201_173


class SchemaVersion(BaseModel):
    version = peewee.IntegerField()

    class Meta:
        table_name = "bulk_schema_version"


Step = Callable[[SchemaMigrator], None]

def drop_index_if_exists(name: str) -> None:
    """Drop an index by name (both engines resolve it in the connection's schema)."""
    database.execute_sql(f'DROP INDEX IF EXISTS "{name}"')


def add_column_if_missing(migrator: SchemaMigrator, table: str, column: str, field: peewee.Field) -> None:
    """Add `column` unless the table already has it (or does not exist yet: it will be created whole)."""
    if _column_missing(table, column):
        migrate(migrator.add_column(table, column, field))


def _column_missing(table: str, column: str) -> bool:
    """The table exists without `column`."""
    return table in database.get_tables() and column not in {c.name for c in database.get_columns(table)}


def add_index_if_missing(migrator: SchemaMigrator, table: str, columns: tuple[str, ...]) -> None:
    """Add a plain index on `columns` unless the table already has one on exactly those (or is missing)."""
    if table not in database.get_tables():
        return
    if any(tuple(index.columns) == columns for index in database.get_indexes(table)):
        return
    migrate(migrator.add_index(table, columns, False))


def _operation_finish_time(migrator: SchemaMigrator) -> None:
    """Version 2: operations record when they finished (the dashboard's "finished in the last hour")."""
    add_column_if_missing(migrator, "magento_operation", "finished_at", peewee.DateTimeField(null=True))
    add_index_if_missing(migrator, "magento_operation", ("finished_at", "status"))


def _bulk_finished_at(migrator: SchemaMigrator) -> None:
    """Version 3: when a bulk's last open operation got a final status (the status summary, webhooks).
    Its index of open operations by bulk (`bulk.models.OPEN_BY_BULK`) is created when missing, as
    every index of the models is."""
    add_column_if_missing(migrator, "magento_bulk", "finished_at", peewee.DateTimeField(null=True))


def _open_operations_only_indexes(migrator: SchemaMigrator) -> None:
    """Version 4: the queue's indexes hold open operations only (`bulk.models.OPEN_BY_ENTITY` and
    `OPEN_BY_BULK`, created when missing as every index of the models is); the full ones go."""
    drop_index_if_exists("magento_operation_entity_key_status_id")
    drop_index_if_exists("magento_operation_status_id")


def _delivery_subscriber(migrator: SchemaMigrator) -> None:
    """Version 5: a webhook delivery records whose endpoint it goes to (null: the global BULK_WEBHOOK_URL,
    which every delivery written before went to). Integrations' endpoints (`bulk_integration_endpoint`)
    are a new table, created when missing."""
    add_column_if_missing(migrator, "bulk_webhook_delivery", "integration_id", peewee.IntegerField(null=True))


def _sign_in_failures_per_address(migrator: SchemaMigrator) -> None:
    """Version 6: sign-in failures are counted per username and client address
    (`bulk.models.AdminSignInFailures`, created when missing); the per-account table goes (a lock in
    it lasted 30 minutes at most)."""
    database.execute_sql('DROP TABLE IF EXISTS "admin_login_lock"')


def _finished_operations_only_index(migrator: SchemaMigrator) -> None:
    """Version 7: the index of operations by finish time holds finished ones only; the full one goes.
    (Version 8 drops that one too.)"""
    drop_index_if_exists("magento_operation_finished_at_status")


def _finished_tally(migrator: SchemaMigrator) -> None:
    """Version 8: the dashboard counts what finished in the last hour from `bulk.models.FinishedTally`
    (per minute, written with the statuses); the index of operations by finish time goes. The tally
    starts with the operations that finished in the last hour, read through that index first."""
    database.create_tables([FinishedTally], safe=True)
    if not FinishedTally.select().exists():
        minute = peewee.Cast(_epoch_seconds(Operation.finished_at), "BIGINT") / finished_tally.MINUTE
        recent = (Operation.select(minute, Operation.status, peewee.fn.COUNT(Operation.id))
                  .where(Operation.finished_at >= utc_datetime(time.time() - finished_tally.HOUR))
                  .group_by(peewee.SQL("1"), Operation.status))
        FinishedTally.insert_from(recent, [FinishedTally.minute, FinishedTally.status,
                                           FinishedTally.operations]).execute()
    drop_index_if_exists("magento_operation_finished")


def _unfinished_bulks(migrator: SchemaMigrator) -> None:
    """Version 9: bulks that still have open operations are indexed (`bulk.models.UNFINISHED_BULKS`,
    created when missing as every index of the models is); on PostgreSQL the queue's walks start at
    the oldest.
    Bulks finished before version 3 were never stamped: they get the last finish time their
    operations recorded (their start, for operations from before version 2), so that the oldest
    unfinished bulk is not one finished long ago."""
    last_finish = (Operation.select(peewee.fn.MAX(Operation.finished_at)).where(Operation.bulk == Bulk.uuid))
    open_left = Operation.select(peewee.SQL("1")).where(Operation.bulk == Bulk.uuid,
                                                        Operation.status == int(OperationStatus.OPEN))
    (Bulk.update({Bulk.finished_at: peewee.fn.COALESCE(last_finish, Bulk.start_time)})
     .where(Bulk.finished_at.is_null(), Bulk.operation_count > 0, ~peewee.fn.EXISTS(open_left))
     .execute())


def _outcome_known(migrator: SchemaMigrator) -> None:
    """Version 10: a bulk whose operations' outcomes were known when accepted (`accept` mode) says so
    (`bulk.models.Bulk.outcome_known`); every bulk before had its operations run or completed by the
    drainer. The index of such bulks not yet published is created when missing.

    Written out: `playhouse.migrate` adds a NOT NULL column as nullable and then rebuilds a SQLite
    table to forbid nulls, and dropping the old `magento_bulk` there cascades to every operation."""
    if _column_missing("magento_bulk", "outcome_known"):
        column = "BOOLEAN NOT NULL DEFAULT FALSE" if is_postgresql() else "INTEGER NOT NULL DEFAULT 0"
        database.execute_sql(f'ALTER TABLE "magento_bulk" ADD COLUMN "outcome_known" {column}')


def _epoch_seconds(column: peewee.Field) -> peewee.ColumnBase:
    """A timestamp column (UTC, without time zone, whole seconds as `utc_datetime` writes them) as
    epoch seconds, on either engine."""
    if is_postgresql():
        return peewee.fn.EXTRACT(peewee.NodeList((peewee.SQL("EPOCH FROM"), column)))
    return peewee.fn.STRFTIME("%s", column)


# Step n upgrades a database from version n to n + 1; version 1 is the first released schema.
UPGRADES: list[Step] = [_operation_finish_time, _bulk_finished_at, _open_operations_only_indexes,
                        _delivery_subscriber, _sign_in_failures_per_address, _finished_operations_only_index,
                        _finished_tally, _unfinished_bulks, _outcome_known]
LATEST_VERSION = 1 + len(UPGRADES)


_lock = threading.Lock()


def create_schema(models: list[type[peewee.Model]]) -> int:
    """Create or upgrade the schema, with its own connection; returns the version found."""
    with _lock, database.connection_context():
        return upgrade_schema(models)


def upgrade_schema(models: list[type[peewee.Model]]) -> int:
    """Bring the schema to LATEST_VERSION; returns the version the database was at."""
    with write_transaction():
        if is_postgresql():
            database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_ADVISORY_LOCK_KEY,))
        tables = set(database.get_tables())
        fresh = not tables.intersection(model._meta.table_name for model in models)
        if fresh:
            found = LATEST_VERSION
        else:
            database.create_tables([SchemaVersion], safe=True)
            row = SchemaVersion.select().order_by(SchemaVersion.version.desc()).first()
            found = row.version if row else 1
            migrator = SchemaMigrator.from_database(database.obj)
            for step in UPGRADES[found - 1:]:
                step(migrator)
        _create_missing([*models, SchemaVersion])
        if found != LATEST_VERSION or not SchemaVersion.select().exists():
            SchemaVersion.delete().execute()
            SchemaVersion.create(version=LATEST_VERSION)
    return found


def _create_missing(models: list[type[peewee.Model]]) -> None:
    """Create the tables and indexes that do not exist yet, and touch nothing else.

    CREATE INDEX IF NOT EXISTS locks its table even when the index exists, so a worker starting while
    another serves would deadlock with that one's writers (PostgreSQL) if it ran them all.
    """
    tables = set(database.get_tables())
    database.create_tables([model for model in models if model._meta.table_name not in tables], safe=True)
    for model in models:
        if model._meta.table_name not in tables:
            continue  # created whole just now
        present = {index.name for index in database.get_indexes(model._meta.table_name)}
        for index in model._meta.fields_to_index():
            if index._name not in present:
                # Through the schema manager, which writes the condition of a partial index as SQLite needs.
                schema = model._schema  # type: ignore[attr-defined]
                database.execute(schema._create_index(index, safe=True))


def schema_version() -> int | None:
    """The version recorded in the database (None before the first start)."""
    if SchemaVersion._meta.table_name not in database.get_tables():
        return None
    row = SchemaVersion.select().order_by(SchemaVersion.version.desc()).first()
    return row.version if row else None
