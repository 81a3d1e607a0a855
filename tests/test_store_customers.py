"""Customers in `store` mode, through HTTP: accounts, Magento's rules and messages, passwords."""

from __future__ import annotations

import json

from bulk.statuses import OperationStatus
from bulk.store.customers import password_matches
from bulk.store.models import Customer
from tests.magento import assert_magento_error
from tests.store_client import criteria, operations, submit

DUPLICATE = "A customer with the same email address already exists in an associated website."
MELANIE = {"customer": {"email": "mshaw@example.com", "firstname": "Melanie", "lastname": "Shaw",
                        "addresses": [{"firstname": "Melanie", "lastname": "Shaw", "street": ["1 Main St"],
                                       "city": "Austin", "postcode": "78701", "country_id": "US",
                                       "telephone": "555", "default_billing": True}]},
           "password": "Password1!"}


def test_customers_are_created_and_read_back(client, auth, service):
    other = {"customer": {"email": "roni@example.com", "firstname": "Roni", "lastname": "Costello"}}
    bulk_uuid = submit(client, auth, "POST", "/V1/customers", [MELANIE, other])
    assert service.drainer.drain() == 2
    first, second = operations(client, auth, bulk_uuid)
    assert {first["status"], second["status"]} == {OperationStatus.COMPLETE}
    created = json.loads(first["result_serialized_data"])
    response = client.get(f"/rest/V1/customers/{created['id']}", headers=auth)
    assert response.status_code == 200
    customer = response.get_json()
    assert customer == created
    assert (customer["email"], customer["group_id"], customer["website_id"], customer["store_id"]) == \
        ("mshaw@example.com", 1, 1, 1)
    [address] = customer["addresses"]
    assert (address["city"], address["customer_id"], address["default_billing"]) == ("Austin", customer["id"], True)
    assert customer["default_billing"] == str(address["id"])
    found = client.get("/rest/V1/customers/search?" + criteria(("email", "%@example.com", "like"),
                                                               sort=("lastname", "ASC")), headers=auth).get_json()
    assert [c["lastname"] for c in found["items"]] == ["Costello", "Shaw"]
    assert found["total_count"] == 2


def test_a_duplicate_email_in_the_same_website_fails_like_magento(client, auth, service):
    again = {"customer": {**MELANIE["customer"], "email": "MShaw@Example.com"}, "password": "Another1!"}
    elsewhere = {"customer": {**MELANIE["customer"], "website_id": 2}, "password": "Another1!"}
    bulk_uuid = submit(client, auth, "POST", "/V1/customers", [MELANIE, again, elsewhere])
    service.drainer.drain()
    created, duplicate, other_website = operations(client, auth, bulk_uuid)
    assert created["status"] == other_website["status"] == OperationStatus.COMPLETE
    assert (duplicate["status"], duplicate["error_code"], duplicate["result_message"]) == \
        (OperationStatus.NOT_RETRIABLY_FAILED, 0, DUPLICATE)
    # Kept for a retry, with the password sealed: shown as ******.
    assert json.loads(json.loads(duplicate["serialized_data"])["meta_information"]) == {**again, "password": "******"}
    assert Customer.select().count() == 2


def test_passwords_are_hashed_never_stored_in_clear_nor_echoed(client, auth, service):
    bulk_uuid = submit(client, auth, "POST", "/V1/customers", [MELANIE])
    service.drainer.drain()
    [operation] = operations(client, auth, bulk_uuid)
    row = Customer.get()
    assert row.password_hash.startswith("scrypt$") and MELANIE["password"] not in row.password_hash
    assert password_matches(MELANIE["password"], row.password_hash)
    assert not password_matches("Password2!", row.password_hash)
    assert "Password1" not in operation["result_serialized_data"]
    assert "Password1" not in json.dumps(row.values)
    assert "Password1" not in client.get(f"/rest/V1/customers/{row.id}", headers=auth).get_data(as_text=True)


def test_password_and_required_field_rules(client, auth, service):
    customer = MELANIE["customer"]
    items = [{"customer": customer, "password": "short"},
             {"customer": customer, "password": "alllowercase"},
             {"customer": customer, "password": " Password1! "},
             {"customer": {**customer, "email": ""}, "password": "Password1!"},
             {"customer": {**customer, "firstname": None}, "password": "Password1!"},
             {"customer": {"email": "x@example.com"}, "password": "Password1!"}]
    bulk_uuid = submit(client, auth, "POST", "/V1/customers", items)
    service.drainer.drain()
    assert [operation["result_message"] for operation in operations(client, auth, bulk_uuid)] == [
        "The password needs at least 8 characters. Create a new password and try again.",
        "Minimum of different classes of characters in password is 3. Classes of characters: Lower Case, "
        "Upper Case, Digits, Special Characters.",
        "The password can't begin or end with a space. Verify the password and try again.",
        "The customer email is missing. Enter and try again.",
        'The "First Name" attribute value is empty. Set the attribute and try again.',
        'The "First Name" attribute value is empty. Set the attribute and try again.\n'
        'The "Last Name" attribute value is empty. Set the attribute and try again.',
    ]


def test_customers_are_updated_and_deleted(client, auth, service):
    submit(client, auth, "POST", "/V1/customers", [MELANIE, {"customer": {"email": "roni@example.com",
                                                                          "firstname": "Roni", "lastname": "C"}}])
    service.drainer.drain()
    updates = submit(client, auth, "PUT", "/V1/customers/byCustomerId", [
        {"customerId": 1, "customer": {"lastname": "Shaw-Doe", "addresses": []}},
        {"customerId": 2, "customer": {"email": "mshaw@example.com"}},
        {"customerId": 9, "customer": {"lastname": "Nobody"}}])
    service.drainer.drain()
    renamed, taken, missing = operations(client, auth, updates)
    assert renamed["status"] == OperationStatus.COMPLETE
    customer = client.get("/rest/V1/customers/1", headers=auth).get_json()
    assert (customer["firstname"], customer["lastname"], customer["addresses"]) == ("Melanie", "Shaw-Doe", [])
    assert "default_billing" not in customer
    assert taken["result_message"] == DUPLICATE
    assert missing["result_message"] == "No such entity with customerId = 9"
    deleted = submit(client, auth, "DELETE", "/V1/customers/byCustomerId", [{"customerId": 2}, {"customerId": 2}])
    service.drainer.drain()
    first, second = operations(client, auth, deleted)
    assert (first["status"], second["status"]) == (OperationStatus.COMPLETE, OperationStatus.NOT_RETRIABLY_FAILED)
    assert_magento_error(client.get("/rest/V1/customers/2", headers=auth), 404,
                         "No such entity with %fieldName = %fieldValue", {"fieldName": "customerId", "fieldValue": 2})
    assert_magento_error(client.get("/rest/V1/customers/two", headers=auth), 400,
                         'The "%value" value\'s type is invalid. The "%type" type was expected. Verify and try again.',
                         {"value": "two", "type": "int"})


def test_guests_create_accounts_but_cannot_read_them(client, service):
    assert client.post("/rest/async/V1/customers", json=MELANIE).status_code == 202
    service.drainer.drain()
    assert_magento_error(client.get("/rest/V1/customers/1"), 401,
                         "The consumer isn't authorized to access %resources.",
                         {"resources": "Magento_Customer::customer"})
