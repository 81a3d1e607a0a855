"""Magento's `like` filter, which MySQL evaluates: `%` any run, `_` one character, `\\` escapes.

A pattern is parsed once. The store search matches it in Python in time linear in the text (a
translated regex backtracks: `%a%a%a%a%b` against a 200-character name took 11 s), and the
operation search hands it to the database with an explicit escape character, so SQLite and
PostgreSQL read `\\`, `%` and `_` the way MySQL does. Matching ignores case, as MySQL's default
collation does.
"""

from __future__ import annotations

from collections.abc import Iterator

import peewee

ESCAPE = "\\"
# One `_` in a parsed segment.
ONE = None

Segment = tuple[str | None, ...]


def fold(text: str) -> str:
    """Case-folded text, one character for one, so `_` still counts characters afterwards."""
    folded = text.lower()
    if len(folded) != len(text):  # "İ" lowers to two characters: keep such characters as they are
        folded = "".join(lower if len(lower := char.lower()) == 1 else char for char in text)
    # The final-position sigma lowers differently from the same letter inside a word.
    return folded.replace("ς", "σ")


class LikePattern:
    """A parsed `like` value: the segments between its `%`s, each a run of characters and `_`s."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.segments: tuple[Segment, ...] = tuple(_segments(pattern))
        folded = tuple(tuple(ONE if c is ONE else fold(c) for c in segment) for segment in self.segments)
        if any(ONE in segment for segment in folded):
            self._automaton: _Automaton | None = _Automaton(folded)
            self._texts: tuple[str, ...] = ()
        else:
            self._automaton = None
            self._texts = tuple("".join(segment) for segment in folded)  # type: ignore[arg-type]

    def matches(self, text: str) -> bool:
        """Whether the whole of `text` matches, ignoring case."""
        folded = fold(text)
        if self._automaton is not None:
            return self._automaton.accepts(folded)
        return _matches_runs(self._texts, folded)

    def sql(self) -> str:
        """The pattern for SQL `LIKE ... ESCAPE '\\'`: the same wildcards, every literal escaped."""
        return "%".join("".join("_" if c is ONE else ESCAPE + c if c in "%_\\" else c for c in segment)
                        for segment in self.segments)


def sql_like(text: peewee.Node, pattern: LikePattern) -> peewee.Expression:
    """`text LIKE pattern` as MySQL reads it, on both engines: the escape character spelled out (SQLite
    has none by default; PostgreSQL refuses a pattern that ends in one), and case-insensitive (ILIKE on
    PostgreSQL; SQLite's LIKE ignores ASCII case, which the fields it serves are)."""
    return peewee.Expression(text, peewee.OP.ILIKE,
                             peewee.NodeList((peewee.Value(pattern.sql()), peewee.SQL(f"ESCAPE '{ESCAPE}'"))))


def _segments(pattern: str) -> Iterator[Segment]:
    """Split at unescaped `%`; `\\x` is a literal x, and a `\\` that ends the pattern is itself (MySQL)."""
    segment: list[str | None] = []
    characters = iter(pattern)
    for char in characters:
        if char == ESCAPE:
            segment.append(next(characters, ESCAPE))
        elif char == "%":
            yield tuple(segment)
            segment = []
        else:
            segment.append(ONE if char == "_" else char)
    yield tuple(segment)


def _matches_runs(runs: tuple[str, ...], text: str) -> bool:
    """Literal runs between `%`s: the first starts the text, the last ends it, the others in order.

    Taking each middle run at its leftmost place leaves the most room for the rest, so one forward
    pass decides (str.find is linear).
    """
    if len(runs) == 1:
        return text == runs[0]
    first, *middle, last = runs
    start, end = len(first), len(text) - len(last)
    if end < start or not text.startswith(first) or not text.endswith(last):
        return False
    for run in middle:
        found = text.find(run, start, end)
        if found < 0:
            return False
        start = found + len(run)
    return True


class _Automaton:
    """The pattern as a nondeterministic automaton run on bit sets (shift-and): one step a character.

    State j means "the first j pattern characters are matched"; bit j of the set is state j. A
    character moves j to j+1 when it fits pattern character j; a `%` before character j lets
    state j stay on any character.
    """

    def __init__(self, segments: tuple[Segment, ...]) -> None:
        characters = [c for segment in segments for c in segment]
        self._any = sum(1 << j for j, c in enumerate(characters) if c is ONE)
        self._fits: dict[str, int] = {}
        for j, c in enumerate(characters):
            if c is not ONE:
                self._fits[c] = self._fits.get(c, self._any) | 1 << j
        self._loops = 0
        position = 0
        for segment in segments[:-1]:
            position += len(segment)
            self._loops |= 1 << position
        self._accept = 1 << len(characters)

    def accepts(self, text: str) -> bool:
        states, fits, any_char, loops = 1, self._fits, self._any, self._loops
        for char in text:
            states = ((states & fits.get(char, any_char)) << 1) | (states & loops)
            if not states:
                return False
        return bool(states & self._accept)
