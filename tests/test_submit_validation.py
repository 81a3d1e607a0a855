"""Items that Magento's input processor refuses are refused when they arrive (400), never queued to
fail later with Python or database text; and whatever does fail in an operation says so in Magento's
words. Through HTTP, on both engines."""

from __future__ import annotations

import pytest

from bulk.statuses import OperationStatus
from tests.magento import assert_magento_error
from tests.store_client import operations, submit

INVALID_TYPE = 'The "%value" value\'s type is invalid. The "%type" type was expected. Verify and try again.'
CATALOG_DATA = "\\Magento\\Catalog\\Api\\Data\\"
INVALID_PRODUCT = "Invalid product data: %1"
INVALID_ATTRIBUTE_SET = "Invalid attribute set entity type"


def send(client, auth, way: str, method: str, path: str, arguments: dict):
    """One call of a route: `bulk` (a one-item bulk), `async` (the single async route) or `sync`.

    `path` is the sync route with its values; bulk calls take them from the item instead."""
    if way == "bulk":
        return client.open(f"/rest/default/async/bulk{_bulk_path(path)}", method=method, json=[arguments],
                           headers=auth)
    prefix = "/rest/default/async" if way == "async" else "/rest/default"
    return client.open(f"{prefix}{path}", method=method, json=arguments, headers=auth)


def _bulk_path(path: str) -> str:
    return {"/V1/customers/7": "/V1/customers/byCustomerId"}.get(path, path)


def assert_refused_and_nothing_queued(response, service, message, parameters=None) -> None:
    assert_magento_error(response, 400, message, parameters)
    assert service.drainer.drain() == 0


WAYS = ("bulk", "async", "sync")


# -- null where a data object is expected ---------------------------------------------------------

@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("path, arguments, data_type", [
    ("/V1/products/base-prices", {"prices": [None]}, CATALOG_DATA + "BasePriceInterface"),
    ("/V1/products/cost", {"prices": [{"sku": "A", "cost": 1, "store_id": 0}, None]}, CATALOG_DATA + "CostInterface"),
    ("/V1/inventory/source-items", {"sourceItems": [None]}, "\\Magento\\InventoryApi\\Api\\Data\\SourceItemInterface"),
    ("/V1/products", {"product": {"sku": "A", "tier_prices": [None]}}, CATALOG_DATA + "ProductTierPriceInterface"),
])
def test_a_null_entry_in_a_list_of_data_objects_is_refused(client, auth, service, way, path, arguments, data_type):
    response = send(client, auth, way, "POST", path, arguments)
    assert_refused_and_nothing_queued(response, service, INVALID_TYPE, {"value": "null", "type": data_type})


# -- custom attributes, converted as ServiceInputProcessor::convertCustomAttributeValue does ------

CUSTOM_ATTRIBUTE_ERROR = 'Error occurred during "custom_attributes" processing. '
EMPTY_ATTRIBUTE = CUSTOM_ATTRIBUTE_ERROR + "An empty custom attribute is specified. Enter the attribute and try again."
NO_CODE = (CUSTOM_ATTRIBUTE_ERROR
           + "A custom attribute is specified with a missing attribute code. Verify the code and try again.")


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("attributes, message", [
    ([None], EMPTY_ATTRIBUTE),
    ([{}], EMPTY_ATTRIBUTE),
    ([{"attribute_code": "", "value": None}], EMPTY_ATTRIBUTE),
    ([{"value": "red"}], NO_CODE),
    (["red"], NO_CODE),
    ([{"attribute_code": "color"}],
     CUSTOM_ATTRIBUTE_ERROR + 'The "color" attribute code doesn\'t have a value set. Enter the value and try again.'),
])
def test_custom_attributes_magento_cannot_read_are_refused(client, auth, service, way, attributes, message):
    category = {"category": {"name": "Bags", "custom_attributes": attributes}}
    assert_refused_and_nothing_queued(send(client, auth, way, "POST", "/V1/categories", category), service, message)
    product = {"product": {"sku": "A", "custom_attributes": attributes}}
    assert_refused_and_nothing_queued(send(client, auth, way, "POST", "/V1/products", product), service, message)


