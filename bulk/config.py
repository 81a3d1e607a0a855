"""Settings: read once from the environment (or a mapping in tests), validated, immutable."""

from __future__ import annotations

import base64
import math
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Network, IPv6Network, ip_network
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
UPSTREAM_OAUTH1 = "oauth1"
UPSTREAM_ADMIN = "admin"

# OAuth 1.0a signature methods this service can verify (BULK_OAUTH_SIGNATURE_METHODS).
OAUTH_METHODS = ("HMAC-SHA256", "HMAC-SHA1")

# Webhook event types (BULK_WEBHOOK_EVENTS), the secret's prefix and the longest delay between attempts.
BULK_FINISHED = "bulk.finished"
OPERATION_FAILED = "operation.failed"
WEBHOOK_EVENT_TYPES = (BULK_FINISHED, OPERATION_FAILED)
WEBHOOK_SECRET_PREFIX = "whsec_"
WEBHOOK_RETRY_MAX_SECONDS = 300

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


def webhook_url(name: str, raw: Any) -> str:
    """A webhook endpoint: BULK_WEBHOOK_URL, and integrations' own (`bulk.integrations`)."""
    value = str(raw).strip()
    parsed = urlparse(value)
    # Credentials in the URL would be shown wherever the URL is; a fragment is never sent.
    if (parsed.scheme not in ("http", "https") or not parsed.hostname or parsed.username or parsed.password
            or parsed.fragment):
        raise ConfigError(f"{name} must be an http(s) URL like https://hooks.example.com/bulk "
                          "(no user:password@, no #fragment)")
    return value


def _webhook_secret(name: str, raw: Any) -> str:
    value = str(raw).strip()
    body = value.removeprefix(WEBHOOK_SECRET_PREFIX)
    try:
        key = base64.b64decode(body, validate=True) if value.startswith(WEBHOOK_SECRET_PREFIX) else b""
    except ValueError:
        key = b""
    if not 24 <= len(key) <= 64:
        # Never echo the value: it is a secret.
        raise ConfigError(f"{name} must be {WEBHOOK_SECRET_PREFIX} followed by 24-64 random bytes in base64, "
                          f"e.g. {WEBHOOK_SECRET_PREFIX}$(head -c 32 /dev/urandom | base64)")
    return value


def _webhook_events(name: str, raw: Any) -> frozenset[str]:
    events = frozenset(part.strip() for part in str(raw).split(",") if part.strip())
    unknown = sorted(events - set(WEBHOOK_EVENT_TYPES))
    if unknown:
        raise ConfigError(f"{name}: unknown event type(s) {', '.join(unknown)}; "
                          f"known: {', '.join(WEBHOOK_EVENT_TYPES)}")
    return events


def _lower(name: str, raw: Any) -> str:
    return str(raw).strip().lower()


def _choice(*allowed: str) -> Callable[[str, Any], str]:
    def parse(name: str, raw: Any) -> str:
        value = str(raw).strip().lower()
        if value not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
        return value

    return parse


