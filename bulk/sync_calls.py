"""The synchronous call an operation stands for: method, `/rest/<store>/V1/...` path, JSON body.

A bulk item is the whole argument map of one call (spec 1.3): the values of the route's `:params`
are among its keys (camelCase or snake_case), or, as clients usually send them, inside the entity
object (`PUT /V1/products/:sku` with `{"product": {"sku": ...}}`). Single async operations store
their URL values in the argument map too (`bulk.accept.single_async_arguments`), so both read alike.
What is not used in the path is the body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bulk.catalogue import Route
from bulk.errors import REQUIRED_FIELD
from bulk.handlers import PermanentError
from schemas.base import normalise_key


@dataclass(frozen=True)
class SyncCall:
    method: str
    path: str
    body: dict | None


def sync_call(route: Route, arguments: dict, store_code: str) -> SyncCall:
    """Fill the route's `:params` from `arguments` (URL-quoted); the rest of the map is the body."""
    values: dict[str, str] = {}
    body = dict(arguments)
    for param in route.template.params:
        value, top_level_key = _path_value(arguments, param)
        values[param] = quote(value, safe="")
        if top_level_key is not None:
            body.pop(top_level_key, None)
    # A DELETE carries its arguments in the URL; send a body only when something is left.
    return SyncCall(route.method, f"/rest/{quote(store_code, safe='')}{route.template.fill(values)}",
                    body if body or route.method != "DELETE" else None)


def _path_value(arguments: dict, param: str) -> tuple[str, str | None]:
    """The value for `:param` and the top-level key it came from (None when read inside an entity)."""
    key = _find_key(arguments, param)
    if key is not None and _is_path_value(arguments[key]):
        return _as_text(arguments[key]), key
    wanted = normalise_key(param)
    for name, entity in arguments.items():
        if not isinstance(entity, dict) or not isinstance(name, str):
            continue
        field = _find_key(entity, param)
        prefix = normalise_key(name)
        if field is None and wanted.startswith(prefix):
            # `customerId` names the `id` of `customer`.
            field = _find_key(entity, wanted[len(prefix):])
        if field is not None and _is_path_value(entity[field]):
            return _as_text(entity[field]), None
    raise PermanentError(REQUIRED_FIELD, {"fieldName": param})


def _find_key(mapping: dict, name: str) -> str | None:
    wanted = normalise_key(name)
    return next((key for key in mapping if isinstance(key, str) and normalise_key(key) == wanted), None)


def _is_path_value(value: Any) -> bool:
    if isinstance(value, str):
        return value != ""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
