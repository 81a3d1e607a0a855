"""The `flask bulk` commands and the health endpoint."""

from __future__ import annotations

import subprocess
import sys

from bulk.models import Operation
from tests.live import PROJECT_ROOT


def test_health_reports_backlog_and_drainer(client, auth):
    client.post("/rest/async/bulk/V1/products", json=[{"product": {"sku": "a"}}], headers=auth)
    assert client.get("/health").get_json() == {"status": "ok", "open_operations": 1, "drainer": "disabled"}


def test_drain_command_processes_everything_now(app, client, auth):
    client.post("/rest/async/bulk/V1/products", json=[{"product": {"sku": str(i)}} for i in range(5)], headers=auth)
    result = app.test_cli_runner().invoke(args=["bulk", "drain"])
    assert result.exit_code == 0, result.output
    assert "processed 5 operation(s)" in result.output
    assert {op.status for op in Operation.select()} == {1}


def test_routes_command_lists_the_catalogue(app):
    output = app.test_cli_runner().invoke(args=["bulk", "routes"]).output
    assert "PUT    /V1/products/:sku" in output
    assert "/V1/products/bySku" in output
    assert "async.magento.catalog.api.productrepositoryinterface.save.put" in output


def test_flask_cli_through_app_module(tmp_path):
    env = {"BULK_ENV": "development", "BULK_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "bulk", "init-db"],
                            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "bulk.sqlite3").exists()


def test_production_without_secret_fails_fast_with_a_clear_message(tmp_path):
    env = {"BULK_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", "import app"], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "BULK_SECRET_KEY must be set" in result.stderr
