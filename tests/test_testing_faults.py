"""Failure injection, from the plugin's `bulk.faults` and over HTTP, seen through the real status endpoints."""

from __future__ import annotations

import time

import pytest
import requests

from bulk.testing.faults import Fault
from tests.fixture_helpers import products, reported, submit
from tests.magento import assert_magento_error

SUCCESS = "Service execution success Magento\\Catalog\\Model\\ProductRepository\\Interceptor::save"
CUSTOMERS = "/rest/async/bulk/V1/customers"


def customer(email: str) -> dict:
    return {"customer": {"email": email, "firstname": "A", "lastname": "B"}}


def test_retriable_and_permanent_failures_by_entity(bulk):
    bulk.faults.fail(retriable=True, entity={"sku": "B"}, message="Lock wait for %table timed out",
                     parameters={"table": "catalog_product_entity"}, code=1205)
    bulk.faults.fail(entity={"sku": "C"})
    bulk_uuid = submit(bulk, products("A", "B", "C"))
    assert bulk.wait_for(bulk_uuid) == [1, 2, 3]
    assert reported(bulk, bulk_uuid) == [
        (1, SUCCESS, None),
        (2, "Lock wait for catalog_product_entity timed out", 1205),
        (3, "Injected permanent failure.", 0),
    ]
    detailed = bulk.client.get(f"/rest/V1/bulk/{bulk_uuid}/detailed-status", headers=bulk.headers).get_json()
    # Failed operations keep their payload for a retry, as after a real handler's failure.
    assert [op["serialized_data"] is None for op in detailed["operations_list"]] == [True, False, False]


# Updates and deletes of entities that do not exist: only the injected fault may fail them.
@pytest.mark.parametrize("bulk_config", [{"BULK_PROCESSING": "accept"}])
def test_entity_values_match_nested_with_any_name_spelling_and_number_or_string(bulk):
    bulk.faults.fail(entity={"email": "bad@example.com"})
    bulk.faults.fail(entity={"customer_id": 7})
    created = submit(bulk, [customer("ok@example.com"), customer("bad@example.com")], CUSTOMERS)
    saved = submit(bulk, [{"customerId": "7", "customer": {"email": "x@example.com"}},
                          {"customerId": 8, "customer": {"email": "y@example.com"}}],
                   "/rest/async/bulk/V1/customers/byCustomerId", "PUT")
    assert bulk.wait_for(created) == [1, 3]
    assert bulk.wait_for(saved) == [3, 1]


def test_topic_and_route_filters(bulk):
    bulk.faults.fail(route="PUT /V1/products/:sku", message="no update")
    bulk.faults.fail(retriable=True, topic="async.magento.customer.api.accountmanagementinterface.createaccount.post")
    posted = submit(bulk, products("A"))
    put = submit(bulk, [{"sku": "A", "product": {"name": "N"}}], "/rest/async/bulk/V1/products/bySku", "PUT")
    created = submit(bulk, [customer("a@example.com")], CUSTOMERS)
    assert [bulk.wait_for(u) for u in (posted, put, created)] == [[1], [3], [2]]
    assert reported(bulk, put)[0][1] == "no update"


def test_bulk_and_operation_filters(bulk):
    first = submit(bulk, products("A", "B"))
    second = submit(bulk, products("A", "B"))
    bulk.faults.fail(bulk_uuid=second, operation=1)
    assert bulk.wait_for(first) == [1, 1]
    assert bulk.wait_for(second) == [1, 3]


def test_nth_and_times_count_the_operations_a_rule_matches(bulk):
    third = bulk.faults.fail(nth=3)
    first_two_customers = bulk.faults.fail(retriable=True, times=2, topic=(
        "async.magento.customer.api.accountmanagementinterface.createaccount.post"))
    fourth_and_fifth = bulk.faults.fail(nth=4, times=2, entity={"sku": "X"})
    one = submit(bulk, products("A", "B", "C", "D"))
    assert bulk.wait_for(one) == [1, 1, 3, 1]
    customers = submit(bulk, [customer(f"{n}@example.com") for n in range(3)], CUSTOMERS)
    assert bulk.wait_for(customers) == [2, 2, 1]
    xs = submit(bulk, products(*["X"] * 7))
    assert bulk.wait_for(xs) == [1, 1, 1, 3, 3, 1, 1]
    assert (third.matched, third.hits) == (14, 1)
    assert (first_two_customers.matched, first_two_customers.hits) == (3, 2)
    assert (fourth_and_fifth.matched, fourth_and_fifth.hits) == (7, 2)


