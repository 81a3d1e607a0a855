"""Settings: read once from the environment (or a mapping in tests), validated, immutable."""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

PROJECT_ROOT = Path(__file__).resolve().parent.parent

PRODUCTION = "production"
DEVELOPMENT = "development"

# The mode when BULK_PROCESSING is not set: a local run keeps state, production only accepts.
DEFAULT_PROCESSING = {PRODUCTION: "accept", DEVELOPMENT: "store"}
FORWARD = "forward"

# Ways to authenticate forwarded calls (BULK_UPSTREAM_AUTH).
UPSTREAM_TOKEN = "token"
UPSTREAM_PASSTHROUGH = "passthrough"

# Local runs get documented credentials so `make run` works out of the box; production has none.
DEVELOPMENT_ADMIN_PASSWORD = "admin123"


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names the variable and what it expects."""


def _text(name: str, raw: Any) -> str:
    return str(raw).strip()


def _number(convert: Callable[[str], float], description: str,
            accepts: Callable[[float], bool]) -> Callable[[str, Any], Any]:
    def parse(name: str, raw: Any) -> Any:
        try:
            value = convert(str(raw).strip())
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or not accepts(value):
            raise ConfigError(f"{name} must be {description}, got {raw!r}")
        return value

    return parse


_positive_int = _number(int, "a positive integer", lambda value: value > 0)
_non_negative_int = _number(int, "an integer >= 0", lambda value: value >= 0)
_positive_float = _number(float, "a positive number", lambda value: value > 0)
_non_negative_float = _number(float, "a number >= 0", lambda value: value >= 0)


def _flag(name: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} must be one of 1/0, true/false, yes/no, on/off, got {raw!r}")


def _http_url(name: str, raw: Any) -> str:
    value = str(raw).strip().rstrip("/")
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname or parsed.query or parsed.fragment:
        raise ConfigError(f"{name} must be an http(s) base URL like https://shop.example.com, got {raw!r}")
    return value


def _lower(name: str, raw: Any) -> str:
    return str(raw).strip().lower()


def _choice(*allowed: str) -> Callable[[str, Any], str]:
    def parse(name: str, raw: Any) -> str:
        value = str(raw).strip().lower()
        if value not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
        return value

    return parse


def _comma_list(name: str, raw: Any) -> tuple[str, ...]:
    """A comma-separated list (file paths, module names); empty parts are ignored."""
    return tuple(part.strip() for part in str(raw).split(",") if part.strip())


def _stores(name: str, raw: Any) -> dict[str, int]:
    """Parse `code:id,code:id`; the first code is the default store."""
    stores: dict[str, int] = {}
    for part in str(raw).split(","):
        part = part.strip()
        if not part:
            continue
        code, sep, store_id = part.partition(":")
        code = code.strip()
        if not sep or not code or not store_id.strip().isdigit():
            raise ConfigError(f"{name} must look like 'default:1,fr:2', got {raw!r}")
        if code == "all":
            raise ConfigError(f"{name}: 'all' is reserved for the admin store (id 0)")
        stores[code] = int(store_id)
    if not stores:
        raise ConfigError(f"{name} must name at least one store, got {raw!r}")
    return stores


@dataclass(frozen=True)
class Setting:
    """One environment variable: its default, its parser, the attribute it fills, and its documentation
    (the README's configuration table is made from these; `python -m bulk.config` prints it)."""

    env: str
    attr: str
    default: Any
    parse: Callable[[str, Any], Any]
    doc: str
    # How the default reads in the table, when the value itself does not say it well.
    shown_default: str | None = None

    @property
    def default_text(self) -> str:
        if self.shown_default is not None:
            return self.shown_default
        if self.default is None or self.default == "":
            return "—"
        if isinstance(self.default, bool):
            return "`1`" if self.default else "`0`"
        if isinstance(self.default, float) and self.default.is_integer():
            return f"`{int(self.default)}`"
        return f"`{self.default}`"


SETTINGS: tuple[Setting, ...] = (
    Setting("BULK_ENV", "env", PRODUCTION, _choice(PRODUCTION, DEVELOPMENT),
            "`production` (no default credentials) or `development` (generated secret, local admin). `make run` sets "
            "`development`."),
    Setting("DATABASE_URL", "database_url", None, _text,
            "`sqlite:///relative/file.sqlite3` or `sqlite:////absolute/file.sqlite3` (the file and its folder are "
            "created on first start), or `postgresql://user:password@host:5432/dbname?sslmode=require` (libpq "
            "parameters in the query string; `postgres://` works too).",
            shown_default="`sqlite:///<BULK_DATA_DIR>/bulk.sqlite3`"),
    Setting("BULK_DATA_DIR", "data_dir", str(PROJECT_ROOT / "data"), _text,
            "Folder for the default SQLite file and the generated development secret.",
            shown_default="`./data`"),
    Setting("BULK_SECRET_KEY", "secret_key", None, _text,
            "HMAC key for `data_hash` and token signing. Required in production (16+ characters); generated and kept "
            "in `<BULK_DATA_DIR>/secret_key` in development."),
    Setting("BULK_ADMIN_USERNAME", "admin_username", "admin", _text,
            "The admin account that can get a token."),
    Setting("BULK_ADMIN_PASSWORD", "admin_password", None, _text,
            f"Its password. Required in production; `{DEVELOPMENT_ADMIN_PASSWORD}` in development."),
    Setting("BULK_TOKEN_LIFETIME_HOURS", "token_lifetime_hours", 4, _positive_float,
            "Lifetime of admin tokens (Magento's default: 4 hours)."),
    Setting("BULK_LOGIN_MAX_FAILURES", "login_max_failures", 6, _non_negative_int,
            "Failed sign-ins in a row that lock the admin account (0 disables locking)."),
    Setting("BULK_LOGIN_LOCK_MINUTES", "login_lock_minutes", 30, _positive_float,
            "How long a locked account stays locked."),
    Setting("BULK_MAX_ITEMS", "max_items", 5000, _positive_int,
            "Items allowed in one bulk request (Magento's async input limit)."),
    Setting("BULK_MAX_BODY_BYTES", "max_body_bytes", 32 * 1024 * 1024, _positive_int,
            "Largest request body accepted; larger ones get 413.",
            shown_default="`33554432` (32 MiB)"),
    Setting("BULK_INVALID_ITEMS", "invalid_items", "fail-request", _choice("fail-request", "reject-item"),
            "`fail-request`: the first invalid item fails the whole request with 400 (Magento). `reject-item`: "
            "invalid items are answered `rejected`, valid ones are accepted."),
    Setting("BULK_RESPONSE_SHAPE", "response_shape", "magento", _choice("magento", "seed"),
            '`magento`: `request_items` is a list (Magento 2.3+). `seed`: `request_items` is `{"items": [...]}` as in '
            "the pre-release documentation."),
    Setting("BULK_STORES", "stores", "default:1", _stores,
            "Known store codes and their ids, `code:id,...`; the first is the default store. `all` (store 0) is "
            "always known."),
    Setting("BULK_ROUTES_FILE", "routes_file", None, _text,
            'A JSON file of extra routes (see "Adding routes").'),
    Setting("BULK_WEBAPI_FILES", "webapi_files", None, _comma_list,
            "Magento `etc/webapi.xml` files, comma-separated: each non-GET route in them becomes an async and a bulk "
            'route (see "Importing webapi.xml").'),
    # Checked against the modes `bulk.service.MODES` wires.
    Setting("BULK_PROCESSING", "processing_mode", None, _lower,
            'What the drainer does with an operation. `store`: run it against the embedded store (see "The '
            'embedded store"). `accept`: mark it complete, as Magento\'s consumer reports a successful service call, '
            'without side effects. `forward`: make the synchronous call at `BULK_UPSTREAM_URL` (see "Forwarding '
            'to an upstream API").',
            shown_default="`store` in development, `accept` in production"),
    Setting("BULK_UPSTREAM_URL", "upstream_url", None, _http_url,
            "Forward mode (required there): base URL of the upstream API; operations go to "
            "`<url>/rest/<store>/V1/...`."),
    Setting("BULK_UPSTREAM_AUTH", "upstream_auth", UPSTREAM_TOKEN, _choice(UPSTREAM_TOKEN, UPSTREAM_PASSTHROUGH),
            "Forward mode: `token` sends `Authorization: Bearer $BULK_UPSTREAM_TOKEN` (nothing when unset); "
            "`passthrough` sends the submitter's own `Authorization` header, stored with the bulk (never shown by any "
            "endpoint; needs `BULK_DB_POOL_SIZE` ≥ `BULK_WORKER_CONCURRENCY` + 2)."),
    Setting("BULK_UPSTREAM_TOKEN", "upstream_token", None, _text,
            "Forward mode: the bearer token for the upstream (an integration or admin token there)."),
    Setting("BULK_UPSTREAM_TIMEOUT", "upstream_timeout", 20.0, _positive_float,
            "Forward mode: seconds one upstream call may take in all (connecting and answering); at most half of "
            "`BULK_LEASE_SECONDS`."),
    Setting("BULK_WORKER_CONCURRENCY", "worker_concurrency", None, _positive_int,
            "Operations with outside effects (forward mode's calls, plug-ins) each drainer runs at the same time, in "
            "threads: the bound on concurrent upstream calls per serving process (so `WEB_CONCURRENCY` × this in "
            "all). Database-local handlers (`accept`, `store`, `@transactional`) run one at a time in the transaction "
            "that records them.",
            shown_default="`4` forward, `1` otherwise"),
    Setting("BULK_RETRY_ATTEMPTS", "retry_attempts", None, _positive_int,
            "Tries of an operation that fails retriably before it ends at status 2. `1`: no automatic retry "
            "(Magento's behaviour).",
            shown_default="`5` forward, `1` otherwise"),
    Setting("BULK_RETRY_BASE_SECONDS", "retry_base_seconds", 1.0, _positive_float,
            "First retry delay; it doubles with each try, with jitter (between half and all of it), never shorter "
            "than the upstream's `Retry-After`."),
    Setting("BULK_RETRY_MAX_SECONDS", "retry_max_seconds", 300.0, _positive_float,
            "Longest retry delay, and the most of a `Retry-After` that is honoured."),
    Setting("BULK_PLUGINS", "plugins", "", _comma_list,
            'Comma-separated Python modules imported at start that register handlers (see "Plug-in handlers").'),
    Setting("BULK_RETENTION_DAYS", "retention_days", 60.0, _non_negative_float,
            "Finished bulks (no open operation) started longer ago are deleted in the background (Magento's default: "
            "60); `0` keeps them."),
    Setting("BULK_STUCK_HOURS", "stuck_hours", 12.0, _non_negative_float,
            "An operation started this long ago and still open ends at status 2 `Unknown Error`, code 0 (Magento's "
            "cron: 12 hours); `0` never."),
    Setting("BULK_HOUSEKEEPING_SECONDS", "housekeeping_seconds", 60.0, _positive_float,
            "How often each serving process runs the retention and stuck-operation sweeps."),
    Setting("BULK_WORKER", "worker_enabled", True, _flag,
            "Start the drainer thread in each serving process."),
    Setting("BULK_WORKER_BATCH", "worker_batch", 100, _positive_int,
            "Operations claimed per batch by the drainer."),
    Setting("BULK_LEASE_SECONDS", "lease_seconds", 60.0, _positive_float,
            "How long a claim lasts before another drainer may take the operation over."),
    Setting("BULK_POLL_SECONDS", "poll_seconds", 0.5, _positive_float,
            "How often an idle drainer looks for work submitted to other processes."),
    Setting("BULK_DB_POOL_SIZE", "db_pool_size", 8, _positive_int,
            "Most database connections one process keeps (a request and the drainer use one each)."),
    Setting("BULK_DB_BUSY_TIMEOUT", "db_busy_timeout", 5.0, _positive_float,
            "Seconds a request waits for a locked database (SQLite's busy timeout, PostgreSQL's `lock_timeout`) "
            "before answering 503."),
    Setting("BULK_BUSY_RETRY_AFTER", "busy_retry_after", 1, _positive_int,
            "`Retry-After` seconds sent with 503 when the database is busy."),
    Setting("BULK_TESTING", "testing_enabled", False, _flag,
            'Enable the admin-only test-control endpoints (`/V1/testing/...`, see "Use it in your tests"). For test '
            "fixtures only, never in production."),
    # Throughput with the drainer on (issue 14).
    Setting("BULK_CLAIM_COALESCE_SECONDS", "claim_coalesce_seconds", 0.02, _non_negative_float,
            "After a claim that did not fill a batch, the drainer's next claim waits until this long after that one "
            "began, so operations submitted meanwhile are drained together instead of one small write transaction "
            "each; `0` claims again at once."),
    Setting("BULK_SQLITE_CHECKPOINT_SECONDS", "sqlite_checkpoint_seconds", 0.5, _non_negative_float,
            "SQLite: how often each serving process copies the write-ahead log into the database file in the "
            "background (with `BULK_WORKER`), so no request waits for it when it commits; `0` leaves it to SQLite "
            "(inside the commit that takes the log past 1000 pages)."),
)


# Variables the server (gunicorn.conf.py) reads, documented with the service's own.
SERVER_VARIABLES: tuple[tuple[str, str, str], ...] = (
    ("PORT", "—", "gunicorn's own convention: when set, it binds `0.0.0.0:$PORT`; otherwise `127.0.0.1:8000`."),
    ("WEB_CONCURRENCY", "`2`", "gunicorn worker processes (read by `gunicorn.conf.py`)."),
    ("GUNICORN_TIMEOUT", "`60`", "Seconds a gunicorn worker may stay silent before it is restarted."),
    ("GUNICORN_GRACEFUL_TIMEOUT", "`25`",
     "Seconds a worker has on SIGTERM to finish its requests and operations (a PaaS gives ~30)."),
    ("GUNICORN_ACCESS_LOG", "—", "Where gunicorn writes its access log (`-` for stdout); none when unset."),
    ("GUNICORN_THREADS", "`4`", "Threads per worker that run requests (`bulk.http_worker`: a request is read whole "
     "before a thread takes it)."),
    ("GUNICORN_READ_TIMEOUT", "`30`", "Seconds a client has to send a whole request (one more per 64 KiB sent), and "
     "an idle connection to start one; then it is closed."),
)


def configuration_table() -> str:
    """The README's configuration table, in Markdown."""
    rows = [(setting.env, setting.default_text, setting.doc) for setting in SETTINGS] + list(SERVER_VARIABLES)
    return "\n".join(["| Variable | Default | Meaning |", "|---|---|---|",
                      *(f"| `{env}` | {default} | {doc} |" for env, default, doc in rows)])


@dataclass(frozen=True)
class Settings:
    """The validated configuration of one service instance."""

    env: str = PRODUCTION
    database_url: str | None = None
    data_dir: str = str(PROJECT_ROOT / "data")
    secret_key: str | None = None
    admin_username: str = "admin"
    admin_password: str | None = None
    token_lifetime_hours: float = 4
    login_max_failures: int = 6
    login_lock_minutes: float = 30
    max_items: int = 5000
    max_body_bytes: int = 32 * 1024 * 1024
    invalid_items: str = "fail-request"
    response_shape: str = "magento"
    stores: dict[str, int] = field(default_factory=lambda: {"default": 1})
    routes_file: str | None = None
    webapi_files: tuple[str, ...] = ()
    processing_mode: str = "accept"
    upstream_url: str | None = None
    upstream_auth: str = UPSTREAM_TOKEN
    upstream_token: str | None = None
    upstream_timeout: float = 20.0
    # None until load_settings fills the processing mode's default.
    worker_concurrency: int | None = None
    retry_attempts: int | None = None
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 300.0
    plugins: tuple[str, ...] = ()
    retention_days: float = 60.0
    stuck_hours: float = 12.0
    housekeeping_seconds: float = 60.0
    worker_enabled: bool = True
    worker_batch: int = 100
    lease_seconds: float = 60.0
    poll_seconds: float = 0.5
    db_pool_size: int = 8
    db_busy_timeout: float = 5.0
    busy_retry_after: int = 1
    testing_enabled: bool = False
    claim_coalesce_seconds: float = 0.02
    sqlite_checkpoint_seconds: float = 0.5

    @property
    def is_production(self) -> bool:
        return self.env == PRODUCTION

    @property
    def passes_submitter_credentials(self) -> bool:
        """Forwarded calls carry the submitter's own Authorization header (stored with the bulk)."""
        return self.processing_mode == FORWARD and self.upstream_auth == UPSTREAM_PASSTHROUGH

    @property
    def extensions(self) -> tuple[str, ...]:
        """Modules whose `init_app(app)` the app factory calls: the test controls when BULK_TESTING is on."""
        return ("bulk.testing.extension",) if self.testing_enabled else ()

    @property
    def default_store_code(self) -> str:
        return next(iter(self.stores))

    @property
    def secret(self) -> bytes:
        assert self.secret_key, "settings were not finalised"
        return self.secret_key.encode()


def load_settings(overrides: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings from `environ` (default: os.environ), `overrides` winning; fill and check defaults."""
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    unknown = sorted(key for key in overrides if key not in {s.env for s in SETTINGS})
    if unknown:
        raise ConfigError(f"Unknown setting(s): {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = overrides.get(setting.env, environ.get(setting.env))
        if raw is None or (isinstance(raw, str) and raw.strip() == "" and setting.default is not None):
            raw = setting.default
        values[setting.attr] = None if raw is None else setting.parse(setting.env, raw)
    return _finalise(Settings(**values))


def _finalise(settings: Settings) -> Settings:
    """Fill what depends on the mode: database location, secret, admin password."""
    data_dir = Path(settings.data_dir)
    database_url = settings.database_url or f"sqlite:///{data_dir / 'bulk.sqlite3'}"
    settings = replace(settings, webapi_files=settings.webapi_files or (),
                       processing_mode=settings.processing_mode or DEFAULT_PROCESSING[settings.env])
    settings = _processing_defaults(settings)
    if settings.is_production:
        if not settings.secret_key or len(settings.secret_key) < 16:
            raise ConfigError("BULK_SECRET_KEY must be set (16+ characters) in production "
                              "(BULK_ENV=production). For a local run set BULK_ENV=development.")
        if not settings.admin_password:
            raise ConfigError("BULK_ADMIN_PASSWORD must be set in production (BULK_ENV=production). "
                              "For a local run set BULK_ENV=development.")
        return replace(settings, database_url=database_url)
    return replace(
        settings,
        database_url=database_url,
        secret_key=settings.secret_key or _persistent_development_secret(data_dir),
        admin_password=settings.admin_password or DEVELOPMENT_ADMIN_PASSWORD,
    )


def _processing_defaults(settings: Settings) -> Settings:
    """Forward mode needs an upstream and wants concurrency and retries; other modes run as Magento."""
    forward = settings.processing_mode == FORWARD
    if forward and not settings.upstream_url:
        raise ConfigError("BULK_UPSTREAM_URL must be set when BULK_PROCESSING=forward "
                          "(the base URL of the API that receives each operation).")
    if forward and settings.upstream_timeout > settings.lease_seconds / 2:
        # A call must end well inside its claim, or another drainer could send the same operation again.
        raise ConfigError(f"BULK_UPSTREAM_TIMEOUT ({settings.upstream_timeout:g}) must be at most half of "
                          f"BULK_LEASE_SECONDS ({settings.lease_seconds:g}).")
    concurrency = settings.worker_concurrency or (4 if forward else 1)
    if settings.passes_submitter_credentials and concurrency + 2 > settings.db_pool_size:
        # Each concurrent call reads its bulk's credentials; requests and the drainer need one more each.
        raise ConfigError(f"BULK_DB_POOL_SIZE ({settings.db_pool_size}) must be at least "
                          f"BULK_WORKER_CONCURRENCY + 2 ({concurrency + 2}) with BULK_UPSTREAM_AUTH=passthrough.")
    return replace(
        settings,
        worker_concurrency=concurrency,
        retry_attempts=settings.retry_attempts or (5 if forward else 1),
    )


def _persistent_development_secret(data_dir: Path) -> str:
    """Keep one generated secret per data folder so tokens and hashes survive restarts."""
    path = data_dir / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    candidate = data_dir / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32))
    try:
        # link() never replaces: when several workers start at once, one key wins and all read it.
        os.link(candidate, path)
    except FileExistsError:
        pass
    finally:
        candidate.unlink()
    return path.read_text().strip()


if __name__ == "__main__":
    print(configuration_table())