def test_custom_attributes_keyed_by_code_are_read_like_magento(client, auth, service):
    # Magento also takes an object of code: value (and a null value, meaning unset, when the key is present).
    product = {"product": {"sku": "A", "custom_attributes": {"color": "red", "size": None}}}
    assert client.post("/rest/V1/products", json=product, headers=auth).status_code == 200
    saved = client.get("/rest/V1/products/A", headers=auth).get_json()
    assert saved["custom_attributes"] == [{"attribute_code": "color", "value": "red"}]
    bulk_uuid = submit(client, auth, "POST", "/V1/categories",
                       [{"category": {"name": "Bags", "custom_attributes": [{"attributeCode": "url_key",
                                                                               "value": "bags"}]}}])
    service.drainer.drain()
    [done] = operations(client, auth, bulk_uuid)
    assert done["status"] == OperationStatus.COMPLETE, done
    category_id = int(done["result_serialized_data"].split('"id":')[1].split(",")[0])
    read = client.get(f"/rest/V1/categories/{category_id}", headers=auth).get_json()
    assert read["custom_attributes"] == [{"attribute_code": "url_key", "value": "bags"}]


# -- integers beyond what Magento's int holds -----------------------------------------------------

@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("value, shown", [(1e30, "1e+30"), (2**64 - 1, str(2**64 - 1)), (2**63, str(2**63)),
                                          ("-9223372036854775809", None), ("99999999999999999999", None)])
def test_an_integer_beyond_64_bits_is_refused(client, auth, service, way, value, shown):
    product = {"product": {"sku": "A", "attribute_set_id": value}}
    response = send(client, auth, way, "POST", "/V1/products", product)
    assert_refused_and_nothing_queued(response, service, INVALID_TYPE, {"value": shown or value, "type": "int"})


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_a_customer_id_beyond_64_bits_is_refused(client, auth, service, way, method):
    customer_id = "-18446744073709551615"
    arguments = {"customerId": customer_id}
    if method == "PUT":
        arguments["customer"] = {"email": "a@example.com", "firstname": "A", "lastname": "B"}
    if way == "bulk":
        response = client.open("/rest/default/async/bulk/V1/customers/byCustomerId", method=method,
                               json=[arguments], headers=auth)
    else:
        prefix = "/rest/default/async" if way == "async" else "/rest/default"
        response = client.open(f"{prefix}/V1/customers/{customer_id}", method=method,
                               json=arguments if method == "PUT" else None, headers=auth)
    assert_refused_and_nothing_queued(response, service, INVALID_TYPE, {"value": customer_id, "type": "int"})


def test_the_largest_64_bit_integers_are_accepted_and_fail_in_magentos_words(client, auth, service):
    bulk_uuid = submit(client, auth, "DELETE", "/V1/customers/byCustomerId",
                       [{"customerId": 2**63 - 1}, {"customerId": -(2**63)}, {"customerId": 2**40}])
    service.drainer.drain()
    assert [(op["status"], op["result_message"]) for op in operations(client, auth, bulk_uuid)] == [
        (OperationStatus.NOT_RETRIABLY_FAILED, f"No such entity with customerId = {value}")
        for value in (2**63 - 1, -(2**63), 2**40)]


# -- attribute sets ---------------------------------------------------------------------------------

@pytest.mark.parametrize("attribute_set_id", [999999, 3, -1, 2**40])
def test_an_unknown_attribute_set_is_invalid_product_data(client, auth, service, attribute_set_id):
    product = {"product": {"sku": "A", "name": "Bag", "attribute_set_id": attribute_set_id}}
    assert_magento_error(client.post("/rest/V1/products", json=product, headers=auth), 400,
                         INVALID_PRODUCT, [INVALID_ATTRIBUTE_SET])
    bulk_uuid = submit(client, auth, "POST", "/V1/products", [product])
    service.drainer.drain()
    [failed] = operations(client, auth, bulk_uuid)
    assert (failed["status"], failed["result_message"]) == \
        (OperationStatus.NOT_RETRIABLY_FAILED, "Invalid product data: Invalid attribute set entity type")
    assert client.get("/rest/V1/products/A", headers=auth).status_code == 404


