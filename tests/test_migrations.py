"""Schema creation and upgrades: fresh databases, older ones, and several processes at once."""

from __future__ import annotations

import subprocess
import sys
import time

import peewee
import pytest

from bulk import finished_tally, migrations, queue
from bulk.clock import utc_datetime
from bulk.db import database, open_database
from bulk.migrations import add_column_if_missing, create_schema, schema_version
from bulk.models import (
    ALL_MODELS,
    OPEN_BY_BULK,
    OPEN_BY_ENTITY,
    UNFINISHED_BULKS,
    UNPUBLISHED_BULKS,
    Bulk,
    FinishedTally,
    Operation,
)
from bulk.statuses import OperationStatus
from tests.databases import fetch_all
from tests.live import PROJECT_ROOT
from tests.test_no_op_draining import submit


@pytest.fixture
def bound(database_url):
    handle = open_database(database_url)
    database.initialize(handle)
    yield database_url
    handle.close_all()


def columns(url, table):
    with database.connection_context():
        return {column.name for column in database.get_columns(table)}


def test_fresh_database_starts_at_the_latest_version(bound):
    assert create_schema(ALL_MODELS) == migrations.LATEST_VERSION
    with database.connection_context():
        assert schema_version() == migrations.LATEST_VERSION
    assert "available_at" in columns(bound, "magento_operation")


def test_an_older_database_gets_each_missing_step_once(bound, monkeypatch):
    create_schema(ALL_MODELS)
    calls = []

    def add_note(migrator):
        calls.append("add_note")
        add_column_if_missing(migrator, "magento_bulk", "note", peewee.TextField(null=True))

    released = migrations.LATEST_VERSION
    monkeypatch.setattr(migrations, "UPGRADES", [*migrations.UPGRADES, add_note])
    monkeypatch.setattr(migrations, "LATEST_VERSION", released + 1)
    assert create_schema(ALL_MODELS) == released
    assert "note" in columns(bound, "magento_bulk")
    assert create_schema(ALL_MODELS) == released + 1
    assert calls == ["add_note"]
    with database.connection_context():
        assert schema_version() == released + 1


def test_a_version_1_database_gets_the_bulk_finish_time(bound):
    create_schema(ALL_MODELS)
    with database.connection_context():
        for index in (UNFINISHED_BULKS, UNPUBLISHED_BULKS):
            database.execute_sql(f'DROP INDEX "{index}"')
        for column in ("finished_at", "outcome_known"):
            database.execute_sql(f"ALTER TABLE magento_bulk DROP COLUMN {column}")
        database.execute_sql("UPDATE bulk_schema_version SET version = 1")
    assert "finished_at" not in columns(bound, "magento_bulk")
    assert create_schema(ALL_MODELS) == 1
    assert "finished_at" in columns(bound, "magento_bulk")
    assert UNFINISHED_BULKS in index_names("magento_bulk")
    with database.connection_context():
        assert schema_version() == migrations.LATEST_VERSION


def test_a_version_5_database_counts_sign_in_failures_per_address(bound):
    create_schema(ALL_MODELS)
    with database.connection_context():
        database.execute_sql("DROP TABLE admin_sign_in_failures")
        database.execute_sql('CREATE TABLE "admin_login_lock" ("username" VARCHAR(255) NOT NULL PRIMARY KEY, '
                             '"failures" INTEGER NOT NULL, "locked_until" REAL)')
        database.execute_sql("UPDATE bulk_schema_version SET version = 5")
    assert create_schema(ALL_MODELS) == 5
    with database.connection_context():
        tables = set(database.get_tables())
        assert schema_version() == migrations.LATEST_VERSION
    assert "admin_login_lock" not in tables and "admin_sign_in_failures" in tables



def test_a_missing_index_of_an_existing_table_is_created_and_nothing_else_is_touched(bound):
    create_schema(ALL_MODELS)
    with database.connection_context():
        database.execute_sql(f'DROP INDEX "{OPEN_BY_BULK}"')
    create_schema(ALL_MODELS)
    with database.connection_context():
        assert OPEN_BY_BULK in {index.name for index in database.get_indexes("magento_operation")}


def test_steps_are_safe_on_a_database_that_already_has_the_change(bound, monkeypatch):
    create_schema(ALL_MODELS)
    with database.connection_context():
        add_column_if_missing(None, "magento_bulk", "user_id", peewee.IntegerField(null=True))
        add_column_if_missing(None, "no_such_table", "x", peewee.IntegerField(null=True))


def test_databases_from_before_versioning_count_as_version_1(bound, monkeypatch):
    create_schema(ALL_MODELS)
    with database.connection_context():
        database.execute_sql("DROP TABLE bulk_schema_version")
    monkeypatch.setattr(migrations, "UPGRADES", [lambda migrator: None])
    monkeypatch.setattr(migrations, "LATEST_VERSION", 2)
    assert create_schema(ALL_MODELS) == 1


