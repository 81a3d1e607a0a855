"""The pytest plugin, run the way users run it: test modules in a fresh pytest (pytester)."""

from __future__ import annotations

import importlib.metadata
import re

from tests.live import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text()

SAMPLE = '''
import pytest
import requests

from bulk.clock import ManualClock
from bulk.statuses import OperationStatus


def submit(bulk, skus):
    response = bulk.client.post("/rest/async/bulk/V1/products", headers=bulk.headers,
                                json=[{"product": {"sku": sku}} for sku in skus])
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.get_json()["bulk_uuid"]


def test_app_client_and_token(bulk_app, bulk_client, bulk_token, bulk):
    assert (bulk_app, bulk_client, bulk_token) == (bulk.app, bulk.client, bulk.token)
    response = bulk_client.post("/rest/async/bulk/V1/products", json=[{"product": {"sku": "A"}}],
                                headers={"Authorization": f"Bearer {bulk_token}"})
    assert response.status_code == 202
    assert (bulk.username, bulk.password) == ("admin", "admin123")


def test_nothing_drains_until_the_test_says_so(bulk):
    bulk_uuid = submit(bulk, ["A", "B"])
    assert [op.status for op in bulk.operations(bulk_uuid=bulk_uuid)] == [4, 4]
    assert [(op.id, op.status) for op in bulk.drain()] == [(0, 1), (1, 1)]
    assert bulk.wait_for(bulk_uuid) == [OperationStatus.COMPLETE] * 2
    assert bulk.operations(bulk_uuid=bulk_uuid)[1].arguments == {"product": {"sku": "B"}}


@pytest.mark.parametrize("run", [1, 2])
def test_every_test_gets_a_fresh_database(bulk, run):
    assert bulk.operations() == []
    submit(bulk, ["A"])


def test_failure_injection(bulk):
    bulk.faults.fail(retriable=True, entity={"sku": "B"}, message="busy", code=503)
    bulk_uuid = submit(bulk, ["A", "B"])
    assert bulk.wait_for(bulk_uuid) == [1, 2]
    status = bulk.client.get(f"/rest/V1/bulk/{bulk_uuid}/status", headers=bulk.headers).get_json()
    assert [(op["status"], op["error_code"]) for op in status["operations_list"]] == [(1, None), (2, 503)]


def test_clock(bulk, bulk_clock):
    assert isinstance(bulk_clock, ManualClock) and bulk.clock is bulk_clock
    bulk_clock.advance(4 * 3600)
    assert bulk.client.get("/rest/V1/bulk?searchCriteria[pageSize]=1", headers=bulk.headers).status_code == 401


@pytest.mark.parametrize("bulk_config", [{"BULK_MAX_ITEMS": 1}])
def test_config(bulk):
    assert bulk.client.post("/rest/async/bulk/V1/products", headers=bulk.headers,
                            json=[{"product": {"sku": "A"}}] * 2).status_code == 400


def test_live_server_with_requests(bulk_server):
    response = requests.post(bulk_server.url("/rest/async/bulk/V1/products"), headers=bulk_server.headers,
                             json=[{"product": {"sku": "A"}}], timeout=10)
    assert response.status_code == 202
    bulk_uuid = response.json()["bulk_uuid"]
    assert bulk_server.wait_for(bulk_uuid) == [1]
    status = requests.get(f"{bulk_server.base_url}/rest/V1/bulk/{bulk_uuid}/status",
                          headers=bulk_server.headers, timeout=10).json()
    assert status["operations_list"][0]["status"] == 1
'''

WRONG_EXPECTATION = '''
def test_expects_success_but_the_fault_fails_it(bulk):
    bulk.faults.fail(entity={"sku": "A"}, message="refused")
    response = bulk.client.post("/rest/async/bulk/V1/products", headers=bulk.headers,
                                json=[{"product": {"sku": "A"}}])
    assert bulk.wait_for(response.get_json()["bulk_uuid"]) == [1]
'''


def test_a_module_using_every_fixture_passes(pytester):
    pytester.makepyfile(test_sample=SAMPLE)
    result = pytester.runpytest("-p", "bulk.testing.plugin", "-W", "error")
    result.assert_outcomes(passed=8)


def test_a_wrong_expectation_fails_with_the_real_status(pytester):
    pytester.makepyfile(test_wrong=WRONG_EXPECTATION)
    result = pytester.runpytest("-p", "bulk.testing.plugin")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*At index 0 diff: <OperationStatus.NOT_RETRIABLY_FAILED: 3> != 1*"])


def test_the_plugin_is_registered_by_its_entry_point(pytester):
    [entry_point] = [ep for ep in importlib.metadata.entry_points(group="pytest11")
                     if ep.value == "bulk.testing.plugin"]
    assert entry_point.name == "bulk.testing.plugin"
    pytester.makepyfile(test_loaded="def test_loaded(bulk):\n    assert bulk.drain() == []\n")
    pytester.runpytest().assert_outcomes(passed=1)
    # Turned off, its fixtures are gone: they came from the plugin, not from anything else.
    disabled = pytester.runpytest("-p", "no:bulk.testing.plugin")
    disabled.assert_outcomes(errors=1)
    disabled.stdout.fnmatch_lines(["*fixture 'bulk' not found*"])


def _readme_block(language: str, first_line: str) -> str:
    match = re.search(rf"```{language}\n({re.escape(first_line)}.*?)```", README, flags=re.DOTALL)
    assert match, f"README has no {language} block starting with {first_line!r}"
    return match.group(1)


PYTEST_EXAMPLE = _readme_block("python", "# test_bulk_example.py")


def test_the_readme_pytest_example_passes(pytester):
    pytester.makepyfile(test_bulk_example=PYTEST_EXAMPLE)
    result = pytester.runpytest("-W", "error")
    result.assert_outcomes(passed=PYTEST_EXAMPLE.count("\ndef test_"))
