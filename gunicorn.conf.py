"""gunicorn settings for this service (gunicorn reads this file by itself).

Workers are gunicorn's `gthread` whose event loop reads each request whole before one of the
`GUNICORN_THREADS` threads runs it (`bulk.http_worker`): slow or stalled clients cannot hold the
workers (with `sync` workers, two clients sending a byte a second took the service down), and a
thread waiting for an fsync leaves the CPU to another request.
Each worker runs one drainer thread, started here after the app is loaded and stopped on exit.
The bind address follows gunicorn's own rules: `PORT` (PaaS) gives 0.0.0.0:$PORT, otherwise
127.0.0.1:8000 unless `--bind` says otherwise.
"""

import os

wsgi_app = "app:app"
worker_class = "bulk.http_worker.BufferingThreadWorker"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Off on purpose: each worker imports the app itself, so no database handle or thread crosses a fork.
preload_app = False
# A PaaS gives ~30 s between SIGTERM and SIGKILL; finish within it.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "25"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
# gunicorn 25+ opens a control socket at one per-user path ($HOME/.gunicorn/gunicorn.ctl); several
# instances on one host (tests, side-by-side services) would take it from each other.
control_socket_disable = True


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
