"""Every built-in route, through HTTP: a valid item completes in `store` mode, an invalid one fails
the whole request with Magento's 400 text and stores nothing."""

from __future__ import annotations

import base64

import pytest

from bulk.models import Bulk
from bulk.routes.builtin import builtin_catalogue
from bulk.statuses import OperationStatus
from tests.live import PROJECT_ROOT
from tests.magento import assert_magento_error
from tests.store_client import operations, submit

REQUIRED = '"%fieldName" is required. Enter and try again.'
UNSUPPORTED = '"%fieldName" is not supported. Correct the field name and try again.'
INVALID = 'The "%value" value\'s type is invalid. The "%type" type was expected. Verify and try again.'
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()
CUSTOMER = {"email": "table@example.com", "firstname": "Table", "lastname": "Walker"}

# (route key, valid item, invalid item, message, parameters), in an order where each valid item
# finds what it needs (the product t-1, category 3, customer 1) and the deletes come last.
ROUTES = [
    ("POST /V1/products", {"product": {"sku": "t-1", "name": "T", "price": 5}},
     {"product": {"sku": "x", "colour": "red"}}, UNSUPPORTED, {"fieldName": "colour"}),
    ("PUT /V1/products/:sku", {"sku": "t-1", "product": {"price": 6}},
     {"product": {"price": "cheap"}}, INVALID, {"value": "cheap", "type": "float"}),
    ("POST /V1/products/options", {"option": {"product_sku": "t-1", "title": "Engraving", "type": "field"}},
     {}, REQUIRED, {"fieldName": "option"}),
    ("PUT /V1/products/options/:optionId", {"optionId": 1, "option": {"product_sku": "t-1", "title": "Gift"}},
     {"option": {"values": {}}}, INVALID,
     {"value": "{}", "type": "\\Magento\\Catalog\\Api\\Data\\ProductCustomOptionValuesInterface[]"}),
    ("POST /V1/categories", {"category": {"name": "Bags", "parent_id": 2, "is_active": True}},
     {"category": {"name": "Bags", "is_active": "maybe"}}, INVALID, {"value": "maybe", "type": "bool"}),
    ("PUT /V1/categories/:id", {"id": 3, "category": {"name": "Bags and more"}},
     {"id": 3, "category": {"available_sort_by": "name"}}, INVALID, {"value": "name", "type": "string[]"}),
    ("POST /V1/categories/:categoryId/products",
     {"categoryId": 3, "productLink": {"sku": "t-1", "position": 1, "category_id": "3"}},
     {"productLink": {"sku": "t-1", "position": "first"}}, INVALID, {"value": "first", "type": "int"}),
    ("DELETE /V1/categories/:categoryId/products/:sku", {"categoryId": 3, "sku": "t-1"},
     {"sku": "t-1"}, REQUIRED, {"fieldName": "categoryId"}),
    ("POST /V1/customers", {"customer": CUSTOMER, "password": "Passw0rd!"},
     {"customer": {**CUSTOMER, "nickname": "tw"}}, UNSUPPORTED, {"fieldName": "nickname"}),
    ("PUT /V1/customers/:customerId", {"customerId": 1, "customer": {"firstname": "Tabitha"}},
     {"customerId": 1}, REQUIRED, {"fieldName": "customer"}),
    ("POST /V1/carts/:quoteId/items", {"cartItem": {"sku": "t-1", "qty": 1, "quote_id": "5"}},
     {"cartItem": {"qty": "lots"}}, INVALID, {"value": "lots", "type": "float"}),
    ("POST /V1/products/base-prices", {"prices": [{"sku": "t-1", "price": 9, "store_id": 0}]},
     {"prices": {"sku": "t-1"}}, INVALID,
     {"value": '{"sku":"t-1"}', "type": "\\Magento\\Catalog\\Api\\Data\\BasePriceInterface[]"}),
    ("POST /V1/products/special-price",
     {"prices": [{"sku": "t-1", "price": 7, "store_id": 0, "price_from": "2026-01-01 00:00:00",
                  "price_to": "2026-12-31 00:00:00"}]},
     {"prices": [{"sku": "t-1", "discount": 5}]}, UNSUPPORTED, {"fieldName": "discount"}),
    ("POST /V1/products/tier-prices",
     {"prices": [{"sku": "t-1", "price": 8, "price_type": "fixed", "website_id": 0,
                  "customer_group": "ALL GROUPS", "quantity": 2}]},
     {}, REQUIRED, {"fieldName": "prices"}),
    ("POST /V1/products/cost", {"prices": [{"sku": "t-1", "cost": 3, "store_id": 0}]},
     {"prices": [{"sku": "t-1", "cost": "free"}]}, INVALID, {"value": "free", "type": "float"}),
    ("POST /V1/products/:sku/media",
     {"sku": "t-1", "entry": {"media_type": "image", "label": "Front", "position": 1, "disabled": False,
                              "types": ["image"], "content": {"base64_encoded_data": PNG, "type": "image/png",
                                                              "name": "t1.png"}}},
     {"sku": "t-1"}, REQUIRED, {"fieldName": "entry"}),
    ("PUT /V1/products/:productSku/stockItems/:itemId",
     {"productSku": "t-1", "itemId": 1, "stockItem": {"qty": 10, "is_in_stock": True}},
     {"productSku": "t-1", "stockItem": {"qty": "many"}}, INVALID, {"value": "many", "type": "float"}),
    ("POST /V1/inventory/source-items",
     {"sourceItems": [{"sku": "t-1", "source_code": "default", "quantity": 10, "status": 1}]},
     {"sourceItems": [{"sku": "t-1", "qty": 1}]}, UNSUPPORTED, {"fieldName": "qty"}),
    ("POST /V1/configurable-products/:sku/options",
     {"sku": "t-conf", "option": {"attribute_id": "93", "label": "Color", "position": 0, "is_use_default": True,
                                  "values": [{"value_index": 5}]}},
     {"sku": "t-conf", "option": {"values": [{"value_index": "red"}]}}, INVALID, {"value": "red", "type": "int"}),
    ("POST /V1/products/attributes/:attributeCode/options",
     {"attributeCode": "color", "option": {"label": "Red", "sort_order": 1}},
     {"attributeCode": "color", "option": {"label": "Red", "store_labels": [{"store": 1}]}},
     UNSUPPORTED, {"fieldName": "store"}),
    ("POST /V1/orders", {"entity": {"customer_email": "table@example.com", "grand_total": 12.5}},
     {"entity": {"entity_id": 1, "shipping_method_code": "flatrate"}}, UNSUPPORTED,
     {"fieldName": "shipping_method_code"}),
    ("DELETE /V1/cmsPage/:pageId", {"pageId": 1}, {"pageId": "home"}, INVALID, {"value": "home", "type": "int"}),
    ("DELETE /V1/cmsBlock/:blockId", {"blockId": 1}, {}, REQUIRED, {"fieldName": "blockId"}),
    ("DELETE /V1/products/:sku/options/:optionId", {"sku": "t-1", "optionId": 1},
     {"sku": "t-1", "optionId": "one"}, INVALID, {"value": "one", "type": "int"}),
    ("DELETE /V1/categories/:categoryId", {"categoryId": 3}, {}, REQUIRED, {"fieldName": "categoryId"}),
    ("DELETE /V1/customers/:customerId", {"customerId": 1}, {"customerId": "first"}, INVALID,
     {"value": "first", "type": "int"}),
    ("DELETE /V1/products/:sku", {"sku": "t-1"}, {}, REQUIRED, {"fieldName": "sku"}),
]


