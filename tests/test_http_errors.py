"""Every error path answers in Magento's shape with the right status, and stores nothing."""

from __future__ import annotations

import io
import json
import sqlite3
import time
from contextlib import contextmanager

import psycopg2
import pytest

from bulk.models import Bulk
from tests.magento import assert_magento_error, bearer

PRODUCTS = [{"product": {"sku": "a"}}]


@pytest.mark.parametrize("url", ["/rest/async/bulk/V1/products", "/rest/default/async/V1/products",
                                 "/async/bulk/V1/products/bySku"])
def test_get_on_an_async_url(client, auth, url):
    assert_magento_error(client.get(url, headers=auth), 400, "Specified request cannot be processed.")


def test_unknown_route_is_404_before_authentication(client):
    assert_magento_error(client.post("/rest/async/bulk/V1/nothing", json=[]), 404,
                         "Request does not match any route.")
    assert_magento_error(client.put("/rest/async/bulk/V1/products/24-MB01", json=[]), 404,
                         "Request does not match any route.")
    assert_magento_error(client.get("/rest/V1/nothing"), 404, "Request does not match any route.")


def test_paths_no_processor_accepts(client):
    assert_magento_error(client.get("/favicon.ico"), 400, "Specified request cannot be processed.")
    # `GET /` is the dashboard's (a 302 to /dashboard); other methods at `/` stay the API's.
    assert_magento_error(client.put("/"), 400, "Specified request cannot be processed.")


@pytest.mark.parametrize("method", ["PATCH", "OPTIONS", "TRACE"])
def test_other_methods_are_invalid(client, auth, method):
    response = client.open("/rest/async/bulk/V1/products", method=method, headers=auth)
    assert_magento_error(response, 400, "Request method is invalid.")


def test_authentication_comes_before_body_parsing(client):
    response = client.post("/rest/async/bulk/V1/products", data="{not json", content_type="application/json")
    assert response.status_code == 401


@pytest.mark.parametrize("header", ["Bearer", "Bearer not-a-token", "Basic YWRtaW46YWRtaW4xMjM=",
                                    "Bearer WzIsMSw5OTk5OTk5OTk5XQ.forged"])
def test_bad_tokens_make_a_guest(client, header):
    response = client.post("/rest/async/bulk/V1/products", json=PRODUCTS, headers={"Authorization": header})
    assert_magento_error(response, 401, "The consumer isn't authorized to access %resources.",
                         {"resources": "Magento_Catalog::products"})


def test_malformed_json(client, auth):
    response = client.post("/rest/async/bulk/V1/products", data="[{", headers=auth,
                           content_type="application/json")
    assert_magento_error(response, 400, "Decoding error.")
    assert Bulk.select().count() == 0


@pytest.mark.parametrize("content_type, message", [
    (None, "Content-Type header is empty."),
    ("application json", "Content-Type header is invalid."),
    ("application/json; boundary=x", "Content-Type header is invalid."),
    ("application/json; charset=latin1", "UTF-8 is the only supported charset."),
])
def test_content_type_rules(client, auth, content_type, message):
    headers = dict(auth)
    if content_type:
        headers["Content-Type"] = content_type
    response = client.post("/rest/async/bulk/V1/products", data=b'[{"product":{"sku":"a"}}]', headers=headers)
    assert_magento_error(response, 400, message)


@pytest.mark.parametrize("content_type", ["application/json; charset=UTF-8", "Application/JSON",
                                          "application/json;charset=utf-8"])
def test_accepted_content_types(client, auth, content_type):
    response = client.post("/rest/async/bulk/V1/products", data=b'[{"product":{"sku":"a"}}]',
                           headers={**auth, "Content-Type": content_type})
    assert response.status_code == 202


def test_unsupported_media_type(client, auth):
    response = client.post("/rest/async/bulk/V1/products", data=b"<xml/>",
                           headers={**auth, "Content-Type": "application/xml"})
    assert_magento_error(response, 400, "Server cannot understand Content-Type HTTP header media type %1",
                         ["application/xml"])


