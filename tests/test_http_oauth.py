"""Integrations calling with OAuth 1.0a: signed by requests-oauthlib and by oauthlib's client, both engines."""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest
from oauthlib.oauth1 import Client

from bulk.db import database
from bulk.integrations import Integration
from bulk.models import Bulk
from bulk.oauth import OAuthNonce
from tests.magento import assert_magento_error, bearer
from tests.oauth_helpers import (
    BASE,
    BULK_ACTIONS,
    NOT_AUTHORIZED,
    create_integration,
    requests_auth,
    send_signed,
)

PRODUCTS = "/rest/default/async/bulk/V1/products"
ITEMS = [{"product": {"sku": "A"}}, {"product": {"sku": "B"}}]
SIGNATURE_INVALID = "The signature is invalid. Verify and try again."


@pytest.fixture(autouse=True)
def _real_time(clock):
    # Clients sign with the real time; the service's clock must agree within 600 s.
    clock.set(time.time())


def bulk_count(service) -> int:
    with database.connection_context():
        return Bulk.select().count()


def oauthlib_headers(integration, method, url, **client_options):
    client = Client(integration.consumer_key, client_secret=integration.consumer_secret,
                    resource_owner_key=integration.access_token,
                    resource_owner_secret=integration.access_token_secret,
                    signature_method=client_options.pop("signature_method", "HMAC-SHA256"), **client_options)
    _, headers, _ = client.sign(BASE + url, http_method=method)
    return {"Authorization": headers["Authorization"]}


def test_a_signed_bulk_is_accepted_as_the_integration(client, service, auth):
    integration = create_integration(service)
    response = send_signed(client, "POST", PRODUCTS, requests_auth(integration), json=ITEMS)
    assert response.status_code == 202, response.get_json()
    bulk_uuid = response.get_json()["bulk_uuid"]
    status = client.get(f"/rest/V1/bulk/{bulk_uuid}/status", headers=auth).get_json()
    assert (status["user_type"], status["user_id"]) == (1, integration.id)


def test_oauthlib_client_signs_reads_with_a_query_string(client, service):
    integration = create_integration(service)
    submitted = send_signed(client, "POST", PRODUCTS, requests_auth(integration), json=ITEMS).get_json()
    # Brackets percent-encoded, as HTTP clients send them; `+` is a space in the signed parameters.
    criteria = "searchCriteria%5Bfilter_groups%5D%5B0%5D%5Bfilters%5D%5B0%5D"
    url = (f"/rest/all/V1/bulk?{criteria}%5Bfield%5D=bulk_uuid"
           f"&{criteria}%5Bvalue%5D={submitted['bulk_uuid']}&note=a+b")
    response = client.get(url, headers=oauthlib_headers(integration, "GET", url))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["total_count"] == 2
    # The same URL signed without the query string is refused: the query is part of the signature.
    unsigned_query = oauthlib_headers(integration, "GET", url.split("?")[0])
    assert_magento_error(client.get(url, headers=unsigned_query), 401, SIGNATURE_INVALID)


def test_a_bad_signature_is_refused_stores_nothing_and_burns_no_nonce(client, service):
    integration = create_integration(service)
    forged = requests_auth(integration, nonce="n" * 32, timestamp=str(int(time.time())))
    forged.client.client_secret = "x" * 32
    assert_magento_error(send_signed(client, "POST", PRODUCTS, forged, json=ITEMS), 401, SIGNATURE_INVALID)
    assert bulk_count(service) == 0
    # The real client's request with that nonce still passes (Magento would answer it "nonce used").
    genuine = requests_auth(integration, nonce="n" * 32, timestamp=str(int(time.time())))
    assert send_signed(client, "POST", PRODUCTS, genuine, json=ITEMS).status_code == 202


def test_a_reused_nonce_is_refused(client, service):
    integration = create_integration(service)
    prepared = dict(nonce="reused-nonce", timestamp=str(int(time.time())))
    assert send_signed(client, "POST", PRODUCTS, requests_auth(integration, **prepared), json=ITEMS).status_code == 202
    assert_magento_error(send_signed(client, "POST", PRODUCTS, requests_auth(integration, **prepared), json=ITEMS),
                         401, "The nonce is already being used by the consumer with ID %1", [integration.id])
    assert bulk_count(service) == 1
    # A signed read records its nonce too.
    url = "/rest/V1/bulk/x/operation-status/1"
    headers = oauthlib_headers(integration, "GET", url, nonce="read-nonce")
    assert client.get(url, headers=headers).status_code == 200
    assert client.get(url, headers=headers).status_code == 401


