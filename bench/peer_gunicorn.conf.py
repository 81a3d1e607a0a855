"""gunicorn settings for the huey peer app: the service's worker settings, without its hooks."""

import runpy
from pathlib import Path

_service = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))
worker_class = _service["worker_class"]
workers = _service["workers"]
threads = _service.get("threads", 1)
timeout = _service["timeout"]
control_socket_disable = True
