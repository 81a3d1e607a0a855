"""Magento's schema endpoints (Swagger 2.0, validated), the Swagger UI page, and schemathesis against them."""

from __future__ import annotations

import json
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from openapi_spec_validator import validate
from schemathesis import GenerationMode

from bulk.apidocs.openapi import definition_name, service_name
from tests.live import PROJECT_ROOT
from tests.magento import assert_magento_error, bearer

KINDS = {"rest": "/rest/default/schema", "async": "/rest/default/async/schema",
         "bulk": "/rest/default/async/bulk/schema"}
ROUTE_FILE = {"routes": [{"method": "PUT", "url": "/V1/loyalty/tiers/:tierId", "service":
                          "Vendor\\Loyalty\\Api\\TierRepositoryInterface::save", "resources": ["Vendor_Loyalty::tiers"],
                          "arguments": {"tierId": {"type": "int", "required": True},
                                        "tier": {"type": "object", "required": True}}}]}


def document(client, kind: str, headers=None, query: str = "?services=all") -> dict:
    response = client.get(KINDS[kind] + query, headers=headers or {})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


@pytest.fixture
def docs_app(make_app, tmp_path):
    routes = tmp_path / "routes.json"
    routes.write_text(json.dumps(ROUTE_FILE))
    return make_app(BULK_ROUTES_FILE=str(routes), BULK_WEBAPI_FILES=str(PROJECT_ROOT / "tests/data/webapi.xml"))


@pytest.fixture
def admin(docs_app):
    client = docs_app.test_client()
    return client, bearer(client.post("/rest/V1/integration/admin/token",
                                      json={"username": "admin", "password": "admin123"}).get_json())


@pytest.mark.engines("sqlite")
@pytest.mark.parametrize("kind", list(KINDS))
def test_each_document_is_valid_swagger_2_with_magentos_top_level_keys(admin, kind):
    client, auth = admin
    doc = document(client, kind, auth)
    validate(doc)
    assert set(doc) == {"swagger", "info", "host", "basePath", "schemes", "tags", "paths", "definitions",
                        "securityDefinitions"}
    assert doc["swagger"] == "2.0" and doc["info"]["version"] == "2.4"
    assert doc["basePath"] == KINDS[kind].removesuffix("/schema")
    assert doc["host"] == "localhost" and doc["schemes"] == ["http"]
    assert doc["securityDefinitions"]["Bearer"] == {
        "type": "apiKey", "name": "Authorization", "in": "header",
        "description": "`Bearer <token>`: an admin token from POST /V1/integration/admin/token; or "
                       "`OAuth oauth_consumer_key=..., oauth_signature=...`: an integration's request "
                       "signed with OAuth 1.0a (HMAC-SHA256)."}
    error = doc["definitions"]["error-response"]
    assert error["required"] == ["message"]
    assert set(error["properties"]) == {"message", "errors", "code", "parameters", "trace"}


@pytest.mark.engines("sqlite")
def test_the_async_and_bulk_documents_cover_every_route_of_the_catalogue(admin, docs_app):
    client, auth = admin
    catalogue = list(docs_app.extensions["bulk"].catalogue)
    async_doc, bulk_doc = document(client, "async", auth), document(client, "bulk", auth)
    for route in catalogue:
        async_path = re.sub(r":(\w+)", r"{\1}", route.template.path)
        operation = async_doc["paths"][async_path][route.method.lower()]
        assert set(operation["responses"]) >= {"202", "400", "default"}
        assert operation["responses"]["202"]["schema"] == {
            "$ref": "#/definitions/asynchronous-operations-data-async-response-interface"}
        assert [p["name"] for p in operation["parameters"] if p["in"] == "path"] == list(route.template.params)
        bulk_operation = bulk_doc["paths"][route.bulk_path][route.method.lower()]
        [body] = bulk_operation["parameters"]
        assert body["in"] == "body" and body["schema"]["type"] == "array"
    # Built-in, route-file and webapi.xml routes alike.
    assert "/V1/products/bySku" in bulk_doc["paths"]
    assert "/V1/loyalty/tiers/byTierId" in bulk_doc["paths"]
    assert any(path.startswith("/V1/loyalty/points") for path in bulk_doc["paths"])
    tier = async_doc["paths"]["/V1/loyalty/tiers/{tierId}"]["put"]
    assert tier["operationId"] == "vendorLoyaltyTierRepositoryV1SavePut"
    assert [p["type"] for p in tier["parameters"] if p["in"] == "path"] == ["integer"]
    product = bulk_doc["definitions"][definition_name("\\Magento\\Catalog\\Api\\Data\\ProductInterface")]
    assert product["properties"]["price"]["type"] == "number"
    assert product["properties"]["media_gallery_entries"]["items"]["$ref"] == \
        "#/definitions/catalog-data-product-attribute-media-gallery-entry-interface"
    assert bulk_doc["definitions"]["product-save-arguments"]["required"] == ["product"]


@pytest.mark.engines("sqlite")
def test_the_rest_document_has_the_status_token_and_store_endpoints(admin):
    client, auth = admin
    paths = document(client, "rest", auth)["paths"]
    assert paths["/V1/integration/admin/token"]["post"]["security"] == []
    status = paths["/V1/bulk/{bulkUuid}/status"]["get"]
    assert status["operationId"] == "asynchronousOperationsBulkStatusV1GetBulkShortStatusGet"
    assert status["responses"]["200"]["schema"] == {
        "$ref": "#/definitions/asynchronous-operations-data-bulk-operations-status-interface"}
    assert status["security"] == [{"Bearer": []}]
    assert {"404", "401"} <= set(status["responses"])
    assert "searchCriteria[pageSize]" in [p["name"] for p in paths["/V1/bulk"]["get"]["parameters"]]
    assert "delete" in paths["/V1/bulk/{bulkUuid}"] and "post" in paths["/V1/bulk/{bulkUuid}/retry"]
    assert "get" in paths["/V1/products/{sku}"]
    assert "post" in paths["/V1/products"]  # store mode runs sync writes


