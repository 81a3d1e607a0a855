"""A synchronous Magento-like API for forward-mode tests: a Flask app on a free port, in a thread.

Tests choose how it answers (`upstream.answer = ...`: a `Reply`, or `HANG` to hold the request
until the test ends) and read what it received (`upstream.calls`, `upstream.max_in_flight`).
`python -m tests.upstream PORT` serves one by itself (the README's forward-mode example).
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from flask import Flask, Response, request
from werkzeug.serving import WSGIRequestHandler, make_server

HANG_LIMIT_SECONDS = 30.0


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # decoded JSON, or None without a body


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # sent as is instead of `body` (a non-JSON page)


HANG = Reply(status=0)


def echo(call: Call) -> Reply:
    """Magento's sync save answers with the saved entity: here, what was sent."""
    return Reply(200, call.body if call.body is not None else True)


def replies(*sequence: Reply, then: Callable[[Call], Reply] = echo) -> Callable[[Call], Reply]:
    """Answer with `sequence` in order, then with `then`."""
    pending = list(sequence)
    lock = threading.Lock()

    def answer(call: Call) -> Reply:
        with lock:
            if pending:
                return pending.pop(0)
        return then(call)

    return answer


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class Upstream:
    """The server; a context manager that starts it and always stops it (releasing hung requests)."""

    def __init__(self, answer: Callable[[Call], Reply] = echo, port: int = 0) -> None:
        self.answer = answer
        self.calls: list[Call] = []
        self.in_flight = 0
        self.max_in_flight = 0
        # Most calls for one path seen at the same time (a path names one SKU in PUT /V1/products/:sku).
        self.max_in_flight_per_path = 0
        self._per_path: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._server = make_server("127.0.0.1", port, self._app(), threaded=True, request_handler=_Quiet)
        self.url = f"http://127.0.0.1:{self._server.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="test-upstream", daemon=True)

    def _app(self) -> Flask:
        app = Flask("test_upstream")

        @app.route("/", defaults={"path": ""}, methods=["GET", "POST", "PUT", "DELETE"])
        @app.route("/<path:path>", methods=["GET", "POST", "PUT", "DELETE"])
        def handle(path: str) -> Response:
            raw = request.get_data()
            # The path as sent (still URL-quoted), to check what the forwarder put on the wire.
            raw_path = request.environ.get("RAW_URI", request.path).split("?", 1)[0]
            call = Call(request.method, raw_path, dict(request.headers), orjson.loads(raw) if raw else None)
            with self._lock:
                self.calls.append(call)
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                self._per_path[call.path] += 1
                self.max_in_flight_per_path = max(self.max_in_flight_per_path, self._per_path[call.path])
            try:
                reply = self.answer(call)
                if reply is HANG:
                    self._released.wait(HANG_LIMIT_SECONDS)
                    reply = Reply(504, {"message": "released"})
            finally:
                with self._lock:
                    self.in_flight -= 1
                    self._per_path[call.path] -= 1
            data = reply.raw if reply.raw is not None else orjson.dumps(reply.body)
            return Response(data, status=reply.status, headers=reply.headers, content_type="application/json")

        return app

    def paths(self) -> list[str]:
        with self._lock:
            return [call.path for call in self.calls]

    def start(self) -> Upstream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._thread.join(10)
        self._server.server_close()

    def __enter__(self) -> Upstream:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


if __name__ == "__main__":
    # A stand-in upstream to try forward mode by hand: answers every call with what it was sent.
    Upstream(port=int(sys.argv[1]))._server.serve_forever()
