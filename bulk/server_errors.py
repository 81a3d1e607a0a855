"""Answers to requests gunicorn refuses before the app sees them, in Magento's error shape.

gunicorn answers a request line over `limit_request_line` (414), too many or too large header fields
(431), a conflicting or malformed `Content-Length` or `Transfer-Encoding` and other unparsable heads
(400) with an HTML page of its own. The service's worker (`bulk.http_worker`) answers them with
`{"message", "parameters"}` instead, and the same status. What gunicorn's text would echo (raw header
lines, the request line) is never put in the answer: it may carry a client's credentials.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from gunicorn.http import errors

from bulk.phrases import CANNOT_PROCESS, INTERNAL_ERROR

REQUEST_LINE_TOO_LONG = "The request line is longer than %max bytes."
TOO_MANY_HEADER_FIELDS = "The request has more than %max header fields."
HEADER_FIELD_TOO_LARGE = "A request header field is larger than %max bytes."
HEADER_SECTION_TOO_LARGE = "The request's header section is too large."
HEADER_INVALID = 'The "%header" header is invalid.'
EXPECTATION_FAILED = 'The "%header" header asks for what the service cannot do.'

# The header names gunicorn's InvalidHeader names itself (its other uses carry raw request bytes).
_NAMED_HEADERS = {"CONTENT-LENGTH": "Content-Length", "TRANSFER-ENCODING": "Transfer-Encoding"}
_REASONS = {400: "Bad Request", 403: "Forbidden", 414: "URI Too Long", 417: "Expectation Failed",
            431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented"}


@dataclass(frozen=True)
class Refusal:
    """One refused request's answer: status and Magento's body."""

    status: int
    message: str
    parameters: dict[str, Any] | list[Any] | None = None

    @property
    def is_client_error(self) -> bool:
        return self.status < 500

    def body(self) -> bytes:
        body: dict[str, Any] = {"message": self.message}
        if self.parameters:
            body["parameters"] = self.parameters
        return orjson.dumps(body)

    def http(self) -> bytes:
        """The whole answer; the connection is closed after it (where the next request starts is unknown)."""
        body = self.body()
        head = (f"HTTP/1.1 {self.status} {_REASONS.get(self.status, 'Error')}\r\nConnection: close\r\n"
                f"Content-Type: application/json; charset=utf-8\r\nContent-Length: {len(body)}\r\n\r\n")
        return head.encode("latin-1") + body


def refusal_for(error: BaseException, limits: Any) -> Refusal:
    """The answer to a request gunicorn could not parse; `limits` is gunicorn's config (its limit_* values)."""
    if isinstance(error, (errors.InvalidResponseHeader, errors.InvalidResponseHeaderName, errors.ConfigurationProblem)):
        return internal_error()  # the app's or the configuration's fault, not the client's
    if isinstance(error, errors.LimitRequestLine):
        return Refusal(414, REQUEST_LINE_TOO_LONG, {"max": limits.limit_request_line})
    if isinstance(error, errors.LimitRequestHeaders):
        return _headers_too_large(str(error), limits)
    if isinstance(error, errors.InvalidHeader):
        name = _NAMED_HEADERS.get(str(error.hdr).upper())
        return Refusal(400, HEADER_INVALID, {"header": name}) if name else Refusal(400, CANNOT_PROCESS)
    if isinstance(error, errors.UnsupportedTransferCoding):
        return Refusal(501, HEADER_INVALID, {"header": "Transfer-Encoding"})
    if isinstance(error, errors.ExpectationFailed):
        return Refusal(417, EXPECTATION_FAILED, {"header": "Expect"})
    if isinstance(error, errors.ForbiddenProxyRequest):
        return Refusal(403, CANNOT_PROCESS)
    if isinstance(error, errors.ParseException):
        return Refusal(400, CANNOT_PROCESS)  # request line, method, version, folding, chunks, PROXY line
    return internal_error()


def _headers_too_large(reason: str, limits: Any) -> Refusal:
    if reason == "limit request headers fields":
        return Refusal(431, TOO_MANY_HEADER_FIELDS, {"max": limits.limit_request_fields})
    if reason == "limit request headers fields size":
        return Refusal(431, HEADER_FIELD_TOO_LARGE, {"max": limits.limit_request_field_size})
    return Refusal(431, HEADER_SECTION_TOO_LARGE)


def internal_error() -> Refusal:
    """Magento's 500, with a report id to find the logged traceback by."""
    return Refusal(500, INTERNAL_ERROR, [f"webapi-{uuid.uuid4().hex[:13]}"])
