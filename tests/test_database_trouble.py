"""Database trouble: busy, unreachable, lost connections, read-only, full. Nothing accepted is lost."""

from __future__ import annotations

import time

import psycopg2
import pytest

from bulk import db
from bulk.models import Bulk, Operation
from tests.magento import assert_magento_error, bearer
from tests.test_http_errors import write_lock_held

PRODUCTS = [{"product": {"sku": "a"}}, {"product": {"sku": "b"}}]


def token_for(client):
    return client.post("/rest/V1/integration/admin/token",
                       json={"username": "admin", "password": "admin123"}).get_json()


def wait_until(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail("condition not reached in time")


def open_operations():
    with db.database.connection_context():
        return Operation.select().where(Operation.status == 4).count()


def answered(call, timeout=20.0):
    """The first answer that is not a 503: with a 0.2 s lock wait, setting up on a busy machine (other
    PostgreSQL clients changing the catalogue) may be told to retry, as any client would."""
    deadline = time.monotonic() + timeout
    response = call()
    while response.status_code == 503 and time.monotonic() < deadline:
        time.sleep(0.1)
        response = call()
    return response


def test_the_drainer_waits_out_a_locked_database_and_carries_on(make_app, tmp_path, engine, database_url):
    app = make_app(BULK_WORKER="1", BULK_DB_BUSY_TIMEOUT="0.2", BULK_POLL_SECONDS="0.05")
    client = app.test_client()
    auth = bearer(answered(lambda: client.post("/rest/V1/integration/admin/token",
                                               json={"username": "admin", "password": "admin123"})).get_json())
    app.extensions["bulk"].drainer.stop()  # paused while the lock is taken
    submitted = answered(lambda: client.post("/rest/async/bulk/V1/products", json=PRODUCTS, headers=auth))
    assert submitted.status_code == 202
    with write_lock_held(engine, database_url, tmp_path):
        app.extensions["bulk"].drainer.start()
        time.sleep(0.5)  # it tries, fails on the lock, backs off
        assert open_operations() == 2
    wait_until(lambda: open_operations() == 0)


@pytest.mark.engines("sqlite")  # the URL under test replaces the fixture's database
def test_an_unreachable_database_answers_503(make_app, tmp_path):
    app = make_app(DATABASE_URL="postgresql://127.0.0.1:1/nowhere?connect_timeout=1")
    response = app.test_client().post("/rest/V1/integration/admin/token",
                                      json={"username": "admin", "password": "admin123"})
    assert_magento_error(response, 503, "The service cannot reach its database. Try again in %seconds second(s).",
                         {"seconds": 1})
    assert response.headers["Retry-After"] == "1"


@pytest.mark.engines("postgresql")
def test_lost_postgresql_connections_are_replaced(make_app, database_url):
    app = make_app(BULK_WORKER="1", BULK_POLL_SECONDS="0.05", DATABASE_URL=database_url + "&application_name=lost-conn")
    client = app.test_client()
    auth = bearer(token_for(client))
    assert client.post("/rest/async/bulk/V1/products", json=PRODUCTS, headers=auth).status_code == 202
    wait_until(lambda: open_operations() == 0)
    admin = psycopg2.connect(database_url.split("?")[0])
    admin.autocommit = True
    admin.cursor().execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'lost-conn'")
    admin.close()
    responses = [client.post("/rest/async/bulk/V1/products", json=PRODUCTS, headers=auth) for _ in range(3)]
    accepted = [response for response in responses if response.status_code == 202]
    for response in responses:
        if response.status_code != 202:
            assert response.status_code == 503 and response.headers["Retry-After"]
    assert accepted
    wait_until(lambda: open_operations() == 0)
    with db.database.connection_context():
        assert Bulk.select().count() == 1 + len(accepted)


@pytest.mark.engines("sqlite")  # SQLite pragmas stand in for a read-only file and a full disk
@pytest.mark.parametrize("pragma, reason", [("query_only", "the database is read-only"),
                                            ("max_page_count", "the disk is full")])
def test_a_database_that_refuses_writes_gives_a_clear_error_and_keeps_what_it_has(
        make_app, monkeypatch, pragma, reason):
    client = make_app().test_client()
    auth = bearer(token_for(client))
    first = client.post("/rest/async/bulk/V1/products", json=PRODUCTS, headers=auth).get_json()["bulk_uuid"]
    handle = db.database.obj
    handle.close_all()
    with db.database.connection_context():
        pages = db.database.execute_sql("PRAGMA page_count").fetchone()[0]
    value = 1 if pragma == "query_only" else pages
    monkeypatch.setattr(handle, "_pragmas", [*handle._pragmas, (pragma, value)])
    handle.close_all()
    big = [{"product": {"sku": f"s{i}", "name": "x" * 500}} for i in range(200)]
    response = client.post("/rest/async/bulk/V1/products", json=big, headers=auth)
    assert_magento_error(response, 503,
                         "The service cannot write to its database (%reason). Try again in %seconds second(s).",
                         {"reason": reason, "seconds": 1})
    assert client.get(f"/rest/V1/bulk/{first}/status", headers=auth).status_code == 200
    monkeypatch.undo()
    handle.close_all()
    with db.database.connection_context():
        assert db.database.execute_sql("PRAGMA integrity_check").fetchone() == ("ok",)
        assert Bulk.select().count() == 1
    assert client.post("/rest/async/bulk/V1/products", json=PRODUCTS, headers=auth).status_code == 202
