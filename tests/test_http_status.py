"""Status endpoints and operation search, read back through HTTP after real draining."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from bulk.handlers import PermanentError, RetriableError
from tests.magento import assert_magento_error

SAVE_MESSAGE = "Service execution success Magento\\Catalog\\Model\\ProductRepository\\Interceptor::save"
BULK_RESOURCE = "Magento_AsynchronousOperations::system_magento_logging_bulk_operations"


def submit(client, auth, skus, url="/rest/async/bulk/V1/products", method="POST"):
    response = client.open(url, method=method, json=[{"product": {"sku": sku}} for sku in skus], headers=auth)
    assert response.status_code == 202
    return response.get_json()["bulk_uuid"]


def drain_with(service, handler):
    """Drain every open operation now, with `handler` for every route."""
    def replace(route, original):
        return handler

    service.processing.add_wrapper(replace)
    try:
        return service.drainer.drain()
    finally:
        service.processing.remove_wrapper(replace)


def outcome_by_sku(job):
    sku = job.arguments["product"]["sku"]
    if sku.startswith("retry"):
        raise RetriableError("Lock wait timeout exceeded", code=1205)
    if sku.startswith("bad"):
        raise PermanentError('The "sku" attribute value is empty. Set the attribute and try again.')
    return {"sku": sku}


def test_short_status_of_an_open_bulk(client, auth, service, clock):
    bulk_uuid = submit(client, auth, ["a", "b"])
    response = client.get(f"/rest/V1/bulk/{bulk_uuid}/status", headers=auth)
    assert response.status_code == 200
    body = response.get_json()
    # Magento's keys, plus our bulk summary inside `extension_attributes` (Magento's place for additions).
    assert list(body) == ["bulk_id", "description", "extension_attributes", "operation_count", "operations_list",
                          "start_time", "user_id", "user_type"]
    assert body["bulk_id"] == bulk_uuid
    assert body["operation_count"] == 2
    assert body["start_time"] == "2023-11-14 22:13:20"
    assert (body["user_id"], body["user_type"]) == (1, 2)
    assert body["operations_list"] == [
        {"error_code": None, "id": 0, "result_message": None, "status": 4},
        {"error_code": None, "id": 1, "result_message": None, "status": 4}]


def test_detailed_status_after_draining(client, auth, service):
    bulk_uuid = submit(client, auth, ["good", "bad", "retry"])
    assert drain_with(service, outcome_by_sku) == 3
    body = client.get(f"/rest/default/V1/bulk/{bulk_uuid}/detailed-status", headers=auth).get_json()
    good, bad, retry = body["operations_list"]
    assert good == {"bulk_uuid": bulk_uuid, "error_code": None, "id": 0, "result_message": SAVE_MESSAGE,
                    "result_serialized_data": '{"sku":"good"}', "serialized_data": None, "status": 1,
                    "topic_name": "async.magento.catalog.api.productrepositoryinterface.save.post"}
    assert (bad["status"], bad["error_code"], bad["result_serialized_data"]) == (3, 0, None)
    assert bad["result_message"] == 'The "sku" attribute value is empty. Set the attribute and try again.'
    assert json.loads(json.loads(bad["serialized_data"])["meta_information"]) == {"product": {"sku": "bad"}}
    assert (retry["status"], retry["error_code"]) == (2, 1205)


def test_unknown_bulk(client, auth):
    for suffix in ("status", "detailed-status"):
        response = client.get(f"/rest/V1/bulk/does-not-exist/{suffix}", headers=auth)
        assert_magento_error(response, 404, "Bulk uuid %bulkUuid not exist", {"bulkUuid": "does-not-exist"})


def test_operation_status_counts_are_bare_integers(client, auth, service):
    bulk_uuid = submit(client, auth, ["good", "bad", "retry", "good2"])
    drain_with(service, outcome_by_sku)
    counts = {status: client.get(f"/rest/V1/bulk/{bulk_uuid}/operation-status/{status}", headers=auth)
              for status in range(1, 6)}
    assert {status: r.get_data(as_text=True) for status, r in counts.items()} == \
        {1: "2", 2: "1", 3: "1", 4: "0", 5: "0"}
    assert client.get("/rest/V1/bulk/nope/operation-status/4", headers=auth).get_json() == 0


def test_operation_status_needs_an_integer(client, auth):
    response = client.get("/rest/V1/bulk/x/operation-status/open", headers=auth)
    assert_magento_error(response, 400,
                         'The "%value" value\'s type is invalid. The "%type" type was expected. Verify and try again.',
                         {"value": "open", "type": "int"})


def test_status_needs_a_token(client):
    for url in ("/rest/V1/bulk/x/status", "/rest/V1/bulk/x/detailed-status", "/rest/V1/bulk/x/operation-status/1",
                "/rest/V1/bulk?searchCriteria"):
        assert_magento_error(client.get(url), 401, "The consumer isn't authorized to access %resources.",
                             {"resources": BULK_RESOURCE})


def test_reads_with_store_code_all_are_served(client, auth):
    """Magento 2.4 serves GET /rest/all/V1/... (PyMagento's default scope is `all`)."""
    bulk_uuid = submit(client, auth, ["A", "B"])
    for path in (f"/V1/bulk/{bulk_uuid}/status", f"/V1/bulk/{bulk_uuid}/detailed-status"):
        scoped, unscoped = client.get("/rest/all" + path, headers=auth), client.get("/rest" + path, headers=auth)
        assert scoped.status_code == 200
        assert scoped.get_json() == unscoped.get_json()
    assert client.get(f"/rest/all/V1/bulk/{bulk_uuid}/operation-status/4", headers=auth).get_json() == 2
    found = client.get(f"/rest/all/V1/bulk?searchCriteria[filter_groups][0][filters][0][field]=bulk_uuid"
                       f"&searchCriteria[filter_groups][0][filters][0][value]={bulk_uuid}", headers=auth)
    assert found.get_json()["total_count"] == 2
    assert_magento_error(client.get("/rest/all/V1/bulk/nope/status", headers=auth), 404,
                         "Bulk uuid %bulkUuid not exist", {"bulkUuid": "nope"})


def search(client, auth, **criteria):
    pairs = []
    for group, filters in enumerate(criteria.get("groups", [])):
        for index, (field, value, condition) in enumerate(filters):
            prefix = f"searchCriteria[filter_groups][{group}][filters][{index}]"
            pairs += [(f"{prefix}[field]", field), (f"{prefix}[value]", value)]
            if condition:
                pairs.append((f"{prefix}[condition_type]", condition))
    for index, (field, direction) in enumerate(criteria.get("sort", [])):
        pairs += [(f"searchCriteria[sortOrders][{index}][field]", field),
                  (f"searchCriteria[sortOrders][{index}][direction]", direction)]
    for key in ("pageSize", "currentPage"):
        if key in criteria:
            pairs.append((f"searchCriteria[{key}]", str(criteria[key])))
    if not pairs:
        pairs.append(("searchCriteria", ""))
    response = client.get("/rest/V1/bulk?" + urlencode(pairs), headers=auth)
    return response


@pytest.fixture
def two_bulks(client, auth, service, clock):
    first = submit(client, auth, ["good", "bad"])
    clock.advance(3600)
    second = submit(client, auth, ["retry", "good2", "good3"], url="/rest/async/bulk/V1/products/bySku", method="PUT")
    drain_with(service, outcome_by_sku)
    return first, second


def test_search_by_status(client, auth, two_bulks):
    body = search(client, auth, groups=[[("status", "1", "eq")]]).get_json()
    assert body["total_count"] == 3
    assert [(item["bulk_uuid"], item["id"]) for item in body["items"]] == \
        [(two_bulks[0], 0), (two_bulks[1], 1), (two_bulks[1], 2)]
    item = body["items"][0]
    assert list(item) == ["extension_attributes", "id", "bulk_uuid", "topic_name", "serialized_data",
                          "result_serialized_data", "status", "result_message", "error_code"]
    assert item["extension_attributes"] == {"start_time": "2023-11-14 22:13:20"}
    assert body["search_criteria"] == {"filter_groups": [{"filters": [
        {"field": "status", "value": "1", "condition_type": "eq"}]}]}


def test_filters_in_a_group_are_alternatives_and_groups_all_apply(client, auth, two_bulks):
    body = search(client, auth, groups=[[("status", "2", "eq"), ("status", "3", "eq")],
                                        [("bulk_uuid", two_bulks[1], "eq")]]).get_json()
    assert [(item["status"], item["id"]) for item in body["items"]] == [(2, 0)]


@pytest.mark.parametrize("filters, expected_total", [
    ([("status", "2", "gteq")], 2),
    ([("status", "2", "gt")], 1),
    ([("status", "1", "neq")], 2),
    ([("status", "2", "lt")], 3),
    ([("status", "1", "lteq")], 3),
    ([("status", "2,3", "in")], 2),
    ([("status", "2,3", "nin")], 3),
    ([("topic_name", "%.PUT", "like")], 3),
    ([("topic_name", "%.put", "nlike")], 2),
    ([("start_time", "2023-11-14 23:00:00", "gt")], 3),
    ([("start_time", "2023-11-14 22:13:20", "eq")], 2),
    ([("status", "", "notnull")], 5),
])
def test_condition_types(client, auth, two_bulks, filters, expected_total):
    body = search(client, auth, groups=[filters]).get_json()
    assert body["total_count"] == expected_total, body


def test_paging_and_sorting(client, auth, two_bulks):
    pages = [search(client, auth, sort=[("status", "DESC")], pageSize=2, currentPage=page).get_json()
             for page in (1, 2, 3, 4)]
    assert [page["total_count"] for page in pages] == [5, 5, 5, 5]
    statuses = [item["status"] for page in pages for item in page["items"]]
    assert statuses == [3, 2, 1, 1, 1]
    assert pages[3]["items"] == []
    assert pages[0]["search_criteria"] == {"filter_groups": [], "sort_orders": [{"field": "status", "direction": "DESC"}],
                                           "page_size": 2, "current_page": 1}


def test_search_without_criteria_is_refused(client, auth):
    response = client.get("/rest/V1/bulk", headers=auth)
    assert_magento_error(response, 400, '"%fieldName" is required. Enter and try again.',
                         {"fieldName": "searchCriteria"})


def test_search_with_empty_criteria_lists_everything(client, auth, two_bulks):
    assert search(client, auth).get_json()["total_count"] == 5


@pytest.mark.parametrize("criteria, status, message", [
    ({"groups": [[("password", "x", "eq")]]}, 400,
     '"%fieldName" is not supported. Correct the field name and try again.'),
    ({"groups": [[("status", "1", "regexp")]]}, 400,
     'Condition type "%conditionType" is not supported. Use one of: %supported.'),
    ({"groups": [[("status", "one", "eq")]]}, 400,
     'The "%value" value\'s type is invalid. The "%type" type was expected. Verify and try again.'),
    ({"sort": [("status", "UP")]}, 400, 'Sort direction "%direction" is not supported. Use ASC or DESC.'),
    ({"pageSize": "x"}, 400,
     'The "%value" value\'s type is invalid. The "%type" type was expected. Verify and try again.'),
    ({"pageSize": 0}, 400, 'The "%fieldName" value must be 1 or greater.'),
])
def test_bad_search_criteria(client, auth, criteria, status, message):
    response = search(client, auth, **criteria)
    assert response.status_code == status
    assert response.get_json()["message"] == message
