"""The gunicorn worker: gthread, but a request is read whole before a thread takes it.

gunicorn's `sync` worker gives each connection the whole process until its request has arrived,
and `gthread` a thread from its pool: two clients sending a header byte a second (or a body shorter
than their `Content-Length`) held every worker or thread and the service was gone. Here the
worker's event loop reads each request (head and body) without blocking, alongside every other
connection, and hands it to the thread pool only once it is complete (with one thread configured,
it runs the complete request itself); a thread never waits for a client. A request not complete
within `GUNICORN_READ_TIMEOUT` seconds (plus a second for each 64 KiB received, so a large body on
a slow link still gets through) is dropped, and so is a connection that sends nothing for that long.
A slow or stalled client costs a connection slot (`worker_connections`, 1000 per worker) and the
bytes it sent, nothing else.

Bodies larger than the app's `MAX_CONTENT_LENGTH` are not buffered: the request goes to a thread
as soon as its head is in, and the app answers 413 without reading the body.

Requests gunicorn refuses before the app sees them (414, 431, a conflicting `Content-Length`, ...)
are answered in Magento's error shape (`bulk.server_errors`) instead of gunicorn's HTML page.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import selectors
import time
from concurrent.futures import Future
from functools import partial
from typing import Any

from gunicorn import http, util
from gunicorn.http.unreader import SocketUnreader
from gunicorn.workers.gthread import TConn, ThreadWorker

from bulk.server_errors import refusal_for

DEFAULT_READ_TIMEOUT = 30.0
# A request may take one second longer for each this many bytes it has sent.
MIN_RATE_BYTES_PER_SECOND = 64 * 1024
_RECV_SIZE = 256 * 1024
_HEAD_END = b"\r\n\r\n"
# gunicorn refuses heads larger than this itself (request line + fields); past it, stop buffering.
_MAX_HEAD_BYTES = 4094 + 100 * 8190 + 2
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length[ \t]*:[ \t]*(\d+)[ \t]*(?=\r\n)", re.IGNORECASE)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding[ \t]*:[^\r\n]*chunked", re.IGNORECASE)


def read_timeout_from_environment() -> float:
    """`GUNICORN_READ_TIMEOUT` in seconds (default 30)."""
    raw = os.environ.get("GUNICORN_READ_TIMEOUT", "").strip()
    try:
        value = float(raw) if raw else DEFAULT_READ_TIMEOUT
    except ValueError:
        value = DEFAULT_READ_TIMEOUT
    return value if value > 0 else DEFAULT_READ_TIMEOUT


class _Arrival:
    """A request being read by the event loop: the bytes so far and the time it has left."""

    __slots__ = ("buffer", "deadline", "started")

    def __init__(self, buffer: bytes, now: float, timeout: float) -> None:
        self.buffer = bytearray(buffer)
        self.started = now
        self.deadline = now + timeout

    def extend(self, data: bytes, timeout: float) -> None:
        self.buffer += data
        self.deadline = self.started + timeout + len(self.buffer) / MIN_RATE_BYTES_PER_SECOND


def request_is_complete(buffer: bytes | bytearray, max_body: int) -> bool:
    """The buffer holds a whole request (head and body), or enough that waiting for more is pointless
    (a head too large or a body over `max_body`: gunicorn or the app refuse them from what is there)."""
    head_end = buffer.find(_HEAD_END)
    if head_end < 0:
        return len(buffer) > _MAX_HEAD_BYTES
    head = bytes(buffer[:head_end + 2])
    body_start = head_end + len(_HEAD_END)
    if _CHUNKED.search(head):
        return _chunked_body_is_complete(buffer, body_start, max_body)
    match = _CONTENT_LENGTH.search(head)
    if match is None:
        return True  # no body
    length = int(match.group(1))
    return length > max_body or len(buffer) - body_start >= length


def _chunked_body_is_complete(buffer: bytes | bytearray, position: int, max_body: int) -> bool:
    received = 0
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return len(buffer) - position > 1024  # a chunk-size line cannot be that long: let the parser refuse it
        try:
            size = int(bytes(buffer[position:line_end]).split(b";")[0].strip(), 16)
        except ValueError:
            return True  # malformed: gunicorn answers it
        position = line_end + 2
        if size == 0:
            # Trailer fields (usually none) end with an empty line.
            return buffer.find(b"\r\n", position) == position or buffer.find(_HEAD_END, position - 2) >= 0
        received += size
        if received > max_body:
            return True
        position += size + 2
        if position > len(buffer):
            return False


class ArrivedUnreader(SocketUnreader):
    """The parser's source: the bytes the event loop read, a piece at a time, then the socket.

    Handing a whole buffered request to gunicorn's own unreader (`unread`) put it in one buffer
    that every read of the body then copied the rest of: a 30 MiB body was copied hundreds of
    times and held several times over. Here each read takes only its own piece, and the arrived
    bytes are let go once read.
    """

    def __init__(self, sock: Any, arrived: bytearray) -> None:
        super().__init__(sock)
        self._arrived: bytearray | None = arrived
        self._offset = 0

    def chunk(self, size_hint: int | None = None) -> bytes:
        if self._arrived is None:
            return super().chunk(size_hint)
        size = max(self.mxchunk, min(size_hint or 0, self.max_body_chunk))
        piece = bytes(memoryview(self._arrived)[self._offset:self._offset + size])
        self._offset += len(piece)
        if self._offset >= len(self._arrived):
            self._arrived = None
        return piece

    def take_buffered(self) -> bytes:
        """What was read ahead and not used yet (a pipelined request), arrived bytes included."""
        rest = b"" if self._arrived is None else bytes(memoryview(self._arrived)[self._offset:])
        self._arrived = None
        return super().take_buffered() + rest


class BufferingThreadWorker(ThreadWorker):
    """`gthread` whose event loop reads each request whole before a thread runs it (see the module)."""

    def init_process(self) -> None:
        self.read_timeout = read_timeout_from_environment()
        self.arrivals: dict[TConn, _Arrival] = {}
        super().init_process()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        config = getattr(self.wsgi, "config", None)
        limit = config.get("MAX_CONTENT_LENGTH") if isinstance(config, dict) else None
        self.max_buffered_body = int(limit) if limit else 32 * 1024 * 1024

    def enqueue_req(self, conn: TConn) -> None:
        """Every way to the thread pool comes here (new, kept-alive and pipelined requests): read first."""
        if self.cfg.is_ssl:
            super().enqueue_req(conn)  # TLS is terminated in front of the service; not buffered here
            return
        pending = b""
        if conn.parser is not None:
            pending = conn.parser.unreader.take_buffered() or b""
        arrival = _Arrival(pending, time.monotonic(), self.read_timeout)
        conn.sock.setblocking(False)
        if request_is_complete(arrival.buffer, self.max_buffered_body):
            self._dispatch(conn, arrival)
            return
        self.arrivals[conn] = arrival
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))
        self._read(conn)

    def _on_readable(self, conn: TConn, _sock: Any) -> None:
        self._read(conn)

    def _read(self, conn: TConn) -> None:
        arrival = self.arrivals.get(conn)
        if arrival is None:
            return
        try:
            data = conn.sock.recv(_RECV_SIZE)
        except OSError as error:
            if error.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                return
            self._drop(conn)
            return
        if not data:
            self._drop(conn)  # the client went away before its request was complete
            return
        arrival.extend(data, self.read_timeout)
        if request_is_complete(arrival.buffer, self.max_buffered_body):
            del self.arrivals[conn]
            self.poller.unregister(conn.sock)
            self._dispatch(conn, arrival)

    def _dispatch(self, conn: TConn, arrival: _Arrival) -> None:
        """Hand a complete request to the thread pool, its bytes already in the parser's buffer."""
        conn.sock.setblocking(True)
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
            conn.initialized = True
        conn.data_ready = True
        # Whatever the old unreader held is in the arrival already (`enqueue_req` took it).
        conn.parser.unreader = ArrivedUnreader(conn.sock, arrival.buffer)
        if self.cfg.threads > 1:
            super().enqueue_req(conn)
            return
        # One request thread: the event loop runs the request itself. A pool of one thread only
        # added a hand-over each way and a second thread to share the GIL with (measured: our
        # worker at 0.80-0.89x of gunicorn's `sync` with it). While it runs, the loop reads no
        # other connection, as the one thread would be busy anyway; the request is already whole.
        done: Future[Any] = Future()
        try:
            done.set_result(self.handle(conn))
        except Exception as error:  # noqa: BLE001 - finish_request closes the connection, as after a failed thread
            done.set_exception(error)
        # Finished from the loop's next turn, not here: a kept-alive connection with a pipelined
        # request would otherwise run it one level deeper in this call, once per request.
        self.method_queue.defer(self.finish_request, conn, done)

    def _drop(self, conn: TConn) -> None:
        self.arrivals.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self) -> None:
        """Also drop requests past their read deadline (all of them once the worker stops)."""
        super().murder_pending()
        now = time.monotonic()
        for conn, arrival in list(self.arrivals.items()):
            if arrival.deadline <= now or not self.alive:
                self._drop(conn)

    def handle_request(self, req: Any, conn: TConn) -> bool:
        # The request is in memory; a timeout still bounds what the thread may wait for (a body over
        # the buffering limit the app chose to read, a client that does not read its answer).
        conn.sock.settimeout(self.read_timeout)
        return super().handle_request(req, conn)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """gunicorn's `handle_error` (what it logs, the status it chooses), answered in Magento's shape."""
        refusal = refusal_for(exc, self.cfg)
        if refusal.is_client_error:
            self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
        else:
            self.log.exception("Error handling request, report %s", refusal.parameters)
        try:
            util.write_nonblock(client, refusal.http())
        except OSError:
            self.log.debug("Failed to send error message.")
