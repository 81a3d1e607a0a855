"""Guests (anonymous routes: customer sign-up) have their own, lower limits on items and body size."""

from __future__ import annotations

import io
import json

import pytest

from bulk.models import Bulk
from tests.magento import assert_magento_error, bearer

ITEMS_MESSAGE = 'Maximum items of type "%type" is %max'
BODY_MESSAGE = "The request body is larger than %max bytes."
ITEM_TYPE = "Magento\\Customer\\Api\\AccountManagementInterface"


def customers(count: int, padding: int = 0) -> list[dict]:
    return [{"customer": {"email": f"c{n}@example.com", "firstname": "A" + "a" * padding, "lastname": "B"},
             "password": "Secret-Pass-1"} for n in range(count)]


def sign_in(client) -> dict[str, str]:
    return bearer(client.post("/rest/V1/integration/admin/token",
                              json={"username": "admin", "password": "admin123"}).get_json())


def test_a_guest_bulk_over_the_guest_item_limit_is_refused_and_stores_nothing(make_app):
    client = make_app(BULK_GUEST_MAX_ITEMS="3").test_client()
    response = client.post("/rest/async/bulk/V1/customers", json=customers(4))
    assert_magento_error(response, 400, ITEMS_MESSAGE,
                         {"type": ITEM_TYPE, "max": 3})
    assert Bulk.select().count() == 0
    assert client.post("/rest/async/bulk/V1/customers", json=customers(3)).status_code == 202
    # The admin is held to BULK_MAX_ITEMS only.
    assert client.post("/rest/async/bulk/V1/customers", json=customers(4), headers=sign_in(client)).status_code == 202


def test_the_guest_item_limit_defaults_to_100(client):
    assert_magento_error(client.post("/rest/async/bulk/V1/customers", json=customers(101)), 400, ITEMS_MESSAGE,
                         {"type": ITEM_TYPE, "max": 100})
    assert client.post("/rest/async/bulk/V1/customers", json=customers(100)).status_code == 202


@pytest.mark.parametrize("path, body", [
    ("/rest/async/bulk/V1/customers", customers(1, padding=3000)),
    ("/rest/async/V1/customers", customers(1, padding=3000)[0]),
    ("/rest/V1/customers", customers(1, padding=3000)[0]),
])
def test_a_guest_body_over_the_guest_size_limit_is_a_413(make_app, path, body):
    client = make_app(BULK_GUEST_MAX_BODY_BYTES="2000").test_client()
    assert_magento_error(client.post(path, json=body), 413, BODY_MESSAGE, {"max": 2000})
    assert Bulk.select().count() == 0
    admin = client.post(path, json=body, headers=sign_in(client))
    assert admin.status_code in (200, 202), admin.get_data(as_text=True)


def test_a_chunked_guest_body_over_the_guest_limit_is_a_413(make_app):
    client = make_app(BULK_GUEST_MAX_BODY_BYTES="2000").test_client()
    body = json.dumps(customers(30)).encode()
    response = client.post("/rest/async/bulk/V1/customers", input_stream=io.BytesIO(body),
                           headers={"Content-Type": "application/json"},
                           environ_overrides={"wsgi.input_terminated": True})
    assert_magento_error(response, 413, BODY_MESSAGE, {"max": 2000})


def test_the_guest_size_limit_never_exceeds_the_general_one(make_app):
    client = make_app(BULK_MAX_BODY_BYTES="1500", BULK_GUEST_MAX_BODY_BYTES="2000").test_client()
    body = customers(1, padding=1600)
    assert_magento_error(client.post("/rest/async/bulk/V1/customers", json=body), 413, BODY_MESSAGE, {"max": 1500})


def test_the_admin_body_limit_message_names_the_general_limit(make_app):
    client = make_app(BULK_MAX_BODY_BYTES="1500", BULK_GUEST_MAX_BODY_BYTES="1000").test_client()
    response = client.post("/rest/async/bulk/V1/customers", json=customers(1, padding=1600), headers=sign_in(client))
    assert_magento_error(response, 413, BODY_MESSAGE, {"max": 1500})
