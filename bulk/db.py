"""The database: declared once, bound late to SQLite (default) or PostgreSQL from a URL."""

from __future__ import annotations

import os
import sqlite3
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlparse

import orjson
import peewee
from playhouse.pool import PooledPostgresqlDatabase, PooledSqliteDatabase

from bulk.config import ConfigError
from bulk.writer_lock import WriterQueue

database = peewee.DatabaseProxy()

# WAL lets readers (status polls) run while a writer commits; foreign keys give the bulk ->
# operations cascade. An answered 202 must survive a power cut, not only a process kill: SQLite's
# FULL would flush the log inside every commit, while the write lock that every submit and drain
# batch waits for is held. NORMAL commits without flushing, and `write_transaction` flushes the log
# itself once the lock is let go, before it returns (`sync_log`): every commit made through it is
# on disk when it returns, as with FULL, and concurrent flushes of one file share the disk's work.
# A 1000-item submit whose SKUs wait behind earlier bulks' changes ~1000 scattered index pages, more
# than SQLite's default 2 MiB page cache holds, so it spilled pages to the log before its commit:
# a 16 MiB cache (per connection, filled only as far as it is used) made such submits ~8% faster
# (bench/checkouts_ab.py, README's Design notes).
SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "normal",
    "foreign_keys": 1,
    "temp_store": "memory",
    "cache_size": -16 * 1024,  # KiB
}


def open_database(url: str, busy_timeout: float = 5.0, pool_size: int = 8,
                  wal_autocheckpoint: int = 1000,
                  after_write: Callable[[], None] | None = None) -> PooledSqliteDatabase | PooledPostgresqlDatabase:
    """A pooled database for `sqlite:///path` or `postgresql://...` (connections open lazily).

    `wal_autocheckpoint`: SQLite's own checkpoint threshold in pages (raised when the service
    checkpoints itself, `bulk.checkpoints`). `after_write`: SQLite, run after each write transaction
    once it has let go of the write turn (the writers' checkpoints).
    """
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = parsed.path[1:] if parsed.path.startswith("/") else parsed.path
        if not path or path == ":memory:":
            raise ConfigError("DATABASE_URL: in-memory SQLite is not supported (every connection would "
                              "see its own empty database); give a file path, sqlite:///path/file.sqlite3")
        # The pool's own `timeout` is how long to wait for a free pooled connection; SQLite's lock
        # wait is the busy_timeout pragma.
        pragmas = {**SQLITE_PRAGMAS, "busy_timeout": int(busy_timeout * 1000),
                   "wal_autocheckpoint": int(wal_autocheckpoint)}
        # "Created on first start": the file appears at first connection, its folder now.
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        sqlite = _SqliteDatabase(
            path, pragmas=pragmas, check_same_thread=False,
            max_connections=pool_size, stale_timeout=300, timeout=30)
        sqlite.writers = WriterQueue(path, busy_timeout)
        sqlite.after_write = after_write
        return sqlite
    if parsed.scheme in ("postgres", "postgresql"):
        # Query parameters are libpq's (sslmode, connect_timeout, options=-csearch_path=...).
        connect_params = dict(parse_qsl(parsed.query))
        database = _PostgresqlDatabase(
            unquote(parsed.path.lstrip("/")), user=unquote(parsed.username or "") or None,
            password=unquote(parsed.password or "") or None, host=parsed.hostname, port=parsed.port,
            max_connections=pool_size, stale_timeout=300, timeout=30, **connect_params)
        database.lock_timeout_ms = int(busy_timeout * 1000)
        return database
    raise ConfigError(f"DATABASE_URL: unsupported scheme {parsed.scheme!r}; "
                      "use sqlite:///path/file.sqlite3 or postgresql://user@host/db")


class _SqliteDatabase(PooledSqliteDatabase):
    """Pooled SQLite whose connections wait for the lock while they set their pragmas.

    Switching a new file to WAL needs an exclusive lock, and SQLite does not call the busy handler
    for a connection that already reads (it could deadlock), so the pragma fails at once with
    "database is locked" when another process holds a lock on the file at that moment: two
    gunicorn workers starting on a new file. The busy timeout is set first and the journal mode is
    tried again until it has passed.

    `writers` is where this process's writers wait for their turn (`write_transaction`).
    """

    writers: WriterQueue
    # Run by a write transaction once it has let go of the write turn and flushed the log: the
    # writers' checkpoints (`bulk.checkpoints.CheckpointAfterWrite`).
    after_write: Callable[[], None] | None = None

    def sync_log(self) -> None:
        """Flush the write-ahead log to disk: every transaction committed so far is then durable.

        A commit's frames are written to the log file before COMMIT returns. A checkpoint flushes
        the log before it copies frames into the database file and that file after, so frames a
        checkpoint has moved (and a log emptied or restarted since) are on disk already.
        A failed flush is a database error for the caller (a 503 for a submit), never a 202.
        """
        try:
            handle = os.open(self.database + "-wal", os.O_RDONLY)
        except FileNotFoundError:
            return  # no log: the last connection removed it after a final checkpoint
        except OSError as error:
            raise peewee.OperationalError(f"disk I/O error: could not flush the log (open: {error})") from error
        try:
            os.fsync(handle)
        except OSError as error:
            raise peewee.OperationalError(f"disk I/O error: could not flush the log: {error}") from error
        finally:
            os.close(handle)

    def _set_pragmas(self, conn) -> None:
        pragmas = dict(self._pragmas)
        busy_ms = int(pragmas.pop("busy_timeout", 5000))
        conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
        deadline = time.monotonic() + busy_ms / 1000
        for pragma, value in pragmas.items():
            while True:
                try:
                    conn.execute(f"PRAGMA {pragma} = {value}")
                    break
                except sqlite3.OperationalError as error:
                    if "locked" not in str(error) or time.monotonic() >= deadline:
                        raise
                    time.sleep(0.01)


