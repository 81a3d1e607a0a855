"""Live, both engines: integrations created with the CLI, each with its own endpoint, submit bulks signed
with OAuth 1.0a to real gunicorn workers; each endpoint gets its own integration's events only, verified by
`standardwebhooks` with that integration's secret, and the global endpoint gets every bulk."""

from __future__ import annotations

import json

import pytest
import requests

from bulk.testing.signing import TestIntegration
from tests.databases import fetch_all
from tests.oauth_helpers import requests_auth
from tests.test_integrations_cli import flask_bulk
from tests.test_live_webhooks import wait_until, webhook_server
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.live


def created(database_url, tmp_path, name: str, endpoint: str) -> dict:
    result = flask_bulk(database_url, tmp_path, "create", name, "--all-resources", "--endpoint", endpoint)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_each_integration_endpoint_gets_its_own_bulks_signed_with_its_own_secret(tmp_path, database_url):
    with Receiver() as everything, Receiver(secret=None) as erp_hooks, Receiver(secret=None) as crm_hooks:
        erp = created(database_url, tmp_path, "erp", erp_hooks.url)
        crm = created(database_url, tmp_path, "crm", crm_hooks.url + "?token=crm-only")
        erp_hooks.secret, crm_hooks.secret = erp["webhook_secret"], crm["webhook_secret"]
        with webhook_server(tmp_path, database_url, everything) as server:
            url = f"{server.base_url}/rest/default/async/bulk/V1/products"

            def submit(credentials: dict, sku: str) -> str:
                answer = requests.post(url, json=[{"product": {"sku": sku}}], timeout=30,
                                       auth=requests_auth(TestIntegration.from_json(credentials)))
                assert answer.status_code == 202, answer.text
                return answer.json()["bulk_uuid"]

            erp_bulks = {submit(erp, "E1"), submit(erp, "E2")}
            crm_bulks = {submit(crm, "C1")}
            wait_until(lambda: len(everything.accepted("bulk.finished")) == 3, 60, "the global endpoint got 3")
            wait_until(lambda: len(erp_hooks.accepted()) == 2 and len(crm_hooks.accepted()) == 1, 30,
                       "each integration's endpoint got its own")
            assert server.stop() == 0, server.log()
        received = [*everything.received, *erp_hooks.received, *crm_hooks.received]

    assert all(r.verified for r in received), [r.answered for r in received]
    assert {event["data"]["bulk_uuid"] for event in everything.accepted()} == erp_bulks | crm_bulks
    # All that reached each integration's endpoint (verified or not) is its own bulks' events.
    assert {json.loads(r.body)["data"]["bulk_uuid"] for r in erp_hooks.received} == erp_bulks
    assert {json.loads(r.body)["data"]["bulk_uuid"] for r in crm_hooks.received} == crm_bulks
    assert {(event["data"]["user_type"], event["data"]["user_id"]) for event in erp_hooks.accepted()} == {
        (1, erp["id"])}
    rows = fetch_all(database_url, "SELECT integration_id, status, count(*) FROM bulk_webhook_delivery "
                                   "GROUP BY integration_id, status")
    assert set(rows) == {(None, "delivered", 3), (erp["id"], "delivered", 2), (crm["id"], "delivered", 1)}
    assert "Traceback" not in server.log()
