"""Test databases on both engines: an SQLite file, or a throwaway schema in the local PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import psycopg2

ENGINES = ("sqlite", "postgresql")
# The machine's PostgreSQL (trust auth); CI starts it when it is down.
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A DATABASE_URL whose tables live in a new, empty schema, dropped afterwards."""
    schema = f"bulk_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(POSTGRES_URL)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE SCHEMA "{schema}"')
        yield f"{POSTGRES_URL}?options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.cursor() as cursor:
            # Connections still open in the schema (a killed server's) must not block the drop.
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE pid <> pg_backend_pid() AND query LIKE %s", (f"%{schema}%",))
            cursor.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


@contextmanager
def database_url_for(engine: str, folder: Path, name: str = "bulk.sqlite3") -> Iterator[str]:
    """A fresh DATABASE_URL on `engine`."""
    if engine == "sqlite":
        yield f"sqlite:///{folder / name}"
    elif engine == "postgresql":
        with postgres_schema() as url:
            yield url
    else:
        raise ValueError(engine)


def fetch_all(database_url: str, sql: str, params: tuple = ()) -> list[tuple]:
    """Run one read on its own connection (to look at what a server process left behind)."""
    from bulk.db import open_database

    handle = open_database(database_url)
    try:
        with handle.connection_context():
            return [tuple(row) for row in handle.execute_sql(sql, params).fetchall()]
    finally:
        handle.close_all()
