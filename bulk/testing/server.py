"""`bulk-fixture-server`: the service as a throwaway fixture for test suites in any language.

It serves on a free (or given) port with a temporary database, a manual clock and the
`/V1/testing/...` endpoints on, prints one JSON line (base_url, token, credentials) on stdout, and
exits 0 after removing its temporary files on SIGTERM or SIGINT. Other settings come from the
environment (`BULK_MAX_ITEMS=10 bulk-fixture-server`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from bulk.config import ConfigError
from bulk.testing.fixture import BulkFixture


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bulk-fixture-server", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default 0: a free port)")
    parser.add_argument("--data-dir", type=Path,
                        help="keep the database here instead of a temporary folder removed at exit")
    parser.add_argument("--no-drainer", action="store_true",
                        help="no drainer thread: operations stay open until POST /rest/V1/testing/drain")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the fixture server until SIGTERM/SIGINT; returns the exit code."""
    options = _arguments(argv)
    # Blocked before any thread starts (threads inherit the mask), so the signals wait for sigwait.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    data_dir = options.data_dir or Path(tempfile.mkdtemp(prefix="bulk-fixture-"))
    try:
        _serve(options, data_dir, stop_signals)
    except (ConfigError, OSError) as error:
        # A bad setting or a port in use: say so plainly (a test runner shows stderr).
        print(f"bulk-fixture-server: {error}", file=sys.stderr)
        return 2
    finally:
        if options.data_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


def _serve(options: argparse.Namespace, data_dir: Path, stop_signals: set[signal.Signals]) -> None:
    with BulkFixture(data_dir, drainer_thread=not options.no_drainer, isolated=False) as fixture:
        base_url = fixture.serve(options.host, options.port)
        print(json.dumps({"base_url": base_url, "token": fixture.token, "username": fixture.username,
                          "password": fixture.password, "pid": os.getpid()}), flush=True)
        signal.sigwait(stop_signals)


if __name__ == "__main__":
    sys.exit(main())
