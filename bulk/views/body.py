"""Request bodies the way Magento's REST request reads them: Content-Type rules, then JSON."""

from __future__ import annotations

import re
from typing import Any

import orjson
from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from bulk.errors import WebapiError
from bulk.phrases import CHARSET_UNSUPPORTED, CONTENT_TYPE_EMPTY, CONTENT_TYPE_INVALID, DECODING_ERROR

# Magento\Framework\Webapi\Rest\Request::getContentType
_CONTENT_TYPE = re.compile(r"^([a-z\d/\-+.]+)(?:; *charset=(.+))?$", re.IGNORECASE)
UNSUPPORTED_MEDIA_TYPE = "Server cannot understand Content-Type HTTP header media type %1"
_KEPT_BODY = "bulk.body"


def read_body(keep: bool = False) -> bytes:
    """The request's body; 413 past `BULK_MAX_BODY_BYTES` (`MAX_CONTENT_LENGTH`), also for a chunked body.

    Werkzeug refuses a `Content-Length` over the limit, but reads a chunked body (no length) only up
    to the limit and returns it cut short, which then fails as malformed JSON. So a body without a
    length is read from the server's stream (gunicorn ends it: `wsgi.input_terminated`) one byte past
    the limit, and refused when that byte is there. `keep`: a later call gets the same bytes (an
    OAuth form body is read for its signature, then by the view).
    """
    environ = request.environ
    kept = environ.get(_KEPT_BODY)
    if kept is not None:
        return kept
    limit = request.max_content_length
    if limit is None or request.content_length is not None or "wsgi.input_terminated" not in environ:
        data = request.get_data(cache=False)
    else:
        data = environ["wsgi.input"].read(limit + 1)
        if len(data) > limit:
            raise RequestEntityTooLarge()
    if keep:
        environ[_KEPT_BODY] = data
    return data


def decode_body(raw: bytes, content_type: str | None) -> Any:
    """The decoded JSON body; an empty body is an empty list (Magento decodes nothing then)."""
    if not raw.strip():
        return []
    if not content_type:
        raise WebapiError(CONTENT_TYPE_EMPTY)
    match = _CONTENT_TYPE.match(content_type.strip())
    if match is None:
        raise WebapiError(CONTENT_TYPE_INVALID)
    media_type, charset = match.group(1).lower(), match.group(2)
    if charset is not None and charset.strip().strip('"').lower() != "utf-8":
        raise WebapiError(CHARSET_UNSUPPORTED)
    if media_type != "application/json":
        raise WebapiError(UNSUPPORTED_MEDIA_TYPE, [media_type])
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise WebapiError(DECODING_ERROR) from None


def as_argument_items(body: Any) -> list[tuple[int | str, Any]]:
    """(key, value) pairs the way PHP's `(array)` cast sees the decoded body.

    A list keeps its indexes, an object's properties become items keyed by name (so `{"product": ...}`
    sent to a bulk route fails validation as in Magento), a scalar becomes a one-item list, null none.
    """
    if isinstance(body, list):
        return list(enumerate(body))
    if isinstance(body, dict):
        return list(body.items())
    if body is None:
        return []
    return [(0, body)]