def _optional(parse: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    """An empty value means "not set" (the setting's computed default) instead of a malformed one."""
    def parse_optional(name: str, raw: Any) -> Any:
        return None if str(raw).strip() == "" else parse(name, raw)

    return parse_optional


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


def _ids(name: str, raw: Any) -> frozenset[int]:
    """Comma-separated ids (`9,10`)."""
    parts = _comma_list(name, raw)
    if not all(part.isdigit() for part in parts):
        raise ConfigError(f"{name} must list ids like '9,10', got {raw!r}")
    return frozenset(int(part) for part in parts)


def _oauth_method(name: str, raw: Any) -> str:
    value = str(raw).strip().upper()
    if value not in OAUTH_METHODS:
        raise ConfigError(f"{name} must be one of {', '.join(OAUTH_METHODS)}, got {raw!r}")
    return value


def _oauth_methods(name: str, raw: Any) -> tuple[str, ...]:
    methods = tuple(_oauth_method(name, part) for part in _comma_list(name, raw))
    if not methods:
        raise ConfigError(f"{name} must name at least one of {', '.join(OAUTH_METHODS)}, got {raw!r}")
    return methods


def _networks(name: str, raw: Any) -> tuple[IPv4Network | IPv6Network, ...]:
    """Addresses and networks, comma-separated (`10.0.0.0/8,127.0.0.1`)."""
    try:
        return tuple(ip_network(part, strict=False) for part in _comma_list(name, raw))
    except ValueError:
        raise ConfigError(f"{name} must list addresses or networks like '10.0.0.0/8,127.0.0.1', "
                          f"got {raw!r}") from None


@dataclass(frozen=True)
class RateRule:
    """At most `limit` of `unit` ("items" or "requests") per caller in each window of `seconds`."""

    limit: int
    unit: str
    seconds: int


_RATE_PERIODS = {"second": 1, "minute": 60, "hour": 3600}
_RATE_RULE = re.compile(r"^(\d+)\s*(items|requests)\s*/\s*(second|minute|hour)$")


def _rate_limits(name: str, raw: Any) -> tuple[RateRule, ...]:
    """`20000 items/minute; 600 requests/minute`: rules separated by `;`."""
    rules = []
    for part in str(raw).split(";"):
        part = " ".join(part.split()).lower()
        if not part:
            continue
        match = _RATE_RULE.match(part)
        if match is None or int(match.group(1)) < 1:
            raise ConfigError(f"{name} must look like '20000 items/minute; 600 requests/minute', got {raw!r}")
        rules.append(RateRule(int(match.group(1)), match.group(2), _RATE_PERIODS[match.group(3)]))
    return tuple(rules)


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
    Setting("BULK_TOKEN_CHECK_SECONDS", "token_check_seconds", 5.0, _non_negative_float,
            "How long each process trusts its last reading of the token generation: admin tokens and dashboard "
            "sessions revoked with `flask --app app bulk tokens revoke` stop working everywhere within this many "
            "seconds. `0` reads it for every request."),
    Setting("BULK_LOGIN_MAX_FAILURES", "login_max_failures", 6, _non_negative_int,
            "Failed admin sign-ins in a row from one client address that lock that address out (Magento's "
            "lock-out, counted per address so one address cannot lock out the others; an IPv6 /64 counts as one "
            "address; behind a proxy see `BULK_TRUSTED_PROXIES`). 0 disables locking."),
    Setting("BULK_LOGIN_ACCOUNT_MAX_FAILURES", "login_account_max_failures", 100, _non_negative_int,
            "Failed sign-ins in a row from all addresses together that lock the admin account for everyone (a "
            "guesser with many addresses); 0: no account-wide lock. `flask --app app bulk tokens unlock` lifts "
            "locks."),
    Setting("BULK_LOGIN_LOCK_MINUTES", "login_lock_minutes", 30, _positive_float,
            "How long a lock lasts; failures further apart than this do not add up."),
    Setting("BULK_MAX_ITEMS", "max_items", 5000, _positive_int,
            "Items allowed in one bulk request (Magento's async input limit)."),
    Setting("BULK_MAX_BODY_BYTES", "max_body_bytes", 32 * 1024 * 1024, _positive_int,
            "Largest request body accepted; larger ones get 413.",
            shown_default="`33554432` (32 MiB)"),
    Setting("BULK_GUEST_MAX_ITEMS", "guest_max_items", 100, _positive_int,
            "Items allowed in one bulk request from a guest (no token: the anonymous routes, such as customer "
            "sign-up); more get 400 `Maximum items of type \"%type\" is %max`."),
    Setting("BULK_GUEST_MAX_BODY_BYTES", "guest_max_body_bytes", 1024 * 1024, _positive_int,
            "Largest request body accepted from a guest (at most `BULK_MAX_BODY_BYTES`); larger ones get 413.",
            shown_default="`1048576` (1 MiB)"),
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
    Setting("BULK_STORE_ATTRIBUTE_SETS", "store_attribute_sets", "", _ids,
            "`store` mode: product attribute set ids the embedded store knows besides `4` (Default, the one every "
            "Magento has), comma-separated (`9,10`). A product saved with another fails as in Magento: `Invalid "
            "product data: %1` (`Invalid attribute set entity type`)."),
    Setting("BULK_UPSTREAM_URL", "upstream_url", None, _http_url,
            "Forward mode (required there): base URL of the upstream API; operations go to "
            "`<url>/rest/<store>/V1/...`."),
    Setting("BULK_UPSTREAM_AUTH", "upstream_auth", UPSTREAM_TOKEN,
            _choice(UPSTREAM_TOKEN, UPSTREAM_PASSTHROUGH, UPSTREAM_OAUTH1, UPSTREAM_ADMIN),
            "Forward mode: `token` sends `Authorization: Bearer $BULK_UPSTREAM_TOKEN` (nothing when unset); "
            "`passthrough` sends the submitter's own `Authorization` header, stored with the bulk (never shown by any "
            "endpoint; needs `BULK_DB_POOL_SIZE` ≥ `BULK_WORKER_CONCURRENCY` + 2); `oauth1` signs each call as a "
            "Magento integration (`BULK_UPSTREAM_CONSUMER_KEY` and the three other credentials); `admin` signs in "
            "with `BULK_UPSTREAM_USERNAME`/`BULK_UPSTREAM_PASSWORD` and sends that admin token."),
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
    Setting("BULK_WORKER_BATCH_MAX", "worker_batch_max", 1000, _positive_int,
            "While claims come back full (a backlog), the drainer doubles its batch up to this many operations, as "
            "long as a batch takes under 25 ms: fewer commits, so it keeps up with a sustained load of submits."),
    Setting("BULK_LEASE_SECONDS", "lease_seconds", 60.0, _positive_float,
            "How long a claim lasts before another drainer may take the operation over."),
    Setting("BULK_POLL_SECONDS", "poll_seconds", 0.5, _positive_float,
            "How often an idle drainer looks for work submitted to other processes."),
    Setting("BULK_DB_POOL_SIZE", "db_pool_size", 8, _positive_int,
            "Most database connections one process keeps (a request and the drainer use one each)."),
    Setting("BULK_DB_BUSY_TIMEOUT", "db_busy_timeout", 5.0, _positive_float,
            "Seconds a request waits for a locked database (SQLite's busy timeout, PostgreSQL's `lock_timeout`) "
            "before answering 503; on PostgreSQL also how long a drainer waits in line for the claim turn "
            "before it looks again after `BULK_POLL_SECONDS`."),
    Setting("BULK_BUSY_RETRY_AFTER", "busy_retry_after", 1, _positive_int,
            "`Retry-After` seconds sent with 503 when the database is busy."),
    Setting("BULK_TESTING", "testing_enabled", False, _flag,
            'Enable the admin-only test-control endpoints (`/V1/testing/...`, see "Use it in your tests"). For test '
            "fixtures only, never in production."),
    # Operating the service: metrics, logs (see "Metrics" and "Logs").
    Setting("BULK_METRICS", "metrics_enabled", True, _flag,
            "Count requests, bulks, operations and upstream calls and serve them at `GET /metrics` (Prometheus)."),
    Setting("BULK_METRICS_TOKEN", "metrics_token", None, _text,
            "When set, `GET /metrics` needs `Authorization: Bearer <this value>` (set it where the service is "
            "reachable from the internet)."),
    Setting("BULK_LOG_FORMAT", "log_format", None, _optional(_choice("json", "text")),
            "`json`: one JSON object per line (request id, route, status, duration, caller, bulk); `text`: one "
            "readable line per record. gunicorn's own lines follow it.",
            shown_default="`json` when `PORT` is set, else `text`"),
    Setting("BULK_LOG_LEVEL", "log_level", "info", _choice("debug", "info", "warning", "error"),
            "Least severe records written. `debug` adds one line per operation the drainer runs (otherwise "
            "one line per batch)."),
    # The dashboard (bulk/dashboard).
    Setting("BULK_DASHBOARD_SECURE_COOKIE", "dashboard_secure_cookie", "auto", _choice("auto", "always"),
            "The dashboard's session cookie is `Secure` when the request came over HTTPS (`auto`: as the server "
            "reports it; gunicorn trusts `X-Forwarded-Proto` from the addresses in `FORWARDED_ALLOW_IPS`), or on "
            'every answer (`always`: for a TLS proxy gunicorn is not told to trust). See "Dashboard".'),
    # Completion webhooks and idempotent submits (see "Webhooks and idempotency").
    Setting("BULK_WEBHOOK_URL", "webhook_url", None, webhook_url,
            "Where bulk events are sent (`https://...`, signed per Standard Webhooks); none when unset. Needs "
            "`BULK_WEBHOOK_SECRET`."),
    Setting("BULK_WEBHOOK_SECRET", "webhook_secret", None, _webhook_secret,
            "The signing secret, `whsec_` and 24-64 random bytes in base64 (the receiver verifies with the same). "
            "Never shown or logged."),
    Setting("BULK_WEBHOOK_EVENTS", "webhook_events", BULK_FINISHED, _webhook_events,
            f"Comma-separated event types to send: `{BULK_FINISHED}` (no operation of a bulk open any more), "
            f"`{OPERATION_FAILED}` (an operation ended at status 2 or 3)."),
    Setting("BULK_WEBHOOK_TIMEOUT", "webhook_timeout", 10.0, _positive_float,
            "Seconds to connect and for each read of one delivery attempt (a sender holds a delivery for 3 times "
            "this, so no other sends it meanwhile)."),
    Setting("BULK_WEBHOOK_RETRY_BASE_SECONDS", "webhook_retry_base_seconds", 1.0, _positive_float,
            "First delay after a failed attempt (5xx, 429, 408, timeout, refused connection); it doubles with "
            f"jitter up to {WEBHOOK_RETRY_MAX_SECONDS} s, never shorter than the receiver's `Retry-After`."),
    Setting("BULK_WEBHOOK_MAX_HOURS", "webhook_max_hours", 24.0, _positive_float,
            "A delivery not accepted this long after its event is given up and shows as `failed`."),
    Setting("BULK_WEBHOOK_CONCURRENCY", "webhook_concurrency", 4, _positive_int,
            "Deliveries each serving process sends at the same time."),
    Setting("BULK_WEBHOOK_ALLOW_PRIVATE", "webhook_allow_private", False, _flag,
            "Allow webhook addresses that are loopback, private, link-local or otherwise not public (local runs, "
            "tests). Off: such an address is refused when connecting, whatever the host name."),
    Setting("BULK_IDEMPOTENCY_HOURS", "idempotency_hours", 24.0, _positive_float,
            "How long an `Idempotency-Key` of a submit is remembered (per caller)."),
    # Integrations, OAuth 1.0a, ACL, rate limits (see "Integrations and OAuth").
    Setting("BULK_OAUTH_SIGNATURE_METHODS", "oauth_signature_methods", "HMAC-SHA256", _oauth_methods,
            "OAuth 1.0a signature methods accepted from integrations, comma-separated: `HMAC-SHA256` (Magento "
            "2.4.4+), `HMAC-SHA1` (older clients). Others get 400 `Signature method %1 is not supported`."),
    Setting("BULK_OAUTH_NONCE_HOURS", "oauth_nonce_hours", 24.0, _positive_float,
            "How long a used OAuth nonce is remembered; a request whose `oauth_timestamp` is older than this is "
            "refused like one more than 600 s ahead."),
    Setting("BULK_INTEGRATION_AS_BEARER", "integration_as_bearer", False, _flag,
            "Let an integration's access token also work as `Authorization: Bearer <token>` (Magento's "
            "`oauth/consumer/enable_integration_as_bearer`, off by default since 2.4.4)."),
    Setting("BULK_TRUSTED_PROXIES", "trusted_proxies", "", _networks,
            "Addresses or networks (`10.0.0.0/8,127.0.0.1`) of proxies whose `X-Forwarded-Proto`, "
            "`X-Forwarded-Host` and `X-Forwarded-For` are believed: for the URL an OAuth signature covers, the "
            "address a guest is rate-limited by and the address admin sign-in failures are counted for. Without it "
            "those headers are ignored."),
    Setting("BULK_RATE_LIMIT", "rate_limit", "", _rate_limits,
            "Limits per caller (the admin, each integration, each guest address), shared by all workers and "
            "instances: `20000 items/minute; 600 requests/minute` (`second`, `minute`, `hour`). Over a limit: 429 "
            "`Too Many Requests` with `Retry-After`, nothing stored. Empty: no limit."),
    Setting("BULK_MAX_OPEN_OPERATIONS", "max_open_operations", 1_000_000, _non_negative_int,
            "A submit that would make more operations open (waiting) than this gets 503 with `Retry-After`, so a "
            "stalled upstream cannot fill the disk; `0`: no bound."),
    Setting("BULK_UPSTREAM_CONSUMER_KEY", "upstream_consumer_key", None, _text,
            "Forward mode with `BULK_UPSTREAM_AUTH=oauth1`: the integration's consumer key on the upstream."),
    Setting("BULK_UPSTREAM_CONSUMER_SECRET", "upstream_consumer_secret", None, _text,
            "Its consumer secret."),
    Setting("BULK_UPSTREAM_ACCESS_TOKEN", "upstream_access_token", None, _text,
            "Its access token."),
    Setting("BULK_UPSTREAM_ACCESS_TOKEN_SECRET", "upstream_access_token_secret", None, _text,
            "Its access token secret."),
    Setting("BULK_UPSTREAM_SIGNATURE_METHOD", "upstream_signature_method", "HMAC-SHA256", _oauth_method,
            "Forward mode with `oauth1`: how calls are signed (`HMAC-SHA1` for stores before 2.4.4)."),
    Setting("BULK_UPSTREAM_USERNAME", "upstream_username", None, _text,
            "Forward mode with `BULK_UPSTREAM_AUTH=admin`: the upstream admin user that gets a token."),
    Setting("BULK_UPSTREAM_PASSWORD", "upstream_password", None, _text,
            "Its password."),
    Setting("BULK_UPSTREAM_TOKEN_LIFETIME_HOURS", "upstream_token_lifetime_hours", 4.0, _positive_float,
            "Forward mode with `admin`: the upstream's admin token lifetime; a new token is fetched when nine "
            "tenths of it have passed, and once on a 401."),
    # Throughput with the drainer on (issue 14).
    Setting("BULK_CLAIM_COALESCE_SECONDS", "claim_coalesce_seconds", None, _non_negative_float,
            "After a claim that did not fill a batch, the drainer's next claim waits until this long after that one "
            "began, so operations submitted meanwhile are drained together instead of one small write transaction "
            "each; `0` claims again at once. Longer on PostgreSQL, where each batch's statements cost the server's "
            "CPU that submits need; on SQLite a batch holds the write lock that every submit waits for.",
            shown_default="`0.02` SQLite, `0.1` PostgreSQL"),
    Setting("BULK_SQLITE_CHECKPOINT_SECONDS", "sqlite_checkpoint_seconds", 0.5, _non_negative_float,
            "SQLite: how often each process copies the write-ahead log into the database file: the write that "
            "finds it due does it after its commit, outside the writers' turn, so no commit waits for the copy, nor "
            "do other processes' writers; `0` leaves it to SQLite (inside the commit that takes the log past 1000 "
            "pages)."),
)