def test_known_attribute_sets_are_the_default_one_and_those_configured(make_app):
    app = make_app(BULK_STORE_ATTRIBUTE_SETS="4, 9")
    client = app.test_client()
    auth = {"Authorization": "Bearer " + client.post("/rest/V1/integration/admin/token",
                                                      json={"username": "admin", "password": "admin123"}).get_json()}
    for sku, attribute_set_id in (("A", 9), ("B", 4), ("C", None)):
        response = client.post("/rest/V1/products", json={"product": {"sku": sku, "attribute_set_id": attribute_set_id}},
                               headers=auth)
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["attribute_set_id"] == (attribute_set_id or 4)
    # An update that names no attribute set keeps the product's own.
    assert client.put("/rest/V1/products/A", json={"product": {"name": "Top"}}, headers=auth).get_json()[
        "attribute_set_id"] == 9
    assert_magento_error(client.put("/rest/V1/products/A", json={"product": {"attribute_set_id": 10}}, headers=auth),
                         400, INVALID_PRODUCT, [INVALID_ATTRIBUTE_SET])


# -- whatever fails in an operation fails in Magento's words ----------------------------------------

INTERNAL_TEXT = ("Traceback", "Error:", "NoneType", "object has no attribute", "not subscriptable", "SQLite",
                 "sqlite", "psycopg", "out of range", "INTEGER", "integer", "KeyError")


def test_an_unexpected_failure_in_an_operation_names_a_log_record_not_python(client, auth, service, caplog):
    def broken(job):
        return job.arguments["product"]["no such key"]

    service.processing.register("POST /V1/products", broken)
    bulk_uuid = submit(client, auth, "POST", "/V1/products", [{"product": {"sku": "A"}}])
    service.drainer.drain()
    [failed] = operations(client, auth, bulk_uuid)
    assert (failed["status"], failed["error_code"]) == (OperationStatus.NOT_RETRIABLY_FAILED, 0)
    assert failed["result_message"].startswith(
        "Internal Error. Details are available in Magento log file. Report ID: webapi-"), failed
    assert not any(text in failed["result_message"] for text in INTERNAL_TEXT), failed
    report_id = failed["result_message"].rsplit(" ", 1)[1]
    assert any(report_id in record.getMessage() and "no such key" in (record.exc_text or "")
               for record in caplog.records)


# -- the free-form parts the store reads are the data objects Magento types them as -----------------

ORDER_DATA = "\\Magento\\Sales\\Api\\Data\\"


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("path, arguments, value, data_type", [
    ("/V1/products", {"product": {"sku": "A", "extension_attributes": {"category_links": 5}}}, "5",
     CATALOG_DATA + "CategoryLinkInterface[]"),
    ("/V1/products", {"product": {"sku": "A", "extension_attributes": {"category_links": [None]}}}, "null",
     CATALOG_DATA + "CategoryLinkInterface"),
    ("/V1/products", {"product": {"sku": "A", "extension_attributes": {"category_links": [{"position": "x"}]}}},
     "x", "int"),
    ("/V1/products", {"product": {"sku": "A", "extension_attributes": {"stock_item": 5}}}, "5",
     "\\Magento\\CatalogInventory\\Api\\Data\\StockItemInterface"),
    ("/V1/products", {"product": {"sku": "A", "extension_attributes": {"stock_item": {"qty": "x"}}}}, "x", "float"),
    ("/V1/products", {"product": {"sku": "A", "extension_attributes": {"configurable_product_options": [5]}}}, "5",
     "\\Magento\\ConfigurableProduct\\Api\\Data\\OptionInterface"),
    ("/V1/orders", {"entity": {"items": [None]}}, "null", ORDER_DATA + "OrderItemInterface"),
    ("/V1/orders", {"entity": {"items": [{"sku": "A"}, 5]}}, "5", ORDER_DATA + "OrderItemInterface"),
    ("/V1/orders", {"entity": {"status_histories": ["x"]}}, "x", ORDER_DATA + "OrderStatusHistoryInterface"),
])
def test_free_form_parts_the_store_reads_are_typed(client, auth, service, way, path, arguments, value, data_type):
    response = send(client, auth, way, "POST", path, arguments)
    assert_refused_and_nothing_queued(response, service, INVALID_TYPE, {"value": value, "type": data_type})