def test_the_first_rule_that_applies_wins_and_reset_removes_every_rule(bulk):
    bulk.faults.fail(entity={"sku": "A"}, message="first")
    bulk.faults.fail(retriable=True, message="second")
    before = submit(bulk, products("A", "B"))
    assert bulk.wait_for(before) == [3, 2]
    assert [message for _, message, _ in reported(bulk, before)] == ["first", "second"]
    bulk.faults.reset()
    assert bulk.faults.faults() == []
    assert bulk.wait_for(submit(bulk, products("A", "B"))) == [1, 1]


def test_faults_wrap_whatever_handler_the_processing_mode_runs(bulk):
    calls = []

    def save(job):
        calls.append(job.arguments["product"]["sku"])
        return {"id": len(calls)}

    bulk.service.processing.register("POST /V1/products", save)
    bulk.faults.fail(entity={"sku": "B"})
    bulk_uuid = submit(bulk, products("A", "B", "C"))
    assert bulk.wait_for(bulk_uuid) == [1, 3, 1]
    # A failing rule answers instead of the handler; the others reach it.
    assert calls == ["A", "C"]
    assert [op.result for op in bulk.operations(bulk_uuid=bulk_uuid)] == [{"id": 1}, None, {"id": 2}]


def test_rules_are_checked_when_made():
    with pytest.raises(ValueError, match="kind must be one of"):
        Fault("flaky")
    with pytest.raises(ValueError, match="a slow fault needs a delay"):
        Fault("slow")
    with pytest.raises(ValueError, match="nth must be 1 or more"):
        Fault("permanent", nth=0)
    with pytest.raises(ValueError, match="delay must be between 0 and 300"):
        Fault("permanent", delay=301)
    # error_code is a 32-bit column on both engines: a larger code would fail when the outcome is recorded.
    with pytest.raises(ValueError, match="code must be between -2147483648 and 2147483647"):
        Fault("permanent", code=2**31)


def _wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_a_slow_operation_is_open_until_released_over_http(bulk_server):
    slow = bulk_server.faults.slow(300, entity={"sku": "SLOW"})
    auth = bulk_server.headers
    response = requests.post(bulk_server.url("/rest/async/bulk/V1/products"), json=products("SLOW"),
                             headers=auth, timeout=10)
    bulk_uuid = response.json()["bulk_uuid"]
    _wait_until(lambda: slow.hits == 1)  # the drainer thread holds it now
    open_count = requests.get(bulk_server.url(f"/rest/V1/bulk/{bulk_uuid}/operation-status/4"),
                              headers=auth, timeout=10)
    assert open_count.json() == 1
    assert requests.post(bulk_server.url("/rest/V1/testing/faults/release"), headers=auth, timeout=10).json() is True
    assert bulk_server.wait_for(bulk_uuid) == [1]


def test_slow_then_failing_rule_added_over_http(bulk_server):
    auth = bulk_server.headers
    rule = requests.post(bulk_server.url("/rest/V1/testing/faults"), headers=auth, timeout=10, json={
        "kind": "retriable", "delay": 300, "entity": {"sku": "A"}, "message": "timed out", "code": 504})
    assert rule.status_code == 200, rule.text
    response = requests.post(bulk_server.url("/rest/async/bulk/V1/products"), json=products("A"),
                             headers=auth, timeout=10)
    bulk_uuid = response.json()["bulk_uuid"]
    _wait_until(lambda: bulk_server.faults.faults()[0].hits == 1)
    assert requests.delete(bulk_server.url("/rest/V1/testing/faults"), headers=auth, timeout=10).json() is True
    waited = requests.post(bulk_server.url(f"/rest/V1/testing/bulk/{bulk_uuid}/wait"), headers=auth,
                           json={"timeout": 30}, timeout=40).json()
    assert waited == {"bulk_uuid": bulk_uuid, "done": True, "statuses": [2]}
    status = requests.get(bulk_server.url(f"/rest/V1/bulk/{bulk_uuid}/status"), headers=auth, timeout=10).json()
    assert (status["operations_list"][0]["result_message"], status["operations_list"][0]["error_code"]) == \
        ("timed out", 504)


