"""NUL characters refused at the edge, on both engines alike.

PostgreSQL cannot hold a NUL in text: wherever one reached a query (a path segment, a search value,
an item, a guest's e-mail) it answered 500, where SQLite stored or matched it. Magento on MySQL
accepts them; no real client sends them. So a NUL in an API request's path, query string, headers,
form or JSON body is refused with a 400 before anything reads the request.
"""

from __future__ import annotations

import re

from flask import request

from bulk.errors import WebapiError
from bulk.phrases import NUL_CHARACTER

# `\u0000` after an even run of backslashes (none, or escaped backslashes): a NUL inside a JSON string.
# The run is taken whole (possessive) and only from its start (look-behind), so the search is linear.
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*+\\u0000")


def nul_refused(part: str) -> WebapiError:
    return WebapiError(NUL_CHARACTER, {"part": part})


def json_has_nul(raw: bytes) -> bool:
    """Whether a JSON text (valid, already parsed) has a NUL in a string or a key."""
    # A raw NUL byte is no valid JSON, so only the escape can carry one; most bodies have no "u0000".
    return b"u0000" in raw and _JSON_NUL.search(raw) is not None


def refuse_nul_characters() -> None:
    """Before every API request: the parts a view may read, but JSON bodies (`decode_body` checks those)."""
    if "\x00" in request.path:
        raise nul_refused("path")
    query = request.query_string
    if b"%00" in query or b"\x00" in query:
        raise nul_refused("query")
    if any("\x00" in value for value in request.headers.values()):
        raise nul_refused("header")
    if request.mimetype == "application/x-www-form-urlencoded":
        # Kept for the view (cache=True): form parsing reads the cached bytes.
        form = request.get_data(cache=True)
        if b"%00" in form or b"\x00" in form:
            raise nul_refused("body")
