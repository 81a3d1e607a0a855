"""Forward mode signs like a real client: `oauth1` and `admin`, against a second instance of this
service as the upstream (the fixture server, in store mode), which verifies what it receives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import requests

from bulk.config import ConfigError, load_settings
from bulk.db import database
from bulk.models import Operation
from tests.live import PROJECT_ROOT


@pytest.fixture(scope="module")
def upstream():
    """A second service: the fixture server on a free port, its clock at the real time."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BULK_")}
    process = subprocess.Popen([sys.executable, "-m", "bulk.testing.server"], cwd=PROJECT_ROOT, env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        started = json.loads(process.stdout.readline())
        base, headers = started["base_url"], {"Authorization": f"Bearer {started['token']}"}
        requests.post(f"{base}/rest/V1/testing/clock", json={"set": time.time()}, headers=headers, timeout=10)
        headers = {"Authorization": "Bearer " + requests.post(
            f"{base}/rest/V1/integration/admin/token", json={"username": "admin", "password": "admin123"},
            timeout=10).json()}
        yield base, headers
    finally:
        process.terminate()
        process.wait(30)
        if process.stdout is not None:
            process.stdout.close()


def upstream_product(upstream, sku):
    base, headers = upstream
    return requests.get(f"{base}/rest/V1/products/{sku}", headers=headers, timeout=10)


def forward_products(make_app, settings, skus, token_name="Forwarded"):
    app = make_app(BULK_PROCESSING="forward", BULK_RETRY_ATTEMPTS="1", **settings)
    service = app.extensions["bulk"]
    service.ensure_ready_without_worker()
    client = app.test_client()
    token = client.post("/rest/V1/integration/admin/token", json={"username": "admin", "password": "admin123"})
    response = client.post("/rest/default/async/bulk/V1/products", headers={"Authorization": f"Bearer {token.get_json()}"},
                           json=[{"product": {"sku": sku, "name": f"{token_name} {sku}", "attribute_set_id": 4,
                                              "price": 9}} for sku in skus])
    assert response.status_code == 202
    return service, app



def drain(service):
    with database.connection_context():
        service.drainer.drain()
        return [(row.status, row.result_message) for row in Operation.select().order_by(Operation.id)]


def test_oauth1_signed_calls_are_verified_by_the_upstream(upstream, make_app):
    base, headers = upstream
    created = requests.post(f"{base}/rest/V1/testing/integrations",
                            json={"name": f"forwarder-{time.time_ns()}", "resources": ["Magento_Catalog::products"]},
                            headers=headers, timeout=10).json()
    settings = {"BULK_UPSTREAM_URL": base, "BULK_UPSTREAM_AUTH": "oauth1",
                "BULK_UPSTREAM_CONSUMER_KEY": created["consumer_key"],
                "BULK_UPSTREAM_CONSUMER_SECRET": created["consumer_secret"],
                "BULK_UPSTREAM_ACCESS_TOKEN": created["access_token"],
                "BULK_UPSTREAM_ACCESS_TOKEN_SECRET": created["access_token_secret"]}
    skus = [f"OAUTH-{time.time_ns()}-{n}" for n in range(3)]
    service, _ = forward_products(make_app, settings, skus)
    assert [status for status, _ in drain(service)] == [1, 1, 1]
    assert upstream_product(upstream, skus[0]).json()["name"] == f"Forwarded {skus[0]}"
    # A wrong secret is refused by the upstream with Magento's text, and the operation says so.
    wrong = {**settings, "BULK_UPSTREAM_CONSUMER_SECRET": "x" * 32}
    service, _ = forward_products(make_app, wrong, [f"WRONG-{time.time_ns()}"])
    assert drain(service)[-1] == (3, "The signature is invalid. Verify and try again.")


def test_admin_token_is_fetched_and_renewed_after_a_401(upstream, make_app):
    base, headers = upstream
    settings = {"BULK_UPSTREAM_URL": base, "BULK_UPSTREAM_AUTH": "admin", "BULK_UPSTREAM_USERNAME": "admin",
                "BULK_UPSTREAM_PASSWORD": "admin123"}
    first = [f"ADMIN-{time.time_ns()}-{n}" for n in range(2)]
    service, app = forward_products(make_app, settings, first)
    assert [status for status, _ in drain(service)] == [1, 1]
    assert upstream_product(upstream, first[1]).status_code == 200
    # The upstream's clock passes its token lifetime: its tokens (ours too) expire there.
    requests.post(f"{base}/rest/V1/testing/clock", json={"advance": 5 * 3600}, headers=headers, timeout=10)
    fresh_headers = {"Authorization": "Bearer " + requests.post(
        f"{base}/rest/V1/integration/admin/token", json={"username": "admin", "password": "admin123"},
        timeout=10).json()}
    client = app.test_client()
    token = client.post("/rest/V1/integration/admin/token", json={"username": "admin", "password": "admin123"})
    later = f"ADMIN-LATER-{time.time_ns()}"
    assert client.post("/rest/default/async/bulk/V1/products", headers={"Authorization": f"Bearer {token.get_json()}"},
                       json=[{"product": {"sku": later, "name": "Later", "attribute_set_id": 4, "price": 1}}]
                       ).status_code == 202
    assert drain(service)[-1][0] == 1  # 401 with the old token, then once more with a new one
    assert requests.get(f"{base}/rest/V1/products/{later}", headers=fresh_headers, timeout=10).status_code == 200
    requests.post(f"{base}/rest/V1/testing/clock", json={"set": time.time()}, headers=fresh_headers, timeout=10)


def test_a_refused_admin_sign_in_fails_the_operation_without_hammering(upstream, make_app):
    base, _ = upstream
    settings = {"BULK_UPSTREAM_URL": base, "BULK_UPSTREAM_AUTH": "admin", "BULK_UPSTREAM_USERNAME": "nobody",
                "BULK_UPSTREAM_PASSWORD": "wrong"}
    service, _ = forward_products(make_app, settings, ["X1", "X2"])
    outcomes = drain(service)
    assert [status for status, _ in outcomes] == [2, 2]
    assert outcomes[0][1].startswith("The upstream refused the admin sign-in (HTTP 401)")


@pytest.mark.parametrize("auth, missing", [
    ("oauth1", "BULK_UPSTREAM_CONSUMER_KEY, BULK_UPSTREAM_CONSUMER_SECRET, BULK_UPSTREAM_ACCESS_TOKEN, "
               "BULK_UPSTREAM_ACCESS_TOKEN_SECRET"),
    ("admin", "BULK_UPSTREAM_USERNAME, BULK_UPSTREAM_PASSWORD"),
])
def test_the_credentials_each_way_needs_are_required(auth, missing):
    with pytest.raises(ConfigError, match=f"{missing} must be set when BULK_UPSTREAM_AUTH={auth}"):
        load_settings({"BULK_ENV": "development", "BULK_SECRET_KEY": "s" * 32, "BULK_PROCESSING": "forward",
                       "BULK_UPSTREAM_URL": "http://127.0.0.1:9", "BULK_UPSTREAM_AUTH": auth}, environ={})