def test_rules_over_http_add_list_and_remove(bulk):
    added = bulk.client.post("/rest/V1/testing/faults", headers=bulk.headers,
                             json={"kind": "permanent", "entity": {"sku": "B"}, "nth": 1, "message": "m"})
    assert added.status_code == 200
    assert added.get_json() == {
        "kind": "permanent", "message": "m", "parameters": None, "code": 0, "delay": 0.0, "topic": None,
        "route": None, "entity": {"sku": "B"}, "bulk_uuid": None, "operation": None, "nth": 1,
        "times": None, "id": 1, "matched": 0, "hits": 0}
    assert bulk.wait_for(submit(bulk, products("A", "B", "B"))) == [1, 3, 1]
    listed = bulk.client.get("/rest/V1/testing/faults", headers=bulk.headers).get_json()
    assert [(rule["id"], rule["matched"], rule["hits"]) for rule in listed] == [(1, 2, 1)]
    assert bulk.client.delete("/rest/V1/testing/faults", headers=bulk.headers).get_json() is True
    assert bulk.client.get("/rest/V1/testing/faults", headers=bulk.headers).get_json() == []


@pytest.mark.parametrize("body, reason", [
    ({"kind": "flaky"}, "kind: Must be one of: retriable, permanent, slow."),
    ({}, "kind: Missing data for required field."),
    ({"kind": "slow"}, "a slow fault needs a delay (seconds)"),
    ({"kind": "slow", "delay": 301}, "delay: Must be greater than or equal to 0 and less than or equal to 300.0."),
    ({"kind": "permanent", "nth": 0}, "nth: Must be greater than or equal to 1."),
    ({"kind": "permanent", "sku": "A"}, "sku: Unknown field."),
    ({"kind": "permanent", "entity": ["sku"]}, "entity: Not a valid mapping type."),
    ({"kind": "permanent", "code": "5"}, "code: Not a valid integer."),
    ({"kind": "permanent", "code": 2**31},
     "code: Must be greater than or equal to -2147483648 and less than or equal to 2147483647."),
    ({"kind": "permanent", "code": -2**63},
     "code: Must be greater than or equal to -2147483648 and less than or equal to 2147483647."),
    ([{"kind": "permanent"}], "the body must be a JSON object"),
])
def test_invalid_rules_are_refused_in_magentos_error_shape(bulk, body, reason):
    response = bulk.client.post("/rest/V1/testing/faults", headers=bulk.headers, json=body)
    assert_magento_error(response, 400, "The fault is invalid: %reason", {"reason": reason})
    assert bulk.faults.faults() == []


def test_the_largest_code_a_rule_takes_is_recorded_on_both_engines(make_app):
    client = make_app(BULK_TESTING=True, BULK_PROCESSING="accept").test_client()
    auth = {"Authorization": "Bearer " + client.post(
        "/rest/V1/integration/admin/token", json={"username": "admin", "password": "admin123"}).get_json()}
    rule = client.post("/rest/V1/testing/faults", headers=auth, json={"kind": "permanent", "code": 2**31 - 1})
    assert rule.status_code == 200, rule.get_data(as_text=True)
    bulk_uuid = client.post("/rest/async/bulk/V1/products", headers=auth, json=products("A")).get_json()["bulk_uuid"]
    assert client.post("/rest/V1/testing/drain", headers=auth).status_code == 200
    [operation] = client.get(f"/rest/V1/bulk/{bulk_uuid}/status", headers=auth).get_json()["operations_list"]
    assert (operation["status"], operation["error_code"]) == (3, 2**31 - 1)
