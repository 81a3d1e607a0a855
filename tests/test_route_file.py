"""Extra routes from BULK_ROUTES_FILE, end to end through HTTP."""

from __future__ import annotations

import json

import pytest

from bulk.config import ConfigError
from bulk.models import Operation
from tests.magento import assert_magento_error, bearer

SEED_ROUTE = {
    "method": "PUT",
    "url": "/V1/product/:sku/options/:optionId",
    "service": "Magento\\Catalog\\Api\\ProductCustomOptionRepositoryInterface::save",
    "resources": ["Magento_Catalog::products"],
    "schema": "schemas.catalog:CustomOptionSaveArguments",
    "implementation": "Magento\\Catalog\\Model\\Product\\Option\\Repository\\Interceptor",
}


def app_with_routes(make_app, tmp_path, document):
    path = tmp_path / "routes.json"
    path.write_text(json.dumps(document))
    return make_app(BULK_ROUTES_FILE=str(path))


def token_for(client):
    return client.post("/rest/V1/integration/admin/token",
                       json={"username": "admin", "password": "admin123"}).get_json()


def test_seed_documents_route_from_a_file(make_app, tmp_path):
    app = app_with_routes(make_app, tmp_path, {"routes": [SEED_ROUTE]})
    client = app.test_client()
    auth = bearer(token_for(client))
    items = [{"sku": "24-MB01", "optionId": 5, "option": {"title": "Engraving", "price": 5}},
             {"sku": "24-MB04", "option_id": 6, "option": {"title": "Gift wrap"}}]
    response = client.put("/rest/default/async/bulk/V1/product/bySku/options/byOptionId", json=items, headers=auth)
    assert response.status_code == 202, response.get_data(as_text=True)
    assert [op.topic_name for op in Operation.select()] == \
        ["async.magento.catalog.api.productcustomoptionrepositoryinterface.save.put"] * 2
    bad = client.put("/rest/async/bulk/V1/product/bySku/options/byOptionId",
                     json=[{"option": {"title": "x", "colour": "red"}}], headers=auth)
    assert_magento_error(bad, 400, '"%fieldName" is not supported. Correct the field name and try again.',
                         {"fieldName": "colour"})
    service = app.extensions["bulk"]
    assert service.drainer.drain() == 2
    body = client.get(f"/rest/V1/bulk/{response.get_json()['bulk_uuid']}/status", headers=auth).get_json()
    assert {op["result_message"] for op in body["operations_list"]} == \
        {"Service execution success Magento\\Catalog\\Model\\Product\\Option\\Repository\\Interceptor::save"}
    assert "PUT    /V1/product/:sku/options/:optionId" in \
        app.test_cli_runner().invoke(args=["bulk", "routes"]).output


def test_arguments_declared_in_the_file_are_validated(make_app, tmp_path):
    route = {"method": "DELETE", "url": "/V1/products/:sku/media/:entryId",
             "service": "Magento\\Catalog\\Api\\ProductAttributeMediaGalleryManagementInterface::remove",
             "resources": ["Magento_Catalog::catalog"],
             "arguments": {"sku": {"type": "string", "required": True}, "entryId": {"type": "int", "required": True}}}
    client = app_with_routes(make_app, tmp_path, {"routes": [route]}).test_client()
    auth = bearer(token_for(client))
    path = "/rest/async/bulk/V1/products/bySku/media/byEntryId"
    response = client.delete(path, json=[{"sku": "a", "entryId": "1"}, {"sku": "b", "entryId": "2"}], headers=auth)
    assert response.status_code == 202
    assert_magento_error(client.delete(path, json=[{"sku": "a", "entryId": "one"}], headers=auth),
                         400, 'The "%value" value\'s type is invalid. The "%type" type was expected. Verify and try again.',
                         {"value": "one", "type": "int"})


def test_routes_without_a_schema_accept_any_object(make_app, tmp_path):
    route = {"method": "POST", "url": "/V1/vendor/things", "service": "Vendor\\Module\\Api\\ThingRepositoryInterface::save",
             "resources": ["Vendor_Module::things"]}
    client = app_with_routes(make_app, tmp_path, {"routes": [route],
                                                  "customizations": {"asyncThings": "async/V1/vendor/things"}}).test_client()
    auth = bearer(token_for(client))
    assert client.post("/rest/async/bulk/V1/vendor/things", json=[{"any": {"shape": 1}}], headers=auth).status_code == 202
    assert client.post("/rest/asyncThings", json={"x": 1}, headers=auth).status_code == 202


@pytest.mark.parametrize("document, problem", [
    ("not json", "not valid JSON"),
    ({"routes": [{**SEED_ROUTE, "method": "GET"}]}, "method"),
    ({"routes": [{**SEED_ROUTE, "service": "NoMethod"}]}, "service"),
    ({"routes": [{**SEED_ROUTE, "resources": []}]}, "resources"),
    ({"routes": [{**SEED_ROUTE, "schema": "schemas.catalog:Nope"}]}, "cannot be imported"),
    ({"routes": [{**SEED_ROUTE, "schema": "schemas.catalog:Product"}]}, "Arguments subclass"),
    ({"routes": [{**SEED_ROUTE, "arguments": {"a": {"type": "string"}}}]}, "not both"),
    ({"routes": [{**SEED_ROUTE, "url": "/V1/products", "method": "POST"}]}, "defined twice"),
    ({"routes": [{**SEED_ROUTE, "extra": 1}]}, "extra"),
    ({"routes": [{**SEED_ROUTE, "arguments": {"a": {"type": "date"}}, "schema": None}]}, "schema"),
])
def test_mistakes_in_the_file_are_reported(make_app, tmp_path, document, problem):
    path = tmp_path / "routes.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    with pytest.raises(ConfigError, match=problem) as caught:
        make_app(BULK_ROUTES_FILE=str(path))
    assert str(path) in str(caught.value)


def test_missing_file_is_reported(make_app, tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        make_app(BULK_ROUTES_FILE=str(tmp_path / "nope.json"))
