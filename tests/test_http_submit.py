"""Submitting async and bulk requests through Flask's client, on every URL layout."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from bulk.models import Bulk, Operation
from tests.magento import assert_magento_error, bearer

PRODUCTS = [{"product": {"sku": "24-MB01", "name": "Joust Duffle Bag", "price": 34}},
            {"product": {"sku": "24-MB04", "name": "Strive Shoulder Pack", "price": 32}}]
PRODUCT_TOPIC = "async.magento.catalog.api.productrepositoryinterface.save.post"


def envelope(operation: Operation) -> dict:
    return json.loads(operation.serialized_data)


def meta(operation: Operation) -> dict:
    return json.loads(envelope(operation)["meta_information"])


def operations() -> list[Operation]:
    return list(Operation.select().order_by(Operation.id))


def test_bulk_post_answers_202_with_magentos_shape(client, auth, service):
    response = client.post("/rest/default/async/bulk/V1/products", json=PRODUCTS, headers=auth)
    assert response.status_code == 202
    body = response.get_json()
    assert list(body) == ["bulk_uuid", "request_items", "errors"]
    assert body["errors"] is False
    assert [item["id"] for item in body["request_items"]] == [0, 1]
    assert {item["status"] for item in body["request_items"]} == {"accepted"}
    assert all(list(item) == ["id", "data_hash", "status"] for item in body["request_items"])
    bulk = Bulk.get(Bulk.uuid == body["bulk_uuid"])
    assert (bulk.user_type, bulk.user_id, bulk.operation_count) == (2, 1, 2)
    assert bulk.description == f"Topic {PRODUCT_TOPIC}"
    stored = operations()
    assert [(op.operation_key, op.status, op.topic_name) for op in stored] == \
        [(0, 4, PRODUCT_TOPIC), (1, 4, PRODUCT_TOPIC)]
    assert meta(stored[1]) == PRODUCTS[1]


def test_data_hash_is_hmac_sha256_of_the_stored_serialized_data(client, auth, service):
    body = client.post("/rest/async/bulk/V1/products", json=PRODUCTS, headers=auth).get_json()
    for item, operation in zip(body["request_items"], operations(), strict=True):
        expected = hmac.new(service.settings.secret, operation.serialized_data.encode(),
                            hashlib.sha256).hexdigest()
        assert item["data_hash"] == expected


def test_serialized_data_is_magentos_envelope_in_php_json(client, auth, service):
    item = {"product": {"sku": "a/b", "name": "Café"}}
    client.post("/rest/async/bulk/V1/products", data=json.dumps([item]), headers=auth,
                content_type="application/json")
    [operation] = operations()
    assert operation.serialized_data == (
        '{"entity_id":null,"entity_link":"","meta_information":'
        '"{\\"product\\":{\\"sku\\":\\"a\\\\\\/b\\",\\"name\\":\\"Caf\\\\u00e9\\"}}","store_id":"1"}')
    assert meta(operation) == item


@pytest.mark.parametrize("prefix, store_id", [
    ("/rest", 1), ("/rest/default", 1), ("/rest/all", 0), ("/rest/fr", 2), ("", 1), ("/default", 1),
])
def test_every_url_layout_reaches_the_bulk_route(make_app, prefix, store_id):
    client = make_app(BULK_STORES="default:1,fr:2").test_client()
    token = client.post("/rest/V1/integration/admin/token",
                        json={"username": "admin", "password": "admin123"}).get_json()
    response = client.post(f"{prefix}/async/bulk/V1/products", json=PRODUCTS, headers=bearer(token))
    assert response.status_code == 202, response.get_data(as_text=True)
    assert {envelope(op)["store_id"] for op in operations()} == {str(store_id)}


def test_unknown_store_code_matches_no_processor(client, auth):
    response = client.post("/rest/nosuch/async/bulk/V1/products", json=PRODUCTS, headers=auth)
    assert_magento_error(response, 400, "Specified request cannot be processed.")


def test_trailing_and_double_slashes_never_redirect(client, auth):
    response = client.post("/rest/V1/async/bulk/V1/products/", json=PRODUCTS, headers=auth)
    assert response.status_code != 308
    response = client.post("/rest/async/bulk/V1/products/", json=PRODUCTS, headers=auth)
    assert response.status_code == 202
    response = client.post("/rest//async/bulk/V1/products", json=PRODUCTS, headers=auth)
    assert response.status_code in (400, 404)


def test_put_by_sku_accepts_items_as_real_clients_send_them(client, auth, service):
    items = [{"product": {"sku": "24-MB01", "price": 30}}, {"sku": "24-MB04", "product": {"price": 31}}]
    response = client.put("/rest/all/async/bulk/V1/products/bySku", json=items, headers=auth)
    assert response.status_code == 202
    assert {op.topic_name for op in operations()} == \
        {"async.magento.catalog.api.productrepositoryinterface.save.put"}
    assert meta(operations()[1]) == items[1]


def test_delete_with_a_json_array_body(client, auth):
    items = [{"categoryId": 3, "sku": "A"}, {"category_id": 4, "sku": "B"}]
    response = client.delete("/rest/V1/async/bulk/V1/categories/byCategoryId/products/bySku",
                             json=items, headers=auth)
    assert response.status_code in (400, 404)  # /rest/V1/async is not a layout; the real one follows
    response = client.delete("/rest/async/bulk/V1/categories/byCategoryId/products/bySku",
                             json=items, headers=auth)
    assert response.status_code == 202
    assert [op.topic_name for op in operations()] == \
        ["async.magento.catalog.api.categorylinkrepositoryinterface.deletebyids.delete"] * 2


def test_bulk_path_values_are_required_when_they_are_method_arguments(client, auth):
    response = client.delete("/rest/async/bulk/V1/products/bySku", json=[{"product": {}}], headers=auth)
    assert_magento_error(response, 400, '"%fieldName" is required. Enter and try again.', {"fieldName": "sku"})
    assert operations() == []


def test_single_async_takes_values_from_the_url(client, auth):
    response = client.put("/rest/default/async/V1/products/24-MB01",
                          json={"product": {"sku": "ignored", "price": 20}}, headers=auth)
    assert response.status_code == 202
    body = response.get_json()
    assert [item["id"] for item in body["request_items"]] == [0]
    [operation] = operations()
    # The URL value lands at the top level and overrides the entity's own id field (PUT).
    assert meta(operation) == {"product": {"sku": "24-MB01", "price": 20}, "sku": "24-MB01"}
    assert operation.topic_name == "async.magento.catalog.api.productrepositoryinterface.save.put"


def test_single_async_delete(client, auth):
    response = client.delete("/rest/async/V1/products/24-MB01/options/7", headers=auth)
    assert response.status_code == 202
    assert meta(operations()[0]) == {"sku": "24-MB01", "optionId": "7"}


def test_route_customisation_async_products(client, auth):
    response = client.post("/rest/default/asyncProducts", json={"product": {"sku": "x"}}, headers=auth)
    assert response.status_code == 202
    assert operations()[0].topic_name == PRODUCT_TOPIC


def test_scalar_items_are_skipped_and_the_rest_keep_their_index(client, auth):
    response = client.post("/rest/async/bulk/V1/products", json=[1, "x", None, PRODUCTS[0], True, PRODUCTS[1]],
                           headers=auth)
    assert response.status_code == 202
    body = response.get_json()
    assert [item["id"] for item in body["request_items"]] == [3, 5]
    assert [op.operation_key for op in operations()] == [3, 5]


def test_an_array_item_is_an_argument_map_for_php_too(client, auth):
    response = client.post("/rest/async/bulk/V1/products", json=[PRODUCTS[0], []], headers=auth)
    assert_magento_error(response, 400, '"%fieldName" is required. Enter and try again.',
                         {"fieldName": "product"})


@pytest.mark.parametrize("data", ["", "[]", "null", '"abc"', "[1, 2]"])
def test_empty_bulks_are_accepted_with_no_items(client, auth, data):
    response = client.post("/rest/async/bulk/V1/products", data=data, headers=auth,
                           content_type="application/json")
    assert response.status_code == 202
    body = response.get_json()
    assert (body["request_items"], body["errors"]) == ([], False)
    assert Bulk.get(Bulk.uuid == body["bulk_uuid"]).operation_count == 0


def test_an_object_body_is_read_as_items_keyed_by_property(client, auth):
    response = client.post("/rest/async/bulk/V1/products", json={"product": {"sku": "a"}}, headers=auth)
    assert_magento_error(response, 400, '"%fieldName" is required. Enter and try again.',
                         {"fieldName": "product"})


def test_first_invalid_item_fails_the_whole_request_and_stores_nothing(client, auth):
    items = [PRODUCTS[0], {"product": {"sku": "x", "wrong_attribute": 1}}, PRODUCTS[1]]
    response = client.post("/rest/async/bulk/V1/products", json=items, headers=auth)
    assert_magento_error(response, 400, '"%fieldName" is not supported. Correct the field name and try again.',
                         {"fieldName": "wrong_attribute"})
    assert Bulk.select().count() == 0
    assert operations() == []


def test_several_missing_arguments_give_magentos_aggregate_error(client, auth):
    response = client.delete("/rest/async/bulk/V1/products/bySku/options/byOptionId", json=[{}], headers=auth)
    body = assert_magento_error(response, 400, "One or more input exceptions have occurred.")
    assert body["errors"] == [
        {"message": '"%fieldName" is required. Enter and try again.', "parameters": {"fieldName": "sku"}},
        {"message": '"%fieldName" is required. Enter and try again.', "parameters": {"fieldName": "optionId"}},
    ]


def test_reject_item_mode_accepts_the_valid_items(make_app):
    client = make_app(BULK_INVALID_ITEMS="reject-item").test_client()
    token = client.post("/rest/V1/integration/admin/token",
                        json={"username": "admin", "password": "admin123"}).get_json()
    items = [PRODUCTS[0], {"product": {"price": "cheap"}}, PRODUCTS[1]]
    response = client.post("/rest/async/bulk/V1/products", json=items, headers=bearer(token))
    assert response.status_code == 202
    body = response.get_json()
    assert body["errors"] is True
    accepted, rejected, last = body["request_items"]
    assert rejected == {
        "id": 1, "data_hash": None, "status": "rejected", "error_code": 0,
        "error_message": 'The "cheap" value\'s type is invalid. The "float" type was expected. Verify and try again.'}
    assert list(rejected) == ["id", "data_hash", "status", "error_message", "error_code"]
    assert (accepted["status"], last["status"]) == ("accepted", "accepted")
    assert [op.operation_key for op in operations()] == [0, 2]
    assert Bulk.get(Bulk.uuid == body["bulk_uuid"]).operation_count == 2


def test_seed_response_shape(make_app):
    client = make_app(BULK_RESPONSE_SHAPE="seed").test_client()
    token = client.post("/rest/V1/integration/admin/token",
                        json={"username": "admin", "password": "admin123"}).get_json()
    body = client.post("/rest/async/bulk/V1/products", json=PRODUCTS, headers=bearer(token)).get_json()
    assert [item["id"] for item in body["request_items"]["items"]] == [0, 1]


def test_more_items_than_the_limit_are_refused(make_app):
    client = make_app(BULK_MAX_ITEMS="3").test_client()
    token = client.post("/rest/V1/integration/admin/token",
                        json={"username": "admin", "password": "admin123"}).get_json()
    response = client.post("/rest/async/bulk/V1/products", json=PRODUCTS * 2, headers=bearer(token))
    assert_magento_error(response, 400, 'Maximum items of type "%type" is %max',
                         {"type": "Magento\\Catalog\\Api\\ProductRepositoryInterface", "max": 3})
    assert client.post("/rest/async/bulk/V1/products", json=PRODUCTS, headers=bearer(token)).status_code == 202


def test_guests_may_create_customers_and_are_recorded_as_guests(client):
    customer = {"customer": {"email": "mshaw@example.com", "firstname": "Melanie", "lastname": "Shaw"},
                "password": "Password1"}
    response = client.post("/rest/async/V1/customers", json=customer)
    assert response.status_code == 202
    bulk = Bulk.get(Bulk.uuid == response.get_json()["bulk_uuid"])
    assert (bulk.user_type, bulk.user_id) == (4, None)
    assert bulk.description == "Topic async.magento.customer.api.accountmanagementinterface.createaccount.post"


def test_guests_may_not_choose_a_customer_group(client, auth):
    customer = {"customer": {"email": "a@example.com", "firstname": "A", "lastname": "B", "group_id": 3}}
    response = client.post("/rest/async/bulk/V1/customers", json=[customer])
    assert_magento_error(response, 401, "The consumer isn't authorized to access %resources.",
                         {"resources": "Magento_Customer::manage"})
    assert Bulk.select().count() == 0
    assert client.post("/rest/async/bulk/V1/customers", json=[customer], headers=auth).status_code == 202


def test_guests_need_a_token_for_protected_routes(client):
    response = client.post("/rest/async/bulk/V1/products", json=PRODUCTS)
    assert_magento_error(response, 401, "The consumer isn't authorized to access %resources.",
                         {"resources": "Magento_Catalog::products"})
