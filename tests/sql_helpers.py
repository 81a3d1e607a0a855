"""What SQL a piece of code runs, for tests that check statements rather than results."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bulk.db import database


def statements_run(monkeypatch, call: Callable[[], Any]) -> tuple[Any, list[tuple[str, Any]]]:
    """What `call()` returns, and the SQL statements it ran through the database, each with its
    parameters, in order."""
    statements: list[tuple[str, Any]] = []
    engine = type(database.obj)
    execute_sql = engine.execute_sql

    def recording(self, sql, params=None, *args, **kwargs):
        statements.append((sql, params))
        return execute_sql(self, sql, params, *args, **kwargs)

    monkeypatch.setattr(engine, "execute_sql", recording)
    try:
        return call(), statements
    finally:
        monkeypatch.setattr(engine, "execute_sql", execute_sql)
