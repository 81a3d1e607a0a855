"""Live: gunicorn with two workers shares OAuth nonces and rate counters through the database."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bulk.testing.signing import TestIntegration
from tests.live import Gunicorn
from tests.oauth_helpers import requests_auth
from tests.test_integrations_cli import flask_bulk

pytestmark = pytest.mark.live

LIMIT = 10


def test_two_workers_share_nonces_and_rate_counters(tmp_path):
    database_url = f"sqlite:///{tmp_path / 'bulk.sqlite3'}"
    created = flask_bulk(database_url, tmp_path, "create", "erp", "--all-resources")
    assert created.returncode == 0, created.stderr
    integration = TestIntegration.from_json(json.loads(created.stdout))
    # Counters are per hour: do not straddle the hour's end.
    time.sleep(max(0.0, 3600 - time.time() % 3600 + 1) if time.time() % 3600 > 3480 else 0)
    with Gunicorn(tmp_path, workers=2, database_url=database_url, BULK_WORKER="0",
                  BULK_RATE_LIMIT=f"{LIMIT} requests/hour") as server:
        url = f"{server.base_url}/rest/default/async/bulk/V1/products"
        replayed = requests.Request("POST", url, json=[{"product": {"sku": "R"}}],
                                    auth=requests_auth(integration)).prepare()
        with requests.Session() as first, requests.Session() as second:  # separate connections
            assert first.send(replayed, timeout=10).status_code == 202
            again = second.send(replayed, timeout=10)
        assert again.status_code == 401
        assert again.json() == {"message": "The nonce is already being used by the consumer with ID %1",
                                "parameters": [integration.id]}

        def submit(n: int) -> requests.Response:
            return requests.post(url, json=[{"product": {"sku": f"S{n}"}}], auth=requests_auth(integration),
                                 timeout=30)

        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(submit, range(14)))
        accepted = [answer for answer in answers if answer.status_code == 202]
        limited = [answer for answer in answers if answer.status_code == 429]
        assert (len(accepted), len(limited)) == (LIMIT - 1, 14 - LIMIT + 1), [a.status_code for a in answers]
        assert all(answer.json() == {"message": "Too Many Requests"} and int(answer.headers["Retry-After"]) > 0
                   for answer in limited)
        # Every accepted bulk is there, whichever worker took it; the admin has counters of its own.
        search = requests.get(f"{server.base_url}/rest/V1/bulk?searchCriteria[pageSize]=100",
                              headers={"Authorization": f"Bearer {server.token()}"}, timeout=10)
        assert search.json()["total_count"] == LIMIT
        assert server.stop() == 0, server.log()
    assert "Traceback" not in server.log()
