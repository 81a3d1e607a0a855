"""`GET /health/ready` (readiness with reasons), request ids, log formats and redaction."""

from __future__ import annotations

import io
import json
import logging
import time

import pytest

from bulk import logs
from bulk.db import database
from bulk.migrations import LATEST_VERSION, SchemaVersion
from bulk.views.ops import drainer_stale_after
from tests.magento import bearer


def wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.02)
    pytest.fail("condition not reached in time")


# -- readiness ----------------------------------------------------------------------------------

def test_ready_with_what_was_checked(client):
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "reasons": [], "checks": {
        "database": "ok", "schema_version": LATEST_VERSION, "latest_schema_version": LATEST_VERSION,
        "open_operations": 0, "drainer": "disabled"}}


def test_liveness_stays_as_it_was(client):
    assert client.get("/health").get_json() == {"status": "ok", "open_operations": 0, "drainer": "disabled"}


@pytest.mark.engines("sqlite")
def test_an_unreachable_database_is_not_ready(make_app):
    client = make_app(DATABASE_URL="postgresql://127.0.0.1:1/nowhere?connect_timeout=1").test_client()
    response = client.get("/health/ready")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "not ready"
    assert body["reasons"] == ["The database cannot be reached."]
    assert body["checks"]["database"] == "unreachable"


def test_a_schema_behind_the_code_is_not_ready(client, service):
    with database.connection_context():
        SchemaVersion.update(version=LATEST_VERSION - 1).execute()
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.get_json()["reasons"] == [
        f"The database schema is at version {LATEST_VERSION - 1}; this code needs {LATEST_VERSION}."]


def test_a_stalled_drainer_with_open_work_is_not_ready(make_app):
    app = make_app(BULK_TESTING="1", BULK_WORKER="1", BULK_POLL_SECONDS="0.02")
    client = app.test_client()
    auth = bearer(client.post("/rest/V1/integration/admin/token",
                              json={"username": "admin", "password": "admin123"}).get_json())
    assert client.get("/health/ready").status_code == 200  # idle: ticking, nothing open
    client.post("/rest/V1/testing/faults", json={"kind": "slow", "delay": 60, "entity": {"sku": "SLOW"}},
                headers=auth)
    client.post("/rest/async/bulk/V1/products", json=[{"product": {"sku": "SLOW"}}], headers=auth)
    limit = drainer_stale_after(app.extensions["bulk"].settings)
    stalled = wait_for(lambda: (response := client.get("/health/ready")).status_code == 503 and response, 60)
    body = stalled.get_json()
    assert body["reasons"] == [f"The drainer has not finished a batch for more than {limit:g} seconds while "
                               "1 operation(s) are open."]
    assert body["checks"]["drainer"] == "running"
    assert body["checks"]["drainer_heartbeat_age_seconds"] > limit
    client.post("/rest/V1/testing/faults/release", headers=auth)
    wait_for(lambda: client.get("/health/ready").status_code == 200)


def test_a_stopped_drainer_is_not_ready(make_app):
    app = make_app(BULK_WORKER="1")
    client = app.test_client()
    assert client.get("/health/ready").status_code == 200
    app.extensions["bulk"].drainer.stop()
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.get_json()["reasons"] == ["The drainer is not running in this process."]


# -- request ids --------------------------------------------------------------------------------

@pytest.mark.parametrize("sent, answered", [
    ("abc-123", "abc-123"),
    ("  trace:9f/2=x@y  ", "trace:9f/2=x@y"),
    ("evil\tSet-Cookie: x=1 <script>", "evilSet-Cookie:x=1script"),
    ("x" * 500, "x" * 128),
])
def test_a_clients_request_id_comes_back_cleaned_and_bounded(client, sent, answered):
    assert client.get("/health", headers={"X-Request-Id": sent}).headers["X-Request-Id"] == answered


@pytest.mark.parametrize("sent", [None, "", "<>\"'"])
def test_a_request_id_is_made_when_none_is_usable(client, sent):
    headers = {} if sent is None else {"X-Request-Id": sent}
    made = client.get("/health", headers=headers).headers["X-Request-Id"]
    assert len(made) == 32 and int(made, 16) >= 0


# -- log lines ----------------------------------------------------------------------------------

def test_every_request_line_carries_route_status_caller_and_bulk(client, auth, caplog):
    caplog.set_level(logging.INFO, logger="bulk")
    client.post("/rest/async/bulk/V1/products", json=[{"product": {"sku": "A"}}] * 3,
                headers={**auth, "X-Request-Id": "r-1"})
    [record] = [r for r in caplog.records if r.name == "bulk.requests" and getattr(r, "status", None) == 202]
    assert (record.route, record.user_type, record.user_id, record.items) == ("/async/bulk/V1/products", "admin", 1, 3)
    assert record.bulk_uuid in record.getMessage()


