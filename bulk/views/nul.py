"""NUL characters refused at the edge, on both engines alike.

PostgreSQL cannot hold a NUL in text: wherever one reached a query (a path segment, a search value,
an item, a guest's e-mail) it answered 500, where SQLite stored or matched it. Magento on MySQL
accepts them; no real client sends them. So a NUL in an API request's path, query string, headers
or JSON body is refused with a 400 before anything reads the request. (Form bodies reach no query:
the only form fields read, OAuth's, are checked where they are read, and the API refuses forms.)
"""

from __future__ import annotations

import re

from flask import request

from bulk.errors import WebapiError

# Our own text: Magento (MySQL) has no such refusal.
NUL_CHARACTER = "A NUL character is not accepted in the request %part."
# `\u0000` after an even run of backslashes (none, or escaped backslashes): a NUL inside a JSON string.
# The run is taken whole (possessive) and only from its start (look-behind), so the search is linear.
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*+\\u0000")


def nul_refused(part: str) -> WebapiError:
    return WebapiError(NUL_CHARACTER, {"part": part})


def check_json_for_nul(raw: bytes) -> None:
    """Refuse a JSON text (valid, already decoded) with a NUL in a string or a key."""
    # A raw NUL byte is no valid JSON, so only the escape can carry one; most bodies have no "u0000".
    if b"u0000" in raw and _JSON_NUL.search(raw) is not None:
        raise nul_refused("body")


def refuse_nul_characters() -> None:
    """Before every API request: path, query and headers (`decode_body` checks JSON bodies)."""
    if "\x00" in request.path:
        raise nul_refused("path")
    query = request.query_string
    if b"%00" in query or b"\x00" in query:
        raise nul_refused("query")
    if any("\x00" in value for value in request.headers.values()):
        raise nul_refused("header")
