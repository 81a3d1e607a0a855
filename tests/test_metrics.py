"""`GET /metrics`: Prometheus text through the Flask client, in one process (per-service registry)."""

from __future__ import annotations

import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.live import free_port
from tests.magento import assert_magento_error, bearer
from tests.upstream import HANG, Reply, Upstream, replies

TOPIC = "async.magento.catalog.api.productrepositoryinterface.save.put"


def scrape(client, headers=None) -> dict[tuple[str, frozenset], float]:
    """The samples of one scrape: (name, labels) -> value."""
    response = client.get("/metrics", headers=headers or {})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for sample in family.samples}


def value(samples, name, **labels) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def test_requests_are_counted_by_route_template_never_by_raw_path(client, auth):
    for sku in ("A-1", "B-2", "C-3"):
        assert client.put(f"/rest/default/async/V1/products/{sku}", json={"product": {"name": "x"}},
                          headers=auth).status_code == 202
    assert client.get("/rest/V1/bulk/no-such-uuid/status", headers=auth).status_code == 404
    assert client.get("/rest/V1/bulk/other-uuid/status").status_code == 401
    for path in ("/made/up/1", "/made/up/2"):
        assert client.get(path).status_code == 400
    samples = scrape(client)
    count = "bulk_http_requests_total"
    assert value(samples, count, method="PUT", route="/async/V1/products/:sku", status="202") == 3
    assert value(samples, count, method="GET", route="/V1/bulk/:bulkUuid/status", status="404") == 1
    assert value(samples, count, method="GET", route="/V1/bulk/:bulkUuid/status", status="401") == 1
    assert value(samples, count, method="GET", route="unmatched", status="400") == 2
    assert value(samples, "bulk_http_request_duration_seconds_count", method="PUT",
                 route="/async/V1/products/:sku") == 3
    labels = {value for (_, pairs) in samples for _, value in pairs}
    assert not any(raw in label for label in labels for raw in ("A-1", "no-such-uuid", "/made/up"))


def test_an_unknown_method_is_counted_as_other(client):
    client.open("/rest/V1/bulk", method="BREW")
    assert value(scrape(client), "bulk_http_requests_total", method="other", route="unmatched", status="400") == 1


def test_accepted_finished_retried_and_reopened_operations(make_app, clock):
    app = make_app(BULK_TESTING="1", BULK_RETRY_ATTEMPTS="2", BULK_RETRY_BASE_SECONDS="0.001")
    client = app.test_client()
    service = app.extensions["bulk"]
    auth = bearer(client.post("/rest/V1/integration/admin/token",
                              json={"username": "admin", "password": "admin123"}).get_json())
    assert client.post("/rest/V1/testing/faults", headers=auth,
                       json={"kind": "retriable", "entity": {"sku": "FLAKY"}, "message": "Lock wait"}).status_code == 200
    items = [{"product": {"sku": "OK"}}, {"product": {"sku": ""}}, {"product": {"sku": "FLAKY"}}]
    response = client.put("/rest/async/bulk/V1/products/bySku", json=items, headers=auth)
    bulk_uuid = response.get_json()["bulk_uuid"]
    service.drainer.drain()  # OK completes, "" fails for good, FLAKY fails and waits for its retry
    clock.advance(1)
    service.drainer.drain()  # FLAKY's second and last try: status 2
    assert client.post(f"/rest/V1/bulk/{bulk_uuid}/retry", json={"scope": "failed"}, headers=auth).get_json()[
        "reopened_operation_ids"] == [1, 2]
    samples = scrape(client)
    assert value(samples, "bulk_bulks_accepted_total", topic=TOPIC) == 1
    assert value(samples, "bulk_operations_accepted_total", topic=TOPIC) == 3
    assert value(samples, "bulk_operations_finished_total", status="complete") == 1
    assert value(samples, "bulk_operations_finished_total", status="not_retriably_failed") == 1
    assert value(samples, "bulk_operations_finished_total", status="retriably_failed") == 1
    assert value(samples, "bulk_operation_retries_scheduled_total") == 1
    assert value(samples, "bulk_operations_reopened_total") == 2
    assert value(samples, "bulk_open_operations") == 2


def test_rejected_items_are_counted_apart(make_app):
    client = make_app(BULK_INVALID_ITEMS="reject-item").test_client()
    auth = bearer(client.post("/rest/V1/integration/admin/token",
                              json={"username": "admin", "password": "admin123"}).get_json())
    client.post("/rest/async/bulk/V1/products", json=[{"product": {"sku": "A"}}, {"product": {"sku": []}}],
                headers=auth)
    samples = scrape(client)
    topic = "async.magento.catalog.api.productrepositoryinterface.save.post"
    assert value(samples, "bulk_operations_accepted_total", topic=topic) == 1
    assert value(samples, "bulk_operations_rejected_total", topic=topic) == 1


