"""Admin tokens: issue, expiry, Magento's sign-in errors and the lock-out."""

from __future__ import annotations

import pytest

from tests.magento import assert_magento_error, bearer

SIGN_IN_FAILED = ("The account sign-in was incorrect or your account is disabled temporarily. "
                  "Please wait and try again later.")
STATUS_URL = "/rest/V1/bulk/x/operation-status/1"


def get_token(client, url="/rest/V1/integration/admin/token", **credentials):
    return client.post(url, json=credentials or {"username": "admin", "password": "admin123"})


@pytest.mark.parametrize("url", ["/rest/V1/integration/admin/token", "/rest/default/V1/integration/admin/token",
                                 "/rest/all/V1/integration/admin/token", "/V1/integration/admin/token"])
def test_token_is_a_bare_json_string_on_every_layout(client, url):
    response = get_token(client, url)
    assert response.status_code == 200
    token = response.get_json()
    assert isinstance(token, str) and len(token) > 20
    assert response.get_data(as_text=True) == f'"{token}"'
    assert client.get(STATUS_URL, headers=bearer(token)).status_code == 200


def test_wrong_credentials(client):
    assert_magento_error(get_token(client, username="admin", password="nope"), 401, SIGN_IN_FAILED)
    assert_magento_error(get_token(client, username="root", password="admin123"), 401, SIGN_IN_FAILED)


@pytest.mark.parametrize("credentials, field", [
    ({"password": "admin123"}, "username"),
    ({"username": "", "password": "admin123"}, "username"),
    ({"username": "admin"}, "password"),
    ({"username": "admin", "password": 5}, "password"),
])
def test_missing_credentials(client, credentials, field):
    response = client.post("/rest/V1/integration/admin/token", json=credentials)
    assert_magento_error(response, 401, '"%fieldName" is required. Enter and try again.', {"fieldName": field})


def test_token_request_needs_json(client):
    response = client.post("/rest/V1/integration/admin/token", data="username=admin",
                           content_type="application/x-www-form-urlencoded")
    assert_magento_error(response, 400, "Server cannot understand Content-Type HTTP header media type %1",
                         ["application/x-www-form-urlencoded"])


def test_tokens_expire_after_their_lifetime(client, clock):
    token = get_token(client).get_json()
    clock.advance(4 * 3600 - 1)
    assert client.get(STATUS_URL, headers=bearer(token)).status_code == 200
    clock.advance(2)
    assert client.get(STATUS_URL, headers=bearer(token)).status_code == 401


def test_token_lifetime_is_configurable(make_app, clock):
    client = make_app(BULK_TOKEN_LIFETIME_HOURS="0.5").test_client()
    token = get_token(client).get_json()
    clock.advance(1801)
    assert client.get(STATUS_URL, headers=bearer(token)).status_code == 401


def test_a_token_signed_with_another_secret_is_refused(make_app, tmp_path):
    other = make_app(BULK_SECRET_KEY="another-secret-of-enough-length").test_client()
    token = get_token(other).get_json()
    client = make_app().test_client()
    assert client.get(STATUS_URL, headers=bearer(token)).status_code == 401


def test_repeated_failures_lock_the_account(client, clock):
    for _ in range(6):
        assert get_token(client, username="admin", password="wrong").status_code == 401
    assert_magento_error(get_token(client), 401, SIGN_IN_FAILED)  # right password, still locked
    clock.advance(30 * 60 + 1)
    assert get_token(client).status_code == 200


def test_a_success_resets_the_failure_count(client):
    for _ in range(5):
        get_token(client, username="admin", password="wrong")
    assert get_token(client).status_code == 200
    for _ in range(5):
        get_token(client, username="admin", password="wrong")
    assert get_token(client).status_code == 200


def test_lockout_can_be_disabled(make_app):
    client = make_app(BULK_LOGIN_MAX_FAILURES="0").test_client()
    for _ in range(10):
        get_token(client, username="admin", password="wrong")
    assert get_token(client).status_code == 200
