"""Products in `store` mode, through HTTP: bulk create, drain, read back; rules, scope, prices, stock."""

from __future__ import annotations

import json
import time

import pytest

from bulk.statuses import OperationStatus
from tests.magento import assert_magento_error, bearer
from tests.store_client import criteria, operations, submit

PRODUCTS = [{"product": {"sku": f"24-MB0{i}", "name": name, "price": price, "type_id": "simple",
                         "custom_attributes": [{"attribute_code": "description", "value": f"{name}, a bag"}]}}
            for i, (name, price) in enumerate([("Joust Duffle Bag", 34), ("Strive Shoulder Pack", 32),
                                               ("Crown Summit Backpack", 38)], start=1)]
SKU_EMPTY = 'The "sku" attribute value is empty. Set the attribute and try again.'
NOT_FOUND = "The product that was requested doesn't exist. Verify the product and try again."


@pytest.fixture
def stores_app(make_app):
    return make_app(BULK_STORES="default:1,fr:2")


@pytest.fixture
def shop(stores_app):
    """A client, its admin headers and the service, on an app with two store views."""
    client = stores_app.test_client()
    token = client.post("/rest/V1/integration/admin/token",
                        json={"username": "admin", "password": "admin123"}).get_json()
    service = stores_app.extensions["bulk"]
    service.ensure_ready_without_worker()
    return client, bearer(token), service


def get_product(client, auth, sku, store="default"):
    response = client.get(f"/rest/{store}/V1/products/{sku}", headers=auth)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_bulk_created_products_read_back_by_sku_and_by_search(client, auth, service):
    bulk_uuid = submit(client, auth, "POST", "/V1/products", PRODUCTS)
    assert service.drainer.drain() == 3
    done = operations(client, auth, bulk_uuid)
    assert {op["status"] for op in done} == {OperationStatus.COMPLETE}
    for item, operation in zip(PRODUCTS, done, strict=True):
        product = get_product(client, auth, item["product"]["sku"])
        assert (product["sku"], product["name"], product["price"]) == \
            (item["product"]["sku"], item["product"]["name"], item["product"]["price"])
        assert (product["status"], product["visibility"], product["attribute_set_id"]) == (1, 4, 4)
        assert product["custom_attributes"] == item["product"]["custom_attributes"]
        # The operation's result is exactly what the sync endpoint answers.
        assert json.loads(operation["result_serialized_data"]) == product
    found = client.get("/rest/V1/products?" + criteria(("name", "%pack%", "like"), sort=("price", "DESC")),
                       headers=auth).get_json()
    assert [item["sku"] for item in found["items"]] == ["24-MB03", "24-MB02"]
    assert found["total_count"] == 2
    assert found["search_criteria"]["filter_groups"] == \
        [{"filters": [{"field": "name", "value": "%pack%", "condition_type": "like"}]}]
    page = client.get("/rest/V1/products?" + criteria(("price", "33", "gt"), ("description", "%bag", "like"),
                                                      page_size=1, current_page=2), headers=auth).get_json()
    assert ([item["sku"] for item in page["items"]], page["total_count"]) == (["24-MB03"], 2)
    assert client.get("/rest/V1/products?" + criteria(("sku", "24-MB01,24-MB03", "in")),
                      headers=auth).get_json()["total_count"] == 2


def test_an_invalid_product_ends_at_status_3_with_magentos_message(client, auth, service):
    items = [PRODUCTS[0], {"product": {"sku": None, "name": "No SKU"}}, {"product": {"sku": "x" * 65}}]
    bulk_uuid = submit(client, auth, "POST", "/V1/products", items)
    service.drainer.drain()
    ok, no_sku, too_long = operations(client, auth, bulk_uuid)
    assert (ok["status"], ok["serialized_data"]) == (OperationStatus.COMPLETE, None)
    assert (no_sku["status"], no_sku["error_code"], no_sku["result_message"]) == \
        (OperationStatus.NOT_RETRIABLY_FAILED, 0, SKU_EMPTY)
    # A failed operation keeps what was sent, so it can be corrected and resent.
    assert json.loads(json.loads(no_sku["serialized_data"])["meta_information"]) == items[1]
    assert no_sku["result_serialized_data"] is None
    assert too_long["result_message"] == "SKU length should be 64 characters maximum."


