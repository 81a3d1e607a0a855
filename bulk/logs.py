"""Log output: one JSON object per line (PaaS log collectors) or plain text, never a secret.

`BULK_LOG_FORMAT` chooses (`json` by default when `PORT` is set, as on a PaaS). Under gunicorn the
same formatter serves gunicorn's own lines through `gunicorn_logconfig()` (its `logconfig_dict`),
so the service's loggers, which propagate to the root logger, need nothing more; elsewhere
(`flask run`, the CLI) the app factory calls `configure()`.

Every line passes `redact()`: bearer tokens, `password=`/`"token": ...` style values, credentials in
URLs and the configured secrets themselves (`register_secrets`) are replaced by `***`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from flask import g, has_request_context
from pythonjsonlogger.orjson import OrjsonFormatter

from bulk.config import SETTINGS, Settings

JSON = "json"
TEXT = "text"
MASK = "***"

# The handler this module installs on the "bulk" logger when nothing else configured logging.
_HANDLER_NAME = "bulk.logs"

# Settings whose values are secrets wherever they appear.
SECRET_SETTINGS = ("BULK_SECRET_KEY", "BULK_ADMIN_PASSWORD", "BULK_UPSTREAM_TOKEN", "BULK_METRICS_TOKEN")

_PATTERNS = (
    # Authorization: Bearer <token>, OAuth headers' signatures and tokens.
    (re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+"), r"\1" + MASK),
    (re.compile(r"(?i)\b(oauth_(?:token|signature|consumer_key)\s*=\s*\"?)[^\s\"',;&]+"), r"\1" + MASK),
    # password=..., "token": "...", secret: ..., Authorization=...
    (re.compile(r"(?i)(\b(?:password|passwd|secret|token|authorization|api[_-]?key)\w*\"?\s*[:=]\s*\"?)"
                r"(?!\*\*\*)[^\s\"',;&}]+"), r"\1" + MASK),
    # scheme://user:password@host
    (re.compile(r"(://[^:/@\s\"]+:)[^@\s/\"]+@"), r"\1" + MASK + "@"),
)
# One cheap scan decides whether the patterns above need to run at all (most lines have nothing).
_TRIGGER = re.compile(r"(?i)bearer|oauth_|pass|secret|token|authori|api[_-]?key|://")
_secrets: set[str] = set()


def register_secrets(values: Iterable[str | None]) -> None:
    """Mask these values in every line from now on (too short to be secrets: ignored)."""
    _secrets.update(value for value in values if value and len(value) >= 4)


def settings_secrets(settings: Settings) -> list[str | None]:
    """The secrets a service's settings hold, the database password included."""
    from urllib.parse import unquote, urlparse

    password = urlparse(settings.database_url or "").password
    return [settings.secret_key, settings.admin_password, settings.upstream_token, settings.metrics_token,
            unquote(password) if password else None]


def redact(text: str) -> str:
    """`text` with anything that looks like a credential replaced by `***`."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    if _TRIGGER.search(text) is None:
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redacted(item) for item in value]
    return value


class RequestContextFilter(logging.Filter):
    """Adds `request_id` to every record made while a request is served (None elsewhere)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id") if has_request_context() else None
        return True


class JsonFormatter(OrjsonFormatter):
    """`{"timestamp", "level", "logger", "message", "request_id"?, ...extra fields}`, redacted."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", True)
        super().__init__(["levelname", "name", "message"], *args, **kwargs)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        # Each value before encoding: a pattern must not meet JSON's escaping.
        return {key: _redacted(value) for key, value in log_data.items() if value is not None}


class TextFormatter(logging.Formatter):
    """`2026-01-01 12:00:00,000 INFO bulk.requests [request id]: message`, redacted."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(request)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        record.request = f" [{request_id}]" if request_id else ""
        return redact(super().format(record))


def resolve_format(value: str | None, environ: Mapping[str, str]) -> str:
    """The format in force: the setting, else json on a PaaS (`PORT` set), else text."""
    return value or (JSON if environ.get("PORT") else TEXT)


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == JSON else TextFormatter()


def configure(settings: Settings, environ: Mapping[str, str]) -> None:
    """Log the service's records in the chosen format when the host (gunicorn, pytest) did not set up
    logging; register the settings' secrets for redaction either way."""
    register_secrets(settings_secrets(settings))
    logger = logging.getLogger("bulk")
    ours = [handler for handler in logger.handlers if handler.get_name() == _HANDLER_NAME]
    if not ours and (logger.handlers or logging.getLogger().handlers):
        return
    handler = ours[0] if ours else logging.StreamHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter(resolve_format(settings.log_format, environ)))
    if not ours:
        handler.addFilter(RequestContextFilter())
        logger.addHandler(handler)
    logger.setLevel(settings.log_level.upper())


def _env_setting(name: str, environ: Mapping[str, str]) -> Any:
    setting = next(setting for setting in SETTINGS if setting.env == name)
    raw = environ.get(name, "").strip() or setting.default
    return None if raw is None else setting.parse(name, raw)


def gunicorn_logconfig(environ: Mapping[str, str]) -> dict[str, Any]:
    """gunicorn's `logconfig_dict`: its own and the service's lines, one format, to stderr."""
    register_secrets(environ.get(name) for name in SECRET_SETTINGS)
    log_format = resolve_format(_env_setting("BULK_LOG_FORMAT", environ), environ)
    level = str(_env_setting("BULK_LOG_LEVEL", environ)).upper()
    console = {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["request"],
               "stream": "ext://sys.stderr"}
    handlers: dict[str, Any] = {"console": console}
    # gunicorn's own access lines only where GUNICORN_ACCESS_LOG asks for them (the service logs each
    # request itself, with more to say); `-` is stdout, as gunicorn has it.
    access_log = environ.get("GUNICORN_ACCESS_LOG", "").strip()
    if access_log == "-":
        handlers["access"] = {**console, "stream": "ext://sys.stdout"}
    elif access_log:
        handlers["access"] = {"class": "logging.FileHandler", "formatter": log_format, "filename": access_log}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request": {"()": RequestContextFilter}},
        "formatters": {JSON: {"()": JsonFormatter}, TEXT: {"()": TextFormatter}},
        "handlers": handlers,
        "root": {"level": level, "handlers": ["console"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False},
            "gunicorn.access": {"level": "INFO" if access_log else "WARNING",
                                "handlers": ["access"] if access_log else [], "propagate": False},
        },
    }
