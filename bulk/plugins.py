"""Plug-in handlers: modules named in BULK_PLUGINS run the operations of the topics or routes they choose.

    from bulk.handlers import PermanentError, RetriableError
    from bulk.plugins import handler

    @handler("PUT /V1/products/:sku")
    def save_product(arguments, store):
        ...  # return a JSON-able result, or raise RetriableError / PermanentError

The decorator only marks the function; nothing is registered at import time, so one module can
serve several apps in one process. A registered handler wins over the processing mode's.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar

from bulk.config import ConfigError
from bulk.handlers import Handler, Job
from bulk.processing import Processing
from bulk.routes.catalogue import Catalogue
from bulk.urls import Stores

_MARK = "__bulk_handles__"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Store:
    """The store an operation was submitted to: id as in `serialized_data`, code as in its URL."""

    id: int | None
    code: str | None


def handler(*topics_or_routes: str) -> Callable[[F], F]:
    """Mark `function(arguments, store)` as the handler of topics (`async.magento...save.post`) or
    route keys (`"PUT /V1/products/:sku"`)."""
    if not topics_or_routes or not all(isinstance(key, str) and key.strip() for key in topics_or_routes):
        raise TypeError("@handler needs one or more topic names or route keys, "
                        "e.g. @handler(\"PUT /V1/products/:sku\")")

    def mark(function: F) -> F:
        setattr(function, _MARK, (*getattr(function, _MARK, ()), *topics_or_routes))
        return function

    return mark


def load_plugins(module_names: Iterable[str], processing: Processing, catalogue: Catalogue,
                 stores: Stores) -> None:
    """Import each module and register its marked functions; a problem stops the start, named."""
    known = {route.key for route in catalogue} | {route.topic_name for route in catalogue}
    for name in module_names:
        functions = _marked_functions(_import(name))
        if not functions:
            raise ConfigError(f"BULK_PLUGINS: module {name!r} marks no function with @bulk.plugins.handler")
        for function in functions:
            for key in getattr(function, _MARK):
                if key not in known:
                    raise ConfigError(f"BULK_PLUGINS: {name}.{function.__name__} handles {key!r}, which is no "
                                      "configured route (\"PUT /V1/products/:sku\") or topic "
                                      "(see `flask --app app bulk routes`)")
                processing.register(key, _as_handler(function, stores))


def _import(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except Exception as error:  # any import failure stops the start, with its reason
        raise ConfigError(f"BULK_PLUGINS: cannot import {name!r}: {error!r}") from error


def _marked_functions(module: ModuleType) -> list[Callable[..., Any]]:
    return list(dict.fromkeys(value for value in vars(module).values()
                              if callable(value) and getattr(value, _MARK, None)))


def _as_handler(function: Callable[[dict, Store], Any], stores: Stores) -> Handler:
    def run(job: Job) -> Any:
        store_id = job.store_id
        code = stores.default_code if store_id is None else stores.code_of(store_id)
        return function(job.arguments, Store(store_id, code))

    run.__name__ = getattr(function, "__name__", "plugin_handler")
    # A plug-in that writes only to this service's database may say so (`bulk.handlers.transactional`),
    # or that it does nothing (`bulk.handlers.no_op`: then it is not called).
    for mark in ("transactional", "pure", "no_op"):
        if getattr(function, mark, False):
            setattr(run, mark, True)
    return run
