"""Real gunicorn processes for tests: free port, bounded waits, guaranteed cleanup."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """`gunicorn app:app` with our gunicorn.conf.py, on a free port, configured by environment."""

    def __init__(self, data_dir: Path, workers: int = 2, database_url: str | None = None,
                 app: str = "app:app", cwd: Path = PROJECT_ROOT, args: tuple[str, ...] = (), **env: str) -> None:
        self.app = app
        # Another checkout of the project (a benchmark's baseline) and extra gunicorn arguments.
        self.cwd = cwd
        self.args = args
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / f"gunicorn-{self.port}.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("BULK_")},
            "BULK_ENV": "development",
            "BULK_DATA_DIR": str(data_dir),
            "DATABASE_URL": database_url or f"sqlite:///{data_dir / 'bulk.sqlite3'}",
            "WEB_CONCURRENCY": str(workers),
            "BULK_POLL_SECONDS": "0.1",
            **env,
        }
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> Gunicorn:
        with open(self.log_path, "wb") as log:  # the child keeps its own copy of the file
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py",
                 "--bind", f"127.0.0.1:{self.port}", *self.args, self.app],
                cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)  # its own process group, so kill() reaches every worker
        try:
            self._wait_until_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited early:\n{self.log()}")
            try:
                if requests.get(self.base_url + "/health", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass  # not listening yet, or busy creating the schema
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not answer within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def token(self) -> str:
        response = requests.post(self.base_url + "/rest/V1/integration/admin/token",
                                 json={"username": "admin", "password": "admin123"}, timeout=10)
        response.raise_for_status()
        return response.json()

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (graceful), then SIGKILL if it does not exit in time; returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        """SIGKILL the master and every worker at once: a crash, no shutdown code runs."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def worker_pids(self) -> list[int]:
        result = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True)
        return [int(pid) for pid in result.stdout.split()]

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