def test_updates_merge_and_deletes_remove(client, auth, service):
    submit(client, auth, "POST", "/V1/products", PRODUCTS[:1])
    submit(client, auth, "PUT", "/V1/products/bySku", [{"sku": "24-MB01", "product": {"price": 30, "weight": 1.5}}])
    service.drainer.drain()
    product = get_product(client, auth, "24-MB01")
    assert (product["name"], product["price"], product["weight"]) == ("Joust Duffle Bag", 30, 1.5)
    bulk_uuid = submit(client, auth, "DELETE", "/V1/products/bySku", [{"sku": "24-MB01"}, {"sku": "nope"}])
    service.drainer.drain()
    deleted, missing = operations(client, auth, bulk_uuid)
    assert (deleted["status"], json.loads(deleted["result_serialized_data"])) == (OperationStatus.COMPLETE, True)
    assert (missing["status"], missing["result_message"]) == (OperationStatus.NOT_RETRIABLY_FAILED, NOT_FOUND)
    assert_magento_error(client.get("/rest/V1/products/24-MB01", headers=auth), 404, NOT_FOUND)


def test_store_scoped_updates_show_only_in_their_store_view(shop):
    client, auth, service = shop
    submit(client, auth, "POST", "/V1/products", PRODUCTS[:1], store="all")
    service.drainer.drain()
    change = {"sku": "24-MB01", "product": {"name": "Sac de sport", "price": 29,
                                            "custom_attributes": [{"attribute_code": "description", "value": "Un sac"}]}}
    submit(client, auth, "PUT", "/V1/products/bySku", [change], store="fr")
    service.drainer.drain()
    french, default = get_product(client, auth, "24-MB01", "fr"), get_product(client, auth, "24-MB01", "default")
    assert (french["name"], french["custom_attributes"][0]["value"]) == ("Sac de sport", "Un sac")
    assert (default["name"], default["custom_attributes"][0]["value"]) == ("Joust Duffle Bag", "Joust Duffle Bag, a bag")
    # Price is global: a store view's update changes it everywhere.
    assert french["price"] == default["price"] == 29
    # A search in a store view sees that view's values.
    assert client.get("/rest/fr/V1/products?" + criteria(("name", "Sac%", "like")),
                      headers=auth).get_json()["total_count"] == 1
    assert client.get("/rest/default/V1/products?" + criteria(("name", "Sac%", "like")),
                      headers=auth).get_json()["total_count"] == 0
    # `all` writes the admin values and every view shows them.
    submit(client, auth, "PUT", "/V1/products/bySku", [{"sku": "24-MB01", "product": {"name": "Duffle"}}], store="all")
    service.drainer.drain()
    assert get_product(client, auth, "24-MB01", "fr")["name"] == get_product(client, auth, "24-MB01")["name"] == "Duffle"
    assert get_product(client, auth, "24-MB01", "fr")["custom_attributes"][0]["value"] == "Un sac"


