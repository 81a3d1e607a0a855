"""How deep a decoded JSON body may nest: Magento's "Decoding error." past the bound.

Magento decodes bodies with PHP's json_decode (depth 512) and answers "Decoding error." beyond it.
This service stops at 128 nested arrays/objects: orjson, which writes every stored operation and
every answer, stops at 254, answers wrap an item in a few levels more, and handlers walk values
recursively. No real client comes near either limit.
"""

from __future__ import annotations

from typing import Any

import orjson

from bulk.errors import WebapiError
from bulk.phrases import DECODING_ERROR

MAX_NESTING = 128
# orjson.dumps refuses a value nested 255 deep. Wrapped in (254 - limit) lists, a value makes it refuse
# exactly when the value itself is nested deeper than the limit: the check runs in C, where a walk in
# Python costs several times the parse (~430 against ~30 microseconds for 100 products).
_ORJSON_MAX_DEPTH = 254


def check_nesting(value: Any, limit: int = MAX_NESTING) -> None:
    """Refuse a decoded value nested deeper than `limit` arrays/objects (an array's item: limit - 1)."""
    probe = value
    for _ in range(_ORJSON_MAX_DEPTH - limit):
        probe = [probe]
    try:
        orjson.dumps(probe)
    except orjson.JSONEncodeError:
        raise WebapiError(DECODING_ERROR) from None
