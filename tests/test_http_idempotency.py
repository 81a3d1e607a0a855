"""Idempotency-Key on async and bulk submits, through the Flask client."""

from __future__ import annotations

import pytest

from bulk.models import Bulk, IdempotencyKey
from tests.magento import assert_magento_error

BULK_URL = "/rest/async/bulk/V1/products"
ITEMS = [{"product": {"sku": "A"}}, {"product": {"sku": "B"}}]


def post(client, headers, key=None, json=ITEMS, url=BULK_URL, method="POST"):
    extra = {"Idempotency-Key": key} if key is not None else {}
    return client.open(url, method=method, json=json, headers={**headers, **extra})


def bulks() -> int:
    return Bulk.select().count()


def test_the_same_key_and_body_answer_the_first_202_byte_for_byte_and_store_nothing(client, auth, service):
    first = post(client, auth, "order-import-42")
    assert first.status_code == 202
    assert "Idempotent-Replayed" not in first.headers
    again = post(client, auth, "order-import-42")
    assert again.status_code == 202
    assert again.get_data() == first.get_data()
    assert again.headers["Content-Type"] == first.headers["Content-Type"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert bulks() == 1 and IdempotencyKey.select().count() == 1
    # The draft's form: a quoted Structured Field string names the same key.
    assert post(client, auth, '"order-import-42"').get_data() == first.get_data()
    assert bulks() == 1


def test_the_same_key_with_another_body_or_path_is_422(client, auth, service):
    assert post(client, auth, "k1").status_code == 202
    message = ("The %header was already used with another request in the last %hours hour(s); "
               "send a new request with a new key.")
    assert_magento_error(post(client, auth, "k1", json=[{"product": {"sku": "C"}}]), 422, message,
                         {"header": "Idempotency-Key", "hours": "24"})
    assert_magento_error(post(client, auth, "k1", url="/rest/default/async/bulk/V1/products"), 422, message,
                         {"header": "Idempotency-Key", "hours": "24"})
    assert bulks() == 1


def test_without_the_header_every_submit_is_a_new_bulk(client, auth, service):
    assert post(client, auth).get_json()["bulk_uuid"] != post(client, auth).get_json()["bulk_uuid"]
    assert bulks() == 2 and IdempotencyKey.select().count() == 0


def test_single_async_submits_take_a_key_too(client, auth, service):
    url = "/rest/async/V1/products/A"
    body = {"product": {"sku": "A", "price": 3}}
    first = post(client, auth, "one", json=body, url=url, method="PUT")
    assert first.status_code == 202
    assert post(client, auth, "one", json=body, url=url, method="PUT").get_data() == first.get_data()
    assert post(client, auth, "one", json=body, url=url, method="DELETE").status_code == 422
    assert bulks() == 1


def test_keys_are_scoped_per_caller(client, auth, service):
    customer = {"customer": {"email": "ann@example.com", "firstname": "Ann", "lastname": "Lee"}}
    url = "/rest/async/V1/customers"  # anonymous: guests may submit
    as_admin = post(client, auth, "same", json=customer, url=url)
    as_guest = post(client, {}, "same", json=customer, url=url)
    assert as_admin.status_code == as_guest.status_code == 202
    assert as_admin.get_json()["bulk_uuid"] != as_guest.get_json()["bulk_uuid"]
    assert bulks() == 2


def test_a_key_is_forgotten_after_the_configured_hours(make_app, clock):
    app = make_app(BULK_IDEMPOTENCY_HOURS="2")
    client = app.test_client()
    token = client.post("/rest/V1/integration/admin/token", json={"username": "admin", "password": "admin123"})
    auth = {"Authorization": f"Bearer {token.get_json()}"}
    first = post(client, auth, "k")
    clock.advance(2 * 3600 - 1)
    assert post(client, auth, "k").get_data() == first.get_data()
    clock.advance(2)
    later = post(client, auth, "k", json=[{"product": {"sku": "C"}}])  # a new request may use it again
    assert later.status_code == 202 and later.get_data() != first.get_data()
    assert bulks() == 2
    # Housekeeping forgets keys past their time.
    clock.advance(2 * 3600 + 1)
    app.extensions["bulk"].housekeeper.run_once()
    assert IdempotencyKey.select().count() == 0


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "caf\u00e9", "tab\there", '""'])
def test_a_malformed_key_is_400_and_stores_nothing(client, auth, service, key):
    response = client.post(BULK_URL, json=ITEMS, headers={**auth, "Idempotency-Key": key.encode("utf-8").decode("latin-1")})
    assert_magento_error(response, 400, "The %header header must be 1 to %max printable ASCII characters.",
                         {"header": "Idempotency-Key", "max": 255})
    assert bulks() == 0


def test_an_invalid_request_with_a_key_stores_no_key(client, auth, service):
    response = post(client, auth, "k", json=[{"nothing": 1}])
    assert response.status_code == 400
    assert IdempotencyKey.select().count() == 0
    assert post(client, auth, "k").status_code == 202


def test_a_request_that_lost_the_race_answers_the_winners_202(client, auth, service, monkeypatch):
    """The look-up found nothing, but another request stored the key before this one's transaction."""
    from bulk import idempotency

    winner = post(client, auth, "race")
    real_find = idempotency.find
    calls = []

    def find_nothing_first(*args):
        calls.append(args)
        return None if len(calls) == 1 else real_find(*args)

    monkeypatch.setattr(idempotency, "find", find_nothing_first)
    loser = post(client, auth, "race")
    assert loser.status_code == 202 and loser.get_data() == winner.get_data()
    assert len(calls) == 2 and bulks() == 1


def test_the_fixtures_reset_forgets_keys(bulk):
    first = bulk.client.post(BULK_URL, json=ITEMS, headers={**bulk.headers, "Idempotency-Key": "k"})
    assert bulk.client.post("/rest/V1/testing/reset", headers=bulk.headers).get_json() is True
    again = bulk.client.post(BULK_URL, json=ITEMS, headers={**bulk.headers, "Idempotency-Key": "k"})
    assert again.status_code == 202
    assert again.get_json()["bulk_uuid"] != first.get_json()["bulk_uuid"]