def test_prices_are_stored_against_the_product(shop):
    client, auth, service = shop
    submit(client, auth, "POST", "/V1/products", PRODUCTS[:2])
    submit(client, auth, "POST", "/V1/products/base-prices",
           [{"prices": [{"sku": "24-MB01", "price": 40, "store_id": 0},
                        {"sku": "missing", "price": 1, "store_id": 0},
                        {"sku": "24-MB02", "price": -3, "store_id": 7}]}])
    submit(client, auth, "POST", "/V1/products/special-price",
           [{"prices": [{"sku": "24-MB01", "price": 25, "store_id": 2, "price_from": "2026-12-01 00:00:00",
                         "price_to": "2026-12-31 23:59:59"}]}])
    submit(client, auth, "POST", "/V1/products/cost", [{"prices": [{"sku": "24-MB01", "cost": 12.5, "store_id": 0}]}])
    tier_uuid = submit(client, auth, "POST", "/V1/products/tier-prices", [{"prices": [
        {"sku": "24-MB01", "price": 30, "price_type": "fixed", "website_id": 0, "customer_group": "ALL GROUPS",
         "quantity": 5},
        {"sku": "24-MB01", "price": 10, "price_type": "discount", "website_id": 0, "customer_group": "General",
         "quantity": 10},
        {"sku": "24-MB01", "price": 10, "price_type": "percent", "website_id": 0, "customer_group": "Nobody",
         "quantity": 0}]}])
    service.drainer.drain()
    base = client.get("/rest/V1/bulk?" + criteria(("topic_name", "%basepricestorage%", "like")), headers=auth)
    failures = json.loads(base.get_json()["items"][0]["result_serialized_data"])
    assert failures == [
        {"message": "Invalid attribute %fieldName = %fieldValue.", "parameters": ["SKU", "missing"]},
        {"message": "Invalid attribute %fieldName = %fieldValue.", "parameters": ["Price", "-3"]},
        {"message": "Requested store is not found. Row ID: SKU = %SKU, Store ID: %storeId.",
         "parameters": ["24-MB02", "7"]}]
    product = get_product(client, auth, "24-MB01")
    french = get_product(client, auth, "24-MB01", "fr")
    assert product["price"] == 40
    assert get_product(client, auth, "24-MB02")["price"] == 32
    attributes = {a["attribute_code"]: a["value"] for a in product["custom_attributes"]}
    assert attributes["cost"] == 12.5 and "special_price" not in attributes
    assert {a["attribute_code"]: a["value"] for a in french["custom_attributes"]}["special_price"] == 25
    assert product["tier_prices"] == [
        {"customer_group_id": 32000, "qty": 5, "value": 30, "extension_attributes": {"website_id": 0}},
        {"customer_group_id": 1, "qty": 10, "value": 0,
         "extension_attributes": {"website_id": 0, "percentage_value": 10}}]
    tier_failures = json.loads(operations(client, auth, tier_uuid)[0]["result_serialized_data"])
    assert [f["parameters"][0] for f in tier_failures] == ["Price Type", "Quantity", "Customer Group"]


def test_tier_prices_saved_with_a_product_and_without_extension_attributes_can_be_updated(client, auth):
    product = {"product": {"sku": "A", "price": 9, "tier_prices": [
        {"customer_group_id": 1, "qty": 2, "value": 5, "extension_attributes": None}]}}
    assert client.post("/rest/V1/products", json=product, headers=auth).status_code == 200
    update = {"prices": [{"sku": "A", "price": 3, "price_type": "fixed", "website_id": 0, "customer_group": "General",
                          "quantity": 2}]}
    response = client.post("/rest/V1/products/tier-prices", json=update, headers=auth)
    assert (response.status_code, response.get_json()) == (200, [])
    assert get_product(client, auth, "A")["tier_prices"] == [
        {"customer_group_id": 1, "qty": 2, "value": 3, "extension_attributes": {"website_id": 0}}]


def test_stock_source_items_media_and_category_links(client, auth, service):
    submit(client, auth, "POST", "/V1/categories", [{"category": {"name": "Bags", "is_active": True}}])
    service.drainer.drain()
    product = {"product": {**PRODUCTS[0]["product"], "extension_attributes": {
        "stock_item": {"qty": 5, "is_in_stock": True}, "category_links": [{"position": 2, "category_id": "3"}]}}}
    submit(client, auth, "POST", "/V1/products", [product])
    service.drainer.drain()
    stock = client.get("/rest/V1/stockItems/24-MB01", headers=auth).get_json()
    assert (stock["qty"], stock["is_in_stock"], stock["stock_id"]) == (5, True, 1)
    submit(client, auth, "PUT", "/V1/products/byProductSku/stockItems/byItemId",
           [{"productSku": "24-MB01", "itemId": stock["item_id"], "stockItem": {"qty": 7}}])
    submit(client, auth, "POST", "/V1/inventory/source-items",
           [{"sourceItems": [{"sku": "24-MB01", "source_code": "default", "quantity": 9, "status": 1},
                             {"sku": "24-MB01", "source_code": "warehouse-2", "quantity": 3, "status": 1}]}])
    service.drainer.drain()
    # MSI keeps the legacy stock item in step with the default source.
    assert client.get("/rest/V1/stockItems/24-MB01", headers=auth).get_json()["qty"] == 9
    sources = client.get("/rest/V1/inventory/source-items?" + criteria(("sku", "24-MB01", "eq")),
                         headers=auth).get_json()
    assert [(s["source_code"], s["quantity"]) for s in sources["items"]] == [("default", 9), ("warehouse-2", 3)]
    saved = get_product(client, auth, "24-MB01")
    assert saved["extension_attributes"]["category_links"] == [{"position": 2, "category_id": "3"}]
    assert saved["extension_attributes"]["stock_item"]["qty"] == 9


