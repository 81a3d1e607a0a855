"""JSON in and out: orjson for speed, and PHP `json_encode` byte format for what Magento stores."""

from __future__ import annotations

import json
from typing import Any

import orjson
from flask import Response

JSON_CONTENT_TYPE = "application/json; charset=utf-8"


def dumps(value: Any) -> bytes:
    """Compact JSON bytes, keys in insertion order."""
    try:
        return orjson.dumps(value)
    except TypeError:
        # orjson refuses integers beyond 64 bits; an answer carrying one (an error naming the value it
        # refused) must still be written, not fail inside the error handler.
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def loads(data: bytes | str) -> Any:
    """Parse JSON; raises `ValueError` (orjson.JSONDecodeError) on malformed input."""
    return orjson.loads(data)


def php_json_encode(value: Any) -> str:
    """Encode like PHP's `json_encode` without flags: `\\/` for slashes and `\\uXXXX` for non-ASCII.

    Magento stores `serialized_data` in this form and `data_hash` is computed over it, so the stored
    bytes must not depend on which JSON library we use.
    """
    encoded = orjson.dumps(value)
    if encoded.isascii():
        return encoded.replace(b"/", b"\\/").decode("ascii")
    # Rare path: let the standard library produce \uXXXX escapes (surrogate pairs included).
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/")


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response with Magento's content type."""
    return Response(dumps(payload), status=status, headers=headers, content_type=JSON_CONTENT_TYPE)