def test_hmac_sha1_is_refused_unless_allowed(make_app):
    app = make_app()
    service = app.extensions["bulk"]
    service.ensure_ready_without_worker()
    client = app.test_client()
    integration = create_integration(service)
    response = send_signed(client, "POST", PRODUCTS, requests_auth(integration, "HMAC-SHA1"), json=ITEMS)
    assert_magento_error(response, 400, "Signature method %1 is not supported", ["HMAC-SHA1"])
    older = make_app(BULK_OAUTH_SIGNATURE_METHODS="HMAC-SHA256,HMAC-SHA1").test_client()
    assert send_signed(older, "POST", PRODUCTS, requests_auth(integration, "HMAC-SHA1"), json=ITEMS).status_code == 202


@pytest.mark.parametrize("offset, accepted", [(601, False), (590, True), (-23 * 3600, True), (-25 * 3600, False)])
def test_timestamps_ahead_or_older_than_the_nonce_window_are_refused(client, service, clock, offset, accepted):
    integration = create_integration(service)
    auth = requests_auth(integration, timestamp=str(int(clock.time() + offset)))
    response = send_signed(client, "POST", PRODUCTS, auth, json=ITEMS)
    if accepted:
        assert response.status_code == 202
    else:
        assert_magento_error(response, 400, "Incorrect timestamp value in the oauth_timestamp parameter")
        assert bulk_count(service) == 0


def test_missing_protocol_parameters(client, service):
    integration = create_integration(service)
    one_missing = (f'OAuth oauth_consumer_key="{integration.consumer_key}", oauth_token="{integration.access_token}", '
                   f'oauth_signature_method="HMAC-SHA256", oauth_timestamp="{int(time.time())}", '
                   f'oauth_signature="abc"')
    assert_magento_error(client.post(PRODUCTS, json=ITEMS, headers={"Authorization": one_missing}), 400,
                         '"%fieldName" is required. Enter and try again.', {"fieldName": "oauth_nonce"})
    body = assert_magento_error(client.post(PRODUCTS, json=ITEMS, headers={"Authorization": "OAuth realm=\"x\""}),
                                400, "One or more input exceptions have occurred.")
    assert [error["parameters"]["fieldName"] for error in body["errors"]] == [
        "oauth_consumer_key", "oauth_signature", "oauth_signature_method", "oauth_nonce", "oauth_timestamp",
        "oauth_token"]
    signed = oauthlib_headers(integration, "POST", PRODUCTS)["Authorization"]
    bad_version = signed.replace('oauth_version="1.0"', 'oauth_version="2.0"')
    assert bad_version != signed
    assert_magento_error(client.post(PRODUCTS, json=ITEMS, headers={"Authorization": bad_version}), 400,
                         'The "%1" Oauth version isn\'t supported.', ["2.0"])


def test_unknown_consumer_and_tokens(client, service):
    integration = create_integration(service)
    other = create_integration(service, name="other")

    def signed_with(**changes):
        values = {"consumer_key": integration.consumer_key, "consumer_secret": integration.consumer_secret,
                  "access_token": integration.access_token, "access_token_secret": integration.access_token_secret,
                  **changes}
        auth = requests_auth(integration)
        auth.client.client_key = values["consumer_key"]
        auth.client.resource_owner_key = values["access_token"]
        return send_signed(client, "POST", PRODUCTS, auth, json=ITEMS)

    assert_magento_error(signed_with(consumer_key="z" * 32), 401, "A consumer having the specified key does not exist")
    assert_magento_error(signed_with(consumer_key="short"), 401, "Consumer key is not the correct length")
    assert_magento_error(signed_with(access_token="z" * 32), 401, "Specified token does not exist")
    assert_magento_error(signed_with(access_token="short"), 400,
                         "The token length is invalid. Check the length and try again.")
    assert_magento_error(signed_with(access_token=other.access_token), 401,
                         "Token is not associated with the specified consumer")
    assert bulk_count(service) == 0


