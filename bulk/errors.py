"""Every error the service answers, and the one place that renders them in Magento's shape."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import peewee
from flask import Flask, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

from bulk.db import is_lock_contention
from bulk.handlers import OperationError
from bulk.jsonutil import json_response
from bulk.phrases import (
    BODY_TOO_LARGE,
    BULK_NOT_FOUND,
    CANNOT_PROCESS,
    DATABASE_BUSY,
    DATABASE_UNAVAILABLE,
    DATABASE_UNWRITABLE,
    INTERNAL_ERROR,
    INVALID_TYPE,
    MANY_INPUT_ERRORS,
    METHOD_INVALID,
    NO_ROUTE,
    NOT_AUTHORIZED,
    Parameters,
    Phrase,
    report_id,
)
from schemas.base import INT64, ArgumentsError

log = logging.getLogger(__name__)


class WebapiError(Exception):
    """An error answered to the client as `{"message", "errors"?, "code"?, "parameters"?}`."""

    def __init__(self, message: str, parameters: Parameters = None, *, status: int = 400,
                 errors: Sequence[Phrase] | None = None, code: int = 0,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.parameters = parameters
        self.status = status
        self.errors = list(errors or [])
        self.code = code
        self.headers = headers or {}

    @classmethod
    def from_phrases(cls, phrases: Sequence[Phrase], status: int = 400) -> WebapiError:
        """One phrase is the error itself; several aggregate as Magento's InputException does."""
        if len(phrases) == 1:
            return cls(str(phrases[0]), phrases[0].parameters, status=status)
        return cls(MANY_INPUT_ERRORS, status=status, errors=phrases)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message}
        if self.errors:
            body["errors"] = [_phrase_body(phrase) for phrase in self.errors]
        if self.code:
            body["code"] = self.code
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _phrase_body(phrase: Phrase) -> dict[str, Any]:
    body: dict[str, Any] = {"message": str(phrase)}
    if phrase.parameters:
        body["parameters"] = phrase.parameters
    return body


def cannot_process() -> WebapiError:
    return WebapiError(CANNOT_PROCESS, status=400)


def no_route() -> WebapiError:
    return WebapiError(NO_ROUTE, status=404)


def not_authorized(resources: Sequence[str]) -> WebapiError:
    return WebapiError(NOT_AUTHORIZED, {"resources": ", ".join(resources)}, status=401)


def bulk_not_found(bulk_uuid: str) -> WebapiError:
    return WebapiError(BULK_NOT_FOUND, {"bulkUuid": bulk_uuid}, status=404)


def parse_int(value: Any, type_name: str = "int") -> int:
    """An integer argument from the URL or query string, or Magento's type error naming the value."""
    try:
        number = int(str(value).strip())
    except ValueError:
        raise WebapiError(INVALID_TYPE, {"value": value, "type": type_name}) from None
    # The databases' BIGINT: a larger value would fail in the driver (500) instead of matching nothing.
    if number not in INT64:
        raise WebapiError(INVALID_TYPE, {"value": value, "type": type_name})
    return number


def register_error_handlers(app: Flask, busy_retry_after: int) -> None:
    """Render every failure as a Magento error body; never an HTML page, never a stack trace."""

    @app.errorhandler(WebapiError)
    def webapi_error(error: WebapiError):
        return json_response(error.body(), error.status, error.headers)

    @app.errorhandler(OperationError)
    def operation_error(error: OperationError):
        # A handler run synchronously (a store read or write): Magento's sync mapping of its exception.
        return webapi_error(WebapiError(error.message, error.parameters, status=error.http_status,
                                        errors=getattr(error, "errors", None)))

    @app.errorhandler(ArgumentsError)
    def arguments_error(error: ArgumentsError):
        return webapi_error(WebapiError.from_phrases(error.phrases))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if isinstance(error, MethodNotAllowed):
            return webapi_error(WebapiError(METHOD_INVALID, status=400))
        if isinstance(error, RequestEntityTooLarge):
            # The request's own bound: a guest's is lower than MAX_CONTENT_LENGTH.
            limit = request.max_content_length if request else app.config["MAX_CONTENT_LENGTH"]
            return webapi_error(WebapiError(BODY_TOO_LARGE, {"max": limit}, status=413))
        if error.code == 404:
            return webapi_error(no_route())
        return webapi_error(WebapiError(error.name, status=error.code or 400))

    @app.errorhandler(peewee.OperationalError)
    @app.errorhandler(peewee.InterfaceError)
    def database_error(error: Exception):
        # Nothing was stored: the write transaction rolled back, so the client may safely resend
        # (except after a failed flush of the log, an unwritable disk: logged for an operator).
        parameters: dict[str, Any] = {"seconds": busy_retry_after}
        reason = _unwritable_reason(error)
        if reason is not None:
            log.error("database cannot be written: %s", error)  # needs an operator, not a retry
            message = DATABASE_UNWRITABLE
            parameters = {"reason": reason, **parameters}
        elif is_lock_contention(error):
            log.warning("database busy: %s", error)
            message = DATABASE_BUSY
        else:
            log.warning("database unavailable: %s", error)
            message = DATABASE_UNAVAILABLE
        return webapi_error(WebapiError(message, parameters, status=503,
                                        headers={"Retry-After": str(busy_retry_after)}))

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        report = report_id()
        log.exception("unhandled error, report %s", report)
        return webapi_error(WebapiError(INTERNAL_ERROR, [report], status=500))


_UNWRITABLE = {
    "readonly": "the database is read-only",
    "read-only": "the database is read-only",
    "disk is full": "the disk is full",
    "no space left": "the disk is full",
    # `bulk.db._SqliteDatabase.sync_log`: the commit may be there, but not surely on disk.
    "could not flush": "the disk failed to store the write",
}


def _unwritable_reason(error: Exception) -> str | None:
    """A plain reason when the database refuses writes for good (read-only, full disk)."""
    text = str(error).lower()
    return next((reason for marker, reason in _UNWRITABLE.items() if marker in text), None)

