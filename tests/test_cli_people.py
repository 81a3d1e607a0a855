"""`flask --app app bulk list|show|retry|delete|drain` run as processes, readable and `--json`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bulk.factory import create_app
from tests.live import PROJECT_ROOT
from tests.magento import bearer


@pytest.fixture
def shop(tmp_path, database_url):
    """Bulks stored by an app on this test's database; the CLI processes then use the same database."""
    env = {"BULK_ENV": "development", "BULK_DATA_DIR": str(tmp_path), "DATABASE_URL": database_url,
           "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "BULK_WORKER": "0"}
    app = create_app({key: value for key, value in env.items() if key != "PATH"})
    client = app.test_client()
    auth = bearer(client.post("/rest/V1/integration/admin/token",
                              json={"username": "admin", "password": "admin123"}).get_json())

    def submit(items) -> str:
        response = client.post("/rest/async/bulk/V1/products", json=items, headers=auth)
        assert response.status_code == 202
        return response.get_json()["bulk_uuid"]

    yield env, submit
    app.extensions["bulk"].shutdown()


def run(env, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", "bulk", *args], cwd=PROJECT_ROOT,
                          env=env, capture_output=True, text=True, timeout=120, input=stdin)


def test_list_show_retry_delete_for_people_and_scripts(shop):
    env, submit = shop
    first = submit([{"product": {"sku": "A"}}, {"product": {"sku": ""}}])
    second = submit([{"product": {"sku": "B"}}])

    drained = run(env, "drain")
    assert drained.returncode == 0, drained.stderr
    assert drained.stdout.startswith("processed 3 operation(s) in ")
    assert "items/s" in drained.stdout
    assert "draining" in drained.stderr  # the progress bar, kept off stdout

    listed = run(env, "list")
    assert listed.returncode == 0, listed.stderr
    header, newest, oldest = listed.stdout.splitlines()
    assert header.split()[:3] == ["BULK", "UUID", "STARTED"]
    assert newest.startswith(second) and oldest.startswith(first)
    assert "admin:1" in oldest and "Topic async.magento.catalog.api.productrepositoryinterface.save.post" in oldest
    # OPS, OPEN, DONE, FAILED of the first bulk
    assert oldest.split()[4:8] == ["2", "0", "1", "1"]

    as_json = json.loads(run(env, "list", "--json", "--status", "failed").stdout)
    assert [bulk["bulk_uuid"] for bulk in as_json] == [first]
    assert as_json[0]["counts"] == {"complete": 1, "retriably_failed": 0, "not_retriably_failed": 1, "open": 0,
                                    "rejected": 0}
    assert [b["bulk_uuid"] for b in json.loads(run(env, "list", "--json", "--limit", "1").stdout)] == [second]

    shown = run(env, "show", first)
    assert shown.returncode == 0, shown.stderr
    assert f"bulk        {first}" in shown.stdout
    assert "operations  2 (1 complete, 1 not retriably failed)" in shown.stdout
    failed_line = next(line for line in shown.stdout.splitlines() if line.strip().startswith("1  3"))
    assert "The \"sku\" attribute value is empty. Set the attribute and try again." in failed_line
    detail = json.loads(run(env, "show", first, "--json").stdout)
    assert [(op["id"], op["status"]) for op in detail["operations"]] == [(0, 1), (1, 3)]

    nothing = run(env, "retry", first)  # the default scope re-opens status 2 only
    assert (nothing.returncode, nothing.stdout.strip()) == (0, "nothing to re-open (scope retriable)")
    retried = json.loads(run(env, "retry", first, "--scope", "failed", "--json").stdout)
    assert retried == {"bulk_id": first, "reopened_operation_ids": [1]}
    assert [op["status"] for op in json.loads(run(env, "show", first, "--json").stdout)["operations"]] == [1, 4]

    refused = run(env, "delete", first, "--yes")
    assert refused.returncode == 1
    assert "still has open operations" in refused.stderr
    assert run(env, "drain", "--json").returncode == 0

    declined = run(env, "delete", second, stdin="n\n")
    assert declined.returncode == 1 and "Aborted" in declined.stderr
    confirmed = run(env, "delete", second, stdin="y\n")
    assert confirmed.returncode == 0, confirmed.stderr
    assert confirmed.stdout.strip().endswith(f"deleted bulk {second}")
    assert json.loads(run(env, "delete", first, "--json").stdout) == {"bulk_id": first, "deleted": True}
    assert run(env, "list").stdout.strip() == "no bulks"


def test_an_unknown_bulk_is_an_error_on_stderr(shop):
    env, _ = shop
    for command in ("show", "retry", "delete"):
        result = run(env, command, "00000000-0000-0000-0000-000000000000", "--yes" if command == "delete" else "--json")
        assert result.returncode == 1
        assert result.stdout == ""
        assert "Bulk uuid 00000000-0000-0000-0000-000000000000 not exist" in result.stderr


def test_drain_json_reports_the_rate(shop):
    env, submit = shop
    submit([{"product": {"sku": f"S{i}"}} for i in range(30)])
    result = run(env, "drain", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["processed"] == 30 and report["items_per_second"] > 0
    assert "draining" not in result.stderr  # no progress bar for scripts


def test_init_db_never_prints_the_database_password(tmp_path):
    env = {"BULK_ENV": "development", "BULK_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin",
           "DATABASE_URL": "postgresql://bulk:pa55word-secret@127.0.0.1:1/nowhere?connect_timeout=1"}
    result = run(env, "init-db")
    assert "pa55word-secret" not in result.stdout + result.stderr