def test_media_gallery_entries(client, auth, service):
    submit(client, auth, "POST", "/V1/products", PRODUCTS[:1])
    png = "iVBORw0KGgoAAAAAAAAAAAAAAAAAAAA="
    entry = {"media_type": "image", "label": "Front", "position": 1, "disabled": False, "types": ["image"],
             "content": {"base64_encoded_data": png, "type": "image/png", "name": "front.png"}}
    bulk_uuid = submit(client, auth, "POST", "/V1/products/bySku/media", [
        {"sku": "24-MB01", "entry": entry},
        {"sku": "24-MB01", "entry": {**entry, "content": {**entry["content"], "base64_encoded_data": "bm90IGFuIGltYWdl"}}},
        {"sku": "24-MB01", "entry": {**entry, "content": {**entry["content"], "base64_encoded_data": "%%%"}}},
        {"sku": "24-MB01", "entry": {"label": "no content"}}])
    service.drainer.drain()
    created, wrong_type, not_base64, empty = operations(client, auth, bulk_uuid)
    assert created["status"] == OperationStatus.COMPLETE
    assert wrong_type["result_message"] == "The image MIME type is not valid or not supported."
    assert not_base64["result_message"] == "The image content must be valid base64 encoded data."
    assert empty["result_message"] == "The image content is invalid. Verify the content and try again."
    gallery = client.get("/rest/V1/products/24-MB01/media", headers=auth).get_json()
    assert gallery == [{"id": json.loads(created["result_serialized_data"]), "media_type": "image", "disabled": False,
                        "types": ["image"], "label": "Front", "position": 1, "file": "/f/r/front.png"}]
    assert get_product(client, auth, "24-MB01")["media_gallery_entries"] == gallery


def test_configurable_and_attribute_options(client, auth, service):
    submit(client, auth, "POST", "/V1/products", [{"product": {"sku": "MH01", "name": "Hoodie", "type_id": "configurable"}},
                                                  PRODUCTS[0]])
    option = {"attribute_id": "93", "label": "Color", "position": 0, "is_use_default": True,
              "values": [{"value_index": 5}]}
    configurable = submit(client, auth, "POST", "/V1/configurable-products/bySku/options",
                          [{"sku": "MH01", "option": option}, {"sku": "24-MB01", "option": option}])
    attribute = submit(client, auth, "POST", "/V1/products/attributes/byAttributeCode/options",
                       [{"attributeCode": "color", "option": {"label": "Red"}},
                        {"attributeCode": "color", "option": {"label": "Red"}}])
    service.drainer.drain()
    added, simple = operations(client, auth, configurable)
    assert json.loads(added["result_serialized_data"]) == 1
    assert simple["result_message"] == 'This is implemented for the "24-MB01" configurable product only.'
    options = get_product(client, auth, "MH01")["extension_attributes"]["configurable_product_options"]
    assert options == [{**option, "id": 1, "product_id": 1}]
    first, duplicate = operations(client, auth, attribute)
    assert json.loads(first["result_serialized_data"]) == "1"
    assert duplicate["result_message"] == 'Admin store attribute option label "Red" is already exists.'


