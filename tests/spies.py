"""Spies on the project's functions: what each call answered, as the test wants to see it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def answers_of(monkeypatch, owner: Any, name: str, keep: Callable[[Any], Any] = lambda answer: answer) -> list[Any]:
    """Patch `owner.name` so that what `keep` makes of each answer is recorded in the list returned."""
    real = getattr(owner, name)
    answers: list[Any] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        answer = real(*args, **kwargs)
        answers.append(keep(answer))
        return answer

    monkeypatch.setattr(owner, name, spy)
    return answers
