"""What gunicorn refuses before the app sees it is answered in Magento's error shape (a real gunicorn)."""

from __future__ import annotations

import json
import socket

import pytest

from bulk.server_errors import refusal_for
from tests.live import Gunicorn

MAX_BODY = 4000
JSON_HEAD = "Content-Type: application/json\r\n"
CUSTOMERS = "/rest/async/bulk/V1/customers"


def exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read the answer until the server closes or it is complete; status, headers, body."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(raw)
        received = b""
        while True:
            head_end = received.find(b"\r\n\r\n")
            if head_end >= 0:
                head, body = received[:head_end].decode("latin-1"), received[head_end + 4:]
                headers = dict(line.split(": ", 1) for line in head.split("\r\n")[1:])
                length = int(headers.get("Content-Length", -1))
                if 0 <= length <= len(body):
                    return int(head.split(" ")[1]), headers, body[:length]
            data = sock.recv(65536)
            assert data, f"connection closed before a whole answer: {received!r}"
            received += data


def chunked(body: bytes, chunk: int = 1000) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(body[i:i + chunk]), body[i:i + chunk]) for i in range(0, len(body), chunk)]
    return b"".join(parts) + b"0\r\n\r\n"


def customers(count: int) -> bytes:
    return json.dumps([{"customer": {"email": f"c{n}@example.com", "firstname": "A", "lastname": "B"},
                        "password": "Secret-Pass-1"} for n in range(count)]).encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with Gunicorn(tmp_path_factory.mktemp("server-errors"), workers=1, BULK_WORKER="0",
                  BULK_MAX_BODY_BYTES=str(MAX_BODY)) as running:
        yield running


def assert_magento_answer(answer, status: int, message: str, parameters=None) -> None:
    code, headers, body = answer
    assert code == status, (code, body)
    assert headers["Content-Type"].startswith("application/json"), headers
    expected = {"message": message, **({"parameters": parameters} if parameters is not None else {})}
    assert json.loads(body) == expected


@pytest.mark.live
def test_a_request_line_over_gunicorns_limit_is_a_magento_414(server):
    answer = exchange(server.port, b"GET /rest/V1/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert_magento_answer(answer, 414, "The request line is longer than %max bytes.", {"max": 4094})


@pytest.mark.live
def test_too_many_or_too_large_header_fields_are_a_magento_431(server):
    many = b"".join(b"X-Field-%d: a\r\n" % n for n in range(120))
    answer = exchange(server.port, b"GET /health HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert_magento_answer(answer, 431, "The request has more than %max header fields.", {"max": 100})
    large = b"X-Large: " + b"a" * 9000 + b"\r\n"
    answer = exchange(server.port, b"GET /health HTTP/1.1\r\nHost: x\r\n" + large + b"\r\n")
    assert_magento_answer(answer, 431, "A request header field is larger than %max bytes.", {"max": 8190})


@pytest.mark.live
@pytest.mark.parametrize("lengths, body", [
    (b"Content-Length: 2\r\nContent-Length: 3\r\n", b"[]"),
    (b"Content-Length: abc\r\n", b"[]"),
    (b"Content-Length: -1\r\n", b"[]"),
    (b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n", chunked(b"[]")),
])
def test_conflicting_or_invalid_content_lengths_are_a_magento_400(server, lengths, body):
    raw = f"POST {CUSTOMERS} HTTP/1.1\r\nHost: x\r\n{JSON_HEAD}".encode() + lengths + b"\r\n" + body
    assert_magento_answer(exchange(server.port, raw), 400, 'The "%header" header is invalid.',
                          {"header": "Content-Length"})


@pytest.mark.live
def test_other_unparsable_requests_are_magento_errors_without_echoing_the_request(server):
    answer = exchange(server.port, b"GE\x01T /health HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n\r\n")
    assert_magento_answer(answer, 400, "Specified request cannot be processed.")
    answer = exchange(server.port, b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n")
    assert answer[0] in (400, 501) and json.loads(answer[2])["message"] in (
        'The "%header" header is invalid.', "Specified request cannot be processed.")
    assert b"s3cret" not in answer[2]


@pytest.mark.live
def test_a_chunked_body_over_the_limit_is_a_413_not_a_decoding_error(server):
    body = customers(60)
    assert len(body) > MAX_BODY
    raw = (f"POST {CUSTOMERS} HTTP/1.1\r\nHost: x\r\n{JSON_HEAD}Transfer-Encoding: chunked\r\n"
           "Connection: close\r\n\r\n").encode() + chunked(body)
    assert_magento_answer(exchange(server.port, raw), 413, "The request body is larger than %max bytes.",
                          {"max": MAX_BODY})


@pytest.mark.live
def test_a_chunked_body_within_the_limit_is_accepted(server):
    body = customers(2)
    raw = (f"POST {CUSTOMERS} HTTP/1.1\r\nHost: x\r\n{JSON_HEAD}Transfer-Encoding: chunked\r\n"
           "Connection: close\r\n\r\n").encode() + chunked(body, 50)
    status, _, answer = exchange(server.port, raw)
    assert status == 202, answer
    assert [item["status"] for item in json.loads(answer)["request_items"]] == ["accepted", "accepted"]


class Limits:
    limit_request_line = 4094
    limit_request_fields = 100
    limit_request_field_size = 8190


def test_what_gunicorn_says_about_a_header_line_is_never_echoed():
    from gunicorn.http.errors import InvalidHeader

    refusal = refusal_for(InvalidHeader("Authorization: Bearer s3cret"), Limits())
    assert (refusal.status, refusal.message, refusal.parameters) == (400, "Specified request cannot be processed.", None)
    assert b"s3cret" not in refusal.http()


def test_an_unexpected_error_is_magentos_500_with_a_report_id():
    refusal = refusal_for(RuntimeError("internal detail"), Limits())
    assert refusal.status == 500 and not refusal.is_client_error
    body = json.loads(refusal.body())
    assert body["message"] == "Internal Error. Details are available in Magento log file. Report ID: %1"
    assert body["parameters"][0].startswith("webapi-") and b"internal detail" not in refusal.http()