class _PostgresqlDatabase(PooledPostgresqlDatabase):
    """Pooled PostgreSQL whose lock waits end like SQLite's busy timeout, so callers get a 503.

    peewee calls `_initialize_connection` each time a pooled connection is handed out, not only when
    it is opened: setting the timeout there cost every request three round trips (BEGIN, SET,
    COMMIT), so each connection is set once and remembered. (A session setting rather than a
    connect-time `options=-c ...`, which poolers such as PgBouncer refuse.)
    """

    lock_timeout_ms = 5000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._initialized: weakref.WeakSet = weakref.WeakSet()

    def _initialize_connection(self, conn) -> None:
        if conn in self._initialized:
            return
        with conn.cursor() as cursor:
            cursor.execute("SET lock_timeout = %s", (self.lock_timeout_ms,))
        conn.commit()
        self._initialized.add(conn)


def one_of(column: peewee.Field, values: Slot) -> peewee.Expression:
    """`column IN (...)` with every value in one bound parameter (`list_parameter`): one statement fits
    any number of values, so it is rendered once."""
    if is_postgresql():
        return column == peewee.fn.ANY(values)
    listed = peewee.NodeList((peewee.SQL("(SELECT value FROM json_each("), values, peewee.SQL("))")), glue="")
    return column.in_(listed)


def list_parameter(values: list) -> Any:
    """The value for a `one_of` slot: an array on PostgreSQL, a JSON array on SQLite."""
    return values if is_postgresql() else orjson.dumps(values).decode()


def tuples(query: peewee.Query) -> list[tuple[Any, ...]]:
    """A query's rows as plain tuples (cheaper than model instances on hot read paths)."""
    return list(query.tuples())


def is_lock_contention(error: Exception) -> bool:
    """Whether a database error says a wait for a lock ran out (SQLite's busy timeout, PostgreSQL's
    `lock_timeout`): nothing was written, and the same work may be tried again."""
    text = str(error).lower()
    # SQLite: "database is locked" / "busy"; PostgreSQL: "canceling statement due to lock timeout".
    return "locked" in text or "busy" in text or "lock timeout" in text


def is_sqlite() -> bool:
    return isinstance(database.obj, peewee.SqliteDatabase)


def is_postgresql() -> bool:
    return isinstance(database.obj, peewee.PostgresqlDatabase)


@contextmanager
def write_transaction() -> Iterator[None]:
    """A transaction that takes the write lock up front on SQLite.

    A deferred BEGIN that reads first and writes later fails at once with "database is locked" when
    another process writes meanwhile; BEGIN IMMEDIATE waits for the busy timeout instead. Writers
    of every thread and process take turns first (`bulk.writer_lock`), so none is starved.
    On SQLite the log is flushed once the outermost one has committed and let go of the write lock
    (`_SqliteDatabase.sync_log`): the commit is on disk when it returns. A checkpoint that falls
    due runs after that, outside the turn too (`_SqliteDatabase.after_write`).
    """
    if is_sqlite():
        sqlite = database.obj
        with sqlite.writers, _write_transaction("IMMEDIATE"):
            yield
        if not database.in_transaction():
            sqlite.sync_log()
            if sqlite.after_write is not None:
                sqlite.after_write()
    else:
        with _write_transaction():
            yield


@contextmanager
def _write_transaction(*lock_type: str) -> Iterator[None]:
    try:
        with database.atomic(*lock_type):
            yield
    except peewee.OperationalError as error:
        # SQLite rolls a transaction back by itself on some errors (a full disk, I/O errors); the
        # ROLLBACK that follows then fails and would hide the error that matters.
        original: BaseException | None = error
        while original is not None and "no transaction is active" in str(original):
            original = original.__context__
        if original is not None and original is not error:
            raise original from None
        raise


