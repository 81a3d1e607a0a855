"""Slow and stalled clients cannot take the service away (a real gunicorn with our worker)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest
import requests

from bulk.http_worker import request_is_complete
from tests.live import Gunicorn

HEAD = b"POST /rest/async/bulk/V1/products HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


def test_a_request_is_complete_once_its_head_and_body_are_in():
    assert not request_is_complete(HEAD, 1000)
    assert request_is_complete(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 1000)
    assert not request_is_complete(HEAD + b"Content-Length: 10\r\n\r\n[1,2", 1000)
    assert request_is_complete(HEAD + b"content-length: 10\r\n\r\n[1,2,3,45]", 1000)
    # Too large to buffer: the app refuses it (413) from its head alone.
    assert request_is_complete(HEAD + b"Content-Length: 5000\r\n\r\n[", 1000)
    chunked = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
    assert not request_is_complete(chunked + b"4\r\n[1,2\r\n", 1000)
    assert not request_is_complete(chunked + b"4\r\n[1,2\r\n1\r\n]\r\n0\r\n", 1000)
    assert request_is_complete(chunked + b"4\r\n[1,2\r\n1\r\n]\r\n0\r\n\r\n", 1000)
    assert request_is_complete(chunked + b"zz\r\n", 1000)  # malformed: gunicorn answers it


class SlowClients:
    """Connections that trickle a request a byte at a time, or stop short of their Content-Length."""

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.count = count
        self.sockets: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)

    def __enter__(self) -> SlowClients:
        for n in range(self.count):
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            if n % 2:
                # The whole head, then part of a body much shorter than announced, then nothing.
                sock.sendall(HEAD + b"Content-Length: 100000\r\n\r\n[{\"product\":")
            else:
                sock.sendall(HEAD[:5])
            self.sockets.append(sock)
        self._thread.start()
        return self

    def _trickle(self) -> None:
        position = 5
        while not self._stop.wait(0.2) and position < len(HEAD):
            for sock in self.sockets[::2]:
                with contextlib.suppress(OSError):  # the server dropped it: fine
                    sock.sendall(HEAD[position:position + 1])
            position += 1

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in self.sockets:
            sock.close()


@pytest.mark.live
def test_fifty_slow_clients_do_not_hold_up_requests_or_the_drainer(tmp_path):
    with Gunicorn(tmp_path, workers=2) as server, SlowClients(server.port, 50):
        headers = {"Authorization": f"Bearer {server.token()}"}
        uuids = []
        for n in range(20):
            response = requests.post(server.base_url + "/rest/async/bulk/V1/products", headers=headers,
                                     json=[{"product": {"sku": f"S{n}-{i}"}} for i in range(10)], timeout=10)
            assert response.status_code == 202, response.text
            uuids.append(response.json()["bulk_uuid"])
        assert requests.get(server.base_url + "/health", timeout=10).json()["drainer"] == "running"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            open_counts = [requests.get(f"{server.base_url}/rest/V1/bulk/{bulk_uuid}/operation-status/4",
                                        headers=headers, timeout=10).json() for bulk_uuid in uuids]
            if not any(open_counts):
                break
            time.sleep(0.1)
        assert not any(open_counts), "the drainer did not finish while slow clients were connected"
    assert "Traceback" not in server.log()


@pytest.mark.live
def test_a_stalled_request_is_dropped_after_the_read_timeout(tmp_path):
    with Gunicorn(tmp_path, workers=1, GUNICORN_READ_TIMEOUT="1") as server:
        stalled = socket.create_connection(("127.0.0.1", server.port), timeout=20)
        stalled.sendall(HEAD + b"Content-Length: 100\r\n\r\n[")
        silent = socket.create_connection(("127.0.0.1", server.port), timeout=20)
        # The server closes both (bounded by the socket timeout above): recv sees the end of the stream.
        assert stalled.recv(1024) == b""
        assert silent.recv(1024) == b""
        stalled.close()
        silent.close()
        assert requests.get(server.base_url + "/health", timeout=10).status_code == 200
