"""Request bodies the way Magento's REST request reads them: Content-Type rules, then JSON."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from typing import Any

import orjson
from flask import request
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from bulk.errors import WebapiError
from bulk.phrases import CHARSET_UNSUPPORTED, CONTENT_TYPE_EMPTY, CONTENT_TYPE_INVALID, DECODING_ERROR
from bulk.views.array_items import WINDOW_BYTES, ArrayItems, Malformed, array_items, is_array
from bulk.views.nesting import check_nesting
from bulk.views.nul import check_json_for_nul

# Magento\Framework\Webapi\Rest\Request::getContentType
_CONTENT_TYPE = re.compile(r"^([a-z\d/\-+.]+)(?:; *charset=(.+))?$", re.IGNORECASE)
UNSUPPORTED_MEDIA_TYPE = "Server cannot understand Content-Type HTTP header media type %1"
_KEPT_BODY = "bulk.body"


def read_body(keep: bool = False) -> bytes:
    """The request's body; 413 past `BULK_MAX_BODY_BYTES` (`MAX_CONTENT_LENGTH`, or a guest's bound).

    Read straight from the server's stream into one bytes object (werkzeug's `get_data` gathers
    it in a bytearray and copies that: twice the body at once). A chunked body (no length) is read
    one byte past the limit and refused when that byte is there: werkzeug would return it cut
    short at the limit, to fail later as malformed JSON. `keep`: a later call gets the same bytes
    (an OAuth form body is read for its signature, then by the view).
    """
    environ = request.environ
    kept = environ.get(_KEPT_BODY)
    if kept is not None:
        return kept
    limit, length = request.max_content_length, request.content_length
    if length is not None:
        if limit is not None and length > limit:
            raise RequestEntityTooLarge()
        data = environ["wsgi.input"].read(length) if length else b""
        if len(data) < length:
            raise ClientDisconnected()
    elif limit is not None and "wsgi.input_terminated" in environ:
        data = environ["wsgi.input"].read(limit + 1)
        if len(data) > limit:
            raise RequestEntityTooLarge()
    else:
        data = b""  # no length and a stream nobody ends: nothing is read (as werkzeug does)
    if keep:
        environ[_KEPT_BODY] = data
    return data


def decode_body(raw: bytes, content_type: str | None, item_limit: int | None = None) -> Any:
    """The decoded JSON body; an empty body is an empty list (Magento decodes nothing then).

    With `item_limit` (a bulk's items), an array larger than a window is decoded a window of items
    at a time as it is used (`bulk.views.array_items`), never whole.
    """
    if not raw or raw.isspace():  # (strip() would copy a large body)
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
        if item_limit is not None and len(raw) > WINDOW_BYTES and is_array(raw):
            body: Any = array_items(raw, item_limit)  # nesting checked window by window
        else:
            body = orjson.loads(raw)
            check_nesting(body)
    except (orjson.JSONDecodeError, Malformed):
        raise WebapiError(DECODING_ERROR) from None
    check_json_for_nul(raw)
    return body


def as_argument_items(body: Any) -> Collection[tuple[int | str, Any]]:
    """(key, value) pairs the way PHP's `(array)` cast sees the decoded body.

    A list keeps its indexes, an object's properties become items keyed by name (so `{"product": ...}`
    sent to a bulk route fails validation as in Magento), a scalar becomes a one-item list, null none.
    """
    if isinstance(body, list):
        return list(enumerate(body))
    if isinstance(body, ArrayItems):
        return _Indexed(body)
    if isinstance(body, dict):
        return list(body.items())
    if body is None:
        return []
    return [(0, body)]


class _Indexed(Collection[tuple[int, Any]]):
    """A large array's (index, item) pairs, decoded as they are iterated."""

    def __init__(self, items: ArrayItems) -> None:
        self._items = items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        return enumerate(self._items)

    def __contains__(self, value: object) -> bool:
        return any(pair == value for pair in self)
