"""`flask --app app bulk integration ...` run as processes, then used by a signed client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from bulk.testing.signing import TestIntegration
from tests.live import PROJECT_ROOT
from tests.magento import assert_magento_error
from tests.oauth_helpers import requests_auth, send_signed

PRODUCTS = "/rest/default/async/bulk/V1/products"
ITEMS = [{"product": {"sku": "A"}}]


def flask_bulk(database_url, data_dir, *arguments):
    environment = {**{k: v for k, v in os.environ.items() if not k.startswith("BULK_")},
                   "BULK_ENV": "development", "BULK_DATA_DIR": str(data_dir), "DATABASE_URL": database_url}
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", "bulk", "integration", *arguments],
                          cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=120)


def test_create_list_rotate_delete(make_app, database_url, tmp_path, clock):
    created = flask_bulk(database_url, tmp_path, "create", "erp", "--resource", "Magento_Catalog::products")
    assert created.returncode == 0, created.stderr
    body = json.loads(created.stdout)
    assert set(body) == {"id", "name", "consumer_key", "consumer_secret", "access_token", "access_token_secret",
                         "resources"}
    assert body["resources"] == ["Magento_Catalog::products"]
    assert all(len(body[name]) == 32 for name in ("consumer_key", "consumer_secret", "access_token",
                                                   "access_token_secret"))
    integration = TestIntegration.from_json(body)

    clock.set(time.time())
    app = make_app()
    client = app.test_client()
    response = send_signed(client, "POST", PRODUCTS, requests_auth(integration), json=ITEMS)
    assert response.status_code == 202, response.get_json()

    listed = flask_bulk(database_url, tmp_path, "list")
    assert listed.returncode == 0
    [entry] = json.loads(listed.stdout)
    assert entry["name"] == "erp" and entry["consumer_key"] == integration.consumer_key
    for secret in (integration.consumer_secret, integration.access_token, integration.access_token_secret):
        assert secret not in listed.stdout

    rotated = flask_bulk(database_url, tmp_path, "rotate", "erp")
    assert rotated.returncode == 0, rotated.stderr
    fresh = TestIntegration.from_json(json.loads(rotated.stdout))
    assert fresh.access_token != integration.access_token and fresh.consumer_key == integration.consumer_key
    assert_magento_error(send_signed(client, "POST", PRODUCTS, requests_auth(integration), json=ITEMS), 401,
                         "Specified token does not exist")
    assert send_signed(client, "POST", PRODUCTS, requests_auth(fresh), json=ITEMS).status_code == 202

    assert flask_bulk(database_url, tmp_path, "delete", str(fresh.id)).returncode == 0
    assert_magento_error(send_signed(client, "POST", PRODUCTS, requests_auth(fresh), json=ITEMS), 401,
                         "A consumer having the specified key does not exist")
    assert json.loads(flask_bulk(database_url, tmp_path, "list").stdout) == []


def test_mistakes_exit_with_a_message(database_url, tmp_path):
    everything = flask_bulk(database_url, tmp_path, "create", "all-of-it", "--all-resources")
    assert everything.returncode == 0 and json.loads(everything.stdout)["resources"] == "all"
    for arguments, text in ((("create", "all-of-it", "--all-resources"), "already exists"),
                            (("create", "none"), "--resource"),
                            (("create", "bad", "--resource", "products"), "Magento_Catalog::products"),
                            (("rotate", "nobody"), "no integration"),
                            (("delete", "99"), "no integration")):
        result = flask_bulk(database_url, tmp_path, *arguments)
        assert result.returncode != 0 and text in result.stderr, (arguments, result.stderr)
        assert "Traceback" not in result.stderr
