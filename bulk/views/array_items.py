"""A large JSON array decoded a window of items at a time, so a request holds its body's bytes and
one window's Python objects instead of the whole tree.

Decoded whole, a 30 MiB bulk of customers with many short values became ~20 times its size in
Python objects, all alive until the request ended. Here the body's top-level structure is scanned
(strings and brackets only, in C through `re`), the items are grouped into windows of about
`WINDOW_BYTES`, and each window is decoded by orjson as the array `[<its items>]`: the same bytes
and the same parser as for a small body, so every item decodes to the same value and every body is
refused or accepted alike. Malformed JSON anywhere is found before any item is used (a first pass
decodes and drops each window), as when the body is decoded whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from bulk.views.nesting import check_nesting

WINDOW_BYTES = 256 * 1024
# Containers up to this deep are skipped by one regex match; deeper ones cost a match per bracket.
_NESTING_IN_ONE_MATCH = 5

_WHITESPACE = re.compile(rb"[ \t\n\r]*")
_STRING_PATTERN = rb'"(?:[^"\\]++|\\.)*+"'
_FREE_PATTERN = rb'[^"\[\]{}]++'


def _containers(depth: int) -> bytes:
    """A balanced array or object with at most `depth` levels of containers, brackets of the right kinds."""
    inner = _FREE_PATTERN + b"|" + _STRING_PATTERN
    for _ in range(depth):
        pattern = rb"\[(?:" + inner + rb")*+\]|\{(?:" + inner + rb")*+\}"
        inner = _FREE_PATTERN + b"|" + _STRING_PATTERN + b"|" + pattern
    return pattern


_NESTED = _containers(_NESTING_IN_ONE_MATCH)
_STRING = re.compile(_STRING_PATTERN, re.DOTALL)
# A number, true, false or null (orjson judges whether it is one): up to the next separator.
_SCALAR_PATTERN = rb'[^ \t\n\r,\[\]{}"]++'
_SCALAR = re.compile(_SCALAR_PATTERN)
# Inside a container: everything up to its next bracket, strings and shallow containers skipped
# whole; then that bracket.
_TO_NEXT_BRACKET = re.compile(rb"(?:" + _FREE_PATTERN + b"|" + _STRING_PATTERN + b"|" + _NESTED + rb")*+([\[\]{}])",
                              re.DOTALL)
# Items (strings, scalars, shallow containers) each followed by a comma: many items in one match.
_RUN = re.compile(rb"(?:(?:" + _STRING_PATTERN + b"|" + _SCALAR_PATTERN + b"|" + _NESTED
                  + rb")[ \t\n\r]*+,[ \t\n\r]*+)++", re.DOTALL)
# What may hold a comma inside an item: removed, the commas left are the ones between items.
_COMMA_HOLDERS = re.compile(_STRING_PATTERN + b"|" + _NESTED, re.DOTALL)
_CLOSERS = {ord("["): ord("]"), ord("{"): ord("}")}


class Malformed(ValueError):
    """The body is not well-formed JSON."""


@dataclass(frozen=True)
class _Window:
    start: int
    end: int
    count: int


class ArrayItems:
    """The items of a top-level JSON array, decoded on iteration one window at a time (`len` is known)."""

    def __init__(self, data: bytes, windows: list[_Window], decoded: list[Any] | None = None) -> None:
        self._data = data
        self._windows = windows
        self._count = sum(window.count for window in windows)
        self._decoded = decoded  # the only window's items, when there is one

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Any]:
        if self._decoded is not None:
            yield from self._decoded
            return
        for window in self._windows:
            yield from _decode(self._data, window)


def is_array(data: bytes) -> bool:
    """Whether the body starts like a JSON array (anything else is decoded whole)."""
    start = _skip_whitespace(data, 0)
    return data[start:start + 1] == b"["


def array_items(data: bytes, item_limit: int, window_bytes: int = WINDOW_BYTES) -> ArrayItems:
    """The array's items, checked to decode (every window once); `Malformed` if the body is not JSON.

    Past `item_limit` items the scan stops: the request is refused for its item count (which `len`
    then exceeds), even if the body would also be malformed further on.
    """
    windows = list(_windows(data, window_bytes, item_limit))
    if len(windows) == 1:
        return ArrayItems(data, windows, _decode(data, windows[0]))  # one window: decoded once, kept
    for window in windows:
        _decode(data, window)  # syntax first, as a whole-body decode would; the objects are dropped
    return ArrayItems(data, windows)


def _decode(data: bytes, window: _Window) -> list[Any]:
    try:
        items = orjson.loads(b"[" + data[window.start:window.end] + b"]")
    except orjson.JSONDecodeError:
        raise Malformed from None
    check_nesting(items)  # a window's items sit as deep in it as in the body's array
    return items


def _windows(data: bytes, window_bytes: int, item_limit: int) -> Iterator[_Window]:
    """Consecutive runs of whole items, each about `window_bytes` long (at least one item)."""
    position = _skip_whitespace(data, _skip_whitespace(data, 0) + 1)  # past the opening bracket
    if data[position:position + 1] == b"]":
        _expect_end(data, position + 1)
        return
    start, count, total = position, 0, 0
    while True:
        # Many small items at once, within the window's bytes (a run never ends inside an item).
        run = _RUN.match(data, position, start + window_bytes)
        if run is not None:
            items = _COMMA_HOLDERS.sub(b"", data[position:run.end()]).count(b",")
            count, total, position = count + items, total + items, _skip_whitespace(data, run.end())
        end = _value_end(data, position)
        count, total = count + 1, total + 1
        position = _skip_whitespace(data, end)
        separator = data[position:position + 1]
        if separator == b"]":
            yield _Window(start, end, count)
            _expect_end(data, position + 1)
            return
        if separator != b"," or total > item_limit:
            if separator != b",":
                raise Malformed
            yield _Window(start, end, count)  # enough to refuse the request for its item count
            return
        if end - start >= window_bytes:
            yield _Window(start, end, count)
            start, count = position + 1, 0
        position = _skip_whitespace(data, position + 1)


def _value_end(data: bytes, position: int) -> int:
    """Where the value starting at `position` ends (its content is judged later, by orjson)."""
    first = data[position:position + 1]
    if first in (b"[", b"{"):
        return _container_end(data, position)
    match = (_STRING if first == b'"' else _SCALAR).match(data, position)
    if match is None:
        raise Malformed
    return match.end()


def _container_end(data: bytes, position: int) -> int:
    expected = [_CLOSERS[data[position]]]
    position += 1
    while expected:
        match = _TO_NEXT_BRACKET.match(data, position)
        if match is None:
            raise Malformed
        bracket = data[match.end() - 1]
        if bracket in _CLOSERS:
            expected.append(_CLOSERS[bracket])
        elif bracket != expected.pop():
            raise Malformed
        position = match.end()
    return position


def _skip_whitespace(data: bytes, position: int) -> int:
    match = _WHITESPACE.match(data, position)
    return match.end() if match is not None else position  # it always matches (the empty string too)


def _expect_end(data: bytes, position: int) -> None:
    if _skip_whitespace(data, position) != len(data):
        raise Malformed
