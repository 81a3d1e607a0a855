"""Where gunicorn workers keep their metric files, so a scrape of any worker adds up all of them.

prometheus-client's multiprocess mode reads `PROMETHEUS_MULTIPROC_DIR` once, when it is imported.
`gunicorn.conf.py` calls `prepare()` in the master before any worker exists (workers import the
app, and so the client, after the fork), `server_started()` once per start, `worker_exited()` for
each worker that ends and `server_stopped()` at exit. This module must not import the client itself:
the master would then have imported it before the variable was set.

Default: a fresh temporary folder per server start, removed at exit. An operator may name one
(`PROMETHEUS_MULTIPROC_DIR`, e.g. on a tmpfs); its old files are removed at start, because counts
of a previous run would otherwise be added to this one's.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from collections.abc import MutableMapping

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# Set when the folder is ours to remove at exit; survives gunicorn re-reading its config on HUP.
_OWNED = "BULK_METRICS_DIR_OWNED_BY"


def prepare(environ: MutableMapping[str, str] = os.environ) -> str:
    """Make sure the variable names a folder (a new temporary one unless set); returns it."""
    path = environ.get(VARIABLE)
    if not path:
        path = tempfile.mkdtemp(prefix="bulk-metrics-")
        environ[VARIABLE] = path
        environ[_OWNED] = str(os.getpid())
    os.makedirs(path, exist_ok=True)
    return path


def server_started(environ: MutableMapping[str, str] = os.environ) -> None:
    """Start counting from zero: remove files a previous run left in the folder."""
    for stale in glob.glob(os.path.join(prepare(environ), "*.db")):
        os.remove(stale)


def worker_exited(pid: int, environ: MutableMapping[str, str] = os.environ) -> None:
    """Drop a dead worker's live gauges (its counters stay: totals never go down)."""
    path = environ.get(VARIABLE)
    if path:
        from prometheus_client import multiprocess  # only now: the variable is set in every process

        multiprocess.mark_process_dead(pid, path)


def server_stopped(environ: MutableMapping[str, str] = os.environ) -> None:
    """Remove the folder if this master created it."""
    path = environ.get(VARIABLE)
    if path and environ.get(_OWNED) == str(os.getpid()):
        shutil.rmtree(path, ignore_errors=True)