def test_an_integration_gets_only_its_resources(client, service):
    integration = create_integration(service, resources=["Magento_Catalog::products"])
    assert send_signed(client, "POST", PRODUCTS, requests_auth(integration), json=ITEMS).status_code == 202
    assert_magento_error(send_signed(client, "PUT", "/rest/async/bulk/V1/customers/byCustomerId", requests_auth(integration),
                                     json=[{"customerId": 1, "customer": {"id": 1}}]),
                         401, NOT_AUTHORIZED, {"resources": "Magento_Customer::manage"})
    assert_magento_error(send_signed(client, "GET", "/rest/V1/bulk/x/status", requests_auth(integration)),
                         401, NOT_AUTHORIZED, {"resources": BULK_ACTIONS})
    assert bulk_count(service) == 1


def test_each_caller_sees_its_own_bulks_and_those_its_resources_allow(client, service, auth):
    admin_bulk = client.post(PRODUCTS, json=ITEMS, headers=auth).get_json()["bulk_uuid"]
    own = create_integration(service, resources=["Magento_Catalog::products", BULK_ACTIONS])
    overseer = create_integration(service, name="overseer", resources=[BULK_ACTIONS, BULK_ACTIONS + "_admin"])
    own_bulk = send_signed(client, "POST", PRODUCTS, requests_auth(own), json=ITEMS).get_json()["bulk_uuid"]

    def as_(integration, method, path):
        return send_signed(client, method, path, requests_auth(integration))

    assert as_(own, "GET", f"/rest/V1/bulk/{own_bulk}/status").status_code == 200
    assert as_(own, "GET", f"/rest/V1/bulk/{own_bulk}/webhooks").status_code == 200
    for path in (f"/rest/V1/bulk/{admin_bulk}/status", f"/rest/V1/bulk/{admin_bulk}/detailed-status",
                 f"/rest/V1/bulk/{admin_bulk}/webhooks"):
        assert_magento_error(as_(own, "GET", path), 404, "Bulk uuid %bulkUuid not exist", {"bulkUuid": admin_bulk})
    assert as_(own, "GET", f"/rest/V1/bulk/{admin_bulk}/operation-status/4").get_json() == 0
    assert as_(own, "GET", f"/rest/V1/bulk/{own_bulk}/operation-status/4").get_json() == 2
    search = as_(own, "GET", "/rest/V1/bulk?searchCriteria[pageSize]=50").get_json()
    assert {item["bulk_uuid"] for item in search["items"]} == {own_bulk} and search["total_count"] == 2
    assert_magento_error(as_(own, "POST", f"/rest/V1/bulk/{admin_bulk}/retry"), 404,
                         "Bulk uuid %bulkUuid not exist", {"bulkUuid": admin_bulk})
    assert_magento_error(as_(own, "DELETE", f"/rest/V1/bulk/{admin_bulk}"), 404,
                         "Bulk uuid %bulkUuid not exist", {"bulkUuid": admin_bulk})
    # With the admin child resource, admins' bulks are visible, other integrations' are not.
    assert as_(overseer, "GET", f"/rest/V1/bulk/{admin_bulk}/status").status_code == 200
    assert as_(overseer, "GET", f"/rest/V1/bulk/{own_bulk}/status").status_code == 404
    overseen = as_(overseer, "GET", "/rest/V1/bulk?searchCriteria[pageSize]=50").get_json()
    assert {item["bulk_uuid"] for item in overseen["items"]} == {admin_bulk}
    # The admin sees everything.
    assert client.get(f"/rest/V1/bulk/{own_bulk}/status", headers=auth).status_code == 200


def test_the_access_token_as_bearer_only_when_allowed(make_app):
    app = make_app()
    service = app.extensions["bulk"]
    service.ensure_ready_without_worker()
    integration = create_integration(service)
    refused = app.test_client().post(PRODUCTS, json=ITEMS, headers=bearer(integration.access_token))
    assert_magento_error(refused, 401, NOT_AUTHORIZED, {"resources": "Magento_Catalog::products"})
    allowed = make_app(BULK_INTEGRATION_AS_BEARER="1").test_client()
    response = allowed.post(PRODUCTS, json=ITEMS, headers=bearer(integration.access_token))
    assert response.status_code == 202
    assert allowed.post(PRODUCTS, json=ITEMS, headers=bearer(integration.access_token_secret)).status_code == 401


def test_rotated_and_deleted_credentials_stop_working(client, service):
    integration = create_integration(service)
    with database.connection_context():
        rotated = service.integrations.rotate("erp")
    assert_magento_error(send_signed(client, "POST", PRODUCTS, requests_auth(integration), json=ITEMS), 401,
                         "Specified token does not exist")
    fresh = integration.__class__.from_json(rotated.to_json())
    assert send_signed(client, "POST", PRODUCTS, requests_auth(fresh), json=ITEMS).status_code == 202
    with database.connection_context():
        service.integrations.delete(str(integration.id))
    assert_magento_error(send_signed(client, "POST", PRODUCTS, requests_auth(fresh), json=ITEMS), 401,
                         "A consumer having the specified key does not exist")


