"""gunicorn settings for this service (gunicorn reads this file by itself).

Workers are gunicorn's `gthread` whose event loop reads each request whole before one of the
`GUNICORN_THREADS` threads runs it (`bulk.http_worker`): slow or stalled clients cannot hold the
workers (with `sync` workers, two clients sending a byte a second took the service down). One
request thread by default, the event loop itself (the requests are already whole when it takes
them): more threads make the one holding SQLite's write lock wait for the GIL behind the others'
CPU work (bench/settings_ab.py: 2 threads 0.70x and 0.80x of one on SQLite), and on PostgreSQL
four were no faster than one (0.97x and 1.02x). Raise it for forward mode's synchronous calls to a
slow upstream.
Each worker runs one drainer thread, started here after the app is loaded and stopped on exit.
The bind address follows gunicorn's own rules: `PORT` (PaaS) gives 0.0.0.0:$PORT, otherwise
127.0.0.1:8000 unless `--bind` says otherwise.
"""

import os

from bulk import metrics_dir
from bulk.logs import gunicorn_logconfig

wsgi_app = "app:app"
worker_class = "bulk.http_worker.BufferingThreadWorker"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
# Off on purpose: each worker imports the app itself, so no database handle or thread crosses a fork.
preload_app = False
# A PaaS gives ~30 s between SIGTERM and SIGKILL; finish within it.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "25"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
# gunicorn 25+ opens a control socket at one per-user path ($HOME/.gunicorn/gunicorn.ctl); several
# instances on one host (tests, side-by-side services) would take it from each other.
control_socket_disable = True
# gunicorn's own lines in the service's format (BULK_LOG_FORMAT), through the same formatter.
logconfig_dict = gunicorn_logconfig(os.environ)
# Every worker writes its metrics to files in one folder, named before any worker imports prometheus-client.
metrics_dir.prepare()


def _service(worker):
    return worker.wsgi.extensions["bulk"]


def post_worker_init(worker):
    """Create the schema and start this worker's drainer before it serves requests."""
    _service(worker).ensure_ready()


def worker_exit(server, worker):
    """Stop the drainer: it finishes the operation in hand and releases the rest of its claim."""
    wsgi = getattr(worker, "wsgi", None)
    if wsgi is not None:
        _service(worker).shutdown(timeout=max(graceful_timeout - 5, 1))


def on_starting(server):
    """Count from zero at each start (a folder named by the operator may hold a previous run's files)."""
    metrics_dir.server_started()


def child_exit(server, worker):
    """A worker ended: its live gauges (loop heartbeats) go; its counters keep adding up."""
    metrics_dir.worker_exited(worker.pid)


def on_exit(server):
    metrics_dir.server_stopped()