@pytest.mark.engines("sqlite")
def test_a_guest_sees_only_anonymous_operations_as_in_magento(admin):
    client, _ = admin
    assert set(document(client, "rest")["paths"]) == {"/V1/integration/admin/token", "/V1/customers"}
    assert set(document(client, "bulk")["paths"]) == {"/V1/customers", "/V1/loyalty/signup"}  # webapi.xml


@pytest.mark.engines("sqlite")
def test_services_narrow_the_document(admin):
    client, auth = admin
    doc = document(client, "async", auth, "?services=catalogProductRepositoryV1,customerCustomerRepositoryV1")
    assert {tag["name"] for tag in doc["tags"]} == {"catalogProductRepositoryV1", "customerCustomerRepositoryV1"}
    assert service_name("Magento\\Catalog\\Api\\ProductRepositoryInterface") == "catalogProductRepositoryV1"
    assert document(client, "bulk", auth, "")["paths"]  # no `services`: all, as in Magento


@pytest.mark.engines("sqlite")
def test_every_store_code_and_none(admin):
    client, auth = admin
    assert client.get("/rest/all/async/bulk/schema", headers=auth).get_json()["basePath"] == "/rest/all/async/bulk"
    assert client.get("/rest/schema", headers=auth).get_json()["basePath"] == "/rest"
    assert_magento_error(client.get("/rest/nowhere/schema?services=all"), 400, "Specified request cannot be processed.")


@pytest.mark.engines("sqlite")
def test_swagger_ui_is_served_from_packaged_files(client):
    page = client.get("/swagger")
    assert page.status_code == 200 and page.content_type.startswith("text/html")
    html = page.get_data(as_text=True)
    assert 'id="input_apiKey"' in html and "/rest/default/async/bulk/schema?services=all" in html
    references = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert references and all(ref.startswith("/swagger/") for ref in references), references
    assert "://" not in "".join(references)  # nothing from a CDN: the page works offline
    for ref in references:
        with client.get(ref) as asset:
            assert asset.status_code == 200, ref
            assert len(asset.get_data()) > 100
            if ref.endswith(".js"):
                assert asset.content_type.startswith(("text/javascript", "application/javascript"))
    with client.get("/swagger/../app.py") as escaped:
        assert escaped.status_code in (400, 404)


# -- schemathesis: generated requests from the served documents --------------------------------

EXAMPLES = {GenerationMode.POSITIVE: 3, GenerationMode.NEGATIVE: 3}
MAGENTO_ERROR_KEYS = {"message", "errors", "code", "parameters"}


def check_answer(case, response) -> None:
    """No 5xx, no stack trace, Magento's error shape on every 4xx."""
    text = response.content.decode("utf-8", errors="replace")
    where = f"{case.method} {case.operation.path} {case.path_parameters} -> {response.status_code}: {text[:300]}"
    assert response.status_code < 500, where
    assert "Traceback" not in text and 'File "' not in text, where
    if 400 <= response.status_code < 500:
        content_type = {name.lower(): value for name, value in response.headers.items()}["content-type"]
        content_type = content_type[0] if isinstance(content_type, list) else content_type
        assert content_type.startswith("application/json"), where
        body = json.loads(text)
        assert isinstance(body, dict) and isinstance(body.get("message"), str), where
        assert set(body) <= MAGENTO_ERROR_KEYS, where


@pytest.mark.parametrize("kind", list(KINDS))
def test_schemathesis_finds_no_5xx_no_trace_and_magento_errors(make_app, kind):
    app = make_app()
    client = app.test_client()
    auth = bearer(client.post("/rest/V1/integration/admin/token",
                              json={"username": "admin", "password": "admin123"}).get_json())
    schema = schemathesis.openapi.from_wsgi(KINDS[kind] + "?services=all", app, headers=auth)
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode, examples in EXAMPLES.items():
            @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def exercise(case) -> None:
                nonlocal calls
                calls += 1
                check_answer(case, case.call(headers=auth))

            exercise()
    assert calls >= 50  # a few hundred across the three documents


@pytest.mark.parametrize("status", ["74853097296610115584", "-9223372036854775809"])
def test_an_integer_beyond_64_bits_in_the_url_is_a_type_error(client, auth, status):
    # Found by schemathesis: the driver refused the value (500) instead of the query matching nothing.
    assert_magento_error(client.get(f"/rest/V1/bulk/x/operation-status/{status}", headers=auth), 400,
                         'The "%value" value\'s type is invalid. The "%type" type was expected. Verify and try again.',
                         {"value": status, "type": "int"})


def test_a_category_id_that_is_no_integer_names_no_category(client, auth):
    # Found by schemathesis on PostgreSQL: `productLink.category_id` is a string in Magento's interface.
    response = client.post("/rest/V1/categories/3/products", headers=auth,
                           json={"productLink": {"sku": "A", "category_id": "B."}})
    assert_magento_error(response, 404, "No such entity with %fieldName = %fieldValue",
                         {"fieldName": "id", "fieldValue": "B."})
