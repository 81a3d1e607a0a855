"""Revoking admin tokens: every token (and dashboard session) carries the generation it was issued in,
and `flask --app app bulk tokens revoke` raises the generation stored in the database.

Tokens stay self-contained and signed; only the generation is read, once per process every
`BULK_TOKEN_CHECK_SECONDS` (a one-row primary-key read; 0 reads it for every request). Integration
access tokens are not admin tokens: `flask --app app bulk integration rotate` or `delete` revokes them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from bulk.db import database, is_postgresql, write_transaction
from bulk.models import TokenGeneration

_ROW = 1
# Tokens issued before generations existed carry none: they belong to the first generation.
FIRST_GENERATION = 0


def read_generation() -> int:
    """The generation in the database (FIRST_GENERATION until a first revocation)."""
    value = TokenGeneration.select(TokenGeneration.generation).where(TokenGeneration.id == _ROW).scalar()
    return FIRST_GENERATION if value is None else int(value)


def raise_generation() -> int:
    """Revoke every token issued so far; returns the new generation."""
    with write_transaction():
        if is_postgresql():
            # Two revocations at once must both count: the row is locked, or created by one of them.
            database.execute_sql(f'LOCK TABLE "{TokenGeneration._meta.table_name}" IN SHARE ROW EXCLUSIVE MODE')
        generation = read_generation() + 1
        (TokenGeneration.insert(id=_ROW, generation=generation)
         .on_conflict(conflict_target=[TokenGeneration.id], update={TokenGeneration.generation: generation})
         .execute())
    return generation


class TokenGenerations:
    """The current generation as this process knows it: read again once `ttl` seconds have passed."""

    def __init__(self, ttl: float, read: Callable[[], int] = read_generation,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._read = read
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._value = FIRST_GENERATION
        self._read_at: float | None = None

    def current(self) -> int:
        now = self._monotonic()
        with self._lock:
            if self._read_at is not None and now - self._read_at < self._ttl:
                return self._value
        value = self._read()
        with self._lock:
            self._value, self._read_at = value, now
        return value

    def revoke(self) -> int:
        """Raise the generation; this process knows it at once, the others within `ttl`."""
        generation = raise_generation()
        with self._lock:
            self._value, self._read_at = generation, self._monotonic()
        return generation
