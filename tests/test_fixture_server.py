"""`bulk-fixture-server` as another language's test suite uses it: a real process, real HTTP, signals."""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.live import PROJECT_ROOT, free_port

pytestmark = pytest.mark.live

COMMAND = Path(sys.executable).parent / "bulk-fixture-server"
README = (PROJECT_ROOT / "README.md").read_text()


class FixtureServer:
    """The installed command in a fresh process; its temporary files go under `tmp_dir`."""

    def __init__(self, tmp_dir: Path, *args: str, **env: str) -> None:
        self.tmp_dir = tmp_dir
        self.process = subprocess.Popen(
            [str(COMMAND), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**{k: v for k, v in os.environ.items() if not k.startswith("BULK_")},
                 "TMPDIR": str(tmp_dir), **env})
        self.info = json.loads(self._first_line(timeout=30))
        self.base_url = self.info["base_url"]
        self.headers = {"Authorization": f"Bearer {self.info['token']}"}

    def _first_line(self, timeout: float) -> str:
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            self.process.kill()
            pytest.fail(f"no line within {timeout}s; stderr: {self.process.communicate(timeout=10)[1]}")
        line = self.process.stdout.readline()
        assert line, f"exited early: {self.process.wait(10)}; stderr: {self.process.stderr.read()}"
        return line

    def call(self, method: str, path: str, **kwargs):
        return requests.request(method, self.base_url + path, headers=self.headers, timeout=30, **kwargs)

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str, str]:
        """Send `signum`; returns exit code, remaining stdout and stderr (killed after 30 s)."""
        self.process.send_signal(signum)
        try:
            out, err = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate(timeout=10)
            pytest.fail(f"did not exit within 30s of signal {signum}: {err}")
        return self.process.returncode, out, err

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate(timeout=10)


@pytest.fixture
def start(tmp_path):
    servers = []

    def start_server(*args: str, **env: str) -> FixtureServer:
        servers.append(FixtureServer(tmp_path, *args, **env))
        return servers[-1]

    yield start_server
    for server in servers:
        server.close()


def test_starts_answers_and_exits_cleanly_on_sigterm(start, tmp_path):
    server = start()
    assert set(server.info) == {"base_url", "token", "username", "password", "pid"}
    assert server.info["pid"] == server.process.pid
    assert list(tmp_path.glob("bulk-fixture-*")), "its database lives in a temporary folder"
    assert requests.get(server.base_url + "/health", timeout=10).json()["drainer"] == "running"
    submitted = server.call("POST", "/rest/async/bulk/V1/products", json=[{"product": {"sku": "A"}}])
    assert submitted.status_code == 202
    bulk_uuid = submitted.json()["bulk_uuid"]
    waited = server.call("POST", f"/rest/V1/testing/bulk/{bulk_uuid}/wait", json={"timeout": 30}).json()
    assert waited == {"bulk_uuid": bulk_uuid, "done": True, "statuses": [1]}
    code, out, err = server.stop()
    assert (code, out) == (0, "")
    assert "Traceback" not in err
    assert not list(tmp_path.glob("bulk-fixture-*")), "the temporary folder is removed at exit"


def test_given_port_no_drainer_settings_from_the_environment_and_sigint(start, tmp_path):
    port = free_port()
    server = start("--port", str(port), "--no-drainer", "--data-dir", str(tmp_path / "kept"),
                   BULK_MAX_ITEMS="2")
    assert server.base_url == f"http://127.0.0.1:{port}"
    too_many = server.call("POST", "/rest/async/bulk/V1/products", json=[{"product": {"sku": "A"}}] * 3)
    assert too_many.json()["parameters"]["max"] == 2
    bulk_uuid = server.call("POST", "/rest/async/bulk/V1/products", json=[{"product": {"sku": "A"}}]).json()["bulk_uuid"]
    assert server.call("GET", f"/rest/V1/bulk/{bulk_uuid}/operation-status/4").json() == 1
    drained = server.call("POST", "/rest/V1/testing/drain").json()["operations"]
    assert [(op["bulk_uuid"], op["status"]) for op in drained] == [(bulk_uuid, 1)]
    code, _, err = server.stop(signal.SIGINT)
    assert code == 0, err
    assert (tmp_path / "kept" / "bulk.sqlite3").exists()


def _refused(tmp_path: Path, *args: str, **env: str) -> str:
    result = subprocess.run([str(COMMAND), *args], capture_output=True, text=True, timeout=60,
                            env={"PATH": os.environ["PATH"], "TMPDIR": str(tmp_path), **env})
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("bulk-fixture-*"))
    return result.stderr


def test_a_bad_setting_or_a_busy_port_is_reported_without_a_traceback(tmp_path):
    assert "BULK_MAX_ITEMS must be a positive integer" in _refused(tmp_path, BULK_MAX_ITEMS="many")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert "Address already in use" in _refused(tmp_path, "--port", str(taken.getsockname()[1]))


def test_the_readme_node_example_passes(tmp_path):
    node = shutil.which("node")
    # Not a skip: the README promises this example works, so a machine without Node fails loudly.
    assert node, "node is needed to run the README's Node example (install Node.js 18+)"
    match = re.search(r"```js\n(// bulk-fixture\.test\.mjs.*?)```", README, flags=re.DOTALL)
    assert match, "README has no Node example"
    script = tmp_path / "bulk-fixture.test.mjs"
    script.write_text(match.group(1))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BULK_")},
           "PATH": f"{COMMAND.parent}{os.pathsep}{os.environ['PATH']}", "TMPDIR": str(tmp_path)}
    result = subprocess.run([node, "--test", script.name], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    tests = len(re.findall(r"^test\(", match.group(1), flags=re.MULTILINE))
    assert re.search(rf"^# pass {tests}$", result.stdout, flags=re.MULTILINE), output
    assert re.search(r"^# fail 0$", result.stdout, flags=re.MULTILINE), output
    assert not list(tmp_path.glob("bulk-fixture-*")), "the server the example started cleaned up"