def test_categories_and_their_products(client, auth, service):
    created = submit(client, auth, "POST", "/V1/categories", [{"category": {"name": "Gear", "is_active": True}},
                                                              {"category": {"is_active": True}},
                                                              {"category": {"name": "Orphan", "parent_id": 99}}])
    service.drainer.drain()
    gear, nameless, orphan = operations(client, auth, created)
    assert json.loads(gear["result_serialized_data"])["path"] == "1/2/3"
    assert nameless["result_message"] == \
        'Could not save category: The "Name" attribute value is empty. Set the attribute and try again.'
    assert orphan["result_message"] == "No such entity with id = 99"
    submit(client, auth, "POST", "/V1/categories", [{"category": {"name": "Bags", "parent_id": 3}}])
    submit(client, auth, "PUT", "/V1/categories/byId", [{"id": 3, "category": {"name": "All gear"}}])
    submit(client, auth, "POST", "/V1/products", PRODUCTS[:1])
    submit(client, auth, "POST", "/V1/categories/byCategoryId/products",
           [{"categoryId": 4, "productLink": {"sku": "24-MB01", "position": 1}}])
    service.drainer.drain()
    category = client.get("/rest/V1/categories/3", headers=auth).get_json()
    assert (category["name"], category["children"], category["level"]) == ("All gear", "4", 2)
    assert get_product(client, auth, "24-MB01")["extension_attributes"]["category_links"] == \
        [{"position": 1, "category_id": "4"}]
    removed = submit(client, auth, "DELETE", "/V1/categories/byCategoryId", [{"categoryId": 3}, {"categoryId": 2}])
    service.drainer.drain()
    subtree, root = operations(client, auth, removed)
    assert subtree["status"] == OperationStatus.COMPLETE
    assert root["result_message"] == "Cannot delete category with id 2"
    assert_magento_error(client.get("/rest/V1/categories/4", headers=auth), 404,
                         "No such entity with %fieldName = %fieldValue", {"fieldName": "id", "fieldValue": 4})
    assert "category_links" not in get_product(client, auth, "24-MB01")["extension_attributes"]


def test_orders_are_saved_and_updated(client, auth, service):
    created = submit(client, auth, "POST", "/V1/orders",
                     [{"entity": {"customer_email": "a@example.com", "grand_total": 12.5,
                                  "items": [{"sku": "24-MB01", "qty_ordered": 1}]}}])
    service.drainer.drain()
    order = json.loads(operations(client, auth, created)[0]["result_serialized_data"])
    assert (order["entity_id"], order["increment_id"], order["state"], order["status"]) == \
        (1, "000000001", "new", "pending")
    assert order["items"] == [{"sku": "24-MB01", "qty_ordered": 1, "item_id": 1, "order_id": 1}]
    updated = submit(client, auth, "POST", "/V1/orders",
                     [{"entity": {"entity_id": 1, "state": "processing", "status": "processing"}}])
    service.drainer.drain()
    order = json.loads(operations(client, auth, updated)[0]["result_serialized_data"])
    assert (order["status"], order["grand_total"], order["increment_id"]) == ("processing", 12.5, "000000001")


def test_routes_without_a_store_handler_complete_like_accept(client, auth, service):
    bulk_uuid = submit(client, auth, "DELETE", "/V1/cmsPage/byPageId", [{"pageId": 1}])
    service.drainer.drain()
    [operation] = operations(client, auth, bulk_uuid)
    assert (operation["status"], operation["result_serialized_data"]) == (OperationStatus.COMPLETE, None)


def test_two_drainers_on_bulks_that_touch_the_same_products_finish_everything(client, auth, service):
    """Bulks writing the same SKUs run one at a time per SKU: no duplicate-key races, no lock waits."""
    from bulk.drainer import Drainer, DrainerSettings

    items = [{"product": {"sku": f"SAME-{i}", "name": f"Same {i}", "price": 10 + i, "type_id": "simple"}}
             for i in range(30)]
    bulks = [submit(client, auth, "POST", "/V1/products", items) for _ in range(4)]
    second = Drainer(service.catalogue, service.processing.handler_for, service.clock,
                     DrainerSettings(batch_size=10, poll_seconds=0.05))
    service.drainer.start()
    second.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and any(
                op["status"] == OperationStatus.OPEN for bulk_uuid in bulks for op in operations(client, auth, bulk_uuid)):
            time.sleep(0.05)
    finally:
        second.stop()
        service.drainer.stop()
    statuses = {op["status"] for bulk_uuid in bulks for op in operations(client, auth, bulk_uuid)}
    assert statuses == {OperationStatus.COMPLETE}
    assert get_product(client, auth, "SAME-7")["price"] == 17