# Variables the server (gunicorn.conf.py) reads, documented with the service's own.
SERVER_VARIABLES: tuple[tuple[str, str, str], ...] = (
    ("PORT", "—", "gunicorn's own convention: when set, it binds `0.0.0.0:$PORT`; otherwise `127.0.0.1:8000`."),
    ("WEB_CONCURRENCY", "`2`", "gunicorn worker processes (read by `gunicorn.conf.py`)."),
    ("GUNICORN_TIMEOUT", "`60`", "Seconds a gunicorn worker may stay silent before it is restarted."),
    ("GUNICORN_GRACEFUL_TIMEOUT", "`25`",
     "Seconds a worker has on SIGTERM to finish its requests and operations (a PaaS gives ~30)."),
    ("GUNICORN_ACCESS_LOG", "—", "Where gunicorn writes its access log (`-` for stdout); none when unset."),
    ("GUNICORN_THREADS", "`1`", "Threads per worker that run requests (`bulk.http_worker`: a request is read whole "
     "before it runs, and with one thread the worker's event loop runs it; more threads were no faster on either "
     "engine); raise it when synchronous calls forward to a slow upstream."),
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
    token_check_seconds: float = 5.0
    login_max_failures: int = 6
    login_account_max_failures: int = 100
    login_lock_minutes: float = 30
    max_items: int = 5000
    max_body_bytes: int = 32 * 1024 * 1024
    guest_max_items: int = 100
    guest_max_body_bytes: int = 1024 * 1024
    invalid_items: str = "fail-request"
    response_shape: str = "magento"
    stores: dict[str, int] = field(default_factory=lambda: {"default": 1})
    routes_file: str | None = None
    webapi_files: tuple[str, ...] = ()
    processing_mode: str = "accept"
    store_attribute_sets: frozenset[int] = frozenset()
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
    worker_batch_max: int = 1000
    lease_seconds: float = 60.0
    poll_seconds: float = 0.5
    db_pool_size: int = 8
    db_busy_timeout: float = 5.0
    busy_retry_after: int = 1
    testing_enabled: bool = False
    metrics_enabled: bool = True
    metrics_token: str | None = None
    log_format: str | None = None
    log_level: str = "info"
    dashboard_secure_cookie: str = "auto"
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_events: frozenset[str] = frozenset({BULK_FINISHED})
    webhook_timeout: float = 10.0
    webhook_retry_base_seconds: float = 1.0
    webhook_max_hours: float = 24.0
    webhook_concurrency: int = 4
    webhook_allow_private: bool = False
    idempotency_hours: float = 24.0
    oauth_signature_methods: tuple[str, ...] = ("HMAC-SHA256",)
    oauth_nonce_hours: float = 24.0
    integration_as_bearer: bool = False
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()
    rate_limit: tuple[RateRule, ...] = ()
    max_open_operations: int = 1_000_000
    upstream_consumer_key: str | None = None
    upstream_consumer_secret: str | None = None
    upstream_access_token: str | None = None
    upstream_access_token_secret: str | None = None
    upstream_signature_method: str = "HMAC-SHA256"
    upstream_username: str | None = None
    upstream_password: str | None = None
    upstream_token_lifetime_hours: float = 4.0
    claim_coalesce_seconds: float | None = None  # None: by engine (bulk.drainer.COALESCE_SECONDS)
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
    _check_webhooks(settings)
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
    if forward:
        _check_upstream_credentials(settings)
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


def _check_webhooks(settings: Settings) -> None:
    """Deliveries are always signed."""
    if settings.webhook_url and not settings.webhook_secret:
        raise ConfigError("BULK_WEBHOOK_SECRET must be set when BULK_WEBHOOK_URL is "
                          f"({WEBHOOK_SECRET_PREFIX} and 24-64 random bytes in base64).")
# The settings each way of signing forwarded calls needs.
_UPSTREAM_CREDENTIALS = {
    UPSTREAM_OAUTH1: ("BULK_UPSTREAM_CONSUMER_KEY", "BULK_UPSTREAM_CONSUMER_SECRET", "BULK_UPSTREAM_ACCESS_TOKEN",
                      "BULK_UPSTREAM_ACCESS_TOKEN_SECRET"),
    UPSTREAM_ADMIN: ("BULK_UPSTREAM_USERNAME", "BULK_UPSTREAM_PASSWORD"),
}


def _check_upstream_credentials(settings: Settings) -> None:
    attrs = {setting.env: setting.attr for setting in SETTINGS}
    missing = [env for env in _UPSTREAM_CREDENTIALS.get(settings.upstream_auth, ())
               if not getattr(settings, attrs[env])]
    if missing:
        raise ConfigError(f"{', '.join(missing)} must be set when BULK_UPSTREAM_AUTH={settings.upstream_auth}.")


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