def test_secrets_are_not_stored_in_clear(client, service):
    integration = create_integration(service)
    with database.connection_context():
        row = Integration.select().dicts().get()
    stored = " ".join(str(value) for value in row.values())
    for secret in (integration.consumer_secret, integration.access_token, integration.access_token_secret):
        assert secret not in stored


def test_forwarded_scheme_and_host_only_from_trusted_proxies(make_app):
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.example.com"}
    for trusted, expected in (("", 401), ("127.0.0.1", 202)):
        app = make_app(BULK_TRUSTED_PROXIES=trusted) if trusted else make_app()
        service = app.extensions["bulk"]
        service.ensure_ready_without_worker()
        with database.connection_context():
            existing = service.integrations.all()
        integration = create_integration(service, name=f"proxied-{len(existing)}")
        response = send_signed(app.test_client(), "POST", PRODUCTS, requests_auth(integration), json=ITEMS,
                               headers=headers, base="https://shop.example.com")
        assert response.status_code == expected, response.get_json()


def test_nonces_are_swept_once_out_of_the_window(client, service, clock):
    integration = create_integration(service)
    assert send_signed(client, "POST", PRODUCTS, requests_auth(integration), json=ITEMS).status_code == 202
    service.housekeeper.run_once()
    with database.connection_context():
        assert OAuthNonce.select().count() == 1
    clock.advance(24 * 3600 + 10)
    assert service.housekeeper.run_once().expired_rows == 1
    with database.connection_context():
        assert OAuthNonce.select().count() == 0


@pytest.mark.parametrize("field, value, status, message", [
    ("oauth_nonce", "bad\x00nonce", 400, 'Invalid value of "%value" provided for the %fieldName field.'),
    ("oauth_nonce", "n" * 300, 400, 'Invalid value of "%value" provided for the %fieldName field.'),
    ("oauth_consumer_key", "\x00" * 32, 401, "A consumer having the specified key does not exist"),
    ("oauth_timestamp", "9" * 5000, 400, "Incorrect timestamp value in the oauth_timestamp parameter"),
    ("oauth_token", "\x00" * 32, 401, "Specified token does not exist"),
])
def test_hostile_protocol_values_get_magento_errors_not_500(client, service, field, value, status, message):
    integration = create_integration(service)
    values = {"oauth_consumer_key": integration.consumer_key, "oauth_token": integration.access_token,
              "oauth_signature_method": "HMAC-SHA256", "oauth_timestamp": str(int(time.time())),
              "oauth_nonce": "n1", "oauth_signature": "abc", field: value}
    header = "OAuth " + ", ".join(f'{name}="{quote(text, safe="")}"' for name, text in values.items())
    response = client.post(PRODUCTS, json=ITEMS, headers={"Authorization": header})
    assert response.status_code == status, response.get_json()
    assert response.get_json()["message"] == message
    assert bulk_count(service) == 0


def test_a_signed_form_body_is_verified_and_still_refused_as_magento_refuses_forms(client, service):
    integration = create_integration(service)
    client_ = Client(integration.consumer_key, client_secret=integration.consumer_secret,
                     resource_owner_key=integration.access_token,
                     resource_owner_secret=integration.access_token_secret, signature_method="HMAC-SHA256")
    _, headers, body = client_.sign(BASE + PRODUCTS, http_method="POST", body="sku=A&name=B",
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    response = client.post(PRODUCTS, data=body, headers=headers)
    assert_magento_error(response, 400, "Server cannot understand Content-Type HTTP header media type %1",
                         ["application/x-www-form-urlencoded"])
    # The first answer came after the signature was checked, so its nonce is spent: sign again.
    assert_magento_error(client.post(PRODUCTS, data=body, headers=headers), 401,
                         "The nonce is already being used by the consumer with ID %1", [integration.id])
    _, headers, _ = client_.sign(BASE + PRODUCTS, http_method="POST", body="sku=A&name=B",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    tampered = client.post(PRODUCTS, data="sku=A&name=C", headers=headers)
    assert_magento_error(tampered, 401, SIGNATURE_INVALID)