def test_probes_are_quiet_unless_they_fail(client, caplog):
    caplog.set_level(logging.INFO, logger="bulk")
    client.get("/health")
    client.get("/metrics")
    assert not [r for r in caplog.records if r.name == "bulk.requests"]


def test_the_drainer_logs_a_batch_at_info_and_each_operation_at_debug(client, auth, service, caplog):
    caplog.set_level(logging.DEBUG, logger="bulk.drainer")
    uuid = client.post("/rest/async/bulk/V1/products", json=[{"product": {"sku": "A"}}, {"product": {"sku": ""}}],
                       headers=auth).get_json()["bulk_uuid"]
    service.drainer.drain()
    per_operation = [r for r in caplog.records if r.levelno == logging.DEBUG and getattr(r, "bulk_uuid", None) == uuid]
    assert [(r.operation_id, r.outcome) for r in per_operation] == [(0, "complete"), (1, "not_retriably_failed")]
    assert all(r.duration_ms >= 0 for r in per_operation)
    [batch] = [r for r in caplog.records if r.levelno == logging.INFO]
    assert (batch.operations, batch.outcomes, batch.bulk_uuids) == (2, {"complete": 1, "not_retriably_failed": 1},
                                                                   [uuid])


def test_log_format_defaults_to_json_on_a_paas():
    assert logs.resolve_format(None, {"PORT": "8080"}) == "json"
    assert logs.resolve_format(None, {}) == "text"
    assert logs.resolve_format("text", {"PORT": "8080"}) == "text"
    assert logs.gunicorn_logconfig({"PORT": "8080"})["handlers"]["console"]["formatter"] == "json"
    assert logs.gunicorn_logconfig({"BULK_LOG_FORMAT": "text"})["handlers"]["console"]["formatter"] == "text"


def format_with(formatter: logging.Formatter, message: str, *args, **extra) -> str:
    record = logging.LogRecord("bulk.test", logging.WARNING, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return formatter.format(record)


@pytest.mark.parametrize("text", [
    "Authorization: Bearer eyJhbGciOi.abc-def_ghi",
    'payload {"password": "hunter2hunter2"}',
    "login with password=hunter2hunter2&user=a",
    "postgresql://bulk:hunter2hunter2@db.example.com:5432/shop",
    'OAuth oauth_consumer_key="ck123456", oauth_signature="c2lnbmF0dXJl"',
    "upstream token=tok_ABCDEF123456",
])
def test_credentials_are_masked_in_both_formats(text):
    for formatter in (logs.JsonFormatter(), logs.TextFormatter()):
        line = format_with(formatter, "seen: %s", text, detail={"nested": [text]})
        for secret in ("eyJhbGciOi.abc-def_ghi", "hunter2hunter2", "ck123456", "c2lnbmF0dXJl", "tok_ABCDEF123456"):
            assert secret not in line
        assert logs.MASK in line


def test_configured_secrets_are_masked_wherever_they_appear(make_app):
    make_app(BULK_SECRET_KEY="an-unguessable-signing-key", BULK_METRICS_TOKEN="metrics-token-value")
    line = format_with(logs.JsonFormatter(), "odd: %s and %s", "an-unguessable-signing-key", "xmetrics-token-valuex")
    assert "an-unguessable-signing-key" not in line and "metrics-token-value" not in line


def test_a_json_line_is_one_object_with_the_request_id(client):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(logs.RequestContextFilter())
    logger = logging.getLogger("bulk.requests")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        client.get("/rest/V1/bulk/x/status", headers={"X-Request-Id": "line-1"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    [line] = stream.getvalue().splitlines()
    record = json.loads(line)
    assert {key: record[key] for key in ("level", "logger", "request_id", "route", "status", "user_type")} == {
        "level": "INFO", "logger": "bulk.requests", "request_id": "line-1", "route": "/V1/bulk/:bulkUuid/status",
        "status": 401, "user_type": "guest"}
    assert "user_id" not in record  # nulls are left out


def test_gunicorns_access_lines_only_when_asked_for(tmp_path):
    quiet = logs.gunicorn_logconfig({})["loggers"]["gunicorn.access"]
    assert (quiet["handlers"], quiet["level"]) == ([], "WARNING")
    to_stdout = logs.gunicorn_logconfig({"GUNICORN_ACCESS_LOG": "-", "BULK_LOG_FORMAT": "json"})
    assert to_stdout["loggers"]["gunicorn.access"]["handlers"] == ["access"]
    assert to_stdout["handlers"]["access"]["stream"] == "ext://sys.stdout"
    assert to_stdout["handlers"]["access"]["formatter"] == "json"
    to_file = logs.gunicorn_logconfig({"GUNICORN_ACCESS_LOG": str(tmp_path / "access.log")})
    assert to_file["handlers"]["access"]["filename"] == str(tmp_path / "access.log")