class _SlotMarker:
    """Stands in a rendered statement's parameter list where a call-time value goes."""

    __slots__ = ("convert", "name")

    def __init__(self, name: str, convert: Callable[[Any], Any] | None) -> None:
        self.name = name
        self.convert = convert


class Slot(peewee.Node):
    """A named parameter of a `Prepared` statement (optionally converted by a field's db_value)."""

    def __init__(self, name: str, field: peewee.Field | None = None) -> None:
        super().__init__()
        self.marker = _SlotMarker(name, field.db_value if field is not None else None)

    def __sql__(self, ctx: peewee.Context) -> peewee.Context:
        return ctx.value(self.marker, converter=False)


class Prepared:
    """A query peewee renders once per database engine and that then runs with new slot values.

    Rendering a statement through the query builder costs more than SQLite executing it; the
    drainer's claim and record statements run hundreds of times a second, so they are rendered once.
    """

    def __init__(self, build: Callable[[], peewee.Node]) -> None:
        self._build = build
        self._rendered: dict[type, tuple[str, list[Any]]] = {}

    def _render(self) -> tuple[str, list[Any]]:
        engine = type(database.obj)
        rendered = self._rendered.get(engine)
        if rendered is None:
            rendered = self._rendered[engine] = database.get_sql_context().parse(self._build())
        return rendered

    def _arguments(self, params: list[Any], values: dict[str, Any]) -> list[Any]:
        return [_bind(param, values) if isinstance(param, _SlotMarker) else param for param in params]

    def execute(self, **values: Any) -> Any:
        """Run with `values` for the slots; returns the driver's cursor (exceptions are peewee's)."""
        sql, params = self._render()
        return database.execute_sql(sql, self._arguments(params, values))

    def execute_many(self, slots: tuple[str, ...], rows: list[tuple]) -> None:
        """Run once per row in one driver call; each row holds the values of `slots`, in order.

        Every parameter of the statement must be a slot without conversion, so the rows go to the
        driver as they are (this is the bulk insert path, where per-row Python work shows).
        """
        sql, params = self._render()
        if [(p.name, p.convert) if isinstance(p, _SlotMarker) else p for p in params] != \
                [(name, None) for name in slots]:
            raise ValueError(f"statement parameters {params} do not match slots {slots}")
        with _DRIVER_ERRORS_AS_PEEWEE_ERRORS:
            database.cursor().executemany(sql, rows)


class PreparedRows:
    """An INSERT of many rows of `columns` (column names) into `model`, rendered once per engine.

    SQLite: one driver call (`executemany`) steps the prepared statement once per row, in C.
    PostgreSQL: psycopg2's `executemany` is one round trip per row, each a statement for the server
    to parse and run (a 100-item bulk paid 100); here the rows go as one JSON parameter that
    `json_populate_recordset` turns into rows of the table's own type: one statement, any number.
    """

    def __init__(self, model: type[peewee.Model], columns: tuple[str, ...]) -> None:
        self.columns = columns
        fields = [model._meta.columns[name] for name in columns]
        self._each = Prepared(lambda: model.insert({field: Slot(field.column_name) for field in fields}).returning())
        self._from_json = Prepared(lambda: self._insert_from_json(model, fields))

    def _insert_from_json(self, model: type[peewee.Model], fields: list[peewee.Field]) -> peewee.Query:
        rows = peewee.fn.json_populate_recordset(peewee.SQL(f'NULL::"{model._meta.table_name}"'),
                                                 peewee.Cast(Slot("rows"), "json"))
        return model.insert_from(peewee.Select([rows], [peewee.Entity(name) for name in self.columns]),
                                 fields).returning()

    def insert(self, rows: list[tuple]) -> None:
        """Insert `rows`, each holding the values of `columns` in order (call inside a transaction)."""
        if is_postgresql():
            records = [dict(zip(self.columns, row, strict=True)) for row in rows]
            self._from_json.execute(rows=orjson.dumps(records).decode())
        else:
            self._each.execute_many(self.columns, rows)


def execute_together(statements: tuple[Prepared, ...], **values: Any) -> Any:
    """Run several statements in one round trip to the server; returns the last one's cursor.

    PostgreSQL runs each statement of such a string with its own snapshot, as if sent one by one.
    """
    rendered = [(statement, statement._render()) for statement in statements]
    sql = "; ".join(sql for _, (sql, _) in rendered)
    params = [value for statement, (_, params) in rendered for value in statement._arguments(params, values)]
    return database.execute_sql(sql, params)


# What peewee wraps driver calls in, so sqlite3/psycopg2 errors surface as peewee's (not in its stubs).
_DRIVER_ERRORS_AS_PEEWEE_ERRORS = peewee.__exception_wrapper__  # type: ignore[attr-defined]


def _bind(marker: _SlotMarker, values: dict[str, Any]) -> Any:
    value = values[marker.name]
    return marker.convert(value) if marker.convert is not None and value is not None else value
