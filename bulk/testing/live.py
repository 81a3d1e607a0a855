"""A real HTTP server for an app, in a thread of this process (werkzeug, threaded)."""

from __future__ import annotations

import logging
import socket
import threading

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

log = logging.getLogger(__name__)


class _QuietRequestHandler(WSGIRequestHandler):
    """Request lines go to the `bulk.testing.live` logger at DEBUG, not to stderr for every call."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug('"%s" %s %s', self.requestline, code, size)


class LiveServer:
    """Serves `app` on `host:port` (0: a free port) from a background thread until `stop()`."""

    def __init__(self, app: Flask, host: str = "127.0.0.1", port: int = 0) -> None:
        # Bound here, so a port in use raises OSError (werkzeug's own bind would exit the process).
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.create_server((host, port), family=family) as listening:
            self.port: int = listening.getsockname()[1]
            self._server: BaseWSGIServer = make_server(
                host, self.port, app, threaded=True, request_handler=_QuietRequestHandler,
                fd=listening.fileno())
        self.host = host
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"bulk-live-server-{self.port}", daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting requests and close the socket (idempotent)."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout)