def test_oversized_body(make_app):
    client = make_app(BULK_MAX_BODY_BYTES="200").test_client()
    token = client.post("/rest/V1/integration/admin/token",
                        json={"username": "admin", "password": "admin123"}).get_json()
    response = client.post("/rest/async/bulk/V1/products", json=PRODUCTS * 20, headers=bearer(token))
    assert_magento_error(response, 413, "The request body is larger than %max bytes.", {"max": 200})
    assert Bulk.select().count() == 0


def _chunked_post(client, body: bytes, headers: dict):
    """A body without Content-Length that the server ends itself (gunicorn's chunked requests)."""
    return client.post("/rest/async/bulk/V1/products", input_stream=io.BytesIO(body),
                       headers={**headers, "Content-Type": "application/json"},
                       environ_overrides={"wsgi.input_terminated": True})


def test_a_body_without_length_over_the_limit_is_a_413_and_one_at_the_limit_is_read_whole(make_app):
    client = make_app(BULK_MAX_BODY_BYTES="200").test_client()
    token = client.post("/rest/V1/integration/admin/token",
                        json={"username": "admin", "password": "admin123"}).get_json()
    body = json.dumps(PRODUCTS * 20).encode()
    assert_magento_error(_chunked_post(client, body, bearer(token)), 413,
                         "The request body is larger than %max bytes.", {"max": 200})
    assert Bulk.select().count() == 0
    exactly = json.dumps(PRODUCTS * 7).encode()
    exactly = exactly[:-1] + b" " * (200 - len(exactly)) + b"]"
    assert len(exactly) == 200
    response = _chunked_post(client, exactly, bearer(token))
    assert response.status_code == 202, response.get_data(as_text=True)
    assert len(response.get_json()["request_items"]) == 7


def test_unexpected_errors_are_masked(client, auth, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("bulk.views.submit.accept", explode)
    response = client.post("/rest/async/bulk/V1/products", json=PRODUCTS, headers=auth)
    body = assert_magento_error(response, 500,
                                "Internal Error. Details are available in Magento log file. Report ID: %1",
                                response.get_json().get("parameters"))
    assert body["parameters"][0].startswith("webapi-")
    assert "secret internals" not in response.get_data(as_text=True)


def answered_when_not_busy(call, timeout=20.0):
    """The first answer that is not a 503 (a busy PostgreSQL may make a 0.2 s lock wait run out)."""
    deadline = time.monotonic() + timeout
    response = call()
    while response.status_code == 503 and time.monotonic() < deadline:
        time.sleep(0.1)
        response = call()
    return response


@contextmanager
def write_lock_held(engine, database_url, tmp_path):
    """Another connection holds the write lock the submission needs."""
    if engine == "sqlite":
        blocker = sqlite3.connect(tmp_path / "bulk.sqlite3", isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
    else:
        blocker = psycopg2.connect(database_url)
        blocker.cursor().execute("LOCK TABLE magento_bulk, magento_operation IN EXCLUSIVE MODE")
    try:
        yield
    finally:
        blocker.rollback() if engine == "postgresql" else blocker.execute("ROLLBACK")
        blocker.close()


def test_locked_database_answers_503_with_retry_after(make_app, tmp_path, engine, database_url):
    app = make_app(BULK_DB_BUSY_TIMEOUT="0.2", BULK_BUSY_RETRY_AFTER="3")
    client = app.test_client()
    # The first request creates the schema: on a busy PostgreSQL it may be told to retry (503).
    token = answered_when_not_busy(lambda: client.post("/rest/V1/integration/admin/token",
                                                       json={"username": "admin", "password": "admin123"})
                                   ).get_json()
    with write_lock_held(engine, database_url, tmp_path):
        response = client.post("/rest/async/bulk/V1/products", json=PRODUCTS, headers=bearer(token))
        assert_magento_error(response, 503, "The service is busy. Try again in %seconds second(s).",
                             {"seconds": 3})
        assert response.headers["Retry-After"] == "3"
    assert Bulk.select().count() == 0
    response = client.post("/rest/async/bulk/V1/products", json=PRODUCTS, headers=bearer(token))
    assert response.status_code == 202
