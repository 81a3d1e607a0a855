"""`flask --app app bulk tokens revoke` ends every admin token and dashboard session; `tokens unlock`
lifts sign-in locks. Integration credentials are not admin tokens and keep working."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import requests
from itsdangerous import URLSafeSerializer

from bulk.revocation import TokenGenerations
from tests.dashboard_helpers import sign_in
from tests.live import PROJECT_ROOT, Gunicorn
from tests.oauth_helpers import create_integration, requests_auth, send_signed

STATUS_URL = "/rest/V1/bulk/x/operation-status/1"
TOKEN_URL = "/rest/V1/integration/admin/token"


def get_token(client, password: str = "admin123", address: str = "127.0.0.1"):
    return client.post(TOKEN_URL, json={"username": "admin", "password": password},
                       environ_base={"REMOTE_ADDR": address})


def status_code(client, token: str) -> int:
    return client.get(STATUS_URL, headers={"Authorization": f"Bearer {token}"}).status_code


def run_cli(app, *arguments: str) -> dict:
    result = app.test_cli_runner().invoke(args=["bulk", "tokens", *arguments])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_revoke_ends_every_token_issued_before_and_new_ones_work(make_app):
    app = make_app()
    client = app.test_client()
    first, second = get_token(client).get_json(), get_token(client).get_json()
    assert status_code(client, first) == 200
    assert run_cli(app, "revoke") == {"revoked": True, "generation": 1, "effective_within_seconds": 5.0}
    assert status_code(client, first) == 401 and status_code(client, second) == 401
    fresh = get_token(client).get_json()
    assert status_code(client, fresh) == 200
    assert run_cli(app, "revoke")["generation"] == 2
    assert status_code(client, fresh) == 401


def test_another_process_sees_a_revocation_when_it_reads_the_generation_again(make_app):
    issuing = make_app()
    token = get_token(issuing.test_client()).get_json()
    reading_each_time = make_app(BULK_TOKEN_CHECK_SECONDS="0").test_client()
    assert status_code(reading_each_time, token) == 200
    run_cli(make_app(), "revoke")  # another process, as the command runs in its own
    assert status_code(reading_each_time, token) == 401


def test_a_process_reads_the_generation_at_most_once_per_check_interval():
    reads: list[int] = []
    now = [100.0]
    generations = TokenGenerations(5.0, read=lambda: reads.append(1) or len(reads), monotonic=lambda: now[0])
    assert [generations.current() for _ in range(3)] == [1, 1, 1]
    now[0] += 4.9
    assert generations.current() == 1
    now[0] += 0.2
    assert generations.current() == 2
    assert len(reads) == 2


def test_tokens_from_before_generations_belong_to_the_first_one(make_app, clock):
    app = make_app()
    client = app.test_client()
    secret = app.extensions["bulk"].settings.secret
    old = URLSafeSerializer(secret, salt="bulk.bearer-token").dumps([2, 1, int(clock.time() + 3600)])
    assert status_code(client, old) == 200
    run_cli(app, "revoke")
    assert status_code(client, old) == 401


def test_revoke_signs_dashboard_sessions_out(make_app):
    app = make_app()
    client = app.test_client()
    assert sign_in(client).status_code == 302
    assert client.get("/dashboard").status_code == 200
    run_cli(app, "revoke")
    assert client.get("/dashboard").status_code == 302
    assert sign_in(client).status_code == 302
    assert client.get("/dashboard").status_code == 200


def test_integration_credentials_survive_an_admin_token_revocation(make_app, clock):
    clock.set(time.time())  # OAuth timestamps are the client's real time
    app = make_app(BULK_INTEGRATION_AS_BEARER="1")
    client = app.test_client()
    app.extensions["bulk"].ensure_ready_without_worker()
    integration = create_integration(app.extensions["bulk"], resources=None)
    run_cli(app, "revoke")
    assert send_signed(client, "GET", STATUS_URL, requests_auth(integration)).status_code == 200
    assert status_code(client, integration.access_token) == 200


def test_unlock_lifts_locks_all_or_by_username_and_address(make_app):
    app = make_app()
    client = app.test_client()
    for address in ("203.0.113.7", "2001:db8::1"):
        for _ in range(6):
            get_token(client, "wrong", address)
        assert get_token(client, address=address).status_code == 401
    assert run_cli(app, "unlock", "--username", "admin", "--address", "2001:db8::99") == {"cleared": 1}
    assert get_token(client, address="2001:db8::1").status_code == 200
    assert get_token(client, address="203.0.113.7").status_code == 401
    assert run_cli(app, "unlock")["cleared"] >= 1
    assert get_token(client, address="203.0.113.7").status_code == 200


@pytest.mark.live
def test_a_revocation_reaches_every_worker_of_a_running_server(tmp_path):
    with Gunicorn(tmp_path, workers=2, BULK_TOKEN_CHECK_SECONDS="1") as server:
        token = server.token()
        headers = {"Authorization": f"Bearer {token}"}
        assert requests.get(server.base_url + STATUS_URL, headers=headers, timeout=10).status_code == 200
        revoked = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "bulk", "tokens", "revoke"],
                                 cwd=PROJECT_ROOT, env=server.env, capture_output=True, text=True, timeout=120)
        assert revoked.returncode == 0, revoked.stderr
        deadline = time.monotonic() + 15
        refused = 0
        while refused < 10:  # ten in a row: whichever worker answers has seen it
            assert time.monotonic() < deadline, "a worker still accepts the revoked token"
            answer = requests.get(server.base_url + STATUS_URL, headers=headers, timeout=10)
            refused = refused + 1 if answer.status_code == 401 else 0
            time.sleep(0.05)
        assert requests.get(server.base_url + STATUS_URL, timeout=10,
                            headers={"Authorization": f"Bearer {server.token()}"}).status_code == 200


