"""Synchronous writes and reads on the store, mixed with async calls, through HTTP."""

from __future__ import annotations

import json

from bulk.models import Bulk
from tests.magento import assert_magento_error, bearer
from tests.store_client import operations, submit

NOT_FOUND = "The product that was requested doesn't exist. Verify the product and try again."
NO_ROUTE = "Request does not match any route."


def test_sync_and_async_calls_agree(client, auth, service):
    created = client.post("/rest/default/V1/products", json={"product": {"sku": "MIX-1", "name": "Mixed", "price": 5}},
                          headers=auth)
    assert created.status_code == 200
    assert created.get_json() == client.get("/rest/V1/products/MIX-1", headers=auth).get_json()
    bulk_uuid = submit(client, auth, "PUT", "/V1/products/bySku", [{"sku": "MIX-1", "product": {"price": 6}}])
    service.drainer.drain()
    after_async = client.get("/rest/V1/products/MIX-1", headers=auth).get_json()
    assert after_async["price"] == 6
    assert json.loads(operations(client, auth, bulk_uuid)[0]["result_serialized_data"]) == after_async
    # The sync PUT takes the SKU from the URL, as Magento does.
    updated = client.put("/rest/V1/products/MIX-1", json={"product": {"sku": "ignored", "name": "Renamed"}},
                         headers=auth).get_json()
    assert (updated["sku"], updated["name"], updated["price"]) == ("MIX-1", "Renamed", 6)
    assert client.delete("/rest/V1/products/MIX-1", headers=auth).get_json() is True
    assert Bulk.select().count() == 1  # sync calls store no bulk


def test_sync_errors_follow_magentos_mapping(client, auth):
    assert_magento_error(client.delete("/rest/V1/products/NOPE", headers=auth), 404, NOT_FOUND)
    assert_magento_error(client.post("/rest/V1/products", json={"product": {"sku": ""}}, headers=auth), 400,
                         'The "%1" attribute value is empty. Set the attribute and try again.', ["sku"])
    assert_magento_error(client.post("/rest/V1/products", json={"product": {"sku": "A", "colour": "red"}},
                                     headers=auth), 400,
                         '"%fieldName" is not supported. Correct the field name and try again.',
                         {"fieldName": "colour"})
    body = assert_magento_error(client.post("/rest/V1/inventory/source-items", json={"sourceItems": [{"quantity": 1}]},
                                            headers=auth), 400, "Validation Failed")
    assert body["errors"] == [{"message": '"%field" can not be empty.', "parameters": {"field": "sku"}},
                              {"message": '"%field" can not be empty.', "parameters": {"field": "source_code"}}]
    customer = {"customer": {"email": "a@example.com", "firstname": "A", "lastname": "B"}, "password": "Passw0rd!"}
    assert client.post("/rest/V1/customers", json=customer).status_code == 200
    assert_magento_error(client.post("/rest/V1/customers", json=customer), 400,
                         "A customer with the same email address already exists in an associated website.")


def test_sync_writes_check_the_acl_and_void_methods_answer_an_empty_list(client, auth):
    assert_magento_error(client.post("/rest/V1/products", json={"product": {"sku": "A"}}), 401,
                         "The consumer isn't authorized to access %resources.",
                         {"resources": "Magento_Catalog::products"})
    items = {"sourceItems": [{"sku": "A", "source_code": "default", "quantity": 1, "status": 1}]}
    response = client.post("/rest/V1/inventory/source-items", json=items, headers=auth)
    assert (response.status_code, response.get_json()) == (200, [])


def test_reads_apply_store_codes_like_magento(client, auth):
    assert_magento_error(client.get("/rest/all/V1/products/A", headers=auth), 404,
                         "The product that was requested doesn't exist. Verify the product and try again.")
    assert client.post("/rest/all/V1/products", json={"product": {"sku": "A", "name": "Admin name"}},
                       headers=auth).status_code == 200
    assert client.put("/rest/default/V1/products/A", json={"product": {"name": "Store name"}},
                      headers=auth).status_code == 200
    assert client.get("/rest/default/V1/products/A", headers=auth).get_json()["name"] == "Store name"
    # `all` reads in the admin store (id 0): the admin values, not the store view's.
    assert client.get("/rest/all/V1/products/A", headers=auth).get_json()["name"] == "Admin name"
    searched = client.get("/rest/all/V1/products?searchCriteria[pageSize]=5", headers=auth).get_json()
    assert [item["name"] for item in searched["items"]] == ["Admin name"]
    assert_magento_error(client.get("/rest/V1/products", headers=auth), 400,
                         '"%fieldName" is required. Enter and try again.', {"fieldName": "searchCriteria"})


def test_routes_the_store_does_not_run_have_no_sync_form(client, auth):
    assert_magento_error(client.delete("/rest/V1/cmsPage/1", headers=auth), 404, NO_ROUTE)
    assert_magento_error(client.post("/rest/V1/nothing/here", json={}, headers=auth), 404, NO_ROUTE)


def test_accept_mode_answers_reads_but_runs_no_sync_writes(make_app):
    client = make_app(BULK_PROCESSING="accept").test_client()
    auth = bearer(client.post("/rest/V1/integration/admin/token",
                              json={"username": "admin", "password": "admin123"}).get_json())
    assert_magento_error(client.post("/rest/V1/products", json={"product": {"sku": "A"}}, headers=auth), 404, NO_ROUTE)
    assert_magento_error(client.get("/rest/V1/products/A", headers=auth), 404, NOT_FOUND)


def test_the_test_controls_reset_empties_the_store(make_app):
    client = make_app(BULK_TESTING="1").test_client()
    auth = bearer(client.post("/rest/V1/integration/admin/token",
                              json={"username": "admin", "password": "admin123"}).get_json())
    customer = {"customer": {"email": "a@example.com", "firstname": "A", "lastname": "B"}}
    assert client.post("/rest/V1/customers", json=customer).status_code == 200
    assert client.post("/rest/V1/categories", json={"category": {"name": "Gear"}}, headers=auth).status_code == 200
    assert client.post("/rest/V1/testing/reset", headers=auth).get_json() is True
    assert client.get("/rest/V1/customers/search?searchCriteria", headers=auth).get_json()["total_count"] == 0
    assert client.post("/rest/V1/customers", json=customer).status_code == 200
    # The category tree starts again from Magento's two roots.
    assert client.get("/rest/V1/categories/2", headers=auth).get_json()["name"] == "Default Category"
    created = client.post("/rest/V1/categories", json={"category": {"name": "Gear"}}, headers=auth).get_json()
    assert created["path"] == f"1/2/{created['id']}" and created["id"] > 2
