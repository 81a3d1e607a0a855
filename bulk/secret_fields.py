"""Secrets inside submitted items (passwords): sealed at rest, opened for the handler, never shown.

At accept time the values of password-like fields (`password`, `password_confirmation`,
`current_password`, `new_password`, and any schema field with `metadata={"secret": True}`) are
replaced by a sealed token (`bulk.crypto.SecretBox`) before `serialized_data` is built. A handler
wrapper opens them again just before the handler runs, so retries keep working; every view that
shows `serialized_data` replaces the tokens by `******`. Routes whose schema has no such field pay
nothing; routes without a schema may carry any field, so theirs are looked through.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import partial
from typing import Any

from marshmallow import Schema, fields

from bulk.accept import serialize_operation
from bulk.crypto import SealedValueUnreadable, SecretBox
from bulk.handlers import Handler, Job, PermanentError
from bulk.jsonutil import dumps, loads
from bulk.routes.catalogue import Route
from schemas.base import DataObject, normalise_key

SECRET_NAMES = frozenset(normalise_key(name) for name in
                         ("password", "password_confirmation", "current_password", "new_password"))
MASK = "******"
SEALED_PREFIX = "bulk-sealed:v1:"
_SEALED = re.compile(re.escape(SEALED_PREFIX) + r"[A-Za-z0-9_-]+")
UNREADABLE = "The operation's secret fields cannot be decrypted: BULK_SECRET_KEY changed since it was submitted."


def mask(serialized_data: str | None) -> str | None:
    """`serialized_data` as it may be shown: every sealed value replaced by `******`."""
    if serialized_data is None or SEALED_PREFIX not in serialized_data:
        return serialized_data
    return _SEALED.sub(MASK, serialized_data)


def _schema_secret_names(schema: type[Schema], seen: set[type[Schema]]) -> set[str]:
    if schema in seen:
        return set()
    seen.add(schema)
    names: set[str] = set()
    for name, field in schema._declared_fields.items():
        if normalise_key(name) in SECRET_NAMES or field.metadata.get("secret"):
            names.add(normalise_key(name))
        inner = field.inner if isinstance(field, fields.List) else field
        if isinstance(inner, DataObject):
            names |= _schema_secret_names(inner.schema_class, seen)
    return names


class SecretFields:
    """Seals, opens and knows which routes carry secret fields."""

    def __init__(self, secret: bytes, routes: Iterable[Route]) -> None:
        self._box = SecretBox(secret, "operation-secret-field")
        # Routes without a schema may carry any field: they are looked through for the usual names.
        self._names = {route: frozenset(_schema_secret_names(route.schema, set())) if route.schema else SECRET_NAMES
                       for route in routes}

    def names(self, route: Route) -> frozenset[str]:
        return self._names.get(route, SECRET_NAMES)

    def has_secrets(self, route: Route) -> bool:
        return bool(self.names(route))

    def sealer_for(self, route: Route) -> Callable[[Any], Any] | None:
        """The accept path's sealer of a route's items, or None when they carry no secret field."""
        return partial(self.seal, route) if self.has_secrets(route) else None

    def seal(self, route: Route, item: Any) -> Any:
        """The item with each secret field's value sealed (the item itself when it has none)."""
        return self._walk(item, self.names(route), self._seal_value)

    def _seal_value(self, value: Any) -> Any:
        return SEALED_PREFIX + self._box.seal(dumps(value).decode())

    def _open_value(self, value: Any) -> Any:
        if isinstance(value, str) and value.startswith(SEALED_PREFIX):
            return loads(self._box.open(value[len(SEALED_PREFIX):]))
        return value

    def _walk(self, value: Any, names: frozenset[str], change: Any) -> Any:
        if isinstance(value, dict):
            return {key: (change(item) if item is not None and isinstance(key, str)
                          and normalise_key(key) in names else self._walk(item, names, change))
                    for key, item in value.items()}
        if isinstance(value, list):
            return [self._walk(item, names, change) for item in value]
        return value

    def wrap(self, route: Route, handler: Handler) -> Handler:
        """A handler wrapper (`Processing.add_wrapper`) that gives the handler the secrets in clear."""
        names = self.names(route)
        if not names:
            return handler

        def opened(job: Job) -> Any:
            if job.serialized_data is None or SEALED_PREFIX not in job.serialized_data:
                return handler(job)
            try:
                meta = self._walk(job.meta, names, self._open_value)
            except SealedValueUnreadable:
                raise PermanentError(UNREADABLE) from None
            return handler(replace(job, serialized_data=serialize_operation(meta, job.store_id or 0)))

        # The drainer decides by these marks where a handler runs; the wrapper must keep them.
        for mark in ("transactional", "pure"):
            if getattr(handler, mark, False):
                setattr(opened, mark, True)
        return opened