def test_extension_attributes_of_other_modules_stay_free(client, auth):
    product = {"product": {"sku": "A", "extension_attributes": {"some_module_data": [1, {"a": None}],
                                                                "category_links": [], "stock_item": {"qty": 3}}}}
    response = client.post("/rest/V1/products", json=product, headers=auth)
    assert response.status_code == 200, response.get_json()
    extension = response.get_json()["extension_attributes"]
    assert (extension["some_module_data"], extension["stock_item"]["qty"]) == ([1, {"a": None}], 3)


# -- values the store's columns cannot hold fail the same way on both engines --------------------------

INVALID_FIELD_VALUE = 'Invalid value of "%value" provided for the %fieldName field.'
CUSTOMER = {"email": "a@example.com", "firstname": "A", "lastname": "B"}


@pytest.mark.parametrize("path, arguments, field_name, value", [
    ("/V1/categories", {"category": {"name": "Bags", "position": 2**31}}, "position", 2**31),
    ("/V1/categories", {"category": {"name": "Bags", "position": -(2**31) - 1}}, "position", -(2**31) - 1),
    ("/V1/categories/2/products", {"productLink": {"sku": "A", "position": 2**40}}, "position", 2**40),
    ("/V1/inventory/source-items", {"sourceItems": [{"sku": "A", "source_code": "default", "status": 2**32}]},
     "status", 2**32),
    ("/V1/inventory/source-items", {"sourceItems": [{"sku": "A", "source_code": "s" * 256}]}, "source_code",
     "s" * 256),
    ("/V1/products/attributes/color/options", {"option": {"label": "Red", "sort_order": 2**31}}, "sort_order",
     2**31),
    ("/V1/products/attributes/color/options", {"option": {"label": "R" * 256}}, "label", "R" * 256),
    ("/V1/products/attributes/" + "c" * 256 + "/options", {"option": {"label": "Red"}}, "attribute_code", "c" * 256),
    ("/V1/customers", {"customer": {**CUSTOMER, "website_id": 2**31}}, "website_id", 2**31),
    ("/V1/customers", {"customer": {**CUSTOMER, "email": "a" * 250 + "@x.com"}}, "email", "a" * 250 + "@x.com"),
    ("/V1/products", {"product": {"sku": "A", "type_id": "t" * 33}}, "type_id", "t" * 33),
    ("/V1/orders", {"entity": {"increment_id": "9" * 51}}, "increment_id", "9" * 51),
])
def test_values_the_store_cannot_keep_are_invalid_field_values(client, auth, service, path, arguments, field_name,
                                                                 value):
    client.post("/rest/V1/products", json={"product": {"sku": "A"}}, headers=auth)
    parameters = {"fieldName": field_name, "value": value}
    assert_magento_error(client.post(f"/rest/default{path}", json=arguments, headers=auth), 400,
                         INVALID_FIELD_VALUE, parameters)
    bulk_uuid = check_accepted(client.post(f"/rest/default/async{path}", json=arguments, headers=auth))
    service.drainer.drain()
    [failed] = operations(client, auth, bulk_uuid)
    assert (failed["status"], failed["result_message"]) == \
        (OperationStatus.NOT_RETRIABLY_FAILED, f'Invalid value of "{value}" provided for the {field_name} field.')


def check_accepted(response) -> str:
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.get_json()["bulk_uuid"]


def test_a_second_order_with_the_same_increment_id_is_a_unique_constraint_violation(client, auth, service):
    first = client.post("/rest/V1/orders", json={"entity": {"increment_id": "X1"}}, headers=auth)
    assert first.status_code == 200, first.get_json()
    assert_magento_error(client.post("/rest/V1/orders", json={"entity": {"increment_id": "X1"}}, headers=auth), 400,
                         "Unique constraint violation found")
    second = client.post("/rest/V1/orders", json={"entity": {"increment_id": "X2"}}, headers=auth).get_json()
    bulk_uuid = submit(client, auth, "POST", "/V1/orders",
                       [{"entity": {"entity_id": second["entity_id"], "increment_id": "X1"}}])
    service.drainer.drain()
    assert [(op["status"], op["result_message"]) for op in operations(client, auth, bulk_uuid)] == \
        [(OperationStatus.NOT_RETRIABLY_FAILED, "Unique constraint violation found")]
