"""Magento phrases: a raw message with `%name` / `%1` placeholders plus its parameters."""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

_PLACEHOLDER = re.compile(r"%(\w+)")

Parameters = Mapping[str, Any] | Sequence[Any] | None


class Phrase(str):
    """A message template that remembers its parameters; `str(phrase)` is the raw template.

    It subclasses `str` so that marshmallow can carry it as an ordinary error message.
    """

    parameters: Parameters

    def __new__(cls, template: str, parameters: Parameters = None) -> "Phrase":
        phrase = super().__new__(cls, template)
        phrase.parameters = parameters
        return phrase

    def render(self) -> str:
        """Substitute placeholders the way Magento's renderer does (what `getMessage()` returns)."""
        return render(str(self), self.parameters)


def render(template: str, parameters: Parameters) -> str:
    """Replace `%name` and `%1` in `template`; unknown placeholders stay as written."""
    if not parameters:
        return template

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if isinstance(parameters, Mapping):
            if key in parameters:
                return str(parameters[key])
        elif key.isdigit() and 0 < int(key) <= len(parameters):
            return str(parameters[int(key) - 1])
        return match.group(0)

    return _PLACEHOLDER.sub(substitute, template)
