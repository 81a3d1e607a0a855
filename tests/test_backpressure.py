"""Rate limits (BULK_RATE_LIMIT), the open-operations bound, and secret fields never shown."""

from __future__ import annotations

import json

import pytest

from bulk import queue
from bulk.backpressure import OpenOperationsBound, RateCounter
from bulk.config import ConfigError, load_settings
from bulk.db import database
from bulk.errors import WebapiError
from bulk.models import Bulk, Operation
from tests.magento import assert_magento_error

PRODUCTS = "/rest/async/bulk/V1/products"


def items(count):
    return [{"product": {"sku": f"S{index}"}} for index in range(count)]


def bulk_count() -> int:
    with database.connection_context():
        return Bulk.select().count()


@pytest.fixture
def limited(make_app):
    def build(**settings):
        app = make_app(**settings)
        app.extensions["bulk"].ensure_ready_without_worker()
        client = app.test_client()
        token = client.post("/rest/V1/integration/admin/token",
                            json={"username": "admin", "password": "admin123"}).get_json()
        return app.extensions["bulk"], client, {"Authorization": f"Bearer {token}"}

    return build


def test_requests_over_the_limit_get_429_with_retry_after_and_store_nothing(limited, clock):
    clock.set(1_800_000_000)  # the start of a minute
    _, client, auth = limited(BULK_RATE_LIMIT="3 requests/minute")
    assert client.post(PRODUCTS, json=items(1), headers=auth).status_code == 202
    assert client.get("/rest/V1/bulk/x/operation-status/4", headers=auth).status_code == 200
    assert client.post(PRODUCTS, json=items(1), headers=auth).status_code == 202
    clock.advance(20)
    for refused in (client.post(PRODUCTS, json=items(1), headers=auth),
                    client.get("/rest/V1/bulk/x/operation-status/4", headers=auth)):
        assert_magento_error(refused, 429, "Too Many Requests")
        assert refused.headers["Retry-After"] == "40"
    assert bulk_count() == 2
    clock.advance(40)
    assert client.post(PRODUCTS, json=items(1), headers=auth).status_code == 202


