"""A real webhook receiver for tests: an HTTP server on a free local port that verifies each request
with the `standardwebhooks` package, as a receiver in the field would, and answers as scripted."""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook, WebhookVerificationError

SECRET = "whsec_" + base64.b64encode(b"a test secret of thirty-two bytes").decode()


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool
    event: dict | None
    answered: int


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    # Hold the request until this is set (a receiver that hangs), at most `hold_seconds`.
    hold: threading.Event | None = None
    hold_seconds: float = 30.0


class Receiver:
    """`with Receiver() as receiver:` serves at `receiver.url`; `script` answers the first requests in order."""

    def __init__(self, secret: str | None = SECRET, script: list[Reply] | None = None, path: str = "/hooks") -> None:
        # `secret` None: set `.secret` before the first request arrives (an endpoint's, issued later).
        self.secret = secret
        self.script = list(script or [])
        self.received: list[Received] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                try:
                    event = Webhook(receiver.secret).verify(body, headers)
                    verified = True
                except WebhookVerificationError:
                    event, verified = None, False
                with receiver.arrived:
                    reply = receiver.script.pop(0) if receiver.script else Reply()
                    status = reply.status if verified else 400
                    receiver.received.append(Received(headers, body, verified, event, status))
                    receiver.arrived.notify_all()
                if reply.hold is not None:
                    reply.hold.wait(reply.hold_seconds)
                try:
                    self.send_response(status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the sender is gone (killed): nothing to answer

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        """Wait until `count` requests arrived (bounded); returns all received so far."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.received)} of {count} webhook requests arrived in {timeout}s")
                self.arrived.wait(left)
            return list(self.received)

    def accepted(self, event_type: str | None = None) -> list[dict]:
        """The verified events this receiver accepted (answered 2xx), optionally of one type."""
        return [json.loads(r.body) for r in self.received if r.verified and 200 <= r.answered < 300
                and (event_type is None or json.loads(r.body)["type"] == event_type)]
