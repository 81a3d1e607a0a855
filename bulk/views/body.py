"""Request bodies the way Magento's REST request reads them: Content-Type rules, then JSON."""

from __future__ import annotations

import re
from typing import Any

import orjson

from bulk.errors import WebapiError
from bulk.phrases import CHARSET_UNSUPPORTED, CONTENT_TYPE_EMPTY, CONTENT_TYPE_INVALID, DECODING_ERROR
from bulk.views.nesting import check_nesting
from bulk.views.nul import check_json_for_nul

# Magento\Framework\Webapi\Rest\Request::getContentType
_CONTENT_TYPE = re.compile(r"^([a-z\d/\-+.]+)(?:; *charset=(.+))?$", re.IGNORECASE)
UNSUPPORTED_MEDIA_TYPE = "Server cannot understand Content-Type HTTP header media type %1"


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
    check_nesting(body)
    check_json_for_nul(raw)
    return body


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
