"""Request bodies the way Magento's REST request reads them: Content-Type rules, then JSON."""

from __future__ import annotations

import re
from typing import Any

import orjson

from bulk.errors import WebapiError
from bulk.phrases import CHARSET_UNSUPPORTED, CONTENT_TYPE_EMPTY, CONTENT_TYPE_INVALID, DECODING_ERROR
from bulk.views.nul import json_has_nul, nul_refused

# Magento\Framework\Webapi\Rest\Request::getContentType
_CONTENT_TYPE = re.compile(r"^([a-z\d/\-+.]+)(?:; *charset=(.+))?$", re.IGNORECASE)
UNSUPPORTED_MEDIA_TYPE = "Server cannot understand Content-Type HTTP header media type %1"

# Magento decodes bodies with PHP's json_decode (depth 512) and answers "Decoding error." beyond it.
# This service stops at 128 nested arrays/objects: orjson, which writes every stored operation and
# every answer, stops at 254, answers wrap an item in a few levels more, and handlers walk values
# recursively. No real client comes near either limit.
MAX_NESTING = 128
# orjson.dumps refuses a value nested 255 deep. Wrapped in (254 - MAX_NESTING) lists, a body makes it
# refuse exactly when the body itself is nested deeper than MAX_NESTING: the check runs in C, where a
# walk in Python would cost several times the parse.
_ORJSON_MAX_DEPTH = 254


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
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise WebapiError(DECODING_ERROR) from None
    if not _nesting_fits(body):
        raise WebapiError(DECODING_ERROR)
    if json_has_nul(raw):
        raise nul_refused("body")
    return body


def _nesting_fits(body: Any) -> bool:
    probe = body
    for _ in range(_ORJSON_MAX_DEPTH - MAX_NESTING):
        probe = [probe]
    try:
        orjson.dumps(probe)
    except orjson.JSONEncodeError:
        return False
    return True


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