def test_backlog_and_the_oldest_open_operation_are_read_from_the_database(client, auth, clock, service):
    samples = scrape(client)
    assert (value(samples, "bulk_open_operations"), value(samples, "bulk_oldest_open_operation_age_seconds")) == (0, 0)
    client.post("/rest/async/bulk/V1/products", json=[{"product": {"sku": "A"}}, {"product": {"sku": "B"}}],
                headers=auth)
    clock.advance(90)
    client.post("/rest/async/bulk/V1/products", json=[{"product": {"sku": "C"}}], headers=auth)
    clock.advance(30)
    samples = scrape(client)
    assert value(samples, "bulk_open_operations") == 3
    assert value(samples, "bulk_oldest_open_operation_age_seconds") == 120
    assert value(samples, "bulk_database_up") == 1


@pytest.mark.engines("sqlite")
def test_an_unreachable_database_still_gives_a_scrape(make_app):
    client = make_app(DATABASE_URL="postgresql://127.0.0.1:1/nowhere?connect_timeout=1").test_client()
    client.get("/health")  # fails with 503: counted all the same
    samples = scrape(client)
    assert value(samples, "bulk_database_up") == 0
    assert value(samples, "bulk_open_operations") is None
    assert value(samples, "bulk_http_requests_total", method="GET", route="/health", status="503") == 1


def test_the_drainer_heartbeat_age(make_app):
    app = make_app(BULK_WORKER="1", BULK_POLL_SECONDS="0.05")
    client = app.test_client()
    client.get("/health")  # the first request starts the loops (as under `flask run`)
    drainer = app.extensions["bulk"].drainer
    deadline = time.monotonic() + 20
    while drainer.heartbeat is None and time.monotonic() < deadline:
        time.sleep(0.02)
    samples = scrape(client)
    age = value(samples, "bulk_loop_heartbeat_age_seconds", loop="bulk-drainer")
    assert age is not None and 0 <= age < 20
    assert value(samples, "bulk_loop_heartbeat_timestamp_seconds", loop="bulk-drainer") <= time.time()


def test_an_unreachable_upstream_counts_as_a_connection_error(make_app):
    app = make_app(BULK_PROCESSING="forward", BULK_UPSTREAM_URL=f"http://127.0.0.1:{free_port()}",
                   BULK_RETRY_ATTEMPTS="1")
    client = app.test_client()
    auth = bearer(client.post("/rest/V1/integration/admin/token",
                              json={"username": "admin", "password": "admin123"}).get_json())
    client.put("/rest/async/bulk/V1/products/bySku", json=[{"product": {"sku": "F"}}], headers=auth)
    app.extensions["bulk"].drainer.drain()
    assert value(scrape(client), "bulk_upstream_requests_total", outcome="connection_error") == 1


def test_upstream_calls_by_outcome(make_app):
    with Upstream(replies(Reply(200, {}), Reply(404, {"message": "No such entity."}),
                          Reply(503, {"message": "Down"}), Reply(429, {"message": "Slow down"}),
                          then=lambda call: HANG)) as upstream:
        app = make_app(BULK_PROCESSING="forward", BULK_UPSTREAM_URL=upstream.url, BULK_RETRY_ATTEMPTS="1",
                       BULK_WORKER_CONCURRENCY="1", BULK_UPSTREAM_TIMEOUT="0.3")
        client = app.test_client()
        auth = bearer(client.post("/rest/V1/integration/admin/token",
                                  json={"username": "admin", "password": "admin123"}).get_json())
        items = [{"product": {"sku": sku}} for sku in ("A", "B", "C", "D", "E")]
        client.put("/rest/async/bulk/V1/products/bySku", json=items, headers=auth)
        app.extensions["bulk"].drainer.drain()
    samples = scrape(client)
    for outcome in ("success", "client_error", "server_error", "throttled", "timeout"):
        assert value(samples, "bulk_upstream_requests_total", outcome=outcome) == 1, outcome
    assert value(samples, "bulk_upstream_request_duration_seconds_count") == 5


def test_the_metrics_token(make_app):
    client = make_app(BULK_METRICS_TOKEN="scrape-me-please").test_client()
    for headers in ({}, bearer("wrong"), {"Authorization": "scrape-me-please"}):
        response = client.get("/metrics", headers=headers)
        assert_magento_error(response, 401, "The consumer isn't authorized to access %resources.",
                             {"resources": "bulk::metrics"})
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert value(scrape(client, bearer("scrape-me-please")), "bulk_database_up") == 1


def test_metrics_can_be_turned_off(make_app):
    response = make_app(BULK_METRICS="0").test_client().get("/metrics")
    assert_magento_error(response, 404, "Request does not match any route.")