def test_several_processes_creating_the_schema_at_once(database_url):
    script = ("import sys; from bulk.db import database, open_database; from bulk.migrations import create_schema;"
              "from bulk.models import ALL_MODELS; database.initialize(open_database(sys.argv[1], busy_timeout=60));"
              "print(create_schema(ALL_MODELS))")
    url = database_url
    processes = [subprocess.Popen([sys.executable, "-c", script, url], cwd=PROJECT_ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [process.communicate(timeout=60) for process in processes]
    assert all(process.returncode == 0 for process in processes), results
    assert fetch_all(database_url, "SELECT count(*) FROM bulk_schema_version") == [(1,)]


def test_version_1_operations_gain_their_finish_time(bound):
    """A database from before `finished_at`: the column is added (its index comes and, at version 8,
    goes), rows kept."""
    create_schema(ALL_MODELS)
    with database.connection_context():
        database.execute_sql("ALTER TABLE magento_operation DROP COLUMN finished_at")
        database.execute_sql("UPDATE bulk_schema_version SET version = 1")
    assert create_schema(ALL_MODELS) == 1
    assert "finished_at" in columns(bound, "magento_operation")
    with database.connection_context():
        assert schema_version() == migrations.LATEST_VERSION
    assert not finish_time_indexes()
    assert create_schema(ALL_MODELS) == migrations.LATEST_VERSION


def indexes_as_left_by(version: int, drop: tuple[str, ...], create: dict[str, tuple[str, ...]]) -> None:
    """The operation table's indexes as an older schema version left them, and that version recorded."""
    with database.connection_context():
        for name in drop:
            database.execute_sql(f'DROP INDEX "{name}"')
        for name, columns in create.items():
            quoted = ", ".join(f'"{column}"' for column in columns)
            database.execute_sql(f'CREATE INDEX "{name}" ON "magento_operation" ({quoted})')
        database.execute_sql(f"UPDATE bulk_schema_version SET version = {version}")


def index_names(table):
    with database.connection_context():
        return {index.name for index in database.get_indexes(table)}


def test_version_1_gets_the_open_operation_indexes_instead_of_the_full_entity_index(bound):
    create_schema(ALL_MODELS)
    indexes_as_left_by(1, drop=(OPEN_BY_ENTITY, OPEN_BY_BULK),
                       create={"magento_operation_entity_key_status_id": ("entity_key", "status", "id")})
    assert create_schema(ALL_MODELS) == 1
    names = index_names("magento_operation")
    assert {OPEN_BY_ENTITY, OPEN_BY_BULK} <= names
    assert "magento_operation_entity_key_status_id" not in names
    assert create_schema(ALL_MODELS) == migrations.LATEST_VERSION


def test_version_4_deliveries_gain_their_subscriber_and_integrations_an_endpoint_table(bound):
    """A database from before integration endpoints: its deliveries (all to BULK_WEBHOOK_URL) are kept,
    with no integration; the endpoints' table is created."""
    create_schema(ALL_MODELS)
    with database.connection_context():  # as version 4 left it
        database.execute_sql("DROP TABLE bulk_integration_endpoint")
        database.execute_sql("ALTER TABLE bulk_webhook_delivery DROP COLUMN integration_id")
        database.execute_sql("UPDATE bulk_schema_version SET version = 4")
        database.execute_sql(
            "INSERT INTO bulk_webhook_delivery (webhook_id, event_type, bulk_uuid, url, payload, status, attempts, "
            "created_at, next_attempt_at) VALUES ('msg_1', 'bulk.finished', 'b', 'https://h.example.com/', '{}', "
            "'pending', 0, 1, 1)")
    assert "integration_id" not in columns(bound, "bulk_webhook_delivery")
    assert create_schema(ALL_MODELS) == 4
    assert "integration_id" in columns(bound, "bulk_webhook_delivery")
    assert {"integration_id", "endpoint", "secret"} <= columns(bound, "bulk_integration_endpoint")
    assert fetch_all(bound, "SELECT webhook_id, url, integration_id FROM bulk_webhook_delivery") == [
        ("msg_1", "https://h.example.com/", None)]
    assert create_schema(ALL_MODELS) == migrations.LATEST_VERSION


def finish_time_indexes() -> set[str]:
    with database.connection_context():
        return {index.name for index in database.get_indexes("magento_operation") if "finished_at" in index.columns}


def test_version_6_loses_its_index_of_operations_by_finish_time(bound):
    create_schema(ALL_MODELS)
    indexes_as_left_by(6, drop=(), create={"magento_operation_finished_at_status": ("finished_at", "status")})
    assert finish_time_indexes() == {"magento_operation_finished_at_status"}
    assert create_schema(ALL_MODELS) == 6
    assert not finish_time_indexes()


def test_version_7_counts_the_last_hours_finishes_in_the_tally_and_drops_the_finish_time_index(bound):
    """The dashboard's "finished in the last hour" carries on across the upgrade: the tally starts
    with what finished in the last hour, by minute and status, read through the old index."""
    create_schema(ALL_MODELS)
    now = time.time()
    # The last second of a minute, ten minutes ago.
    late_in_a_minute = (now // 60) * 60 - 601
    finished = {"a": (late_in_a_minute, OperationStatus.COMPLETE), "b": (late_in_a_minute, OperationStatus.COMPLETE),
                "c": (now - 1800, OperationStatus.RETRIABLY_FAILED), "d": (now - 7200, OperationStatus.COMPLETE),
                "e": (None, OperationStatus.OPEN)}
    with database.connection_context():
        bulk_uuid = submit(list(finished), at=now)
        for sku, (at, status) in finished.items():
            (Operation.update(status=int(status), finished_at=at and utc_datetime(at))
             .where(Operation.entity_key == f"sku:{sku}").execute())
        database.execute_sql('DROP TABLE "bulk_finished_tally"')
        database.execute_sql('CREATE INDEX "magento_operation_finished" ON "magento_operation" '
                             '("finished_at", "status") WHERE "finished_at" IS NOT NULL')
        database.execute_sql("UPDATE bulk_schema_version SET version = 7")
    assert create_schema(ALL_MODELS) == 7
    assert not finish_time_indexes()
    with database.connection_context():
        assert {(row.minute, row.status, row.operations) for row in FinishedTally.select()} == {
            (int(late_in_a_minute // 60), 1, 2), (int((now - 1800) // 60), 2, 1)}
        assert finished_tally.last_hour(time.time()) == {1: 2, 2: 1}
        assert Operation.select().where(Operation.bulk == bulk_uuid).count() == 5
        # Safe to run again (as every step must be): the tally is not seeded twice.
        migrations.UPGRADES[7 - 1](None)
        assert finished_tally.last_hour(time.time()) == {1: 2, 2: 1}


def test_version_8_indexes_unfinished_bulks_and_stamps_those_finished_before_version_3(bound):
    """The queue's walks (PostgreSQL) start at the oldest unfinished bulk: a bulk finished before bulks were
    stamped must not count as unfinished. It gets its operations' last finish time (its start when
    they have none); bulks with open operations and bulks without operations stay unstamped."""
    create_schema(ALL_MODELS)
    now = time.time()
    with database.connection_context():
        finished = submit(["a", "b"], at=now - 600)
        before_finish_times = submit(["c"], at=now - 500)
        still_open = submit(["d", "e"], at=now - 400)
        stamped = submit(["f"], at=now - 300)
        Operation.update(status=int(OperationStatus.COMPLETE), finished_at=utc_datetime(now - 590)).where(
            Operation.entity_key == "sku:a").execute()
        Operation.update(status=int(OperationStatus.NOT_RETRIABLY_FAILED), finished_at=utc_datetime(now - 580)).where(
            Operation.entity_key == "sku:b").execute()
        Operation.update(status=int(OperationStatus.COMPLETE)).where(Operation.entity_key.in_(["sku:c", "sku:d"])).execute()
        Operation.update(status=int(OperationStatus.COMPLETE), finished_at=utc_datetime(now - 290)).where(
            Operation.entity_key == "sku:f").execute()
        Bulk.update(finished_at=utc_datetime(now - 100)).where(Bulk.uuid == stamped).execute()
        Bulk.create(uuid="00000000-0000-0000-0000-000000000000", description="all rejected", operation_count=0,
                    start_time=utc_datetime(now - 700))
        database.execute_sql(f'DROP INDEX "{UNFINISHED_BULKS}"')
        database.execute_sql("UPDATE bulk_schema_version SET version = 8")
    assert create_schema(ALL_MODELS) == 8
    assert UNFINISHED_BULKS in index_names("magento_bulk")
    with database.connection_context():
        finish_times = {bulk.uuid: bulk.finished_at for bulk in Bulk.select()}
        assert finish_times == {
            finished: utc_datetime(now - 580), before_finish_times: Bulk.get(uuid=before_finish_times).start_time,
            still_open: None,
            stamped: utc_datetime(now - 100), "00000000-0000-0000-0000-000000000000": None}
        # Safe to run again (as every step must be).
        migrations.UPGRADES[8 - 1](None)
        assert {bulk.uuid: bulk.finished_at for bulk in Bulk.select()} == finish_times


def test_a_version_9_database_gets_bulks_whose_outcomes_are_known_none_of_them_before(bound):
    create_schema(ALL_MODELS)
    with database.connection_context():
        earlier = submit(["a"], at=time.time() - 60)
        database.execute_sql(f'DROP INDEX "{UNPUBLISHED_BULKS}"')
        database.execute_sql("ALTER TABLE magento_bulk DROP COLUMN outcome_known")
        database.execute_sql("UPDATE bulk_schema_version SET version = 9")
    assert "outcome_known" not in columns(bound, "magento_bulk")
    assert create_schema(ALL_MODELS) == 9
    assert UNPUBLISHED_BULKS in index_names("magento_bulk")
    with database.connection_context():
        assert schema_version() == migrations.LATEST_VERSION
        assert [(bulk.uuid, bulk.outcome_known) for bulk in Bulk.select()] == [(earlier, False)]
        assert queue.open_count() == 1  # its operation, open as before