def test_items_are_limited_per_caller_and_guests_per_address(limited, clock):
    service, client, auth = limited(BULK_RATE_LIMIT="5 items/hour; 100 requests/hour")
    assert client.post(PRODUCTS, json=items(3), headers=auth).status_code == 202
    assert_magento_error(client.post(PRODUCTS, json=items(3), headers=auth), 429, "Too Many Requests")
    assert bulk_count() == 1
    assert client.post(PRODUCTS, json=items(2), headers=auth).status_code == 202
    # Guests (an anonymous route) are counted by address, apart from the admin and each other.
    customers = [{"customer": {"email": f"g{n}@example.com", "firstname": "G", "lastname": "H"}} for n in range(5)]
    for address in ("10.0.0.1", "10.0.0.2"):
        response = client.post("/rest/async/bulk/V1/customers", json=customers,
                               environ_base={"REMOTE_ADDR": address})
        assert response.status_code == 202
    refused = client.post("/rest/async/bulk/V1/customers", json=customers[:1], environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert_magento_error(refused, 429, "Too Many Requests")
    # Ended windows are swept.
    clock.advance(2 * 3600)
    service.housekeeper.run_once()
    with database.connection_context():
        assert RateCounter.select().count() == 0


def test_a_submit_past_the_open_operations_bound_gets_503(limited):
    service, client, auth = limited(BULK_MAX_OPEN_OPERATIONS="3")
    assert client.post(PRODUCTS, json=items(2), headers=auth).status_code == 202
    refused = client.post(PRODUCTS, json=items(2), headers=auth)
    assert_magento_error(refused, 503, "The service has %max operations waiting to be processed. "
                         "Try again in %seconds second(s).", {"max": 3, "seconds": 30})
    assert refused.headers["Retry-After"] == "30"
    assert bulk_count() == 1
    assert client.post(PRODUCTS, json=items(1), headers=auth).status_code == 202
    with database.connection_context():
        service.drainer.drain()
    assert client.post(PRODUCTS, json=items(3), headers=auth).status_code == 202


CUSTOMER = {"customer": {"email": "ann@example.com", "firstname": "Ann", "lastname": "Lee"}, "password": "short"}


def test_passwords_are_sealed_at_rest_masked_everywhere_and_opened_for_the_handler(make_app):
    app = make_app(BULK_TESTING="1")
    service = app.extensions["bulk"]
    service.ensure_ready_without_worker()
    client = app.test_client()
    auth = {"Authorization": "Bearer " + client.post("/rest/V1/integration/admin/token", json={
        "username": "admin", "password": "admin123"}).get_json()}
    bulk_uuid = client.post("/rest/async/bulk/V1/customers", json=[CUSTOMER], headers=auth).get_json()["bulk_uuid"]
    with database.connection_context():
        stored = Operation.select(Operation.serialized_data).scalar()
    assert "short" not in stored and "bulk-sealed:v1:" in stored
    client.post("/rest/V1/testing/drain", headers=auth)
    # The store saw the real password: its length rule refused it.
    detailed = client.get(f"/rest/V1/bulk/{bulk_uuid}/detailed-status", headers=auth).get_json()
    [operation] = detailed["operations_list"]
    assert operation["status"] == 3 and "8" in operation["result_message"], operation
    shown = json.loads(json.loads(operation["serialized_data"])["meta_information"])
    assert shown == {**CUSTOMER, "password": "******"}
    search = client.get("/rest/V1/bulk?searchCriteria[pageSize]=5", headers=auth).get_json()
    assert json.loads(json.loads(search["items"][0]["serialized_data"])["meta_information"])["password"] == "******"
    recorded = client.get(f"/rest/V1/testing/operations?bulk_uuid={bulk_uuid}", headers=auth).get_json()
    assert recorded[0]["arguments"]["password"] == "******"
    for body in (detailed, search, recorded):
        assert "short" not in json.dumps(body) and "bulk-sealed" not in json.dumps(body)
    # A retry runs the sealed copy again: the same refusal, so the password came back intact.
    assert client.post(f"/rest/V1/bulk/{bulk_uuid}/retry", json={"scope": "failed"},
                       headers=auth).get_json()["reopened_operation_ids"] == [0]
    client.post("/rest/V1/testing/drain", headers=auth)
    again = client.get(f"/rest/V1/bulk/{bulk_uuid}/detailed-status", headers=auth).get_json()["operations_list"][0]
    assert (again["status"], again["result_message"]) == (3, operation["result_message"])


def test_a_valid_password_creates_the_customer(make_app):
    app = make_app()
    service = app.extensions["bulk"]
    service.ensure_ready_without_worker()
    client = app.test_client()
    good = {**CUSTOMER, "password": "Password1!"}
    assert client.post("/rest/async/bulk/V1/customers", json=[good]).status_code == 202
    with database.connection_context():
        service.drainer.drain()
        assert Operation.select(Operation.status).scalar() == 1


def test_a_field_a_schema_marks_secret_is_masked_too(client, auth):
    item = {"customerId": 5, "customer": {"id": 5, "email": "a@example.com", "firstname": "A", "lastname": "B"},
            "passwordHash": "stored-hash-value"}
    response = client.put("/rest/async/bulk/V1/customers/byCustomerId", json=[item], headers=auth)
    assert response.status_code == 202
    body = client.get(f"/rest/V1/bulk/{response.get_json()['bulk_uuid']}/detailed-status", headers=auth).get_json()
    meta = json.loads(json.loads(body["operations_list"][0]["serialized_data"])["meta_information"])
    assert meta == {**item, "passwordHash": "******"}


@pytest.mark.parametrize("trusted, separate", [("", False), ("127.0.0.1", True)])
def test_guests_behind_a_trusted_proxy_are_counted_by_their_forwarded_address(limited, trusted, separate):
    # The fixture's own sign-in counts for 127.0.0.1 (the token endpoint is open to guests).
    settings = {"BULK_RATE_LIMIT": "2 requests/hour", **({"BULK_TRUSTED_PROXIES": trusted} if trusted else {})}
    _, client, _ = limited(**settings)
    customer = [{"customer": {"email": "g@example.com", "firstname": "G", "lastname": "H"}}]
    statuses = [client.post("/rest/async/bulk/V1/customers", json=customer,
                            headers={"X-Forwarded-For": f"203.0.113.{n}, 127.0.0.1"}).status_code for n in (1, 2)]
    assert statuses == ([202, 202] if separate else [202, 429])


@pytest.mark.parametrize("settings, message", [
    ({"BULK_RATE_LIMIT": "lots"}, "BULK_RATE_LIMIT must look like"),
    ({"BULK_RATE_LIMIT": "10 items/fortnight"}, "BULK_RATE_LIMIT must look like"),
    ({"BULK_TRUSTED_PROXIES": "proxy.local"}, "BULK_TRUSTED_PROXIES must list"),
    ({"BULK_OAUTH_SIGNATURE_METHODS": "PLAINTEXT"}, "BULK_OAUTH_SIGNATURE_METHODS must be one of"),
])
def test_malformed_settings_stop_the_start(settings, message):
    with pytest.raises(ConfigError, match=message):
        load_settings({"BULK_ENV": "development", "BULK_SECRET_KEY": "s" * 32, **settings}, environ={})


def test_far_below_the_bound_a_recent_count_serves_near_it_every_submit_counts(db):
    now = [0.0]
    bound = OpenOperationsBound(1000, monotonic=lambda: now[0])
    bound.check(10)  # counts: none open
    queue.enqueue(queue.NewBulk("b1", 1, 2, "d", [queue.NewOperation(n, "t", "r", "{}") for n in range(950)]), 0)
    # Far below the bound by its recent count (not yet counting those 950): no recount, so no refusal.
    bound.check(60)
    now[0] += 6  # the count is stale: counted again, and now near the bound every submit counts
    bound.check(40)
    with pytest.raises(WebapiError) as refused:
        bound.check(51)
    assert refused.value.status == 503 and refused.value.headers == {"Retry-After": "30"}
