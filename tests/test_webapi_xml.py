"""Routes imported from Magento webapi.xml files (BULK_WEBAPI_FILES), end to end through HTTP."""

from __future__ import annotations

import json

import pytest

from bulk.config import ConfigError
from bulk.routes.builtin import builtin_catalogue
from bulk.statuses import OperationStatus
from tests.live import PROJECT_ROOT
from tests.magento import assert_magento_error, bearer
from tests.store_client import operations, submit

SAMPLE = PROJECT_ROOT / "tests" / "data" / "webapi.xml"
TOPIC = "async.vendor.loyalty.api.pointsrepositoryinterface.save.post"


@pytest.fixture
def imported(make_app):
    app = make_app(BULK_WEBAPI_FILES=str(SAMPLE))
    client = app.test_client()
    token = client.post("/rest/V1/integration/admin/token", json={"username": "admin", "password": "admin123"})
    service = app.extensions["bulk"]
    service.ensure_ready_without_worker()
    return app, client, bearer(token.get_json()), service


def test_a_custom_modules_route_works_as_bulk_and_async(imported):
    _, client, auth, service = imported
    items = [{"points": {"customer_id": 1, "balance": 120, "tags": ["gold"]}}, {"anything": "goes"}]
    bulk_uuid = submit(client, auth, "POST", "/V1/loyalty/points", items)
    single = client.delete("/rest/async/V1/loyalty/points/7", headers=auth)
    assert single.status_code == 202
    stored = operations(client, auth, bulk_uuid)
    assert [op["topic_name"] for op in stored] == [TOPIC, TOPIC]
    # Without a schema, items are stored exactly as sent.
    assert [json.loads(json.loads(op["serialized_data"])["meta_information"]) for op in stored] == items
    assert service.drainer.drain() == 3
    done = operations(client, auth, bulk_uuid)
    assert {(op["status"], op["result_message"], op["result_serialized_data"]) for op in done} == {
        (OperationStatus.COMPLETE, "Service execution success Vendor\\Loyalty\\Model\\PointsRepository\\Interceptor::save",
         None)}
    assert operations(client, auth, single.get_json()["bulk_uuid"])[0]["topic_name"] == \
        "async.vendor.loyalty.api.pointsrepositoryinterface.deletebycustomerid.delete"


def test_imported_routes_keep_magentos_acl(imported):
    _, client, auth, _ = imported
    response = client.put("/rest/async/bulk/V1/loyalty/points/byCustomerId", json=[{"customerId": 1}])
    assert_magento_error(response, 401, "The consumer isn't authorized to access %resources.",
                         {"resources": "Vendor_Loyalty::points, Magento_Customer::manage"})
    assert client.post("/rest/async/V1/loyalty/signup", json={"email": "a@example.com"}).status_code == 202
    # GET routes have no async form; a sync call of an imported route is not answered by the store.
    assert_magento_error(client.get("/rest/V1/loyalty/points/1", headers=auth), 404,
                         "Request does not match any route.")


def test_the_routes_command_lists_imported_routes_and_builtins_win(imported):
    app, client, auth, service = imported
    output = app.test_cli_runner().invoke(args=["bulk", "routes"]).output
    assert "/V1/loyalty/points/byCustomerId" in output and TOPIC in output
    assert "GET" not in output
    # Four of the file's six routes are new: its GET has no async form, its POST /V1/products is built in.
    assert len(service.catalogue) == len(builtin_catalogue()) + 4
    # POST /V1/products is in the file too; the built-in definition (with its schema) is kept.
    response = client.post("/rest/async/bulk/V1/products", json=[{"product": {"colour": "red"}}], headers=auth)
    assert_magento_error(response, 400, '"%fieldName" is not supported. Correct the field name and try again.',
                         {"fieldName": "colour"})


def test_several_files(make_app, tmp_path):
    second = tmp_path / "webapi.xml"
    second.write_text('<routes><route url="/V1/gift-cards" method="POST">'
                      '<service class="\\Vendor\\Gift\\Api\\CardManagementInterface" method="create"/>'
                      '<resources><resource ref="Vendor_Gift::cards"/></resources></route></routes>')
    app = make_app(BULK_WEBAPI_FILES=f"{SAMPLE}, {second}")
    keys = {route.key for route in app.extensions["bulk"].catalogue}
    assert {"POST /V1/gift-cards", "POST /V1/loyalty/points"} <= keys


@pytest.mark.parametrize("content, problem", [
    ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><routes>&b;</routes>',
     "DTDForbidden"),
    ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><routes>&x;</routes>',
     "DTDForbidden"),
    ("<routes><route", "not a usable webapi.xml"),
    ("<config/>", "root element must be <routes>"),
    ('<routes><route url="/V1/x" method="POST"><resources/></route></routes>', "needs <service"),
    ('<routes><route url="/V1/x" method="POST"><service class="A\\B" method="c"/></route></routes>',
     "ACL resource"),
    ('<routes><route url="V1/x" method="POST"><service class="A\\B" method="c"/>'
     '<resources><resource ref="A::b"/></resources></route></routes>', "must start with /V"),
])
def test_unsafe_or_broken_files_stop_the_start(make_app, tmp_path, content, problem):
    path = tmp_path / "webapi.xml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=problem) as caught:
        make_app(BULK_WEBAPI_FILES=str(path))
    assert str(path) in str(caught.value)


def test_a_missing_file_is_reported(make_app, tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        make_app(BULK_WEBAPI_FILES=str(tmp_path / "nope.xml"))