def test_the_table_covers_every_builtin_route():
    assert [row[0] for row in ROUTES] and {row[0] for row in ROUTES} == {route.key for route in builtin_catalogue()}
    assert len(ROUTES) == len(builtin_catalogue())


def test_every_builtin_route_is_in_the_readme_api_table():
    readme = (PROJECT_ROOT / "README.md").read_text()
    rows = [f"| `{route.key}` | `{route.method} /async/bulk{route.bulk_path}` |" for route in builtin_catalogue()]
    assert [row for row in rows if row not in readme] == []


def test_every_valid_item_completes_against_the_store(client, auth, service):
    configurable = {"product": {"sku": "t-conf", "name": "Configurable", "type_id": "configurable"}}
    assert client.post("/rest/V1/products", json=configurable, headers=auth).status_code == 200
    for key, valid, *_ in ROUTES:
        route = service.catalogue.get(key)
        bulk_uuid = submit(client, auth, route.method, route.bulk_path, [valid])
        assert service.drainer.drain() == 1
        [operation] = operations(client, auth, bulk_uuid)
        assert (operation["status"], operation["result_message"]) == \
            (OperationStatus.COMPLETE, f"Service execution success {route.concrete_class}::{route.service_method}"), key


@pytest.mark.parametrize("key, valid, invalid, message, parameters", ROUTES, ids=[row[0] for row in ROUTES])
def test_an_invalid_item_fails_the_whole_request(client, auth, service, key, valid, invalid, message, parameters):
    route = service.catalogue.get(key)
    response = client.open(f"/rest/async/bulk{route.bulk_path}", method=route.method, json=[valid, invalid],
                           headers=auth)
    assert_magento_error(response, 400, message, parameters)
    assert Bulk.select().count() == 0
